/**
 * Ranking features for multi-objective, multi-scene lists: price awareness, boost reporting,
 * scene defaults, per-request exclusion overrides, diversity over embeddings and categories.
 * Pure functions (src/ranking.ts, src/config.ts) plus a few engine calls on the fixture model.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_DIVERSITY, DEFAULT_OBJECTIVES, DEFAULT_PRICE_WEIGHT } from '../../src/contract/defaults.js';
import { validateRequest } from '../../src/contract/options.js';
import { createEngine, type RecommenderEngine } from '../../src/engine/engine.js';
import { InvalidRequestError } from '../../src/contract/errors.js';
import type { RankReason, SceneName } from '../../src/contract/protocol.js';
import { SCENES } from '../../src/contract/protocol.js';
import {
  blendObjectives, boostFactor, itemSimilarity, priceWeighted, rankCandidates, type RankCandidate,
} from '../../src/ranking/rank.js';
import { FIXTURE_MODEL_URL, clusterOf, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const personal: RankReason = { kind: 'personal', becauseOf: ['h'] };
const ids = (items: { itemId: string }[]) => items.map((i) => i.itemId);

function cand(itemId: string, score: number, price?: number, extra: Partial<RankCandidate> = {}): RankCandidate {
  return { itemId, score, reason: personal, item: { id: itemId, category: 'c', ...(price === undefined ? {} : { price }) }, ...extra };
}

describe('scene defaults', () => {
  it('every scene has an objective blend, a diversity and a price weight; requests override them', () => {
    for (const scene of SCENES) {
      const o = DEFAULT_OBJECTIVES[scene];
      expect(o.click + o.cart + o.purchase).toBeGreaterThan(0);
      expect(DEFAULT_DIVERSITY[scene]).toBeGreaterThanOrEqual(0);
      expect(DEFAULT_PRICE_WEIGHT[scene]).toBeGreaterThanOrEqual(0);
    }
    // The home page leans on clicks, the cart page on purchases.
    expect(DEFAULT_OBJECTIVES.home.click).toBeGreaterThan(DEFAULT_OBJECTIVES.home.purchase);
    expect(DEFAULT_OBJECTIVES.cart.purchase).toBeGreaterThan(DEFAULT_OBJECTIVES.cart.click);

    const extra = (s: SceneName) => (s === 'product' ? { itemId: 'x' } : s === 'search' ? { candidates: ['x'] } : {});
    for (const scene of SCENES) {
      const d = validateRequest(scene, extra(scene));
      expect(d.objectives).toEqual(DEFAULT_OBJECTIVES[scene]);
      expect(d.diversity).toBe(DEFAULT_DIVERSITY[scene]);
      expect(d.priceWeight).toBe(DEFAULT_PRICE_WEIGHT[scene]);
      const o = validateRequest(scene, { ...extra(scene), objectives: { purchase: 2 }, diversity: 0.7, priceWeight: 0.4 });
      expect(o.objectives).toEqual({ click: 0, cart: 0, purchase: 2, satisfaction: 0 });
      expect(o.diversity).toBe(0.7);
      expect(o.priceWeight).toBe(0.4);
    }
  });

  it('validates priceWeight and the per-request exclusion switches', () => {
    expect(() => validateRequest('home', { priceWeight: 1.5 })).toThrow(InvalidRequestError);
    expect(() => validateRequest('home', { priceWeight: -0.1 })).toThrow(/priceWeight/);
    expect(() => validateRequest('home', { priceWeight: '1' })).toThrow(/priceWeight/);
    expect(() => validateRequest('home', { rules: { excludePurchased: 'no' } })).toThrow(/rules.excludePurchased/);
    expect(() => validateRequest('home', { rules: { excludeInCart: 1 } })).toThrow(/rules.excludeInCart/);
    expect(validateRequest('cart', { rules: { excludePurchased: true, excludeInCart: false } }).rules)
      .toEqual({ excludePurchased: true, excludeInCart: false });
  });

  it('objective weights change the order of a multi-head model and are ignored by a single-head one', () => {
    const heads = { click: [1, 0, 0.5], purchase: [0, 1, 0.5] };
    const clicky = blendObjectives(heads, { click: 1, cart: 0, purchase: 0.1 });
    const buyer = blendObjectives(heads, { click: 0.1, cart: 0, purchase: 1 });
    expect(clicky[0]).toBeGreaterThan(clicky[1]);
    expect(buyer[1]).toBeGreaterThan(buyer[0]);
    // A cart weight with no cart head is ignored, not an error.
    expect([...blendObjectives(heads, { cart: 5, click: 1 })]).toEqual([1, 0, 0.5]);
    expect([...blendObjectives({ click: [3, 1, 2] }, { purchase: 1 })]).toEqual([1, 0, 0.5]);
  });
});

describe('price awareness', () => {
  const list = [cand('cheap', 1, 10), cand('mid', 0.8, 50), cand('dear', 0.5, 100), cand('unpriced', 0.9)];

  it('0 keeps relevance; 1 orders by relevance x price; the best is rescaled to 1', () => {
    expect(priceWeighted(list, 0)).toEqual([1, 0.8, 0.5, 0.9]);
    const rev = priceWeighted(list, 1);
    // Expected revenue 10, 40, 50 and (median price 50) 45: dear > unpriced > mid > cheap.
    expect(rev[2]).toBeCloseTo(1);
    expect(rev[3]).toBeCloseTo(45 / 50);
    expect(rev[1]).toBeCloseTo(40 / 50);
    expect(rev[0]).toBeCloseTo(10 / 50);
    expect(ids(rankCandidates(list, { k: 4, priceWeight: 1 }))).toEqual(['dear', 'unpriced', 'mid', 'cheap']);
    expect(ids(rankCandidates(list, { k: 4, priceWeight: 0 }))).toEqual(['cheap', 'unpriced', 'mid', 'dear']);
  });

  it('in between, moves continuously from relevance to revenue', () => {
    const orders = [0, 0.25, 0.5, 0.75, 1].map((w) => ids(rankCandidates(list, { k: 4, priceWeight: w })));
    expect(orders[0][0]).toBe('cheap');
    expect(orders[4][0]).toBe('dear');
    // 'cheap' only moves down as the weight grows.
    const pos = orders.map((o) => o.indexOf('cheap'));
    expect([...pos].sort((a, b) => a - b)).toEqual(pos);
  });

  it('uses the purchase relevance when the model gives one', () => {
    const a = cand('a', 1, 10, { purchaseScore: 0.1 });
    const b = cand('b', 0.5, 10, { purchaseScore: 1 });
    expect(ids(rankCandidates([a, b], { k: 2 }))).toEqual(['a', 'b']);
    expect(ids(rankCandidates([a, b], { k: 2, priceWeight: 1 }))).toEqual(['b', 'a']);
  });

  it('free items get 0 at weight 1; rules, pins and boosts still apply after pricing', () => {
    const items = [cand('free', 1, 0), ...list];
    expect(priceWeighted(items, 1)[0]).toBe(0);
    const out = rankCandidates(items, {
      k: 3, priceWeight: 1,
      rules: { pin: ['cheap'], exclude: { itemIds: ['dear'] }, boost: [{ filter: { itemIds: ['mid'] }, factor: 2 }] },
    });
    expect(ids(out)).toEqual(['cheap', 'mid', 'unpriced']);
    expect(out[0].reason).toEqual({ kind: 'pinned' });
    expect(out[1].boost).toBe(2);
    expect(out[2].boost).toBeUndefined();
  });
});

describe('boosts and pins', () => {
  const list = ['a', 'b', 'c', 'd', 'e'].map((id, i) => cand(id, 1 - i * 0.1, 10 + i, { item: { id, category: i < 2 ? 'top' : 'low', brand: i % 2 ? 'odd' : 'even', price: 10 + i } }));

  it('multiplies matching factors and reports them on the item', () => {
    const rules = { boost: [{ filter: { category: ['low'] }, factor: 2 }, { filter: { brand: ['even'] }, factor: 1.5 }] };
    expect(boostFactor(list[4], rules)).toBe(3);
    expect(boostFactor(list[1], rules)).toBe(1);
    const out = rankCandidates(list, { k: 5, rules });
    expect(ids(out)[0]).toBe('c');
    expect(out.find((o) => o.itemId === 'c')!.boost).toBe(3);
    expect(out.find((o) => o.itemId === 'b')!.boost).toBeUndefined();
    // A factor below 1 demotes.
    expect(ids(rankCandidates(list, { k: 5, rules: { boost: [{ filter: { itemIds: ['a'] }, factor: 0.1 }] } })).at(-1)).toBe('a');
  });

  it('pins come first in their order, keep the pinned reason, and obey availability and exclusions', () => {
    const withOut = [...list, { ...cand('gone', 0.99), item: { id: 'gone', available: false } }];
    const out = rankCandidates(withOut, { k: 4, exclude: new Set(['d']), rules: { pin: ['e', 'gone', 'd', 'c'] } });
    expect(ids(out)).toEqual(['e', 'c', 'a', 'b']);
    expect(out.slice(0, 2).map((o) => o.reason.kind)).toEqual(['pinned', 'pinned']);
    expect(out[2].reason).toEqual(personal);
  });

  it('falls back to popular items that pass the rules when the rules leave too few, and says so', () => {
    const popular = [cand('p1', 0.3, 5), cand('p2', 0.2, 500), cand('p3', 0.1, 6)].map((c) => ({ ...c, reason: { kind: 'popular' } as RankReason }));
    const out = rankCandidates(list, { k: 4, rules: { include: { maxPrice: 11 } }, popular: () => popular });
    expect(ids(out)).toEqual(['a', 'b', 'p1', 'p3']);
    expect(out.slice(2).every((o) => o.reason.kind === 'popular')).toBe(true);
    // Scores never rise down the list.
    for (let i = 1; i < out.length; i++) expect(out[i].score).toBeLessThanOrEqual(out[i - 1].score);
    expect(ids(rankCandidates(list, { k: 4, rules: { include: { maxPrice: 11 }, fallbackToPopular: false }, popular: () => popular }))).toEqual(['a', 'b']);
  });
});

describe('diversity over embeddings and categories', () => {
  const unit = (x: number, y: number) => { const n = Math.hypot(x, y); return [x / n, y / n]; };

  it('similarity counts both the embedding and the category', () => {
    const a = cand('a', 1, 1, { embedding: unit(1, 0), item: { id: 'a', category: 'x' } });
    const sameEmbOtherCat = cand('b', 1, 1, { embedding: unit(1, 0), item: { id: 'b', category: 'y' } });
    const otherEmbSameCat = cand('c', 1, 1, { embedding: unit(0, 1), item: { id: 'c', category: 'x' } });
    const both = cand('d', 1, 1, { embedding: unit(1, 0), item: { id: 'd', category: 'x' } });
    const neither = cand('e', 1, 1, { embedding: unit(0, 1), item: { id: 'e', category: 'y' } });
    expect(itemSimilarity(a, both)).toBeCloseTo(1);
    expect(itemSimilarity(a, neither)).toBeCloseTo(0);
    expect(itemSimilarity(a, sameEmbOtherCat)).toBeGreaterThan(0);
    expect(itemSimilarity(a, sameEmbOtherCat)).toBeLessThan(1);
    expect(itemSimilarity(a, otherEmbSameCat)).toBeGreaterThan(0);
    expect(itemSimilarity(a, otherEmbSameCat)).toBeLessThan(1);
    // Without embeddings, categories alone decide.
    const p = { itemId: 'p', score: 1, reason: personal, item: { id: 'p', category: 'x' } };
    const q = { itemId: 'q', score: 1, reason: personal, item: { id: 'q', category: 'x' } };
    expect(itemSimilarity(p, q)).toBe(1);
  });

  it('the knob does not depend on the scale of the scores', () => {
    const list: RankCandidate[] = [];
    for (let i = 0; i < 20; i++) list.push(cand(`i${i}`, 1 - i * 0.05, 1, { item: { id: `i${i}`, category: `c${i % 3 === 0 ? 0 : i}` }, embedding: unit(1, i % 3 === 0 ? 0 : i) }));
    const squeezed = list.map((c) => ({ ...c, score: 0.9 + c.score * 0.01 }));
    for (const d of [0.2, 0.5, 0.8]) {
      expect(ids(rankCandidates(squeezed, { k: 6, diversity: d }))).toEqual(ids(rankCandidates(list, { k: 6, diversity: d })));
    }
  });

  it('more diversity gives more distinct categories, never fewer', () => {
    // 30 candidates: the best 20 share 2 categories, then 10 more categories.
    const list: RankCandidate[] = [];
    for (let i = 0; i < 30; i++) {
      const category = i < 20 ? `c${i % 2}` : `c${i - 18}`;
      list.push(cand(`i${i}`, 1 - i * 0.01, 1, { item: { id: `i${i}`, category }, embedding: unit(1 + (i % 2), i < 20 ? 0.1 : i) }));
    }
    const distinct = (d: number) => new Set(rankCandidates(list, { k: 8, diversity: d }).map((o) => o.item!.category)).size;
    const counts = [0, 0.25, 0.5, 0.75, 1].map(distinct);
    expect(counts[0]).toBe(2);
    expect(counts[4]).toBeGreaterThan(counts[0]);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]);
  });
});

describe('per-request exclusions in the engine', () => {
  let engine: RecommenderEngine;
  beforeAll(async () => {
    engine = await createEngine(
      { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
      { fetch: fileFetch() },
    );
  });
  afterAll(async () => { await engine.dispose(); });
  beforeEach(async () => { await engine.clearHistory(); });

  it('purchased and in-cart items are left out by default and shown when a request says so', async () => {
    await engine.track([
      { type: 'view', itemId: itemId(11) }, { type: 'purchase', itemId: itemId(12) }, { type: 'cart', itemId: itemId(13) },
    ]);
    const all = async (rules = {}) => (await engine.recommend('home', { k: 60, diversity: 0, rules })).items.map((i) => i.itemId);
    const plain = await all();
    expect(plain).not.toContain(itemId(12));
    expect(plain).not.toContain(itemId(13));
    const both = await all({ excludePurchased: false, excludeInCart: false });
    expect(both).toContain(itemId(12));
    expect(both).toContain(itemId(13));
    // Search keeps bought items by default; a request can drop them.
    const cands = [itemId(12), itemId(14), itemId(15)];
    const search = await engine.recommend('search', { candidates: cands, k: 3 });
    expect(search.items.map((i) => i.itemId)).toContain(itemId(12));
    const noBought = await engine.recommend('search', { candidates: cands, k: 3, rules: { excludePurchased: true } });
    expect(noBought.items.map((i) => i.itemId)).toEqual([itemId(14), itemId(15)]);
  });

  it('the cart scene never shows the cart it completes, whatever the switches', async () => {
    const r = await engine.recommend('cart', { cart: [itemId(21), itemId(22)], k: 20, rules: { excludeInCart: false } });
    const got = r.items.map((i) => i.itemId);
    expect(got).not.toContain(itemId(21));
    expect(got).not.toContain(itemId(22));
    expect(r.items.every((i) => i.reason.kind === 'complement')).toBe(true);
    // Complements of a cluster-2 cart come from cluster 2 first (the fixture's one skill).
    expect(clusterOf(got[0])).toBe(2);
  });

  it('priceWeight 1 puts dearer items first among equally relevant ones', async () => {
    await engine.track({ type: 'view', itemId: itemId(31) });
    const plain = await engine.recommend('home', { k: 5, diversity: 0 });
    const rich = await engine.recommend('home', { k: 5, diversity: 0, priceWeight: 1 });
    const meanPrice = (r: typeof plain) => r.items.reduce((s, i) => s + (i.item?.price ?? 0), 0) / r.items.length;
    expect(meanPrice(rich)).toBeGreaterThanOrEqual(meanPrice(plain));
    expect(rich.items[0].item!.price).toBeGreaterThanOrEqual(plain.items[0].item!.price!);
  });
});

describe('MMR with the SIMD dot products', () => {
  it('picks what the plain-JS similarity picks', async () => {
    const { mmrSelect: mmr } = await import('../../src/ranking/rank.js');
    let seed = 5;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
    for (let trial = 0; trial < 20; trial++) {
      const pool: RankCandidate[] = Array.from({ length: 60 }, (_, i) => {
        const e = Float32Array.from({ length: 64 }, rnd);
        const norm = Math.hypot(...e);
        return { itemId: `i${i}`, score: 1 - i / 60, reason: { kind: 'popular' }, embedding: e.map((x) => x / norm), item: { id: `i${i}`, category: `c${i % 4}` } };
      });
      const lambda = 0.2 + (trial % 4) * 0.2;
      // Reference: the same greedy loop on itemSimilarity (JS, float64 sums) over MMR's pool (the best 50).
      const all = pool;
      const top = all.slice(0, 50);
      const rel = top.map((c) => c.score);
      const lo = Math.min(...rel); const hi = Math.max(...rel);
      const maxSim = new Array(top.length).fill(0);
      const taken = new Set<number>();
      const ref: string[] = [];
      while (ref.length < 10) {
        let best = -1; let bv = -Infinity;
        top.forEach((c, i) => { if (taken.has(i)) return; const v = (1 - lambda) * ((c.score - lo) / (hi - lo)) - lambda * maxSim[i]; if (v > bv) { bv = v; best = i; } });
        taken.add(best); ref.push(top[best].itemId);
        top.forEach((c, i) => { if (!taken.has(i)) maxSim[i] = Math.max(maxSim[i], itemSimilarity(c, top[best])); });
      }
      expect(mmr(all, 10, lambda).map((c) => c.itemId)).toEqual(ref);
    }
  });
});
