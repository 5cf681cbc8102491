import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import { InvalidOptionsError, InvalidRequestError } from '../../src/contract/errors.js';
import { Int8Matrix } from '../../src/retrieval/int8-matrix.js';
import { KernelFloat32Matrix } from '../../src/retrieval/kernel-float32.js';
import { createCatalogMatrix } from '../../src/retrieval/matrix.js';
import { TfjsFloat32Matrix } from '../../src/retrieval/tfjs-float32.js';
import { dequantizeInt8, quantizeInt8 } from '../../src/retrieval/int8.js';
import { TopK } from '../../src/retrieval/topk.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

function rand(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5; });
}

function exact(m: Float32Array, q: Float32Array, rows: number, d: number): Float32Array {
  return Float32Array.from({ length: rows }, (_, r) => { let s = 0; for (let k = 0; k < d; k++) s += q[k] * m[r * d + k]; return s; });
}

const argsortDesc = (xs: Float32Array) => Array.from(xs.keys()).sort((a, b) => xs[b] - xs[a]);

describe('TopK', () => {
  it('keeps the n largest, best first', () => {
    const xs = rand(1000, 7);
    const t = new TopK(10);
    t.pushAll(xs, xs.length, 0);
    expect([...t.sortedIndices()]).toEqual(argsortDesc(xs).slice(0, 10));
  });
});

describe('int8 quantisation', () => {
  it('round-trips within half a step per row', () => {
    const d = 64;
    const m = rand(50 * d, 3);
    const q = quantizeInt8(m, 50, d);
    const back = dequantizeInt8(q);
    for (let r = 0; r < 50; r++) for (let k = 0; k < d; k++) {
      expect(Math.abs(back[r * d + k] - m[r * d + k])).toBeLessThanOrEqual(q.scales[r] / 2 + 1e-7);
    }
  });
});

describe('CatalogMatrix', () => {
  const d = 64;
  const rows = 3000;
  const m = rand(rows * d, 11);
  const q = rand(2 * d, 5);

  for (const dtype of ['float32', 'int8'] as const) {
    it(`${dtype}: all, top and rows agree with exact scores (chunked)`, async () => {
      const before = tf.memory().numTensors;
      const mat = await createCatalogMatrix(m, rows, d, { dtype, chunkRows: 700 });
      try {
        expect(mat.info()).toMatchObject({ dtype, rows, dim: d, chunkRows: 700 });
        const tol = dtype === 'int8' ? 0.02 : 1e-4;
        const e0 = exact(m, q.subarray(0, d), rows, d);
        const all = await mat.score(q.subarray(0, d), { kind: 'all' });
        expect(all.rows).toBeNull();
        for (let r = 0; r < rows; r += 97) expect(all.scores[0][r]).toBeCloseTo(e0[r], dtype === 'int8' ? 1 : 4);
        // Two queries: the union of each one's top 20, with both scores on every row.
        const top = await mat.score(q, { kind: 'top', n: 20 });
        expect(top.scores).toHaveLength(2);
        expect(top.rows!.length).toBeGreaterThanOrEqual(20);
        expect(top.rows!.length).toBeLessThanOrEqual(40);
        const best = argsortDesc(e0).slice(0, 20);
        const found = new Set(top.rows);
        expect(best.filter((r) => found.has(r)).length).toBeGreaterThanOrEqual(dtype === 'int8' ? 18 : 20);
        top.rows!.forEach((r, j) => expect(Math.abs(top.scores[0][j] - e0[r])).toBeLessThan(tol));
        const some = await mat.score(q.subarray(0, d), { kind: 'rows', rows: [5, 2999, 0] });
        expect([...some.rows!]).toEqual([5, 2999, 0]);
        [5, 2999, 0].forEach((r, j) => expect(Math.abs(some.scores[0][j] - e0[r])).toBeLessThan(tol));
        const u = mat.unitRow(7);
        expect(Math.hypot(...u)).toBeCloseTo(1, 5);
      } finally {
        mat.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('rejects bad input with typed errors', async () => {
    await expect(createCatalogMatrix(m, rows, d, { dtype: 'int4' as never })).rejects.toBeInstanceOf(InvalidOptionsError);
    const mat = await createCatalogMatrix(m, rows, d, { dtype: 'int8' });
    await expect(mat.score(new Float32Array(10), { kind: 'all' })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(mat.score(q.subarray(0, d), { kind: 'top', n: 0 })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(mat.score(q.subarray(0, d), { kind: 'rows', rows: [rows] })).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it('createCatalogMatrix picks the storage: the f32 kernel on a CPU backend, TF.js when asked, int8 for cached rows', async () => {
    expect(tf.getBackend()).toBe('cpu');
    expect(await createCatalogMatrix(m, rows, d)).toBeInstanceOf(KernelFloat32Matrix); // auto: float32 below AUTO_INT8_MIN_ROWS
    const viaTf = await createCatalogMatrix(m, rows, d, { dtype: 'float32', float32Kernel: 'tfjs' });
    expect(viaTf).toBeInstanceOf(TfjsFloat32Matrix);
    viaTf.dispose();
    const cached = quantizeInt8(m, rows, d);
    const fromCache = await createCatalogMatrix(null, rows, d, { dtype: 'auto' }, cached);
    expect(fromCache).toBeInstanceOf(Int8Matrix);
    expect([...fromCache.int8()!.data]).toEqual([...cached.data]);
    expect([...fromCache.int8()!.scales]).toEqual([...cached.scales]);
    await expect(createCatalogMatrix(null, rows, d, { dtype: 'float32' })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(createCatalogMatrix(m, rows, d, { chunkRows: 0 })).rejects.toMatchObject({ details: { field: 'chunkRows' } });
  });

  it('int8 uses the WebAssembly SIMD kernel here', async () => {
    const mat = await createCatalogMatrix(m, rows, d, { dtype: 'int8' });
    expect(mat.info().simd).toBe(true);
  });
});

describe('engine with an int8 catalog matrix', () => {
  it('recommends, reports scoring info, and reads the matrix from the IndexedDB cache on the next load', { timeout: 30_000 }, async () => {
    const dbName = freshDbName();
    const open = () => createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName, embeddingDtype: 'int8' }, { fetch: fileFetch() });
    const e1 = await open();
    const info1 = await e1.info();
    expect(info1.scoring).toMatchObject({ dtype: 'int8', fromCache: false, mode: 'all' });
    await e1.track([{ type: 'view', itemId: itemId(12) }, { type: 'view', itemId: itemId(37) }]);
    const r1 = await e1.recommend('home', { k: 5 });
    await e1.dispose();
    const e2 = await open();
    const info2 = await e2.info();
    expect(info2.scoring).toMatchObject({ dtype: 'int8', fromCache: true });
    const r2 = await e2.recommend('home', { k: 5 });
    expect(r2.items.map((i) => i.itemId)).toEqual(r1.items.map((i) => i.itemId));
    await e2.dispose();
  });

  it('int8 and float32 give nearly the same lists', { timeout: 30_000 }, async () => {
    const lists: string[][] = [];
    for (const embeddingDtype of ['float32', 'int8'] as const) {
      const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName(), embeddingDtype }, { fetch: fileFetch() });
      await e.track([{ type: 'view', itemId: itemId(3) }, { type: 'view', itemId: itemId(4) }]);
      lists.push((await e.recommend('home', { k: 10, diversity: 0 })).items.map((i) => i.itemId));
      await e.dispose();
    }
    expect(lists[1].filter((id) => lists[0].includes(id)).length).toBeGreaterThanOrEqual(8);
  });

  it('rejects an unknown embeddingDtype', async () => {
    await expect(createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), embeddingDtype: 'fp8' as never }, { fetch: fileFetch() }))
      .rejects.toBeInstanceOf(InvalidOptionsError);
  });
});
