import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEngine, warmupCalls, type RecommenderEngine } from '../../src/engine/engine.js';
import { SCENE_REGISTRY } from '../../src/engine/scenes/index.js';
import {
  DisposedError, InvalidEventError, InvalidOptionsError, InvalidRequestError, ModelLoadError, UnknownItemError,
  UnknownSceneError,
} from '../../src/contract/errors.js';
import type { LoadProgress, RecommendResult, SceneName, SceneRequestMap } from '../../src/contract/protocol.js';
import { MetaStore } from '../../src/engine/store/meta.js';
import { DEFAULT_REQUESTS, WARMUP_CALLS, WARMUP_CALLS_LARGE, WARMUP_LARGE_MIN_ROWS } from '../../src/contract/defaults.js';
import { FIXTURE_MODEL_URL, clusterOf, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const CATALOG_IDS = new Set(fixtureCatalog().map((c) => c.id));
const ids = (r: RecommendResult) => r.items.map((i) => i.itemId);

function expectValidList(r: RecommendResult, k: number) {
  expect(r.items).toHaveLength(k);
  expect(new Set(ids(r)).size).toBe(k);
  r.items.forEach((item, i) => {
    expect(item.rank).toBe(i);
    expect(Number.isFinite(item.score)).toBe(true);
    expect(CATALOG_IDS.has(item.itemId)).toBe(true);
    expect(item.item?.id).toBe(item.itemId);
  });
  expect(r.backend).toBe('cpu');
  expect(r.modelVersion).toBe('tiny-fixture-1');
}

let engine: RecommenderEngine;
const progress: LoadProgress[] = [];

beforeAll(async () => {
  engine = await createEngine(
    { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
    { fetch: fileFetch(), onProgress: (p) => progress.push(p) },
  );
});
afterAll(async () => { await engine.dispose(); });
beforeEach(async () => { await engine.clearHistory(); });

describe('loading', () => {
  it('reports progress in order and ends ready', () => {
    const stages = progress.map((p) => p.stage);
    expect(stages[0]).toBe('backend');
    expect(progress[0]).toEqual({ stage: 'backend', backend: 'cpu', status: 'trying' });
    expect(progress[1]).toMatchObject({ stage: 'backend', backend: 'cpu', status: 'ready' });
    const downloads = progress.filter((p) => p.stage === 'download').map((p) => (p as { loadedFraction: number }).loadedFraction);
    expect(downloads[0]).toBe(0);
    expect(downloads.at(-1)).toBe(1);
    expect([...downloads].sort((a, b) => a - b)).toEqual(downloads);
    expect(progress.find((p) => p.stage === 'model')).toEqual({ stage: 'model', numItems: 60, weightBytes: 13568 });
    const warm = progress.filter((p) => p.stage === 'warmup');
    expect(typeof (warm.at(-1) as { ms?: number }).ms).toBe('number');
    expect(stages.at(-1)).toBe('ready');
    expect(stages.indexOf('model')).toBeLessThan(stages.indexOf('warmup'));
  });

  it('warms up with WARMUP_CALLS home lists, one from WARMUP_LARGE_MIN_ROWS rows (each of those scores every row before the prefilter exists)', async () => {
    expect(warmupCalls(53)).toBe(WARMUP_CALLS);
    expect(warmupCalls(WARMUP_LARGE_MIN_ROWS - 1)).toBe(WARMUP_CALLS);
    expect(warmupCalls(WARMUP_LARGE_MIN_ROWS)).toBe(WARMUP_CALLS_LARGE);
    expect(warmupCalls(1_000_000)).toBe(WARMUP_CALLS_LARGE);
    // The load makes exactly that many (the real scene, counted, not replaced).
    const spy = vi.spyOn(SCENE_REGISTRY.home, 'recommend');
    try {
      const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() }, { fetch: fileFetch() });
      await e.dispose();
      expect(spy).toHaveBeenCalledTimes(warmupCalls(fixtureCatalog().length));
    } finally {
      spy.mockRestore();
    }
  });

  it('describes itself', async () => {
    const info = await engine.info();
    expect(info).toMatchObject({
      backend: 'cpu', rejectedBackends: [], modelUrl: FIXTURE_MODEL_URL, modelVersion: 'tiny-fixture-1',
      numModelItems: 60, catalogSize: 53, catalogItemsKnownToModel: 50,
      coverage: { learned: 50, contentOnly: 0, unscored: 3, learnedShare: 50 / 53, modelItemsInCatalog: 50 },
    });
    expect(info.warnings).toBeUndefined();
    expect(info.adapter).toBeUndefined();
    expect(info.loadMs).toBeGreaterThan(0);
  });
});

describe('scenes', () => {
  const requests: { [S in 'home' | 'product' | 'cart' | 'search']: SceneRequestMap[S] } = {
    home: { k: 7 },
    product: { itemId: itemId(12), k: 7 },
    cart: { cart: [itemId(3), itemId(33)], k: 7 },
    search: { candidates: [...Array(20).keys()].map((i) => itemId(i + 1)), k: 7 },
  };

  it.each(Object.keys(requests) as Array<keyof typeof requests>)('%s returns k valid, de-duplicated catalog items (with and without history)', async (scene) => {
    const r0 = await engine.recommend(scene, requests[scene] as never);
    expectValidList(r0, 7);
    expect(r0.scene).toBe(scene);
    await engine.track([{ type: 'view', itemId: itemId(5) }, { type: 'click', itemId: itemId(27) }, { type: 'view', itemId: itemId(44) }]);
    const r1 = await engine.recommend(scene, requests[scene] as never);
    expectValidList(r1, 7);
    expect(r1.historyUsed).toBeGreaterThan(0);
  });

  it('home without history is the popularity list', async () => {
    const r = await engine.recommend('home', { k: 5, diversity: 0 });
    expect(r.historyUsed).toBe(0);
    expect(r.items.every((i) => i.reason.kind === 'popular')).toBe(true);
    // vocab popularity of model index i is (37 i mod 60) + 1: highest for i = 13 (item-13 -> 2), ... check it is descending.
    const pop = (id: string) => ((Number(id.slice(5)) * 37) % 60) + 1;
    const scores = ids(r).map(pop);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(scores[0]).toBe(Math.max(...[...CATALOG_IDS].filter((c) => c.startsWith('item-')).map(pop)));
  });

  it('home follows the latest history: track changes the next list', async () => {
    await engine.track({ type: 'view', itemId: itemId(23) });
    const a = await engine.recommend('home', { k: 8, diversity: 0 });
    expect(a.items.every((i) => clusterOf(i.itemId) === 2)).toBe(true);
    expect(a.items[0].reason).toEqual({ kind: 'personal', becauseOf: [itemId(23)] });
    await engine.track({ type: 'view', itemId: itemId(45) });
    const b = await engine.recommend('home', { k: 8, diversity: 0 });
    expect(b.items.every((i) => clusterOf(i.itemId) === 4)).toBe(true);
    expect(ids(b)).not.toEqual(ids(a));
    const because = (b.items[0].reason as { becauseOf: string[] }).becauseOf;
    expect(because.sort()).toEqual([itemId(23), itemId(45)].sort());
  });

  it('never returns model items missing from the catalog', async () => {
    await engine.track({ type: 'view', itemId: itemId(55) }); // model knows it, shop does not sell it
    const r = await engine.recommend('home', { k: 40, diversity: 0 });
    expect(r.items.some((i) => Number(i.itemId.slice(5)) > 50)).toBe(false);
    expect(r.historyUsed).toBe(1);
  });

  it('product: conditions on the item, excludes it', async () => {
    const r = await engine.recommend('product', { itemId: itemId(34), k: 9, diversity: 0 });
    expect(ids(r)).not.toContain(itemId(34));
    expect(r.items.every((i) => clusterOf(i.itemId) === 3)).toBe(true);
    expect(r.items[0].reason).toEqual({ kind: 'similar', to: itemId(34) });
    // Known to the model but not in the catalog: still a valid product to condition on.
    const outside = await engine.recommend('product', { itemId: itemId(58), k: 5, diversity: 0 });
    expect(outside.items.every((i) => CATALOG_IDS.has(i.itemId))).toBe(true);
  });

  it('product: unknown id is UnknownItemError; a cold catalog item gets its category\'s popular items', async () => {
    await expect(engine.recommend('product', { itemId: 'nope' })).rejects.toBeInstanceOf(UnknownItemError);
    const r = await engine.recommend('product', { itemId: 'cold-1', k: 6, diversity: 0 });
    expect(r.items.slice(0, 6).every((i) => i.item?.category === 'cat-0')).toBe(true);
    expect(ids(r)).not.toContain('cold-1');
    expect(r.items[0].reason.kind).toBe('fallback');
  });

  it('cart: excludes the cart, explains as complement, defaults to the tracked cart', async () => {
    const cart = [itemId(2), itemId(14)];
    const r = await engine.recommend('cart', { cart, k: 10, diversity: 0 });
    expect(ids(r).some((id) => cart.includes(id))).toBe(false);
    expect(r.items[0].reason).toEqual({ kind: 'complement', to: cart });
    // Tracked: 31 and 32 into the cart, 32 bought -> default cart is [31].
    await engine.track([
      { type: 'cart', itemId: itemId(31) }, { type: 'cart', itemId: itemId(32) }, { type: 'purchase', itemId: itemId(32) },
    ]);
    // The fixture model's complements of item 31 are its own cluster (category cat-3): without the
    // substitute push-down the list is that category; the default lowers their scores, and a full
    // push-down puts other categories first.
    const same = await engine.recommend('cart', { k: 10, diversity: 0, substitutePenalty: 0 });
    expect(same.items[0].reason).toEqual({ kind: 'complement', to: [itemId(31)] });
    expect(ids(same)).not.toContain(itemId(31));
    expect(same.items.filter((i) => clusterOf(i.itemId) === 3).length).toBeGreaterThanOrEqual(8);
    expect(same.items.every((i) => i.discount === undefined)).toBe(true);
    const d = await engine.recommend('cart', { k: 10, diversity: 0 });
    expect(ids(d)).not.toContain(itemId(31));
    for (const i of d.items.filter((x) => clusterOf(x.itemId) === 3)) expect(i.discount).toBeCloseTo(1 - DEFAULT_REQUESTS.cart.substitutePenalty, 10);
    const full = await engine.recommend('cart', { k: 10, diversity: 0, substitutePenalty: 1 });
    expect(clusterOf(full.items[0].itemId)).not.toBe(3);
    expect(full.items.filter((i) => clusterOf(i.itemId) === 3).length).toBeLessThan(8);
    for (let j = 1; j < d.items.length; j++) expect(d.items[j].score).toBeLessThanOrEqual(d.items[j - 1].score);
  });

  it('home leaves out purchased and in-cart items', async () => {
    await engine.track([{ type: 'purchase', itemId: itemId(21) }, { type: 'cart', itemId: itemId(22) }, { type: 'view', itemId: itemId(23) }]);
    const r = await engine.recommend('home', { k: 10, diversity: 0 });
    expect(ids(r)).not.toContain(itemId(21));
    expect(ids(r)).not.toContain(itemId(22));
  });

  it('search: only candidates, de-duplicated, unknown kept, personalWeight moves the order', async () => {
    await engine.track({ type: 'view', itemId: itemId(45) });
    const candidates = [itemId(1), itemId(2), 'not-in-shop', itemId(41), itemId(1), itemId(42), 'cold-2'];
    const shop = await engine.recommend('search', { candidates, k: 20, personalWeight: 0 });
    expect(ids(shop)).toEqual([itemId(1), itemId(2), 'not-in-shop', itemId(41), itemId(42), 'cold-2']);
    expect(shop.items[0].reason).toMatchObject({ kind: 'search', shopRank: 0 });
    expect(shop.items[2].reason.kind).toBe('fallback');
    const mine = await engine.recommend('search', { candidates, k: 20, personalWeight: 1 });
    expect(new Set(ids(mine))).toEqual(new Set(ids(shop)));
    const known = ids(mine).filter((id) => id.startsWith('item-'));
    expect(known.slice(0, 2).sort()).toEqual([itemId(41), itemId(42)]); // the history's cluster first
    const top3 = await engine.recommend('search', { candidates, k: 3 });
    expect(top3.items).toHaveLength(3);
  });

  it('rules: include, pin and fill work through the engine', async () => {
    await engine.track({ type: 'view', itemId: itemId(23) });
    const r = await engine.recommend('home', { k: 5, diversity: 0, rules: { include: { category: ['cat-0'] }, pin: [itemId(50)] } });
    expect(r.items[0]).toMatchObject({ itemId: itemId(50), reason: { kind: 'pinned' } });
    expect(r.items.slice(1).every((i) => i.item?.category === 'cat-0')).toBe(true);
    // Only cold items are left after excluding every known one: they come from the popular fill.
    const cold = await engine.recommend('home', { k: 3, rules: { include: { itemIds: ['cold-1', 'cold-2', 'cold-3'] } } });
    expect(ids(cold).sort()).toEqual(['cold-1', 'cold-2', 'cold-3']);
  });

  it('rejects bad requests and scenes with typed errors', async () => {
    await expect(engine.recommend('home', { k: 0 })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(engine.recommend('checkout' as never, {} as never)).rejects.toBeInstanceOf(UnknownSceneError);
  });
});

describe('tracking and history', () => {
  it('stores unknown items but ignores them for scoring; lists every item the model does not know', async () => {
    await engine.track({ type: 'view', itemId: itemId(23) });
    const before = await engine.recommend('home', { k: 10, diversity: 0 });
    const res = await engine.track([{ type: 'view', itemId: 'ghost' }, { type: 'view', itemId: 'cold-1' }]);
    // cold-1 is in the catalog but the model never saw it: unknown to the model, not to the catalog.
    expect(res).toEqual({ stored: 2, unknownItems: ['ghost', 'cold-1'], notInCatalog: ['ghost'], pruned: 0, outsideRetention: 0 });
    const after = await engine.recommend('home', { k: 10, diversity: 0 });
    expect(ids(after)).toEqual(ids(before));
    expect(after.historyUsed).toBe(1);
    expect((await engine.listHistory()).map((e) => e.itemId)).toEqual(['cold-1', 'ghost', itemId(23)]);
  });

  it('a recommend sees a track that was not awaited', async () => {
    const tracked = engine.track({ type: 'view', itemId: itemId(45) });
    const r = await engine.recommend('home', { k: 5, diversity: 0 });
    expect(r.historyUsed).toBe(1);
    expect(r.items.every((i) => clusterOf(i.itemId) === 4)).toBe(true);
    await tracked;
    const cleared = engine.clearHistory();
    expect(await engine.listHistory()).toEqual([]);
    await cleared;
  });

  it('a bad event rejects the whole batch and leaves history intact', async () => {
    await engine.track({ type: 'view', itemId: itemId(1) });
    const err = await engine.track([{ type: 'view', itemId: itemId(2) }, { type: 'view', itemId: '' }]).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err.code).toBe('INVALID_EVENT');
    expect((await engine.listHistory()).map((e) => e.itemId)).toEqual([itemId(1)]);
  });

  it('lists, exports, forgets and clears', async () => {
    const t = Date.now() - 10_000;
    await engine.track([
      { type: 'view', itemId: itemId(1), timestamp: t + 1 }, { type: 'view', itemId: itemId(2), timestamp: t + 2 },
      { type: 'search', query: 'pad', timestamp: t + 3 }, { type: 'cart', itemId: itemId(1), timestamp: t + 4 },
    ]);
    expect((await engine.listHistory({ limit: 2 })).map((e) => e.type)).toEqual(['cart', 'search']);
    const exp = await engine.exportHistory();
    expect(exp.format).toBe('scenerec-history');
    expect(exp.events).toHaveLength(4);
    expect(await engine.forgetItem(itemId(1))).toBe(2);
    expect((await engine.listHistory()).map((e) => e.itemId ?? e.query)).toEqual(['pad', itemId(2)]);
    await expect(engine.forgetItem('')).rejects.toBeInstanceOf(InvalidRequestError);
    await engine.clearHistory();
    expect(await engine.listHistory()).toEqual([]);
  });

  it('applies retention on write', async () => {
    const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), retention: { maxEvents: 3 } }, { fetch: fileFetch() });
    try {
      const t = Date.now() - 10_000;
      // A batch beyond maxEvents: only the newest maxEvents are stored, the rest reported outside retention.
      const r = await e.track([1, 2, 3, 4, 5].map((i) => ({ type: 'view' as const, itemId: itemId(i), timestamp: t + i })));
      expect(r).toMatchObject({ stored: 3, pruned: 0, outsideRetention: 2 });
      expect((await e.listHistory()).map((x) => x.itemId)).toEqual([itemId(5), itemId(4), itemId(3)]);
      // A newer event pushes the oldest out (maxEvents 3: no slack below 10).
      const next = await e.track({ type: 'view', itemId: itemId(6), timestamp: t + 6 });
      expect(next).toMatchObject({ stored: 1, pruned: 1, outsideRetention: 0 });
      // Events older than maxAgeDays (default 180) are not stored, and the result says so.
      const old = await e.track({ type: 'view', itemId: itemId(9), timestamp: Date.now() - 200 * 86_400_000 });
      expect(old).toMatchObject({ stored: 0, pruned: 0, outsideRetention: 1 });
      expect((await e.listHistory()).map((x) => x.itemId)).toEqual([itemId(6), itemId(5), itemId(4)]);
    } finally {
      await e.dispose();
    }
  });
});

describe('resources', () => {
  it('50 recommend calls leave the tensor count unchanged', async () => {
    await engine.track([{ type: 'view', itemId: itemId(7) }, { type: 'cart', itemId: itemId(17) }]);
    await engine.recommend('home', {});
    const before = tf.memory().numTensors;
    const scenes: Array<() => Promise<unknown>> = [
      () => engine.recommend('home', { k: 10 }),
      () => engine.recommend('product', { itemId: itemId(9) }),
      () => engine.recommend('cart', {}),
      () => engine.recommend('search', { candidates: [itemId(1), itemId(30), 'x'] }),
      () => engine.recommend('product', { itemId: 'cold-2' }),
    ];
    for (let i = 0; i < 50; i++) await scenes[i % scenes.length]();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('setCatalog swaps the catalog without leaking', async () => {
    const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() }, { fetch: fileFetch() });
    try {
      // No catalog: the vocabulary is the catalog.
      expect((await e.info()).catalogSize).toBe(60);
      const all = await e.recommend('home', { k: 60, diversity: 0 });
      expect(all.items).toHaveLength(60);
      expect(all.items[0].item).toBeUndefined();
      const before = tf.memory().numTensors;
      const info = await e.setCatalog([{ id: itemId(1), category: 'a' }, { id: itemId(2) }, { id: 'new' }]);
      expect(info).toMatchObject({ catalogSize: 3, catalogItemsKnownToModel: 2 });
      expect(tf.memory().numTensors).toBe(before);
      expect(ids(await e.recommend('home', { k: 3 })).sort()).toEqual([itemId(1), itemId(2), 'new']);
      await expect(e.setCatalog([{ id: 'a' }, { id: 'a' }])).rejects.toBeInstanceOf(InvalidOptionsError);
      expect((await e.info()).catalogSize).toBe(3);
    } finally {
      await e.dispose();
    }
  });

  it('dispose frees the model and makes every call fail with DisposedError', async () => {
    const baseline = tf.memory().numTensors;
    const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() }, { fetch: fileFetch() });
    expect(tf.memory().numTensors).toBeGreaterThan(baseline);
    await e.dispose();
    await e.dispose(); // twice is fine
    expect(tf.memory().numTensors).toBe(baseline);
    for (const call of [
      () => e.recommend('home', {}), () => e.track({ type: 'view', itemId: 'x' }), () => e.info(),
      () => e.listHistory(), () => e.exportHistory(), () => e.forgetItem('x'), () => e.clearHistory(), () => e.setCatalog([{ id: 'a' }]),
    ]) {
      const err = await call().catch((x) => x);
      expect(err).toBeInstanceOf(DisposedError);
      expect(err.code).toBe('DISPOSED');
    }
  });
});

describe('model loading failures', () => {
  const baseConfig = () => ({ backend: 'cpu' as const, dbName: freshDbName() });

  it('a missing model is a ModelLoadError naming the URL', async () => {
    const url = FIXTURE_MODEL_URL.replace('tiny-model/model.json', 'missing/model.json');
    const err = await createEngine({ ...baseConfig(), modelUrl: url }, { fetch: fileFetch() }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.code).toBe('MODEL_LOAD_FAILED');
    expect(err.message).toContain(url);
    expect(err.message).toContain('404');
  });

  it('a missing vocabulary or mismatched weights fail cleanly, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const real = fileFetch();
    const noVocab = (async (input: RequestInfo | URL, init?: RequestInit) =>
      String(input).endsWith('vocab.json') ? new Response('', { status: 404 }) : real(input, init)) as typeof fetch;
    const e1 = await createEngine({ ...baseConfig(), modelUrl: FIXTURE_MODEL_URL }, { fetch: noVocab }).catch((e) => e);
    expect(e1).toBeInstanceOf(ModelLoadError);
    expect(e1.message).toContain('vocab.json');

    const wrongShape = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await real(input, init);
      if (!String(input).endsWith('model.json')) return res;
      const json = await res.json();
      json.userDefinedMetadata.scenerec.config.hiddenDim = 32;
      return new Response(JSON.stringify(json));
    }) as typeof fetch;
    const e2 = await createEngine({ ...baseConfig(), modelUrl: FIXTURE_MODEL_URL }, { fetch: wrongShape }).catch((e) => e);
    expect(e2).toBeInstanceOf(ModelLoadError);
    expect(e2.message).toMatch(/shape/);

    const notScenerec = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await real(input, init);
      if (!String(input).endsWith('model.json')) return res;
      const json = await res.json();
      delete json.userDefinedMetadata;
      return new Response(JSON.stringify(json));
    }) as typeof fetch;
    const e3 = await createEngine({ ...baseConfig(), modelUrl: FIXTURE_MODEL_URL }, { fetch: notScenerec }).catch((e) => e);
    expect(e3).toBeInstanceOf(ModelLoadError);
    expect(e3.message).toContain('not a scenerec model');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a failure late in loading releases everything already built', async () => {
    const before = tf.memory().numTensors;
    const spy = vi.spyOn(MetaStore.prototype, 'set').mockRejectedValue(new Error('disk on fire'));
    try {
      const err = await createEngine({ ...baseConfig(), modelUrl: FIXTURE_MODEL_URL, catalog: fixtureCatalog() }, { fetch: fileFetch() }).catch((e) => e);
      expect(err.message).toBe('disk on fire');
    } finally {
      spy.mockRestore();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad options fail before anything loads', async () => {
    const log: string[] = [];
    const err = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'tpu' as never }, { fetch: fileFetch(log) }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidOptionsError);
    expect(log).toEqual([]);
  });
});
