/**
 * Synthetic large models for the benchmark: the Games SASRec model (models/games-sasrec) with its
 * item table grown to `numItems` rows. Rows 1..23,715 are the real ones; every further row is a real
 * row plus Gaussian noise (sd = 0.3 x the row's own sd), so scores have a realistic spread. Item ids
 * `syn-<n>` for the new rows. Written as float16, like the bundled model. Generated at bench time
 * (never committed): 1M items is a 128 MB weights file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = new URL('../models/games-sasrec/', import.meta.url);

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let e = ((x >>> 23) & 0xff) - 127 + 15;
  let m = x & 0x7fffff;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m = (m | 0x800000) >> (1 - e);
    return sign | ((m + 0x1000) >> 13);
  }
  const h = sign | (e << 10) | (m >> 13);
  return (m & 0x1000) ? h + 1 : h; // round half up (enough for synthetic data)
}

/** Deterministic normal samples (Box-Muller over a small LCG). */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** Writes the model folder `outDir` (skipped when it exists with the same item count). Returns its modelVersion. */
export function makeSyntheticModel(outDir: string, numItems: number): string {
  const header = JSON.parse(readFileSync(new URL('model.json', SOURCE), 'utf8'));
  const meta = header.userDefinedMetadata.scenerec;
  const modelVersion = `games-synthetic-${numItems}-v1`;
  if (existsSync(join(outDir, 'model.json'))) {
    const old = JSON.parse(readFileSync(join(outDir, 'model.json'), 'utf8'));
    if (old.userDefinedMetadata?.scenerec?.modelVersion === modelVersion) return modelVersion;
  }
  const d: number = meta.config.hiddenDim;
  const baseItems: number = meta.config.numItems;
  const weights = readFileSync(new URL('weights.bin', SOURCE));
  const tableBytes = (baseItems + 1) * d * 2;
  const base = new Uint16Array(weights.buffer.slice(weights.byteOffset, weights.byteOffset + tableBytes));
  const rest = weights.subarray(tableBytes);
  const table = new Uint16Array((numItems + 1) * d);
  table.set(base.subarray(0, Math.min(base.length, table.length)));
  const rand = normals(numItems);
  const row = new Float32Array(d);
  for (let r = baseItems + 1; r <= numItems; r++) {
    const src = 1 + ((r - 1) % baseItems);
    let mean = 0;
    for (let k = 0; k < d; k++) { row[k] = f16ToF32(base[src * d + k]); mean += row[k]; }
    mean /= d;
    let sd = 0;
    for (let k = 0; k < d; k++) sd += (row[k] - mean) ** 2;
    sd = Math.sqrt(sd / d);
    for (let k = 0; k < d; k++) table[r * d + k] = f32ToF16(row[k] + 0.3 * sd * rand());
  }
  const vocab = JSON.parse(readFileSync(new URL('vocab.json', SOURCE), 'utf8')) as { itemIds: string[]; popularity: number[] };
  const itemIds = vocab.itemIds.slice(0, baseItems + 1);
  const popularity = vocab.popularity.slice(0, baseItems + 1);
  for (let r = baseItems + 1; r <= numItems; r++) {
    itemIds.push(`syn-${r}`);
    popularity.push(Math.floor(vocab.popularity[1 + ((r - 1) % baseItems)] / 2));
  }
  meta.modelVersion = modelVersion;
  meta.config.numItems = numItems;
  header.weightsManifest[0].weights[0].shape = [numItems + 1, d];
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'weights.bin'), Buffer.concat([Buffer.from(table.buffer), rest]));
  writeFileSync(join(outDir, 'vocab.json'), JSON.stringify({ itemIds, popularity }));
  writeFileSync(join(outDir, 'model.json'), JSON.stringify(header));
  return modelVersion;
}
