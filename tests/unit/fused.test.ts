/**
 * The fused CPU forward (src/model/fused.ts) against the TF.js forward of src/model/sasrec.ts, on
 * the real bundled models (Games, the multi-task Tianchi model) and the tiny fixture: every history
 * length, padding, both kernels (WebAssembly SIMD and plain JS), and the guards that keep it from
 * silently diverging (weight checks, the engine's load-time self-check and fallback).
 */
import 'fake-indexeddb/auto';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { FusedForward } from '../../src/model/fused.js';
import { loadModel } from '../../src/model/loader.js';
import { createEngine } from '../../src/engine/engine.js';
import type { SasRecConfig, WeightMap } from '../../src/model/sasrec.js';
import { FIXTURE_MODEL_URL, fileFetch, freshDbName, itemId } from './helpers.js';

const modelUrl = (name: string) => pathToFileURL(resolve(import.meta.dirname, `../../models/${name}/model.json`)).href;
const TOL = 1e-4;

/** Deterministic pseudo-random ints. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
}

async function load(url: string): Promise<{ config: SasRecConfig; weights: WeightMap }> {
  const m = await loadModel(url, { fetch: fileFetch() });
  return { config: m.header.config, weights: m.weights };
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

function histories(cfg: SasRecConfig, seed: number): Int32Array[] {
  const r = rng(seed);
  const L = cfg.maxLen;
  const out: Int32Array[] = [];
  for (const n of [1, 2, 3, Math.floor(L / 2), L - 1, L]) {
    const row = new Int32Array(L);
    for (let i = L - n; i < L; i++) row[i] = 1 + r(cfg.numItems);
    out.push(row);
  }
  // Repeats of one item, and a padding hole (the engine never sends one; the maths must still agree).
  const rep = new Int32Array(L); for (let i = L - 5; i < L; i++) rep[i] = 7; out.push(rep);
  const hole = new Int32Array(L); for (let i = L - 6; i < L; i++) hole[i] = i === L - 3 ? 0 : 1 + r(cfg.numItems); out.push(hole);
  // Last position padding (right-padded row).
  const right = new Int32Array(L); right[0] = 3; right[1] = 5; out.push(right);
  return out;
}

describe('fused forward = TF.js forward', () => {
  for (const [name, url] of [['tiny fixture', FIXTURE_MODEL_URL], ['games-sasrec (bundled)', modelUrl('games-sasrec')]] as const) {
    for (const forceJs of [false, true]) {
      it(`${name}, ${forceJs ? 'plain JS' : 'wasm SIMD'} kernel: max abs diff < ${TOL} on every history length`, { timeout: 60_000 }, async () => {
        const { config, weights } = await load(url);
        try {
          const fused = FusedForward.create(config, weights, { forceJs });
          expect(fused.kernel).toBe(forceJs ? 'js' : 'wasm-simd');
          let worst = 0;
          for (const ids of histories(config, 42)) worst = Math.max(worst, fused.compareWithTfjs(ids));
          expect(worst).toBeLessThan(TOL);
          expect(worst).toBeGreaterThanOrEqual(0);
        } finally {
          tf.dispose(Object.values(weights));
        }
      });
    }
  }

  it('games-sasrec with the item table gathered through TF.js (large tables) gives the same', { timeout: 60_000 }, async () => {
    const { config, weights } = await load(modelUrl('games-sasrec'));
    try {
      const fused = FusedForward.create(config, weights, { itemTableMaxFloats: 0 });
      let worst = 0;
      for (const ids of histories(config, 7)) worst = Math.max(worst, fused.compareWithTfjs(ids));
      expect(worst).toBeLessThan(TOL);
    } finally {
      tf.dispose(Object.values(weights));
    }
  });

  it('tianchi-mtl (feature model): hidden state, per-task queries and attention agree', { timeout: 60_000 }, async () => {
    const { config, weights } = await load(modelUrl('tianchi-mtl'));
    try {
      const f = config.features!;
      const fused = FusedForward.create(config, weights);
      const r = rng(3);
      let worst = 0;
      for (const ids of histories(config, 11)) {
        const tok = (max: number) => Int32Array.from(ids, (id) => (id === 0 ? 0 : r(max + 1)));
        const tokens = {
          category: tok(f.numCategories), brand: tok(f.numBrands), price: tok(f.numPriceBuckets),
          behaviour: Int32Array.from(ids, (id) => (id === 0 ? 0 : 1 + r(f.numBehaviours))),
          scene: Int32Array.from(ids, (id) => (id === 0 ? 0 : 1 + r(f.numScenes))),
        };
        for (const scene of [1, 3]) worst = Math.max(worst, fused.compareWithTfjs(ids, tokens, scene));
      }
      expect(worst).toBeLessThan(TOL);
    } finally {
      tf.dispose(Object.values(weights));
    }
  });
});

describe('fused forward cannot silently diverge', () => {
  it('refuses weights that are not exactly those of the architecture', async () => {
    const { config, weights } = await load(FIXTURE_MODEL_URL);
    try {
      const extra = tf.zeros([4]);
      expect(() => FusedForward.create(config, { ...weights, 'block0/newGate': extra })).toThrow(/unknown weights block0\/newGate/);
      extra.dispose();
      const { ['block0/ffn2/bias']: _dropped, ...missing } = weights;
      expect(() => FusedForward.create(config, missing)).toThrow(/ffn2\/bias is missing/);
      const wrong = tf.zeros([config.hiddenDim, 3]);
      expect(() => FusedForward.create(config, { ...weights, 'block0/query/kernel': wrong })).toThrow(/query\/kernel is \[16, 3\]/);
      wrong.dispose();
    } finally {
      tf.dispose(Object.values(weights));
    }
  });

  it('detects a different computation: the comparison reports the gap', async () => {
    const { config, weights } = await load(FIXTURE_MODEL_URL);
    try {
      const fused = FusedForward.create(config, weights);
      const ids = histories(config, 5)[4];
      expect(fused.compareWithTfjs(ids)).toBeLessThan(TOL);
      // The TF.js side now computes with a changed weight (as if sasrec.ts changed): the gap shows.
      const old = weights['block0/ffn1/bias'];
      weights['block0/ffn1/bias'] = old.add(0.5);
      expect(fused.compareWithTfjs(ids)).toBeGreaterThan(1e-2);
      weights['block0/ffn1/bias'].dispose();
      weights['block0/ffn1/bias'] = old;
    } finally {
      tf.dispose(Object.values(weights));
    }
  });

  it('the engine uses the fused path on wasm and cpu after its self-check, and TF.js when the check fails', { timeout: 60_000 }, async () => {
    for (const backend of ['wasm', 'cpu'] as const) {
      const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend, dbName: freshDbName() }, { fetch: fileFetch() });
      try {
        const info = await e.info();
        expect(info.forward?.path).toBe('fused');
        expect(info.forward?.selfCheckMaxAbsDiff).toBeLessThan(TOL);
        expect(info.forward?.reason).toMatch(/self-check/);
      } finally {
        await e.dispose();
      }
    }
    // A fused path that computes something else is caught at load and not used.
    const e2 = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'wasm', dbName: freshDbName() },
      { fetch: fileFetch(), fusedTamper: (f) => { const run = f.run.bind(f); f.run = (...a) => { const o = run(...a); o.hidden[0] += 0.1; return o; }; } });
    try {
      const info = await e2.info();
      expect(info.forward?.path).toBe('tfjs');
      expect(info.forward?.reason).toMatch(/self-check failed/);
      await e2.track({ type: 'view', itemId: itemId(3) });
      expect((await e2.recommend('home', { k: 5 })).items.length).toBe(5);
    } finally {
      await e2.dispose();
    }
  });
});

describe('the recommend path on the bundled Games model', () => {
  it('fused forward and the candidate shortcut give the lists of the TF.js forward and full ranking (the prefilter is checked against the full pass in scoring-f32.test.ts)', { timeout: 120_000 }, async () => {
    const vocab = JSON.parse(await (await fileFetch()(modelUrl('games-sasrec').replace('model.json', 'vocab.json'))).text()) as { itemIds: string[] };
    const ids = vocab.itemIds.slice(1);
    const catalog = ids.map((id, i) => ({ id, category: `c${i % 37}`, brand: `b${i % 101}`, price: 5 + (i % 200), available: i % 50 !== 7 }));
    const open = (forward: 'auto' | 'tfjs') => createEngine({ modelUrl: modelUrl('games-sasrec'), backend: 'wasm', catalog, dbName: freshDbName() }, { fetch: fileFetch(), forward, candidateShortcut: forward === 'auto' });
    const fast = await open('auto');
    const slow = await open('tfjs');
    try {
      expect((await fast.info()).forward?.path).toBe('fused');
      // int8 at this size, with or without relaxed SIMD (the 4-bit prefilter starts at PREFILTER_U4_MIN_ROWS).
      expect((await fast.info()).scoring?.kernel).toBe('f32-simd+i8-prefilter');
      // The fused engine scores the model's item table in place (one copy); the TF.js one a copy of its tensor.
      expect((await fast.info()).scoring?.rowsShared).toBe(true);
      expect((await slow.info()).scoring?.rowsShared).toBeUndefined();
      const r = rng(99);
      for (let h = 0; h < 6; h++) {
        const events = Array.from({ length: 3 + r(25) }, (_, i) => ({ type: (i % 9 === 4 ? 'cart' : i % 11 === 6 ? 'purchase' : 'view') as 'view', itemId: ids[r(ids.length)] }));
        for (const e of [fast, slow]) { await e.clearHistory(); await e.track(events); }
        for (const [scene, req] of [['home', { k: 10 }], ['home', { k: 25, diversity: 0 }], ['product', { itemId: events[0].itemId, k: 8 }], ['cart', { k: 6 }]] as const) {
          const a = await fast.recommend(scene, req as never);
          const b = await slow.recommend(scene, req as never);
          expect(a.items.map((i) => i.itemId)).toEqual(b.items.map((i) => i.itemId));
          a.items.forEach((it, i) => expect(it.score).toBeCloseTo(b.items[i].score, 4));
          expect(a.items.map((i) => i.reason)).toEqual(b.items.map((i) => i.reason));
        }
      }
    } finally {
      await fast.dispose();
      await slow.dispose();
    }
  });

  it('a new shopper\'s list ranks the most popular head of a large catalog; rules that starve it are filled from the rest', { timeout: 60_000 }, async () => {
    const vocab = JSON.parse(await (await fileFetch()(modelUrl('games-sasrec').replace('model.json', 'vocab.json'))).text()) as { itemIds: string[]; popularity: number[] };
    const ids = vocab.itemIds.slice(1);
    // The 40 least popular items form their own category, far below the popular head.
    const byPop = ids.map((id, i) => ({ id, pop: vocab.popularity[i + 1] })).sort((a, b) => b.pop - a.pop);
    const tail = new Set(byPop.slice(-40).map((x) => x.id));
    const catalog = ids.map((id, i) => ({ id, category: tail.has(id) ? 'tail' : `c${i % 37}`, price: 5 + (i % 200) }));
    const e = await createEngine({ modelUrl: modelUrl('games-sasrec'), backend: 'wasm', catalog, dbName: freshDbName() }, { fetch: fileFetch() });
    try {
      const plain = await e.recommend('home', { k: 10, diversity: 0 });
      expect(plain.items.map((i) => i.itemId)).toEqual(byPop.slice(0, 10).map((x) => x.id));
      const starved = await e.recommend('home', { k: 10, rules: { include: { category: ['tail'] } } });
      expect(starved.items).toHaveLength(10);
      for (const it of starved.items) expect(tail.has(it.itemId)).toBe(true);
    } finally {
      await e.dispose();
    }
  });
});
