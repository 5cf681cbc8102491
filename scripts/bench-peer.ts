/**
 * Assets of the onnxruntime-web peer in `npm run bench` (page side: bench/peer.ts), written into the
 * site folder that `vite preview` serves, at bench time (nothing from a CDN, nothing committed):
 * - /bench-ort/: onnxruntime-web's wasm build (ort.wasm.min.mjs and its single wasm binary, SIMD;
 *   run with one thread) copied from node_modules.
 * - /bench-models/peer-<size>.onnx: the bench model exported by scripts/onnx/sasrec.ts, with the
 *   rows the bench catalog cannot show (not in the catalog, or unavailable: bench/catalog.ts) at
 *   -Infinity, so the graph's TopK returns the list a scenerec home call returns at diversity 0.
 *   Catalog position -> model row goes through the vocabulary's ids, not by arithmetic.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { benchAvailable, catalogIds } from '../bench/catalog.js';
import type { PeerResult } from '../bench/peer-compare.js';
import { exportSasrecOnnx } from './onnx/sasrec.js';

const root = resolve(import.meta.dirname, '..');
/** The files of onnxruntime-web's wasm-only build the page loads (ESM entry, its glue, the SIMD binary). */
export const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
export const ORT_DIR = join(root, 'node_modules/onnxruntime-web/dist');

/** Copies onnxruntime-web's wasm files into `<siteDir>/bench-ort/`. */
export function writeOrtFiles(siteDir: string): void {
  const out = join(siteDir, 'bench-ort');
  mkdirSync(out, { recursive: true });
  for (const f of ORT_FILES) copyFileSync(join(ORT_DIR, f), join(out, f));
}

/** Model rows the bench catalog of `catalogSize` items cannot show: every row but the available catalog items'. */
export function peerExcludedRows(modelDir: string, catalogSize: number): Set<number> {
  const { itemIds } = JSON.parse(readFileSync(join(modelDir, 'vocab.json'), 'utf8')) as { itemIds: string[] };
  const rowOf = new Map(itemIds.map((id, r) => [id, r]));
  const shown = new Set<number>();
  const ids = catalogIds(itemIds);
  for (let i = 0; i < catalogSize; i++) {
    const row = rowOf.get(ids[i]);
    if (row === undefined) throw new Error(`catalog item ${ids[i]} is not in ${modelDir}/vocab.json`);
    if (benchAvailable(i)) shown.add(row);
  }
  const excluded = new Set<number>();
  for (let r = 0; r < itemIds.length; r++) if (!shown.has(r)) excluded.add(r);
  return excluded;
}

/** Exports the peer's graph for `modelDir` and the bench catalog of `catalogSize` items to `file`. */
export function writePeerModel(modelDir: string, catalogSize: number, file: string): { bytes: number; ms: number } {
  const t0 = Date.now();
  const bytes = exportSasrecOnnx(modelDir, { excludedRows: peerExcludedRows(modelDir, catalogSize) });
  mkdirSync(resolve(file, '..'), { recursive: true });
  writeFileSync(file, bytes);
  return { bytes: bytes.byteLength, ms: Date.now() - t0 };
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));

/** A case's peer comparison as printable lines: the top-10 check first, then the interleaved times. */
export function peerLines(p: PeerResult & { error?: string }): string[] {
  if (p.error) return [`peer: onnxruntime-web did not run: ${p.error}`];
  const out = [`peer: onnxruntime-web ${p.version} (wasm SIMD, 1 thread, TopK in the graph), session create -> first list ${p.coldMs.toFixed(0)} ms`];
  for (const r of p.runs) {
    out.push(`  history ${r.historyLength} (scenerec read ${r.historyUsed}): top-10 check ${r.top10Same ? 'identical' : `MISMATCH: scenerec ${r.scenerecTop10.join(',')} vs peer ${r.peerTop10.join(',')}`}`);
    out.push(`  ${r.scenerec.worker.n} interleaved pairs: scenerec worker ${ms(r.scenerec.worker.median)} ms (page ${ms(r.scenerec.roundTrip.median)}), onnxruntime-web ${ms(r.peer.median)} ms: peer ÷ scenerec ${r.ratio.toFixed(2)}×`);
  }
  return out;
}
