/**
 * The discount and dismissal logic (src/ranking/feedback.ts), its retention (feedbackToDrop) and the
 * ranking pipeline's use of it (the candidate shortcut must give the same lists with feedback).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPOSURE_DISCOUNT, DISMISS_HIDE_MS, DISMISS_NEIGHBOUR_WEIGHT, EXPOSURE_HALF_LIFE_MS, FEEDBACK_MIN_EXPOSURE,
} from '../../src/contract/defaults.js';
import { SCENES } from '../../src/contract/protocol.js';
import type { FeedbackEvent } from '../../src/contract/options.js';
import type { FeedbackRecord } from '../../src/contract/protocol.js';
import { feedbackToDrop } from '../../src/engine/store/feedback.js';
import {
  applyFeedback, composeAdjust, exposureAt, exposureFactor, FeedbackView, isDismissed, isSpent, lastInteractions, substituteAdjust,
} from '../../src/ranking/feedback.js';
import { tailAdjust } from '../../src/ranking/long-tail.js';
import { rankCandidates, rankScored, type RankCandidate } from '../../src/ranking/rank.js';

const T = 1_700_000_000_000;
const imp = (itemId: string, timestamp: number): FeedbackEvent => ({ type: 'impression', itemId, scene: 'home', timestamp });
const dis = (itemId: string, timestamp: number): FeedbackEvent => ({ type: 'dismiss', itemId, scene: 'home', timestamp });
const none = () => undefined;
const rec = (over: Partial<FeedbackRecord> & { itemId: string }): FeedbackRecord =>
  ({ exposure: 0, impressions: 0, shownAt: 0, touchedAt: 0, ...over });

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
}
const cand = (itemId: string, score: number, category?: string, embedding?: Float32Array): RankCandidate =>
  ({ itemId, score, reason: { kind: 'popular' }, item: { id: itemId, category }, embedding });

describe('exposure', () => {
  it('counts impressions, halves every half-life, and an interaction at or after the last impression resets it', () => {
    const [r] = applyFeedback(new Map(), [imp('a', T), imp('a', T + 1000), imp('a', T + 2000)], none);
    expect(r).toMatchObject({ itemId: 'a', impressions: 3, shownAt: T + 2000 });
    expect(exposureAt(r, T + 2000)).toBeCloseTo(3, 4); // the first two decayed for 2 s and 1 s
    expect(exposureAt(r, T + 2000 + EXPOSURE_HALF_LIFE_MS)).toBeCloseTo(1.5, 3);
    expect(exposureAt(r, T + 2000 + 2 * EXPOSURE_HALF_LIFE_MS)).toBeCloseTo(0.75, 3);
    expect(exposureAt(r, T + 3000, T + 2000)).toBe(0); // clicked at the last impression
    expect(exposureAt(r, T + 3000, T + 2500)).toBe(0); // clicked after it
    expect(exposureAt(r, T + 3000, T + 1500)).toBeCloseTo(3, 3); // clicked before the last impression: stale reset
  });

  it('an impression after a click starts a new count; impressions out of order still count once each', () => {
    const first = applyFeedback(new Map(), [imp('a', T), imp('a', T + 10)], none)[0];
    const after = applyFeedback(new Map([['a', first]]), [imp('a', T + 100)], () => T + 50)[0];
    expect(exposureAt(after, T + 100, T + 50)).toBe(1);
    expect(after.impressions).toBe(3);
    const late = applyFeedback(new Map([['a', first]]), [imp('a', T - 5000)], none)[0];
    expect(late.shownAt).toBe(T + 10);
    expect(exposureAt(late, T + 10)).toBeCloseTo(3, 3);
  });

  it('the factor is 1 / (1 + strength × exposure), 1 at strength 0', () => {
    expect(exposureFactor(3, 0)).toBe(1);
    expect(exposureFactor(0, 1)).toBe(1);
    expect(exposureFactor(2, 0.5)).toBeCloseTo(0.5, 10);
    expect(exposureFactor(4, 0.25)).toBeCloseTo(0.5, 10);
    expect(exposureFactor(1, 1)).toBeLessThan(exposureFactor(1, 0.3));
  });

  it('lastInteractions takes the latest answering event per item (not searches, not other items)', () => {
    const m = lastInteractions([
      { type: 'view', itemId: 'a', timestamp: 5 }, { type: 'purchase', itemId: 'a', timestamp: 9 },
      { type: 'click', itemId: 'a', timestamp: 7 }, { type: 'search', itemId: 'b', timestamp: 20 }, { type: 'cart', itemId: 'c', timestamp: 3 },
    ]);
    expect([...m]).toEqual([['a', 9], ['c', 3]]);
  });
});

describe('dismissal', () => {
  it('hides for DISMISS_HIDE_MS unless the shopper interacts with the item after it', () => {
    const [r] = applyFeedback(new Map(), [dis('a', T)], none);
    expect(r.dismissedAt).toBe(T);
    expect(r.exposure).toBe(0);
    expect(isDismissed(r, T + 1)).toBe(true);
    expect(isDismissed(r, T + DISMISS_HIDE_MS - 1)).toBe(true);
    expect(isDismissed(r, T + DISMISS_HIDE_MS)).toBe(false);
    expect(isDismissed(r, T + 10, T + 5)).toBe(false);
    expect(isDismissed(r, T + 10, T - 5)).toBe(true);
  });

  it('pushes close neighbours down (same category and embedding), fading with time; others untouched', () => {
    const e = unit([1, 0, 0, 0]);
    const dismissed = cand('d', 1, 'shoes', e);
    const records = applyFeedback(new Map(), [dis('d', T)], none);
    const view = new FeedbackView({ records, lastInteraction: new Map(), now: T }, (id) => (id === 'd' ? dismissed : undefined));
    expect([...view.hidden]).toEqual(['d']);
    const twin = cand('twin', 1, 'shoes', unit([1, 0.01, 0, 0]));
    const sameCategoryOnly = cand('cat', 1, 'shoes', unit([0, 1, 0, 0]));
    const far = cand('far', 1, 'hats', unit([0, 1, 0, 0]));
    const adjust = view.adjust(0)!;
    expect(adjust.factor(twin)).toBeCloseTo(1 - DISMISS_NEIGHBOUR_WEIGHT, 3);
    expect(adjust.factor(far)).toBe(1);
    // Same category, unrelated embedding: similarity 0.3 < the 0.5 threshold.
    expect(adjust.factor(sameCategoryOnly)).toBe(1);
    const halfway = new FeedbackView({ records, lastInteraction: new Map(), now: T + DISMISS_HIDE_MS / 2 }, () => dismissed);
    expect(halfway.adjust(0)!.factor(twin)).toBeCloseTo(1 - DISMISS_NEIGHBOUR_WEIGHT / 2, 3);
    const lifted = new FeedbackView({ records, lastInteraction: new Map([['d', T + 1]]), now: T + 2 }, () => dismissed);
    expect(lifted.hidden.size).toBe(0);
    expect(lifted.adjust(0.5)).toBeUndefined();
  });

  it('no feedback (or only answered impressions at strength 0) adjusts nothing', () => {
    expect(FeedbackView.EMPTY.adjust(1)).toBeUndefined();
    const records = applyFeedback(new Map(), [imp('a', T)], none);
    const view = new FeedbackView({ records, lastInteraction: new Map(), now: T }, none);
    expect(view.adjust(0)).toBeUndefined();
    expect(view.adjust(0.5)!.factor(cand('a', 1))).toBeCloseTo(1 / 1.5, 10);
    expect(view.adjust(0.5)!.factor(cand('b', 1))).toBe(1);
    const answered = new FeedbackView({ records, lastInteraction: new Map([['a', T]]), now: T }, none);
    expect(answered.adjust(1)).toBeUndefined();
  });
});

describe('per-scene default strengths', () => {
  // What the defaults do, not their values (those are a measured choice: docs/feedback.md).
  const view = (impressions: number) =>
    new FeedbackView({ records: applyFeedback(new Map(), Array.from({ length: impressions }, (_, i) => imp('a', T + i)), none), lastInteraction: new Map(), now: T + impressions }, none);

  it('are strengths from 0 to 1; the home feed, search and recently viewed ignore impressions', () => {
    for (const s of SCENES) expect(DEFAULT_EXPOSURE_DISCOUNT[s], s).toBeGreaterThanOrEqual(0);
    for (const s of SCENES) expect(DEFAULT_EXPOSURE_DISCOUNT[s], s).toBeLessThanOrEqual(1);
    for (const s of ['home', 'search', 'recentlyViewed'] as const) expect(view(20).adjust(DEFAULT_EXPOSURE_DISCOUNT[s]), s).toBeUndefined();
  });

  it('the product page discounts weakly: one ignored impression does not sink an item, many do; cart and buy-again follow it', () => {
    const strength = DEFAULT_EXPOSURE_DISCOUNT.product;
    expect(strength).toBeGreaterThan(0);
    const list = (n: number) => rankCandidates([cand('a', 1), cand('b', 0.9)], { k: 2, adjust: view(n).adjust(strength) }).map((x) => x.itemId);
    expect(list(1)).toEqual(['a', 'b']); // an item leading by a tenth keeps its place after one impression
    expect(list(20)).toEqual(['b', 'a']); // a list seen twenty times without a click gives way
    expect(DEFAULT_EXPOSURE_DISCOUNT.cart).toBe(strength);
    expect(DEFAULT_EXPOSURE_DISCOUNT.buyAgain).toBe(strength);
  });
});

describe('retention and composition', () => {
  it('drops spent records first, then the least recently touched beyond the maximum', () => {
    const fresh = rec({ itemId: 'fresh', exposure: 2, shownAt: T, touchedAt: T });
    const older = rec({ itemId: 'older', exposure: 2, shownAt: T - 1000, touchedAt: T - 1000 });
    const spent = rec({ itemId: 'spent', exposure: 1, shownAt: T - 20 * EXPOSURE_HALF_LIFE_MS, touchedAt: T - 20 * EXPOSURE_HALF_LIFE_MS });
    const oldDismissal = rec({ itemId: 'gone', dismissedAt: T - DISMISS_HIDE_MS - 1, touchedAt: T - DISMISS_HIDE_MS - 1 });
    const dismissal = rec({ itemId: 'hidden', dismissedAt: T - 1, touchedAt: T - 1 });
    expect(isSpent(spent, T)).toBe(true);
    expect(exposureAt(spent, T)).toBeLessThan(FEEDBACK_MIN_EXPOSURE);
    expect(feedbackToDrop([fresh, older, spent, oldDismissal, dismissal], T).sort()).toEqual(['gone', 'spent']);
    expect(feedbackToDrop([fresh, older, spent, dismissal], T, 2).sort()).toEqual(['older', 'spent']);
  });

  it('the substitute push-down lowers only the cart categories; adjustments multiply', () => {
    const s = substituteAdjust(new Set(['shoes']), 0.5)!;
    expect(s.factor(cand('x', 1, 'shoes'))).toBe(0.5);
    expect(s.factor(cand('y', 1, 'hats'))).toBe(1);
    expect(s.factor(cand('z', 1))).toBe(1);
    expect(substituteAdjust(new Set(), 0.5)).toBeUndefined();
    expect(substituteAdjust(new Set(['shoes']), 0)).toBeUndefined();
    const both = composeAdjust(s, { factor: () => 0.5 })!;
    expect(both.factor(cand('x', 1, 'shoes'))).toBe(0.25);
    expect(composeAdjust(undefined, s)).toBe(s);
  });
});

describe('long tail', () => {
  it('scores × (1 - t × popularity): nothing at t = 0, the most popular item loses most', () => {
    const pop: Record<string, number> = { head: 1, mid: 0.5, tail: 0 };
    expect(tailAdjust((c) => pop[c.itemId], 0)).toBeUndefined();
    const a = tailAdjust((c) => pop[c.itemId], 0.4)!;
    expect(a.factor(cand('head', 1))).toBeCloseTo(0.6, 10);
    expect(a.factor(cand('mid', 1))).toBeCloseTo(0.8, 10);
    expect(a.factor(cand('tail', 1))).toBe(1);
    const list = rankCandidates([cand('head', 1), cand('mid', 0.9), cand('tail', 0.7)], { k: 3, adjust: a });
    expect(list.map((x) => x.itemId)).toEqual(['mid', 'tail', 'head']);
  });
});

describe('ranking with feedback', () => {
  it('a discounted item falls below the items it outscored, reports its discount, and keeps its reason', () => {
    const list = [cand('a', 1), cand('b', 0.9), cand('c', 0.8)];
    const adjust = { factor: (c: RankCandidate) => (c.itemId === 'a' ? 0.5 : 1) };
    const out = rankCandidates(list, { k: 3, adjust });
    expect(out.map((x) => x.itemId)).toEqual(['b', 'c', 'a']);
    expect(out[2]).toMatchObject({ score: 0.5, discount: 0.5, reason: { kind: 'popular' } });
    expect(out[0].discount).toBeUndefined();
  });

  it('the candidate shortcut gives the list of every candidate when feedback lowers some of the best', () => {
    let s = 7;
    const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
    const n = 3000;
    const scores = Float32Array.from({ length: n }, rnd);
    const emb = Array.from({ length: n }, () => unit([rnd() - 0.5, rnd() - 0.5, rnd() - 0.5, rnd() - 0.5]));
    // The 200 best rows are discounted hard: the shortcut must look deeper.
    const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a]);
    const lowered = new Set(order.slice(0, 200).map((r) => `i${r}`));
    const adjust = { factor: (c: RankCandidate) => (lowered.has(c.itemId) ? 0.2 : 1) };
    const source = {
      heads: { click: scores },
      candidate: (r: number, relevance: number) => cand(`i${r}`, relevance, `c${r % 7}`, emb[r]),
    };
    for (const diversity of [0, 0.3]) {
      const ctx = { k: 10, diversity, objectives: { click: 1 }, adjust };
      const fast = rankScored(source, { ...ctx, shortcut: true }).items.map((x) => x.itemId);
      const full = rankScored(source, { ...ctx, shortcut: false }).items.map((x) => x.itemId);
      expect(fast).toEqual(full);
      expect(fast.some((id) => lowered.has(id))).toBe(false);
    }
  });
});
