/**
 * Feedback and the history scenes through the engine (no worker; fake IndexedDB): impressions,
 * dismissals, their store and controls, and the recentlyViewed / buyAgain scenes.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type RecommenderEngine } from '../../src/engine/engine.js';
import { InvalidEventError, InvalidRequestError } from '../../src/contract/errors.js';
import { explainReason } from '../../src/contract/explain.js';
import type { RecommendResult, SceneName } from '../../src/contract/protocol.js';
import { FeedbackStore, MemoryFeedback, openStorage } from '../../src/engine/store/index.js';
import { StorageConnection } from '../../src/engine/store/db.js';
import { MemoryLifetime } from '../../src/engine/store/memory.js';
import { QuotaExceededError, StorageError } from '../../src/contract/errors.js';
import { FIXTURE_MODEL_URL, clusterOf, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const ids = (r: RecommendResult) => r.items.map((i) => i.itemId);
const DAY = 86_400_000;

let engine: RecommenderEngine;
let dbName: string;
beforeAll(async () => {
  dbName = freshDbName();
  engine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName }, { fetch: fileFetch() });
});
afterAll(async () => { await engine.dispose(); });
beforeEach(async () => { await engine.clearHistory(); });

const HISTORY = [itemId(5), itemId(27), itemId(44)];
const history = () => engine.track([
  { type: 'view', itemId: itemId(5) }, { type: 'click', itemId: itemId(27) }, { type: 'view', itemId: itemId(44) },
]);

describe('impressions', () => {
  it('lower the rank of an item shown without an interaction on the next call; a click resets it', async () => {
    // The strength is stated, not the scene's default: the default is a measured choice that may
    // change (docs/feedback.md), this test pins what a discount does.
    const strength = 0.3;
    await history();
    const before = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: strength });
    const top = before.items.find((i) => !HISTORY.includes(i.itemId))!.itemId;
    const r = await engine.track([0, 1, 2].map(() => ({ type: 'impression' as const, itemId: top, scene: 'home' as const })));
    expect(r).toMatchObject({ stored: 3, feedback: 3, unknownItems: [] });
    const after = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: strength });
    const at = (r: RecommendResult) => ids(r).indexOf(top);
    expect(at(after) === -1 || at(after) > at(before)).toBe(true);
    const shown = after.items.find((i) => i.itemId === top);
    if (shown) expect(shown.discount).toBeCloseTo(1 / (1 + strength * 3), 3);
    // Reasons stay what they were: the discount is reported beside them.
    for (const i of after.items) {
      const was = before.items.find((b) => b.itemId === i.itemId);
      if (was) expect(i.reason).toEqual(was.reason);
    }
    for (let j = 1; j < after.items.length; j++) expect(after.items[j].score).toBeLessThanOrEqual(after.items[j - 1].score);
    // exposureDiscount 0: the list without feedback.
    expect(ids(await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: 0 }))).toEqual(ids(before));
    // Answered: a click on it after the impressions.
    await engine.track({ type: 'click', itemId: top });
    const clicked = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: strength });
    expect(clicked.items.every((i) => i.discount === undefined)).toBe(true);
  });

  it('at the scene defaults: the home feed keeps its order, the product page discounts what was shown and ignored', async () => {
    // Pins what the per-scene defaults do (docs/feedback.md), not their values.
    await history();
    const home = await engine.recommend('home', { k: 8, diversity: 0 });
    const product = await engine.recommend('product', { itemId: itemId(12), k: 8, diversity: 0 });
    const shown = [...new Set([...ids(home), ...ids(product)])];
    await engine.track(shown.flatMap((id) => [0, 1, 2, 3, 4].map(() => ({ type: 'impression' as const, itemId: id, scene: 'home' as const }))));
    const homeAfter = await engine.recommend('home', { k: 8, diversity: 0 });
    expect(ids(homeAfter)).toEqual(ids(home));
    expect(homeAfter.items.every((i) => i.discount === undefined)).toBe(true);
    const productAfter = await engine.recommend('product', { itemId: itemId(12), k: 8, diversity: 0 });
    const discounted = productAfter.items.filter((i) => shown.includes(i.itemId));
    expect(discounted.length).toBeGreaterThan(0);
    for (const i of discounted) expect(i.discount!).toBeLessThan(1);
  });

  it('never enter the history and are not read by the model', async () => {
    await history();
    const a = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: 0 });
    await engine.track({ type: 'impression', itemId: itemId(33), scene: 'home' });
    expect((await engine.listHistory()).map((e) => e.type)).toEqual(['view', 'click', 'view']);
    const b = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: 0 });
    expect(ids(b)).toEqual(ids(a));
    expect(b.historyUsed).toBe(a.historyUsed);
    const exported = await engine.exportHistory();
    expect(exported.events).toHaveLength(3);
    expect(exported.feedback).toEqual([expect.objectContaining({ itemId: itemId(33), impressions: 1, exposure: 1 })]);
  });

  it('recover with time (timestamps in the past count as decayed)', async () => {
    const strength = 0.3;
    await history();
    const before = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: strength });
    const top = before.items.find((i) => !HISTORY.includes(i.itemId))!.itemId;
    const old = Date.now() - 40 * DAY;
    await engine.track([0, 1, 2, 3, 4].map((i) => ({ type: 'impression' as const, itemId: top, scene: 'home' as const, timestamp: old + i })));
    const after = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: strength });
    expect(ids(after)).toEqual(ids(before));
    const shown = after.items.find((i) => i.itemId === top)!;
    expect(shown.discount).toBeDefined(); // a trace is left, too small to move it
    expect(shown.discount!).toBeGreaterThan(0.99);
  });

  it('are validated like other events, all or nothing', async () => {
    await expect(engine.track({ type: 'impression' } as never)).rejects.toBeInstanceOf(InvalidEventError);
    await expect(engine.track([{ type: 'dismiss', itemId: itemId(1) }, { type: 'impression', itemId: itemId(2), scene: 'nowhere' as never }]))
      .rejects.toBeInstanceOf(InvalidEventError);
    expect((await engine.exportHistory()).feedback).toEqual([]);
    await expect(engine.recommend('home', { exposureDiscount: 2 })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(engine.recommend('home', { substitutePenalty: 0.5 } as never)).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(engine.recommend('cart', { substitutePenalty: -1 })).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('dismissals', () => {
  const scenes: Array<[SceneName, Record<string, unknown>]> = [
    ['home', { k: 20, diversity: 0 }],
    ['product', { itemId: itemId(12), k: 20 }],
    ['cart', { cart: [itemId(3)], k: 20, substitutePenalty: 0 }],
    ['search', { candidates: [...Array(30).keys()].map((i) => itemId(i + 1)), k: 30 }],
  ];

  it.each(scenes)('remove the item from %s and push its close neighbours down', async (scene, request) => {
    await history();
    const before = await engine.recommend(scene, request as never);
    const victim = before.items[0].itemId;
    await engine.track({ type: 'dismiss', itemId: victim });
    const after = await engine.recommend(scene, request as never);
    expect(ids(after)).not.toContain(victim);
    if (scene !== 'search') expect(after.items).toHaveLength(20);
    const pushed = after.items.filter((i) => i.discount !== undefined);
    for (const i of pushed) {
      expect(i.discount!).toBeGreaterThanOrEqual(0.5);
      expect(i.discount!).toBeLessThan(1);
    }
  });

  it('neighbours in the dismissed item\'s cluster lose score; a later interaction lifts the dismissal', async () => {
    await history();
    const before = await engine.recommend('home', { k: 30, diversity: 0 });
    const victim = before.items[0].itemId;
    await engine.track({ type: 'dismiss', itemId: victim, scene: 'home' });
    const after = await engine.recommend('home', { k: 30, diversity: 0 });
    const pushed = after.items.filter((i) => i.discount !== undefined);
    expect(pushed.length).toBeGreaterThan(0);
    expect(pushed.every((i) => clusterOf(i.itemId) === clusterOf(victim))).toBe(true);
    expect((await engine.listHistory()).some((e) => (e.type as string) === 'dismiss')).toBe(false);
    await engine.track({ type: 'view', itemId: victim });
    expect(ids(await engine.recommend('product', { itemId: itemId(12), k: 50, rules: { fallbackToPopular: true } }))).toContain(victim);
  });

  it('a replayed write (same write id, after a lost worker) applies its feedback once', async () => {
    const batch = [{ type: 'impression' as const, itemId: itemId(6), scene: 'home' as const }, { type: 'view' as const, itemId: itemId(7) }];
    const first = await engine.applyWrite('replay-1', 'track', [batch]);
    const again = await engine.applyWrite('replay-1', 'track', [batch]);
    expect(again).toEqual(first);
    expect((await engine.exportHistory()).feedback).toEqual([expect.objectContaining({ itemId: itemId(6), impressions: 1 })]);
    expect(await engine.listHistory()).toHaveLength(1);
    await engine.applyWrite('replay-2', 'track', [batch]);
    expect((await engine.exportHistory()).feedback).toEqual([expect.objectContaining({ itemId: itemId(6), impressions: 2 })]);
  });

  it('forgetItem and clearHistory remove feedback too', async () => {
    await engine.track([{ type: 'dismiss', itemId: itemId(7) }, { type: 'impression', itemId: itemId(8), scene: 'home' }]);
    expect((await engine.exportHistory()).feedback).toHaveLength(2);
    expect(await engine.forgetItem(itemId(7))).toBe(0);
    expect((await engine.exportHistory()).feedback!.map((r) => r.itemId)).toEqual([itemId(8)]);
    await engine.clearHistory();
    expect((await engine.exportHistory()).feedback).toEqual([]);
  });

  it('a second store on the same database sees this engine\'s feedback (and its writes reach the engine)', async () => {
    await engine.track({ type: 'dismiss', itemId: itemId(9) });
    const other = await openStorage(dbName);
    try {
      expect([...(await other.feedback.records()).keys()]).toEqual([itemId(9)]);
      await other.feedback.apply([{ type: 'dismiss', itemId: itemId(10), scene: 'home', timestamp: Date.now() }], () => undefined);
      const r = await engine.recommend('home', { k: 60, rules: { fallbackToPopular: true } });
      expect(ids(r)).not.toContain(itemId(9));
      expect(ids(r)).not.toContain(itemId(10));
    } finally {
      other.close();
    }
  });
});

describe('feedback in the other storage modes', () => {
  const ev = (type: 'impression' | 'dismiss', itemId: string) => ({ type, itemId, scene: 'home' as const, timestamp: Date.now() });

  it('memory: kept for the session, forgotten and cleared, closed with the storage', async () => {
    const life = new MemoryLifetime();
    const m = new MemoryFeedback(life);
    expect(await m.apply([ev('impression', 'a'), ev('impression', 'a'), ev('dismiss', 'b')], () => undefined)).toBe(3);
    expect((await m.records()).get('a')).toMatchObject({ impressions: 2 });
    expect(await m.forgetItem('b')).toBe(1);
    expect([...(await m.records()).keys()]).toEqual(['a']);
    await m.clear();
    expect((await m.records()).size).toBe(0);
    life.close();
    await expect(m.records()).rejects.toBeInstanceOf(StorageError);
  });

  it('read-only: new feedback is refused like new history (QuotaExceededError), forget and clear still run', async () => {
    const conn = await StorageConnection.open(freshDbName());
    try {
      const ro = new FeedbackStore(conn, { readOnly: 'the quota was exceeded' });
      await expect(ro.apply([ev('dismiss', 'a')], () => undefined)).rejects.toBeInstanceOf(QuotaExceededError);
      expect((await ro.records()).size).toBe(0);
      expect(await ro.prune()).toBe(0);
      expect(await ro.forgetItem('a')).toBe(0);
      await ro.clear();
    } finally {
      conn.close();
    }
  });
});

describe('tailExposure', () => {
  it('moves less popular items up; 0 (the default) leaves the list as it is', async () => {
    await history();
    const pop = (id: string) => ((Number(id.slice(5)) * 37) % 60) + 1; // the fixture vocabulary's popularity
    const mean = (r: RecommendResult) => ids(r).filter((id) => id.startsWith('item-')).reduce((s, id) => s + pop(id), 0) / r.items.length;
    const base = await engine.recommend('home', { k: 10, diversity: 0 });
    expect(ids(await engine.recommend('home', { k: 10, diversity: 0, tailExposure: 0 }))).toEqual(ids(base));
    const tail = await engine.recommend('home', { k: 10, diversity: 0, tailExposure: 1 });
    expect(mean(tail)).toBeLessThan(mean(base));
    expect(tail.items.some((i) => i.discount !== undefined && i.discount < 1)).toBe(true);
    await expect(engine.recommend('home', { tailExposure: 1.5 })).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('recentlyViewed', () => {
  it('lists distinct viewed items newest first, with the rules, the cart and dismissals applied; no fill', async () => {
    const t = Date.now() - 3 * DAY;
    await engine.track([
      { type: 'view', itemId: itemId(1), timestamp: t }, { type: 'view', itemId: itemId(2), timestamp: t + 1 },
      { type: 'click', itemId: itemId(1), timestamp: t + 2 }, { type: 'cart', itemId: itemId(3), timestamp: t + 3 },
      { type: 'view', itemId: itemId(3), timestamp: t + 4 }, { type: 'view', itemId: itemId(25), timestamp: t + 5 },
      { type: 'purchase', itemId: itemId(40), timestamp: t + 6 }, { type: 'view', itemId: 'not-in-catalog', timestamp: t + 7 },
      { type: 'view', itemId: itemId(26), timestamp: t + 8 },
    ]);
    const r = await engine.recommend('recentlyViewed', { k: 10 });
    // Item 3 is in the cart (left out by default), 40 only bought, the unknown id not in the catalog.
    expect(ids(r)).toEqual([itemId(26), itemId(25), itemId(1), itemId(2)]);
    expect(r.items[2].reason).toEqual({ kind: 'viewed', at: t + 2, views: 2 });
    expect(explainReason(r.items[2].reason, { now: t + 2 + 2 * DAY + 1000 })).toBe('Viewed 2 days ago (2 times)');
    expect(r.items.map((i) => i.rank)).toEqual([0, 1, 2, 3]);
    expect(r.historyUsed).toBe(6);
    expect(ids(await engine.recommend('recentlyViewed', { k: 2 }))).toEqual([itemId(26), itemId(25)]);
    expect(ids(await engine.recommend('recentlyViewed', { k: 10, rules: { include: { category: ['cat-0'] } } }))).toEqual([itemId(1), itemId(2)]);
    expect(ids(await engine.recommend('recentlyViewed', { k: 10, rules: { excludeInCart: false } }))).toContain(itemId(3));
    await engine.track({ type: 'dismiss', itemId: itemId(25) });
    expect(ids(await engine.recommend('recentlyViewed', { k: 10 }))).toEqual([itemId(26), itemId(1), itemId(2)]);
  });

  it('is empty without history and rejects unknown fields', async () => {
    const r = await engine.recommend('recentlyViewed', {});
    expect(r.items).toEqual([]);
    expect(r.scene).toBe('recentlyViewed');
    await expect(engine.recommend('recentlyViewed', { itemId: 'x' } as never)).rejects.toBeInstanceOf(InvalidRequestError);
  });
});

describe('buyAgain', () => {
  it('lists items bought more than once and items of categories bought repeatedly, not every purchase', async () => {
    const t = Date.now() - 10 * DAY;
    await engine.track([
      // item 2 bought 3 times (cat-0); item 4 once, but cat-0 is bought repeatedly; item 15 once in cat-1 (a one-off).
      { type: 'purchase', itemId: itemId(2), timestamp: t }, { type: 'purchase', itemId: itemId(4), timestamp: t + 1 },
      { type: 'purchase', itemId: itemId(15), timestamp: t + 2 }, { type: 'purchase', itemId: itemId(2), timestamp: t + DAY },
      { type: 'purchase', itemId: itemId(2), timestamp: t + 7 * DAY },
      // item 33 twice (cat-3); item 35 in the cart.
      { type: 'purchase', itemId: itemId(33), timestamp: t + 3 }, { type: 'purchase', itemId: itemId(33), timestamp: t + 4 },
      { type: 'purchase', itemId: itemId(35), timestamp: t + 5 }, { type: 'cart', itemId: itemId(35), timestamp: t + 6 },
      { type: 'view', itemId: itemId(44), timestamp: t + 8 },
    ]);
    const r = await engine.recommend('buyAgain', { k: 10 });
    expect(ids(r)).toEqual([itemId(2), itemId(33), itemId(4)]);
    expect(r.items[0].reason).toEqual({ kind: 'boughtBefore', times: 3, lastAt: t + 7 * DAY });
    expect(r.items[2].reason).toEqual({ kind: 'boughtBefore', times: 1, lastAt: t + 1, category: 'cat-0', categoryTimes: 4 });
    expect(explainReason(r.items[0].reason, { now: t + 10 * DAY })).toBe('You bought this 3 times, last 3 days ago');
    expect(r.items.every((i, j) => j === 0 || i.score <= r.items[j - 1].score)).toBe(true);
    // In the cart: left out by default, in the list when the rule says so (bought once; cat-3 has 3 purchases, cat-0 4).
    expect(ids(await engine.recommend('buyAgain', { k: 10, rules: { excludeInCart: false } }))).toEqual([itemId(2), itemId(33), itemId(4), itemId(35)]);
    await engine.track({ type: 'dismiss', itemId: itemId(33) });
    expect(ids(await engine.recommend('buyAgain', { k: 10 }))).toEqual([itemId(2), itemId(4)]);
  });

  it('is empty for a shopper without repeat purchases', async () => {
    await engine.track([{ type: 'purchase', itemId: itemId(2) }, { type: 'purchase', itemId: itemId(15) }, { type: 'view', itemId: itemId(2) }]);
    expect((await engine.recommend('buyAgain', {})).items).toEqual([]);
  });
});
