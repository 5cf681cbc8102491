/**
 * The multi-task model end to end on a real slice of the Tianchi events: data with simulated
 * scenes and content features, a few training steps (loss falls), artifacts that the engine loads,
 * per-scene objectives, content scoring of items the model never saw, and the evaluation maths.
 */
import 'fake-indexeddb/auto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedScene, type MtlData } from '../../training/mtl-data.js';
import { DEFAULT_MTL_OPTIONS, mtlConfig, mtlValidationLabel, refitMtl, trainMtl } from '../../training/mtl-train.js';
import { evaluateMtlScorer, mtlModelScorer, mtlPeriodUsers, popularityScorer, sampleMtlUsers, type MtlScorer } from '../../training/mtl-eval.js';
import { initWeights } from '../../src/model/sasrec.js';
import { saveModel, setNodeBackend } from '../../training/node-io.js';
import { priceBucket, repeatFeatures, SCENE_CODES } from '../../src/model/features.js';
import { createEngine } from '../../src/engine/engine.js';
import { fileFetch } from './helpers.js';
import { hasTianchi, tianchiSlice } from './mtl-slice.js';

const hasData = hasTianchi;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-mtl-'));
let data: MtlData;

beforeAll(async () => {
  await setNodeBackend('wasm');
  if (!hasData) return;
  data = tianchiSlice(dir, 40);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('features', () => {
  it('buckets prices by their edges, 0 for no price', () => {
    expect(priceBucket([10, 20], undefined)).toBe(0);
    expect(priceBucket([10, 20], 5)).toBe(1);
    expect(priceBucket([10, 20], 10)).toBe(2);
    expect(priceBucket([10, 20], 99)).toBe(3);
  });
  it('computes repeat features from history: seen, recency, carted, purchased', () => {
    const f = repeatFeatures([{ key: 'a', behaviour: 3 }, { key: 'b', behaviour: 1 }, { key: 'a', behaviour: 1 }, { key: 'c', behaviour: 4 }]);
    expect([...f.get('a')!]).toEqual([1, expect.closeTo(0.8, 6), 1, 0]);
    expect([...f.get('c')!]).toEqual([1, 1, 0, 1]);
    expect(f.get('z')).toBeUndefined();
  });
  it('simulates scenes from event type and time only', () => {
    expect(simulatedScene(4, false)).toBe(SCENE_CODES.cart);
    expect(simulatedScene(3, true)).toBe(SCENE_CODES.product);
    expect(simulatedScene(1, true)).toBe(SCENE_CODES.home);
    expect(simulatedScene(1, false)).toBe(SCENE_CODES.product);
  });
});

describe('evaluation maths', () => {
  it('ranks each task target and computes purchase GAUC on a hand-made case', async () => {
    const catalog = { ids: ['a', 'b', 'c', 'd'], modelIndex: Int32Array.from([1, 2, 3, 0]), category: new Int32Array(4), brand: new Int32Array(4), price: new Int32Array(4) };
    const ev = (row: number, behaviour: number, date: number) => ({ item: catalog.modelIndex[row], row, behaviour, scene: 1, date });
    const hand = {
      users: ['u'], catalog, trainEnd: 1, validDay: 2, testStart: 3,
      // History a; in the test days: click b, cart c, purchase c, and d (a new item) clicked.
      events: [[ev(0, 1, 1), ev(1, 1, 3), ev(2, 3, 3), ev(2, 4, 3), ev(3, 1, 3)]],
    } as unknown as MtlData;
    // Scores over a b c d: b best, then c, d, a.
    const scorer: MtlScorer = async (h) => h.map(() => Float32Array.from([0, 3, 2, 1]));
    const m = await evaluateMtlScorer(scorer, hand, { period: 'test', candidates: 'catalog' });
    expect(m.tasks[0]).toMatchObject({ task: 'click', users: 1, 'hr@10': 1, 'ndcg@10': 1 }); // b at rank 0
    expect(m.tasks[1]['ndcg@10']).toBeCloseTo(1 / Math.log2(3), 4); // c at rank 1
    // Interacted b, c, d; bought c: c (2) beats d (1), loses to b (3) -> AUC 0.5.
    expect(m.purchaseGauc).toBe(0.5);
    const vocabOnly = await evaluateMtlScorer(scorer, hand, { period: 'test', candidates: 'vocab' });
    expect(vocabOnly.coldItems.targets).toBe(0);
  });
});

describe('validation users', () => {
  // Users 0-5: history on day 1 (user 4's item is cold, user 5 has none), an event on the validation day 2 except user 3.
  const ev = (item: number, date: number) => ({ item, row: item, behaviour: 1, scene: 1, date });
  const small = {
    users: ['a', 'b', 'c', 'd', 'e', 'f'], trainEnd: 1, validDay: 2, testStart: 3,
    events: [[ev(1, 1), ev(2, 2)], [ev(2, 1), ev(1, 2)], [ev(1, 1), ev(3, 2), ev(2, 3)], [ev(1, 1), ev(2, 3)], [ev(0, 1), ev(1, 2)], [ev(1, 2)]],
    catalog: { ids: ['x', 'a', 'b', 'c'], modelIndex: Int32Array.from([0, 1, 2, 3]), category: new Int32Array(4), brand: new Int32Array(4), price: new Int32Array(4) },
  } as unknown as MtlData;
  it('are those with a validation-day event and a known item before it, as the evaluation counts them', async () => {
    expect(mtlPeriodUsers(small, 'valid')).toEqual([0, 1, 2]);
    expect(mtlPeriodUsers(small, 'test')).toEqual([2, 3]);
    const scorer: MtlScorer = async (h) => h.map(() => Float32Array.from([0, 3, 2, 1]));
    const all = await evaluateMtlScorer(scorer, small, { period: 'valid', candidates: 'vocab' });
    const listed = await evaluateMtlScorer(scorer, small, { period: 'valid', candidates: 'vocab', users: mtlPeriodUsers(small, 'valid') });
    expect(listed).toEqual(all);
    expect(all.users).toBe(3);
  });
  it('are sampled with a fixed seed only above the cap, and labelled so', () => {
    expect(sampleMtlUsers(small, 'valid', 0, 1)).toEqual({ users: [0, 1, 2], eligible: 3, sampled: false });
    expect(sampleMtlUsers(small, 'valid', 3, 1).sampled).toBe(false);
    const s = sampleMtlUsers(small, 'valid', 2, 7);
    expect(s).toMatchObject({ eligible: 3, sampled: true });
    expect(s.users).toHaveLength(2);
    expect(s.users).toEqual([...s.users].sort((x, y) => x - y));
    expect(sampleMtlUsers(small, 'valid', 2, 7)).toEqual(s);
    expect(mtlValidationLabel(s)).toContain('over 2 sampled users of the 3 with a validation-day event');
    expect(mtlValidationLabel(sampleMtlUsers(small, 'valid', 0, 1))).toContain('over all 3 users');
  });
});

describe.skipIf(!hasData)('multi-task model on a Tianchi slice', () => {
  it('scores each task the same whether the batch\'s forward pass is shared or not', async () => {
    const config = mtlConfig(data, { ...DEFAULT_MTL_OPTIONS, hiddenDim: 16, ffnDim: 16 });
    const weights = initWeights(config, 3);
    const histories = data.events.filter((h) => h.some((e) => e.item > 0)).slice(0, 6).map((h) => h.slice(0, -1));
    const shared = mtlModelScorer(config, weights, data);
    const a = [await shared.scorer(histories, 0), await shared.scorer(histories, 2)];
    shared.dispose();
    const b = [];
    for (const t of [0, 2]) { const fresh = mtlModelScorer(config, weights, data); b.push(await fresh.scorer(histories, t)); fresh.dispose(); }
    const differing = (x: Float32Array[], y: Float32Array[]) => x.reduce((n, row, r) => n + row.filter((v, i) => v !== y[r][i]).length, 0);
    expect(differing(a[0]!, b[0]!)).toBe(0);
    expect(differing(a[1]!, b[1]!)).toBe(0);
    expect(differing(a[0]!, a[1]!)).toBeGreaterThan(0); // the heads differ: the cache is per batch, not per task
    tf.dispose(Object.values(weights));
  }, 60_000);

  it('refits on more days for a given epoch count without validating, keeping the given repeat weights', async () => {
    const o = { ...DEFAULT_MTL_OPTIONS, hiddenDim: 8, ffnDim: 8, negatives: 16, batchSize: 32, epochs: 9, patience: 1, learningRate: 5e-3 };
    const before = tf.memory().numTensors;
    const all = { ...data, trainEnd: data.validDay }; // the validation day joins the training days (same vocabulary: a unit test)
    const repeat = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]);
    const epochs: { epoch: number; valid: unknown }[] = [];
    const r = await refitMtl(all, o, 2, repeat, { onEpoch: (log) => epochs.push({ epoch: log.epoch, valid: log.valid }) });
    expect(epochs).toEqual([{ epoch: 1, valid: undefined }, { epoch: 2, valid: undefined }]); // no patience, no validation
    expect(r.bestEpoch).toBe(2);
    expect(await r.weights.repeatWeights.array()).toEqual(await repeat.array());
    // The last epoch's weights, not the start's: a plain 2-epoch training from the same seed ends elsewhere than its 1st epoch.
    const one = await refitMtl(all, o, 1, repeat);
    const diff = tf.tidy(() => tf.sub(r.weights.itemEmbedding, one.weights.itemEmbedding).abs().max().dataSync()[0]);
    expect(diff).toBeGreaterThan(0);
    tf.dispose([...Object.values(r.weights), ...Object.values(one.weights), repeat]);
    expect(tf.memory().numTensors).toBe(before);
    await expect(refitMtl(all, o, 0, repeat)).rejects.toThrow('a refit needs 1 or more epochs');
  }, 120_000);

  it('trains (loss falls), saves, and serves every scene in the engine with objectives', async () => {
    const losses: number[] = [];
    const result = await trainMtl(data, { ...DEFAULT_MTL_OPTIONS, hiddenDim: 16, ffnDim: 16, negatives: 32, batchSize: 16, epochs: 6, patience: 0, learningRate: 5e-3 },
      { onEpoch: (log) => losses.push(log.loss) });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const modelDir = path.join(dir, 'model');
    const { header } = await saveModel(modelDir, result.config, result.weights, data.vocab, 'float32', 'mtl-test');
    tf.dispose(Object.values(result.weights));
    expect(header.architecture).toBe('sasrec-mtl');

    const known = data.vocab.itemIds.slice(1, 31);
    const catalog = [...known.map((id) => ({ id, category: data.vocab.features.categoryIds[data.vocab.features.itemCategory[data.vocab.itemIds.indexOf(id)]] })),
      { id: 'brand-new', category: data.vocab.features.categoryIds[1], price: 10 }];
    const before = tf.memory().numTensors;
    const engine = await createEngine({ modelUrl: pathToFileURL(path.join(modelDir, 'model.json')).href, backend: 'wasm', dbName: `mtl-${Date.now()}`, catalog }, { fetch: fileFetch() });
    // The new item has no learned vector: it is scored from its (known) category, and counted apart.
    const info = await engine.info();
    expect(info.catalogItemsKnownToModel).toBe(catalog.length - 1);
    expect(info.coverage).toMatchObject({ learned: catalog.length - 1, contentOnly: 1, unscored: 0 });
    await engine.track([{ type: 'view', itemId: known[0] }, { type: 'cart', itemId: known[1], scene: 'product' }, { type: 'view', itemId: known[2] }]);
    const scoresOf = async (objectives: { click: number; cart: number; purchase: number }) => {
      const r = await engine.recommend('home', { k: 28, objectives, diversity: 0 });
      return { r, byId: new Map(r.items.map((i) => [i.itemId, i.score])) };
    };
    const byClick = await scoresOf({ click: 1, cart: 0, purchase: 0 });
    const byPurchase = await scoresOf({ click: 0, cart: 0, purchase: 1 });
    expect(byClick.r.items).toHaveLength(28);
    expect(byClick.r.historyUsed).toBe(3);
    // Separate heads: the same items get different scores under click-only and purchase-only objectives.
    const diffs = [...byClick.byId].filter(([id, s]) => byPurchase.byId.has(id) && Math.abs(byPurchase.byId.get(id)! - s) > 1e-4);
    expect(diffs.length).toBeGreaterThan(0);
    const cart = await engine.recommend('cart', { k: 5 });
    expect(cart.items.map((i) => i.itemId)).not.toContain(known[1]);
    // A product page for the new item: items closest to its content vector, not the popularity fallback.
    const similar = await engine.recommend('product', { itemId: 'brand-new', k: 5 });
    expect(similar.items).toHaveLength(5);
    expect(similar.items.every((i) => i.reason.kind === 'similar' && i.itemId !== 'brand-new')).toBe(true);
    const search = await engine.recommend('search', { k: 3, candidates: ['brand-new', known[5], known[6]] });
    expect(search.items.find((i) => i.itemId === 'brand-new')?.reason.kind).toBe('search'); // content-scored, not a fallback
    await engine.clearHistory();
    await engine.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
