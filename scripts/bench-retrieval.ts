/**
 * npm run bench:retrieval [-- --rows 1000000] [--calls 40] [--n 500] [--table games|gaussian|noisy] [--no-int8]
 *
 * Catalog scoring at a million items in Node (no browser): the storages of src/retrieval/ side by
 * side on the same rows and the same queries, calls interleaved (A, B, C, A, B, C, ...) so machine
 * load hits every variant alike. Rows: the item table of the synthetic 1M model of `npm run bench`
 * (scripts/bench-models.ts: the Games table plus noisy copies, float16; clustered around the
 * 23,715 real rows), or `--table gaussian` (i.i.d. Gaussian rows of the table's own sd: no clusters)
 * or `--table noisy` (each real row plus Gaussian noise of that sd: copies far apart). Queries: the fused
 * forward's output for two shoppers' histories (20 and 50 items), alternating, so a variant that
 * carries state from one call to the next pays for the switch.
 *
 * Variants: float32 + 4-bit prefilter (exact, at any size here; the `auto` default on CPU backends
 * where WebAssembly relaxed SIMD runs, from PREFILTER_U4_MIN_ROWS rows on: Node 20 needs V8's flag,
 * set below), float32 + int8 prefilter (exact; the default without relaxed SIMD or below that size), the full float32 pass (every row scored, then the top n: the
 * reference), int8 alone (approximate; `--no-int8` leaves it out). Both prefilters are built before
 * the timing. Prints per variant: ms per top-n call (median, p95),
 * bytes held, whether its lists equal the full float32 pass (rows and scores), and for int8 its
 * recall@10 / recall@n against the exact lists.
 */
import { setFlagsFromString } from 'node:v8';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/model/loader.js';
import { FusedForward } from '../src/model/fused.js';
import { sequenceInput } from '../src/model/inputs.js';
import { KernelFloat32Matrix } from '../src/retrieval/kernel-float32.js';
import { Int8Matrix } from '../src/retrieval/int8-matrix.js';
import { quantizeInt8 } from '../src/retrieval/int8.js';
import { selectTop } from '../src/retrieval/topk.js';
import type { CatalogMatrix, ScoreResult } from '../src/retrieval/matrix.js';
import { makeSyntheticModel } from './bench-models.js';

// Node 20 runs WebAssembly relaxed SIMD (the 4-bit prefilter) behind this flag; set before any kernel is compiled.
setFlagsFromString('--experimental-wasm-relaxed-simd');

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? Number(argv[i + 1]) : dflt; };
const ROWS = opt('rows', 1_000_000);
const CALLS = opt('calls', 40);
const N = opt('n', 500);
const TABLE = argv.includes('--table') ? argv[argv.indexOf('--table') + 1] : 'games';
const WITH_INT8 = !argv.includes('--no-int8');

const root = resolve(import.meta.dirname, '..');
const fileFetch = (async (input: RequestInfo | URL) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  try { return new Response(await readFile(fileURLToPath(url)), { status: 200 }); } catch { return new Response('not found', { status: 404 }); }
}) as typeof fetch;

const stat = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return { median: s[Math.floor(s.length / 2)], p95: s[Math.min(s.length - 1, Math.floor(0.95 * s.length))] }; };
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;

async function main() {
  const dir = join(root, 'dist-site', 'bench-models', 'games-1m');
  makeSyntheticModel(dir, 1_000_000);
  const t0 = performance.now();
  const model = await loadModel(pathToFileURL(join(dir, 'model.json')).href, { fetch: fileFetch, cache: 'off' });
  const cfg = model.header.config;
  const d = cfg.hiddenDim;
  const rows = Math.min(ROWS, cfg.numItems);
  const games = model.itemTable!.subarray(d, (rows + 1) * d);
  let g = 12345;
  const normal = () => {
    g = (Math.imul(g, 1664525) + 1013904223) >>> 0; const u1 = (g + 0.5) / 4294967296;
    g = (Math.imul(g, 1664525) + 1013904223) >>> 0; const u2 = (g + 0.5) / 4294967296;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
  let sd = 0;
  for (let i = 0; i < 23_715 * d; i++) sd += games[i] * games[i];
  sd = Math.sqrt(sd / (23_715 * d));
  const values = TABLE === 'games' ? games
    : TABLE === 'gaussian' ? Float32Array.from({ length: rows * d }, () => normal() * sd)
      : TABLE === 'noisy' ? Float32Array.from({ length: rows * d }, (_, i) => games[(Math.floor(i / d) % 23_715) * d + (i % d)] + normal() * sd)
        : (() => { throw new Error(`--table games|gaussian|noisy (got ${TABLE})`); })();
  console.log(`rows ${rows.toLocaleString('en')} x ${d} (table ${TABLE}), model loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Two shoppers (20 and 50 items of the real Games items), alternating.
  const fused = FusedForward.create(cfg, model.weights);
  let s = 7;
  const pick = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return 1 + (s % 23_715); };
  const queries = [20, 50].map((len) => fused.run(sequenceInput(Array.from({ length: len }, pick), cfg.maxLen)).hidden);

  const build = async (name: string, make: () => CatalogMatrix | Promise<CatalogMatrix>) => {
    const t = performance.now();
    const m = await make();
    console.log(`built ${name.padEnd(26)} ${(performance.now() - t).toFixed(0).padStart(6)} ms, ${mb(m.info().bytes)} (${m.info().kernel ?? m.dtype})`);
    return m;
  };
  const built = async (m: KernelFloat32Matrix) => { await m.prefilterReady(); return m; };
  const u4 = await build('float32 + u4 prefilter', async () => built(await KernelFloat32Matrix.create(values, rows, d, 131_072, { prefilterCode: 'u4' })));
  const f32 = await build('float32 + int8 prefilter', async () => built(await KernelFloat32Matrix.create(values, rows, d, 131_072, { prefilterCode: 'i8' })));
  const fullPass = async (q: Float32Array): Promise<ScoreResult> => {
    const all = (await f32.score(q, { kind: 'all' })).scores[0];
    const top = selectTop(all, rows, N);
    return { rows: top.rows, scores: [top.scores] };
  };
  const variants: Array<{ name: string; m: CatalogMatrix; run: (q: Float32Array) => Promise<ScoreResult>; ms: number[]; last: ScoreResult[] }> = [];
  const add = (name: string, m: CatalogMatrix, run = (q: Float32Array) => m.score(q, { kind: 'top', n: N })) => variants.push({ name, m, run, ms: [], last: [] });
  add('float32 + u4 prefilter', u4);
  add('float32 + int8 prefilter', f32);
  add('float32 full pass', f32, fullPass);
  if (WITH_INT8) add('int8 alone', await build('int8 alone', () => Int8Matrix.create(quantizeInt8(values, rows, d), rows, d, 131_072)));
  for (let i = 0; i < 4; i++) for (const v of variants) await v.run(queries[i % 2]); // JIT settles
  for (let c = 0; c < CALLS; c++) {
    for (const v of variants) {
      const q = queries[c % 2];
      const t = performance.now();
      const r = await v.run(q);
      v.ms.push(performance.now() - t);
      if (c < 2) v.last[c % 2] = r;
    }
  }
  // Exact reference: the full float32 pass's rows and scores, best first (ties: lower row).
  const order = (r: ScoreResult) => [...r.rows!].map((row, j) => [row, r.scores[0][j]] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const ref = variants[2].last.map(order);
  console.log(`\ntop-${N} per call, alternating two shoppers (20 / 50 items), ${CALLS} calls each, interleaved:`);
  for (const v of variants) {
    const st = stat(v.ms);
    const got = v.last.map(order);
    const same = got.every((g, i) => g.length === ref[i].length && g.every(([row, sc], j) => row === ref[i][j][0] && sc === ref[i][j][1]));
    const recall = (k: number) => got.map((g, i) => { const want = new Set(ref[i].slice(0, k).map((x) => x[0])); return g.slice(0, k).filter((x) => want.has(x[0])).length / k; });
    const extra = v.name.includes('prefilter') && v.m instanceof KernelFloat32Matrix ? `, prefilter ${JSON.stringify(v.m.prefilterStats())}` : '';
    console.log(`${v.name.padEnd(26)} median ${st.median.toFixed(2)} ms, p95 ${st.p95.toFixed(2)} ms, ${mb(v.m.info().bytes)}, ` +
      (same ? 'lists = full float32 pass' : `recall@10 ${recall(10).map((x) => x.toFixed(2)).join(' / ')}, recall@${N} ${recall(N).map((x) => x.toFixed(3)).join(' / ')} vs exact`) + extra);
  }
  for (const m of new Set(variants.map((v) => v.m))) m.dispose();
}

main().catch((e) => { console.error(e); process.exit(1); });
