/**
 * The 4-bit exact prefilter of float32 top-n (WebAssembly relaxed SIMD, src/kernels/f32-relaxed.wat):
 * its lists and scores equal the full float32 pass's for any rows (random, Gaussian, clustered,
 * adversarial: huge and tiny norms, rows with one dominant column, massive ties), and its copy
 * keeps the bounds it promises. Node 20 runs relaxed SIMD behind a V8 flag, set here before the
 * kernel module is first compiled (browsers run it by default).
 */
import { setFlagsFromString } from 'node:v8';
import { beforeAll, describe, expect, it } from 'vitest';
import { createF32Kernel, f32RelaxedAvailable, F32Layout } from '../../src/kernels/f32.js';
import { KernelFloat32Matrix, PREFILTER_U4_MIN_ROWS, prefilterSampleBlocks } from '../../src/retrieval/kernel-float32.js';
import { selectTop } from '../../src/retrieval/topk.js';

setFlagsFromString('--experimental-wasm-relaxed-simd');

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 4294967296; };
}
function uniform(n: number, seed: number): Float32Array {
  const u = lcg(seed);
  return Float32Array.from({ length: n }, () => u() - 0.5);
}
function gaussian(n: number, seed: number): Float32Array {
  const u = lcg(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** Row sets of `rows` × `d`, by name. */
function table(kind: string, rows: number, d: number, seed: number): Float32Array {
  const u = lcg(seed * 7 + 1);
  switch (kind) {
    case 'uniform, varied norms, duplicates': {
      const m = uniform(rows * d, seed);
      for (let r = 0; r < rows; r += 7) for (let k = 0; k < d; k++) m[r * d + k] *= 3;
      m.copyWithin(5 * d, 100 * d, 101 * d);
      m.copyWithin(9000 * d, 100 * d, 101 * d);
      return m;
    }
    case 'gaussian':
      return gaussian(rows * d, seed);
    case 'clustered (few centres + small noise)': {
      const centres = gaussian(20 * d, seed);
      const noise = gaussian(rows * d, seed + 1);
      return Float32Array.from({ length: rows * d }, (_, i) => centres[(Math.floor(i / d) % 20) * d + (i % d)] + 0.05 * noise[i]);
    }
    case 'adversarial': {
      // Norms over twelve orders of magnitude, rows with one dominant column (every other column
      // rounds to zero in 4 bits: the largest residuals), exact copies, and zero rows.
      const m = gaussian(rows * d, seed);
      for (let r = 0; r < rows; r++) {
        const scale = 10 ** (Math.floor(u() * 12) - 6);
        for (let k = 0; k < d; k++) m[r * d + k] *= scale;
        if (r % 5 === 0) m[r * d + Math.floor(u() * d)] *= 50;
        if (r % 97 === 0) m.fill(0, r * d, (r + 1) * d);
      }
      for (let r = 1000; r < 1400; r++) m.copyWithin(r * d, 999 * d, 1000 * d); // 401 equal rows
      return m;
    }
    default:
      throw new Error(kind);
  }
}

async function expectFullPass(mat: KernelFloat32Matrix, q: Float32Array, n: number, rows: number) {
  const top = await mat.score(q, { kind: 'top', n });
  const ref = selectTop((await mat.score(q, { kind: 'all' })).scores[0], rows, n);
  expect([...top.rows!]).toEqual([...ref.rows]);
  expect([...top.scores[0]]).toEqual([...ref.scores]);
}

describe('4-bit prefilter (relaxed SIMD)', () => {
  beforeAll(() => {
    expect(f32RelaxedAvailable()).toBe(true);
  });

  it('quantizeRowsU4: step max|x|/7, nibbles 1..15, |x - step · xi| <= step / 2, norms that bound the residual and Σ|x|', () => {
    const k = createF32Kernel();
    const [n, d] = [37, 64];
    const nb = Math.ceil(n / 16);
    const lay = new F32Layout();
    const at = { src: lay.take(n * d), m4: lay.take(nb * 2 * d), scales: lay.take(nb * 16), x1: lay.take(nb * 16), e2: lay.take(nb * 16) };
    k.reserve(lay.bytes);
    const x = uniform(n * d, 41);
    x.fill(0, 5 * d, 6 * d); // a zero row: step 1
    for (let j = 0; j < d; j++) x[6 * d + j] *= 1e-30; // a tiny one
    x[7 * d + 3] = 100; // one dominant column
    new Float32Array(k.buffer, at.src, n * d).set(x);
    k.quantizeRowsU4!(at.src, n, d, at.m4, at.scales, at.x1, at.e2);
    const m4 = new Uint8Array(k.buffer, at.m4, nb * 8 * d);
    const scales = new Float32Array(k.buffer, at.scales, n);
    const x1 = new Float32Array(k.buffer, at.x1, n);
    const e2 = new Float32Array(k.buffer, at.e2, n);
    for (let r = 0; r < n; r++) {
      const row = x.subarray(r * d, (r + 1) * d);
      const max = Math.max(...row.map(Math.abs));
      const s = scales[r];
      expect(s).toBe(max > 0 ? Math.fround(max / 7) : 1);
      let l1 = 0; let l1q = 0; let l1d = 0; let ss = 0;
      for (let j = 0; j < d; j++) {
        const byte = m4[(r >> 4) * 8 * d + (j >> 3) * 64 + (r & 15) * 4 + (j & 3)];
        const u = j & 4 ? byte >> 4 : byte & 15;
        expect(u).toBeGreaterThanOrEqual(1);
        expect(u).toBeLessThanOrEqual(15);
        const xi = u - 8;
        const dl = row[j] - s * xi;
        expect(Math.abs(dl)).toBeLessThanOrEqual((s / 2) * (1 + 1e-12));
        l1 += Math.abs(row[j]); l1q += Math.abs(s * xi); l1d += Math.abs(dl); ss += dl * dl;
      }
      expect(e2[r]).toBeGreaterThanOrEqual(Math.sqrt(ss));
      expect(x1[r]).toBeGreaterThanOrEqual(l1);
      expect(x1[r]).toBeGreaterThanOrEqual(l1q);
      expect(x1[r]).toBeLessThanOrEqual((l1q + l1d) * 1.00001 + 1e-45);
    }
  });

  for (const kind of ['uniform, varied norms, duplicates', 'gaussian', 'clustered (few centres + small noise)', 'adversarial']) {
    it(`gives the full float32 pass's rows and scores: ${kind}, several seeds, n = 10 / 500 / 2048, ties`, async () => {
      const [rows, d] = [23_715, 64];
      for (const seed of [1, 2, 3]) {
        const m = table(kind, rows, d, seed);
        const mat = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'u4' });
        expect(mat.info().kernel).toBe('f32-simd+u4-prefilter');
        await mat.prefilterReady();
        expect(mat.info().prefilterReady).toBe(true);
        for (let t = 0; t < 9; t++) {
          const q = gaussian(d, 100 * seed + t);
          if (t % 3 === 1) for (let k = 0; k < d; k++) q[k] *= 1e4; // a jump in scale
          if (t === 4) q.set(m.subarray(100 * d, 101 * d)); // a row of the table (duplicated in some): ties at the top
          if (t === 5 && kind === 'adversarial') q.set(m.subarray(999 * d, 1000 * d)); // 401 equal rows on top
          await expectFullPass(mat, q, [10, 500, 2048][t % 3], rows);
        }
        const stats = mat.prefilterStats()!;
        expect(stats.listed + stats.everyRow).toBe(9);
        mat.dispose();
      }
    }, 60_000);
  }

  it('stays exact with a zero query (every score equal) and on d = 32', async () => {
    const [rows, d] = [20_000, 32];
    const m = table('gaussian', rows, d, 9);
    const mat = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'u4' });
    expect(mat.info().kernel).toBe('f32-simd+u4-prefilter');
    await mat.prefilterReady();
    await expectFullPass(mat, new Float32Array(d), 10, rows);
    for (let t = 0; t < 6; t++) await expectFullPass(mat, gaussian(d, 300 + t), [10, 500][t % 2], rows);
    mat.dispose();
  });

  it('stays exact when the threshold sample misleads it (the second run and the full pass)', async () => {
    const [rows, d] = [100_000, 64];
    const m = uniform(rows * d, 32);
    // The sampled blocks (8 % of the rows) hold 400 rows far above the rest: scaled from the sample,
    // the threshold for n = 500 is one that fewer than 500 rows of the matrix reach.
    for (const b of prefilterSampleBlocks(Math.ceil(rows / 16)).slice(0, 25)) for (let i = b * 16 * d; i < (b * 16 + 16) * d; i++) m[i] *= 1000;
    const mat = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'u4' });
    await mat.prefilterReady();
    for (let t = 0; t < 8; t++) await expectFullPass(mat, uniform(d, 700 + t).map(Math.abs), [500, 10][t % 2], rows);
    expect(mat.prefilterStats()!.everyRow).toBeGreaterThan(0);
    mat.dispose();
  }, 60_000);

  it('reports its kernel and bytes; prefilterCode i8 keeps the int8 prefilter, with the same lists', async () => {
    const [rows, d] = [23_715, 64];
    const m = table('gaussian', rows, d, 5);
    const u4 = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'u4' });
    const i8 = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'i8' });
    expect(i8.info().kernel).toBe('f32-simd+i8-prefilter');
    expect(u4.info().kernel).toBe('f32-simd+u4-prefilter');
    // 'auto' keeps int8 below PREFILTER_U4_MIN_ROWS rows and takes 4-bit from there on.
    const auto = await KernelFloat32Matrix.create(m, rows, d, 131_072);
    expect(auto.info().kernel).toBe('f32-simd+i8-prefilter');
    auto.dispose();
    const big = await KernelFloat32Matrix.create(new Float32Array(PREFILTER_U4_MIN_ROWS * 32), PREFILTER_U4_MIN_ROWS, 32, 131_072);
    expect(big.info().kernel).toBe('f32-simd+u4-prefilter');
    big.dispose();
    const nb = Math.ceil(rows / 16);
    expect(u4.info().bytes).toBe(rows * d * 4 + (nb + prefilterSampleBlocks(nb).length) * 16 * (d / 2 + 12) + Math.min(65_536, nb * 16) * 16 + d);
    expect(u4.info().bytes).toBeLessThan(i8.info().bytes);
    await Promise.all([u4.prefilterReady(), i8.prefilterReady()]);
    for (let t = 0; t < 4; t++) {
      const q = gaussian(d, 900 + t);
      const a = await u4.score(q, { kind: 'top', n: 500 });
      const b = await i8.score(q, { kind: 'top', n: 500 });
      expect([...a.rows!]).toEqual([...b.rows!]);
      expect([...a.scores[0]]).toEqual([...b.scores[0]]);
    }
    expect(u4.prefilterStats()!.listed + u4.prefilterStats()!.everyRow).toBe(4);
    u4.dispose();
    i8.dispose();
  });
  it('is built in the background: the full pass serves the same lists meanwhile; dispose stops the build', async () => {
    const [rows, d] = [200_000, 32]; // several slices of the build
    const m = table('gaussian', rows, d, 11);
    const mat = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'u4' });
    expect(mat.info().prefilterReady).toBe(false);
    const q = gaussian(d, 12);
    const early = await mat.score(q, { kind: 'top', n: 100 });
    expect(mat.prefilterStats()).toBeNull(); // served by the full pass
    await mat.prefilterReady();
    expect(mat.info().prefilterReady).toBe(true);
    const late = await mat.score(q, { kind: 'top', n: 100 });
    expect(mat.prefilterStats()!.listed + mat.prefilterStats()!.everyRow).toBe(1);
    expect([...late.rows!]).toEqual([...early.rows!]);
    expect([...late.scores[0]]).toEqual([...early.scores[0]]);
    mat.dispose();
    const stopped = await KernelFloat32Matrix.create(m, rows, d, 131_072, { prefilterCode: 'u4' });
    stopped.startBackgroundWork();
    stopped.dispose();
    await stopped.prefilterReady();
    expect(stopped.info().prefilterReady).toBe(false);
    expect(stopped.prefilterStats()).toBeNull();
  });
});
