/**
 * One copy of the item table on the CPU backends' fused path (src/model/item-table.ts): the loader
 * decodes the item embedding into a kernel's memory instead of a tensor, the fused forward reads its
 * rows there, and a catalog of the model's items in order is scored in place. Checked against the
 * tensor path: same values, same scores and lists, one tensor fewer, nothing left after dispose.
 */
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/engine/catalog.js';
import { createEngine } from '../../src/engine/engine.js';
import { loadModel } from '../../src/model/loader.js';
import { weightsFromArtifacts } from '../../src/model/artifacts.js';
import { createF32Kernel } from '../../src/kernels/f32.js';
import { fileFetch, freshDbName } from './helpers.js';

/** The first index where two arrays differ (-1: equal, length included). */
const firstDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
};

const GAMES = pathToFileURL(resolve(import.meta.dirname, '../../models/games-sasrec/model.json')).href;

describe('float16 decode in the kernel (decodeF16)', () => {
  it('gives the float32 of every float16 bit pattern, in place, and flags NaN and ±Infinity', () => {
    const k = createF32Kernel();
    expect(k.simd && k.decodeF16).toBeTruthy();
    const n = 65536;
    k.reserve(n * 4);
    // Every pattern, placed as the loader does: in the second half of the float32 destination.
    const src = new Uint16Array(k.buffer, n * 2, n);
    for (let h = 0; h < n; h++) src[h] = h;
    expect(k.decodeF16!(n * 2, 0, n)).toBe(1); // the set holds NaN and ±Infinity
    const got = new Float32Array(k.buffer, 0, n);
    const ref = (h: number) => {
      const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      return e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
    };
    let wrong = 0;
    for (let h = 0; h < n; h++) if (!Object.is(got[h], ref(h)) && !(Number.isNaN(got[h]) && Number.isNaN(ref(h)))) wrong++;
    expect(wrong).toBe(0);
    // Finite values only: no flag.
    const finite = new Uint16Array(k.buffer, 16 * 2, 16);
    for (let i = 0; i < 16; i++) finite[i] = (i * 4099) & 0x7bff;
    expect(k.decodeF16!(16 * 2, 0, 16)).toBe(0);
  });

  it('the host table decoded by the kernel equals the table lookup, also for a length that is not a multiple of 8', async () => {
    await tf.setBackend('cpu');
    for (const shape of [[5, 3], [7, 8], [1, 1]] as Array<[number, number]>) {
      const count = shape[0] * shape[1];
      const bits = Uint16Array.from({ length: count }, (_, i) => (i * 7919 + 3) & 0xfbff); // finite, both signs, subnormals
      const spec = [{ name: 'itemEmbedding', shape, dtype: 'float32' as const, quantization: { dtype: 'float16' as const } }];
      const host = weightsFromArtifacts({ weightSpecs: spec, weightData: bits.slice().buffer }, [['itemEmbedding', shape]], { hostItemTable: true });
      const plain = weightsFromArtifacts({ weightSpecs: spec, weightData: bits.slice().buffer }, [['itemEmbedding', shape]]);
      try {
        expect(host.hostItemTable).toBeDefined();
        expect(firstDiff(host.hostItemTable!.values, plain.weights.itemEmbedding.dataSync())).toBe(-1);
      } finally {
        tf.dispose(Object.values(plain.weights));
      }
    }
  });
});

describe('the host item table', () => {
  it('holds the values of the item tensor, and catalogs built on it score as the ones gathered through TF.js; only the first identity catalog shares its rows', { timeout: 60_000 }, async () => {
    await tf.setBackend('cpu');
    const viaTensor = await loadModel(GAMES, { fetch: fileFetch(), cache: 'off' });
    const viaHost = await loadModel(GAMES, { fetch: fileFetch(), cache: 'off', hostItemTable: true });
    const held: Catalog[] = [];
    try {
      expect(viaHost.weights.itemEmbedding).toBeUndefined();
      expect(viaHost.itemTable).toBeUndefined();
      const host = viaHost.hostItemTable!;
      expect([host.rows, host.dim]).toEqual(viaTensor.weights.itemEmbedding.shape);
      expect(firstDiff(host.values, viaTensor.weights.itemEmbedding.dataSync())).toBe(-1);
      const ids = viaHost.vocab.itemIds.slice(1);
      const subset = ids.filter((_, i) => i % 3 === 0).reverse().map((id) => ({ id }));
      const d = host.dim;
      const q = Float32Array.from({ length: d }, (_, k) => Math.cos(k + 2));
      for (const [catalog, shared] of [[undefined, true], [subset, false], [undefined, false]] as const) {
        const a = await Catalog.build(catalog, viaHost, { embeddingDtype: 'auto' });
        const b = await Catalog.build(catalog, { ...viaTensor, itemTable: undefined }, { embeddingDtype: 'auto' });
        held.push(a, b);
        expect(a.info()?.rowsShared === true).toBe(shared);
        expect(b.info()?.rowsShared).toBeUndefined();
        expect(a.info()?.kernel).toBe(b.info()?.kernel);
        const sa = await a.matrix!.score(q, { kind: 'all' });
        const sb = await b.matrix!.score(q, { kind: 'all' });
        expect(firstDiff(sa.scores[0], sb.scores[0])).toBe(-1);
        await (a.matrix as unknown as { prefilterReady(): Promise<void> }).prefilterReady();
        await (b.matrix as unknown as { prefilterReady(): Promise<void> }).prefilterReady();
        const ta = await a.matrix!.score(q, { kind: 'top', n: 500 });
        const tb = await b.matrix!.score(q, { kind: 'top', n: 500 });
        expect([...ta.rows!]).toEqual([...tb.rows!]);
        expect([...ta.scores[0]]).toEqual([...tb.scores[0]]);
      }
      // The table is not disturbed by the matrices laid out after it.
      expect(firstDiff(host.values, viaTensor.weights.itemEmbedding.dataSync())).toBe(-1);
    } finally {
      for (const c of held) c.dispose();
      tf.dispose(Object.values(viaTensor.weights));
      tf.dispose(Object.values(viaHost.weights));
    }
  });

  it('the engine on a CPU backend keeps no item tensor, gives the TF.js forward\'s lists, and leaves no tensor after dispose; a failed self-check makes the tensor', { timeout: 120_000 }, async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await tf.setBackend(backend);
      const base = tf.memory().numTensors;
      const open = (forward: 'auto' | 'tfjs', tamper = false) => createEngine({ modelUrl: GAMES, backend, dbName: freshDbName(), modelCache: 'off' }, {
        fetch: fileFetch(), forward,
        ...(tamper ? { fusedTamper: (f: { run: (...a: never[]) => { hidden: Float32Array } }) => { const run = f.run.bind(f); f.run = (...a) => { const o = run(...a); o.hidden[0] += 0.1; return o; }; } } : {}),
      } as never);
      const fast = await open('auto');
      const withFast = tf.memory().numTensors - base;
      const slow = await open('tfjs');
      const withSlow = tf.memory().numTensors - base - withFast;
      const tampered = await open('auto', true);
      try {
        const [fi, si, ti] = await Promise.all([fast.info(), slow.info(), tampered.info()]);
        expect(fi.forward?.path).toBe('fused');
        expect(fi.scoring?.rowsShared).toBe(true);
        expect(si.forward?.path).toBe('tfjs');
        expect(si.scoring?.rowsShared).toBeUndefined();
        expect(ti.forward?.path).toBe('tfjs');
        expect(fi.scoring?.bytes).toBe(si.scoring?.bytes);
        // The tensor path holds the item embedding as one tensor more.
        expect(withSlow - withFast).toBe(1);
        const vocab = JSON.parse(await (await fileFetch()(GAMES.replace('model.json', 'vocab.json'))).text()) as { itemIds: string[] };
        const events = [5, 900, 77, 12_000, 3].map((i) => ({ type: 'view' as const, itemId: vocab.itemIds[i] }));
        for (const e of [fast, slow, tampered]) await e.track(events);
        for (const [scene, req] of [['home', { k: 10 }], ['product', { itemId: events[1].itemId, k: 8 }]] as const) {
          const a = await fast.recommend(scene, req as never);
          const b = await slow.recommend(scene, req as never);
          const c = await tampered.recommend(scene, req as never);
          expect(a.items.map((i) => i.itemId)).toEqual(b.items.map((i) => i.itemId));
          expect(c.items.map((i) => i.itemId)).toEqual(b.items.map((i) => i.itemId));
        }
      } finally {
        await fast.dispose();
        await slow.dispose();
        await tampered.dispose();
      }
      expect(tf.memory().numTensors).toBe(base);
    }
  });
});
