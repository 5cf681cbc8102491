/**
 * float32 scoring on CPU backends: the blocked f32 kernel (WebAssembly SIMD and its plain-JS twin)
 * against exact scores and against the TF.js matMul path, and the threshold top-k (selectTop).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { blockRows, createF32Kernel, F32Layout } from '../../src/kernels/f32.js';
import { KernelFloat32Matrix, prefilterSampleBlocks } from '../../src/retrieval/kernel-float32.js';
import { createCatalogMatrix } from '../../src/retrieval/matrix.js';
import { selectTop } from '../../src/retrieval/topk.js';

function rand(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5; });
}
const exact = (m: Float32Array, q: Float32Array, rows: number, d: number) =>
  Float64Array.from({ length: rows }, (_, r) => { let s = 0; for (let k = 0; k < d; k++) s += q[k] * m[r * d + k]; return s; });
/** The reference order: score descending, then row ascending. */
const bestRows = (xs: ArrayLike<number>, n: number) => Array.from({ length: xs.length }, (_, i) => i).sort((a, b) => xs[b] - xs[a] || a - b).slice(0, n);

describe('f32 kernel', () => {
  for (const forceJs of [false, true]) {
    it(`${forceJs ? 'plain JS' : 'wasm SIMD'}: dense and blocked scoring match exact arithmetic`, () => {
      const k = createF32Kernel({ forceJs });
      expect(k.simd).toBe(!forceJs);
      const [n, inDim, o, rows, d] = [5, 24, 48, 37, 24];
      const lay = new F32Layout();
      const at = { x: lay.take(n * inDim), w: lay.take(inDim * o), b: lay.take(o), out: lay.take(n * o), m: lay.take(Math.ceil(rows / 16) * 16 * d), q: lay.take(d), s: lay.take(Math.ceil(rows / 16) * 16) };
      k.reserve(lay.bytes);
      const f = new Float32Array(k.buffer);
      const x = rand(n * inDim, 2); const w = rand(inDim * o, 3); const b = rand(o, 4);
      f.set(x, at.x / 4); f.set(w, at.w / 4); f.set(b, at.b / 4);
      for (const relu of [false, true]) {
        k.dense(at.x, n, inDim, at.w, o, at.b, at.out, relu);
        for (let i = 0; i < n; i++) for (let j = 0; j < o; j++) {
          let s = b[j];
          for (let kk = 0; kk < inDim; kk++) s += x[i * inDim + kk] * w[kk * o + j];
          expect(f[at.out / 4 + i * o + j]).toBeCloseTo(relu ? Math.max(0, s) : s, 5);
        }
      }
      const m = rand(rows * d, 5); const q = rand(d, 6);
      blockRows(m, rows, d, new Float32Array(k.buffer, at.m, Math.ceil(rows / 16) * 16 * d));
      f.set(q, at.q / 4);
      k.scoreBlocked(at.m, Math.ceil(rows / 16), d, at.q, at.s);
      const e = exact(m, q, rows, d);
      for (let r = 0; r < rows; r++) expect(f[at.s / 4 + r]).toBeCloseTo(e[r], 5);
    });
  }
});

describe('f32 kernel dense: rows in pairs', () => {
  it('gives each row the same bits as computing it alone (odd and even row counts)', () => {
    const k = createF32Kernel();
    const [n, inDim, o] = [7, 64, 48];
    const lay = new F32Layout();
    const at = { x: lay.take(n * inDim), w: lay.take(inDim * o), b: lay.take(o), out: lay.take(n * o), one: lay.take(o) };
    k.reserve(lay.bytes);
    const f = new Float32Array(k.buffer);
    f.set(rand(n * inDim, 12), at.x / 4); f.set(rand(inDim * o, 13), at.w / 4); f.set(rand(o, 14), at.b / 4);
    for (const rows of [n, n - 1]) {
      k.dense(at.x, rows, inDim, at.w, o, at.b, at.out, true);
      for (let i = 0; i < rows; i++) {
        k.dense(at.x + i * inDim * 4, 1, inDim, at.w, o, at.b, at.one, true);
        expect([...f.subarray(at.out / 4 + i * o, at.out / 4 + (i + 1) * o)]).toEqual([...f.subarray(at.one / 4, at.one / 4 + o)]);
      }
    }
  });
});

describe('selectTop', () => {
  it('returns exactly the n best rows (ties to the lower row) with their scores, for many sizes', () => {
    let seed = 9;
    for (let trial = 0; trial < 40; trial++) {
      const len = 50 + ((trial * 7919) % 40_000);
      const xs = rand(len, seed++);
      // Coarse values on odd trials: many ties at the boundary.
      if (trial % 2) for (let i = 0; i < len; i++) xs[i] = Math.round(xs[i] * 20);
      const n = 1 + ((trial * 104_729) % 700);
      const got = selectTop(xs, len, n);
      expect([...got.rows].sort((a, b) => a - b)).toEqual(bestRows(xs, n).sort((a, b) => a - b));
      got.rows.forEach((r, j) => expect(got.scores[j]).toBe(xs[r]));
    }
  });
});

describe('CatalogMatrix float32 on a CPU backend', () => {
  it('the blocked kernel (SIMD and JS) and TF.js matMul pick the same top rows and give the same scores', async () => {
    const [rows, d] = [9000, 64];
    const m = rand(rows * d, 21);
    const q = rand(d, 22);
    const e = exact(m, q, rows, d);
    const results = [];
    for (const opts of [{ float32Kernel: 'f32' as const, prefilterCode: 'i8' as const }, { float32Kernel: 'f32' as const, f32Js: true }, { float32Kernel: 'tfjs' as const }]) {
      const before = tf.memory().numTensors;
      const mat = await createCatalogMatrix(m, rows, d, { dtype: 'float32', ...opts });
      try {
        expect(mat.info().kernel).toBe(opts.float32Kernel === 'tfjs' ? 'tfjs' : opts.f32Js ? 'f32-js' : 'f32-simd+i8-prefilter');
        if (opts.float32Kernel === 'f32') {
          expect(tf.memory().numTensors).toBe(before); // no tensor: the rows live in the kernel's memory
          expect(mat.info().bytes).toBe(opts.f32Js ? Math.ceil(rows / 16) * 16 * d * 4 : rows * d * 4 + (Math.ceil(rows / 16) + prefilterSampleBlocks(Math.ceil(rows / 16)).length) * 16 * (d + 16)); // one float32 copy (+ int8 prefilter: rows, scales, norms, bounds, and the sample blocks' copy)
        }
        const top = await mat.score(q, { kind: 'top', n: 300 });
        expect([...top.rows!].sort((a, b) => a - b)).toEqual(bestRows(e, 300).sort((a, b) => a - b));
        top.rows!.forEach((r, j) => expect(top.scores[0][j]).toBeCloseTo(e[r], 4));
        const all = await mat.score(q, { kind: 'all' });
        for (let r = 0; r < rows; r += 101) expect(all.scores[0][r]).toBeCloseTo(e[r], 4);
        const some = await mat.score(q, { kind: 'rows', rows: [8999, 3, 4000] });
        [8999, 3, 4000].forEach((r, j) => expect(some.scores[0][j]).toBeCloseTo(e[r], 4));
        const u = mat.unitRow(8999);
        const norm = Math.hypot(...m.subarray(8999 * d, 9000 * d));
        u.forEach((v, k) => expect(v).toBeCloseTo(m[8999 * d + k] / norm, 6));
        results.push(top);
      } finally {
        mat.dispose();
      }
    }
  });
});

describe('int8 prefilter of exact top-n (float32 on a CPU backend)', () => {
  const [rows, d] = [23_715, 64];
  /** Rows of very different norms (as real item tables have), and a few duplicates (exact ties). */
  function table(seed: number): Float32Array {
    const m = rand(rows * d, seed);
    for (let r = 0; r < rows; r += 7) for (let k = 0; k < d; k++) m[r * d + k] *= 3;
    m.copyWithin(5 * d, 100 * d, 101 * d);
    m.copyWithin(9000 * d, 100 * d, 101 * d);
    return m;
  }
  async function expectFullPass(mat: Awaited<ReturnType<typeof createCatalogMatrix>>, q: Float32Array, n: number) {
    const top = await mat.score(q, { kind: 'top', n });
    const all = (await mat.score(q, { kind: 'all' })).scores[0];
    const ref = selectTop(all, rows, n);
    expect([...top.rows!]).toEqual([...ref.rows]);
    expect([...top.scores[0]]).toEqual([...ref.scores]);
  }

  it('gives exactly the rows and scores of the full float32 pass, for alternating queries, from each query\'s own threshold', async () => {
    const m = table(31);
    const mat = await createCatalogMatrix(m, rows, d, { dtype: 'float32', float32Kernel: 'f32', prefilterCode: 'i8' });
    expect(mat.info().kernel).toBe('f32-simd+i8-prefilter');
    await (mat as KernelFloat32Matrix).prefilterReady();
    expect(mat.info().prefilterReady).toBe(true);
    for (let t = 0; t < 60; t++) {
      const q = rand(d, 500 + (t % 2)); // two shoppers, alternating
      if (t % 5 === 0) for (let k = 0; k < d; k++) q[k] *= 4; // a jump in scale
      if (t === 13) q.set(m.subarray(100 * d, 101 * d)); // the duplicated row on top: ties at the top
      await expectFullPass(mat, q, [10, 500, 1000, 2048][t % 4]);
    }
    expect(mat).toBeInstanceOf(KernelFloat32Matrix);
    const stats = (mat as KernelFloat32Matrix).prefilterStats()!;
    expect(stats.listed).toBe(60); // nothing carried between calls: no query misses its threshold
    expect(stats.everyRow).toBe(0);
  });

  it('stays exact when the threshold sample misleads it (the selection over every row)', async () => {
    // The sampled blocks hold the largest rows: their threshold is above what n rows reach.
    const m = table(32);
    for (const b of prefilterSampleBlocks(Math.ceil(rows / 16))) for (let i = b * 16 * d; i < Math.min(rows, b * 16 + 16) * d; i++) m[i] *= 20;
    const mat = await createCatalogMatrix(m, rows, d, { dtype: 'float32', float32Kernel: 'f32', prefilterCode: 'i8' });
    await (mat as KernelFloat32Matrix).prefilterReady();
    for (let t = 0; t < 8; t++) await expectFullPass(mat, rand(d, 700 + t), [10, 500][t % 2]);
    const stats = (mat as KernelFloat32Matrix).prefilterStats()!;
    expect(stats.everyRow).toBeGreaterThan(0);
  });

  it('is ready before its prefilter: the full pass serves the same lists meanwhile, and the build yields to the event loop', async () => {
    const [R, dd] = [300_000, 16]; // several slices of the background build
    const m = rand(R * dd, 33);
    let ticks = 0;
    let ticking = true;
    const tick = () => { ticks++; if (ticking) setTimeout(tick, 0); };
    setTimeout(tick, 0);
    const mat = await createCatalogMatrix(m, R, dd, { dtype: 'float32', float32Kernel: 'f32' }) as KernelFloat32Matrix;
    const afterCopy = ticks;
    expect(mat.info().prefilterReady).toBe(false);
    const q = rand(dd, 34);
    const early = await mat.score(q, { kind: 'top', n: 100 });
    expect(mat.prefilterStats()).toBeNull(); // served by the full pass
    await mat.prefilterReady();
    ticking = false;
    expect(mat.info().prefilterReady).toBe(true);
    // A timer ran between the slices of the copy and of the quantisation (one synchronous build would leave none).
    expect(afterCopy).toBeGreaterThanOrEqual(3);
    expect(ticks - afterCopy).toBeGreaterThanOrEqual(3);
    const late = await mat.score(q, { kind: 'top', n: 100 });
    expect(mat.prefilterStats()!.listed + mat.prefilterStats()!.everyRow).toBe(1);
    expect([...late.rows!]).toEqual([...early.rows!]);
    expect([...late.scores[0]]).toEqual([...early.scores[0]]);
  });

  it('stops its background build when disposed', async () => {
    const mat = await createCatalogMatrix(rand(200_000 * 16, 35), 200_000, 16, { dtype: 'float32', float32Kernel: 'f32' }) as KernelFloat32Matrix;
    mat.dispose();
    await mat.prefilterReady();
    expect(mat.info().prefilterReady).toBe(false);
    expect(mat.prefilterStats()).toBeNull();
  });

  it('quantizeRows: per-row scale max|x|/127, |x - scale · q| <= scale / 2, and L1 norms that bound Σ|x|', () => {
    const k = createF32Kernel();
    const [n, dd] = [37, 64];
    const nb = Math.ceil(n / 16);
    const lay = new F32Layout();
    const at = { src: lay.take(n * dd), m8: lay.take(nb * 4 * dd), scales: lay.take(nb * 16), x1: lay.take(nb * 16) };
    k.reserve(lay.bytes);
    const x = rand(n * dd, 41);
    for (let j = 0; j < dd; j++) x[5 * dd + j] = 0; // a zero row: scale 1
    for (let j = 0; j < dd; j++) x[6 * dd + j] *= 1e-30; // a tiny one
    new Float32Array(k.buffer, at.src, n * dd).set(x);
    k.quantizeRows!(at.src, n, dd, at.m8, at.scales, at.x1);
    const m8 = new Int8Array(k.buffer, at.m8, nb * 16 * dd);
    const scales = new Float32Array(k.buffer, at.scales, n);
    const x1 = new Float32Array(k.buffer, at.x1, n);
    for (let r = 0; r < n; r++) {
      const row = x.subarray(r * dd, (r + 1) * dd);
      const max = Math.max(...row.map(Math.abs));
      expect(scales[r]).toBe(max > 0 ? Math.fround(max / 127) : 1);
      let l1 = 0;
      for (let j = 0; j < dd; j++) {
        const q = m8[(r >> 4) * (dd / 2) * 32 + (r & 15) * 2 + (j >> 1) * 32 + (j & 1)];
        expect(Math.abs(q)).toBeLessThanOrEqual(127);
        expect(Math.abs(row[j] - scales[r] * q)).toBeLessThanOrEqual(scales[r] / 2 * (1 + 1e-12));
        l1 += Math.abs(row[j]);
      }
      expect(x1[r]).toBeGreaterThanOrEqual(l1);
      expect(x1[r]).toBeLessThanOrEqual(l1 * 1.00001 + 1e-45);
    }
  });
});
