/**
 * The feedback-loop replay's metrics (training/feedback-eval.ts) on tiny hand-made sequences, and
 * the engine clock hook the replay runs the engine on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExposureMeter, holdOutSteps, pairedHitChange } from '../../training/feedback-eval.js';
import { longtailSvg } from '../../training/longtail-eval.js';
import { createEngine, type RecommenderEngine } from '../../src/engine/engine.js';
import { EXPOSURE_HALF_LIFE_MS } from '../../src/contract/defaults.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

describe('ExposureMeter', () => {
  it('counts a list shown again with no interaction as repeat exposure 1', () => {
    const m = new ExposureMeter();
    m.beginShopper();
    m.show('home', ['a', 'b', 'c']);
    m.show('home', ['a', 'b', 'c']);
    m.show('home', ['c', 'b', 'a']);
    const s = m.summary(100);
    // The first showing is not a repeat; every slot of the next two is.
    expect(s.repeatExposure).toBeCloseTo(6 / 9, 4); // summaries round to 4 decimals
    expect(s.lists).toBe(3);
    expect(s.distinctPerShopper).toBe(3);
    expect(s.slotsPerShopper).toBe(9);
    expect(s.catalogCoverage).toBeCloseTo(0.03, 10);
    // Without the first list: the repeated lists alone are all repeats.
    const again = new ExposureMeter();
    again.beginShopper();
    again.show('home', ['a', 'b']);
    const first = again.total.repeats;
    again.show('home', ['a', 'b']);
    expect(again.total.repeats - first).toBe(2);
    expect(first).toBe(0);
  });

  it('clears an item on an interaction, counts across scenes, not within one list, and per shopper', () => {
    const m = new ExposureMeter();
    m.beginShopper();
    m.show('home', ['a', 'b', 'a']); // a twice in one list: not a repeat of itself
    expect(m.total.repeats).toBe(0);
    m.interact('a');
    m.show('product', ['a', 'b', 'c']); // a was answered: only b repeats
    expect(m.byScene.get('product')).toMatchObject({ lists: 1, slots: 3, repeats: 1 });
    m.beginShopper(); // a new shopper has seen nothing
    m.show('home', ['a', 'b']);
    expect(m.byScene.get('home')).toMatchObject({ lists: 2, slots: 5, repeats: 0 });
    const s = m.summary(10);
    expect(s.byScene.home.repeatExposure).toBe(0);
    expect(s.byScene.product.repeatExposure).toBeCloseTo(1 / 3, 4);
    expect(s.repeatExposure).toBeCloseTo(1 / 8, 4);
    expect(s.shoppers).toBe(2);
    expect(s.distinctPerShopper).toBe((3 + 2) / 2);
    expect(s.catalogCoverage).toBeCloseTo(0.3, 10);
  });

  it('computes HR and NDCG of the target per list', () => {
    const m = new ExposureMeter();
    m.beginShopper();
    m.show('home', ['a', 'b', 'c'], 'a'); // rank 1: gain 1
    m.show('home', ['a', 'b', 'c'], 'c'); // rank 3: gain 1 / log2(4) = 0.5
    m.show('product', ['a', 'b', 'c'], 'z'); // a miss
    m.show('product', ['x', 'y'], undefined); // no target: a miss
    const s = m.summary(10);
    expect(s.byScene.home.hr).toBe(1);
    expect(s.byScene.home.ndcg).toBeCloseTo(0.75, 4);
    expect(s.byScene.product.hr).toBe(0);
    expect(s.hr).toBe(0.5);
    expect(s.ndcg).toBeCloseTo(1.5 / 4, 4);
    expect(m.shoppers).toEqual([{ distinct: 5, hits: 2, discoveries: 0, lists: 4 }]);
  });

  it('counts a discovery when a list holds an item new to the shopper that they go to later', () => {
    const m = new ExposureMeter();
    m.beginShopper();
    m.show('home', ['a', 'b'], 'a', new Set(['c'])); // c comes later, not shown: no discovery
    m.show('home', ['c', 'b'], 'a', new Set(['c'])); // c shown before the shopper reaches it: a discovery
    m.show('product', ['x'], 'x', new Set()); // a hit on an item already known: no discovery
    m.show('product', ['d'], undefined); // no items ahead given
    const s = m.summary(10);
    expect(s.byScene.home.discovery).toBe(0.5);
    expect(s.byScene.product.discovery).toBe(0);
    expect(s.discovery).toBe(0.25);
    expect(m.shoppers).toEqual([{ distinct: 5, hits: 2, discoveries: 1, lists: 4 }]);
  });

  it('gives the paired change of the hit rate and its standard error over shoppers', () => {
    const a = [{ distinct: 1, hits: 2, discoveries: 1, lists: 4 }, { distinct: 1, hits: 0, discoveries: 0, lists: 4 }];
    const b = [{ distinct: 1, hits: 1, discoveries: 3, lists: 4 }, { distinct: 1, hits: 0, discoveries: 0, lists: 4 }];
    const r = pairedHitChange(a, b);
    expect(pairedHitChange(a, b, 'discoveries').change).toBeCloseTo(2 / 8, 10);
    expect(r.change).toBeCloseTo(-1 / 8, 10);
    // Differences -1 and 0: sample variance 0.5; se = sqrt(0.5 × 2) / 8.
    expect(r.se).toBeCloseTo(Math.sqrt(0.5 * 2) / 8, 10);
    expect(pairedHitChange(a, a)).toEqual({ change: 0, se: 0 });
    expect(() => pairedHitChange(a, b.slice(1))).toThrow();
  });

  it('takes consecutive events on one item as one step', () => {
    const e = (item: string, behaviour = 1) => ({ item, behaviour, date: 20190618 });
    const steps = holdOutSteps([e('a'), e('a', 3), e('b'), e('a'), e('a', 4)]);
    expect(steps.map((s) => [s.item, s.events.length])).toEqual([['a', 2], ['b', 1], ['a', 2]]);
  });
});

describe('engine clock hook (what the replay runs on)', () => {
  let engine: RecommenderEngine;
  let clock = Date.now();
  beforeAll(async () => {
    engine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
      { fetch: fileFetch(), clock: () => clock });
  });
  afterAll(async () => { await engine.dispose(); });

  it('decays impressions on the hook\'s time, and stamps events left without a timestamp with it', async () => {
    clock = Date.now() - 10 * EXPOSURE_HALF_LIFE_MS;
    await engine.track([{ type: 'view', itemId: itemId(5) }, { type: 'click', itemId: itemId(27) }]);
    expect((await engine.listHistory()).map((e) => e.timestamp)).toEqual([clock, clock]);
    const before = await engine.recommend('home', { k: 8, diversity: 0, exposureDiscount: 1 });
    const top = before.items.find((i) => i.itemId !== itemId(5) && i.itemId !== itemId(27))!.itemId;
    await engine.track([{ type: 'impression', itemId: top, scene: 'home' }, { type: 'impression', itemId: top, scene: 'home' }]);
    const discountOf = async () => (await engine.recommend('home', { k: 40, diversity: 0, exposureDiscount: 1 })).items.find((i) => i.itemId === top)?.discount;
    expect(await discountOf()).toBeCloseTo(1 / (1 + 2), 4);
    clock += EXPOSURE_HALF_LIFE_MS; // one half-life later on the hook's clock (the wall clock barely moved)
    expect(await discountOf()).toBeCloseTo(1 / (1 + 1), 4);
  });
});

describe('longtailSvg', () => {
  it('draws the trade-off with every level labelled and both coverage series', () => {
    const lv = (t: number, ndcg: number, share: number) => ({ tailExposure: t, 'ndcg@10': ndcg, 'hr@10': 0.3, tailShare: share, itemCoverage: 0.1 + t / 10, tailCoverage: 0.07 + t / 20 });
    const svg = longtailSvg({ modelVersion: 'm-1', shoppers: 40, k: 10, headShare: 0.2, levels: [lv(0.5, 0.19, 0.8), lv(0, 0.22, 0.43), lv(0.2, 0.21, 0.63)] });
    expect(svg.startsWith('<svg')).toBe(true);
    for (const label of ['>0<', '>0.2<', '>0.5<', 'item coverage', 'tail coverage', 'NDCG@10', 'm-1, 40 shoppers']) expect(svg).toContain(label);
    expect(longtailSvg({ modelVersion: 'm-1', shoppers: 40, k: 10, headShare: 0.2, levels: [lv(0, 0.22, 0.43), lv(0.2, 0.21, 0.63), lv(0.5, 0.19, 0.8)] })).toBe(svg); // order-free
  });
});
