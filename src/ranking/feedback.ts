/**
 * Feedback on lists (pure logic, no storage): what impressions and dismissals do to ranking.
 *
 * - Exposure: every impression of an item adds 1 to its *unanswered exposure*; the count halves
 *   every EXPOSURE_HALF_LIFE_MS, and an interaction with the item (view, click, favourite, cart,
 *   purchase) at or after its last impression sets it to 0. A list with `exposureDiscount` s scores
 *   the item × 1 / (1 + s × exposure).
 * - Dismissal: a dismissed item leaves every list for DISMISS_HIDE_MS (an interaction with it after
 *   the dismissal lifts it). Its close neighbours (MMR's similarity: embedding cosine and same
 *   category, at least DISMISS_NEIGHBOUR_MIN_SIMILARITY) are scored × (1 - w × closeness), w fading
 *   from DISMISS_NEIGHBOUR_WEIGHT to 0 over the same time.
 *
 * The records (FeedbackRecord, one per item) are kept by src/engine/store/feedback.ts; the engine
 * builds a FeedbackView per call and the ranking pipeline multiplies scores by its factors.
 */
import {
  DISMISS_HIDE_MS, DISMISS_NEIGHBOUR_MIN_SIMILARITY, DISMISS_NEIGHBOUR_WEIGHT, DISMISS_NEIGHBOURS_MAX,
  EXPOSURE_HALF_LIFE_MS, FEEDBACK_MIN_EXPOSURE,
} from '../contract/defaults.js';
import type { FeedbackEvent } from '../contract/options.js';
import type { FeedbackRecord } from '../contract/protocol.js';
import { itemSimilarity, type RankCandidate, type ScoreAdjust } from './rank.js';

/** Event types that answer an impression (the model's interactions). */
const ANSWERS: ReadonlySet<string> = new Set(['view', 'click', 'favorite', 'cart', 'purchase']);

/** Last interaction time per item (the latest view/click/favourite/cart/purchase event). */
export function lastInteractions(events: Iterable<{ type: string; itemId?: string; timestamp: number }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const ev of events) {
    if (!ev.itemId || !ANSWERS.has(ev.type)) continue;
    const t = out.get(ev.itemId);
    if (t === undefined || ev.timestamp > t) out.set(ev.itemId, ev.timestamp);
  }
  return out;
}

/** The item's unanswered exposure at time `t`: 0 when it was interacted with at or after its last impression. */
export function exposureAt(rec: FeedbackRecord, t: number, lastInteraction?: number): number {
  if (rec.shownAt <= 0 || rec.exposure <= 0) return 0;
  if (lastInteraction !== undefined && lastInteraction >= rec.shownAt) return 0;
  return rec.exposure * Math.pow(0.5, Math.max(0, t - rec.shownAt) / EXPOSURE_HALF_LIFE_MS);
}

/** The score factor of an exposure: 1 / (1 + strength × exposure). */
export function exposureFactor(exposure: number, strength: number): number {
  return strength > 0 && exposure > 0 ? 1 / (1 + strength * exposure) : 1;
}

/** True while a dismissal hides the item: less than DISMISS_HIDE_MS ago and no interaction since. */
export function isDismissed(rec: FeedbackRecord, t: number, lastInteraction?: number): boolean {
  const d = rec.dismissedAt;
  if (d === undefined) return false;
  if (lastInteraction !== undefined && lastInteraction > d) return false;
  return t - d < DISMISS_HIDE_MS;
}

/** A record that no longer changes any list (exposure decayed below the floor, no active dismissal): retention drops it. */
export function isSpent(rec: FeedbackRecord, t: number): boolean {
  return exposureAt(rec, t) < FEEDBACK_MIN_EXPOSURE && !isDismissed(rec, t);
}

/**
 * Applies impressions and dismissals, in order, to the stored records. `lastInteraction` gives an
 * item's latest interaction (history plus the same batch), so an impression after a click starts
 * a new count. Returns the changed records (new objects; the inputs are not changed).
 */
export function applyFeedback(
  records: ReadonlyMap<string, FeedbackRecord>, events: readonly FeedbackEvent[],
  lastInteraction: (itemId: string) => number | undefined,
): FeedbackRecord[] {
  const changed = new Map<string, FeedbackRecord>();
  for (const ev of events) {
    const old = changed.get(ev.itemId) ?? records.get(ev.itemId);
    const rec: FeedbackRecord = old ? { ...old } : { itemId: ev.itemId, exposure: 0, impressions: 0, shownAt: 0, touchedAt: 0 };
    if (ev.type === 'impression') {
      const t = Math.max(ev.timestamp, rec.shownAt);
      rec.exposure = exposureAt(rec, t, lastInteraction(ev.itemId)) + 1;
      rec.shownAt = t;
      rec.impressions++;
    } else {
      rec.dismissedAt = Math.max(ev.timestamp, rec.dismissedAt ?? 0);
    }
    rec.touchedAt = Math.max(rec.shownAt, rec.dismissedAt ?? 0);
    changed.set(ev.itemId, rec);
  }
  return [...changed.values()];
}

/** What a FeedbackView reads: the records, the history's last interactions, the time of the call. */
export interface FeedbackState {
  records: Iterable<FeedbackRecord>;
  lastInteraction: ReadonlyMap<string, number>;
  now: number;
}

/** Multiplies two adjustments (either may be absent). */
export function composeAdjust(a: ScoreAdjust | undefined, b: ScoreAdjust | undefined): ScoreAdjust | undefined {
  if (!a) return b;
  if (!b) return a;
  return { factor: (c) => a.factor(c) * b.factor(c), everywhere: a.everywhere || b.everywhere };
}

/**
 * The feedback of one call: which items are hidden, and the score factors of exposure and of
 * dismissed items' neighbours. `candidateOf` gives a dismissed item's candidate (its embedding and
 * category) for the neighbour similarity; items it does not know push no neighbours down.
 */
export class FeedbackView {
  /** Dismissed items, hidden from every list now. */
  readonly hidden: ReadonlySet<string>;
  private readonly exposure = new Map<string, number>();
  private readonly dismissed: Array<{ weight: number; candidate: RankCandidate }> = [];

  constructor(state: FeedbackState, candidateOf: (itemId: string) => RankCandidate | undefined) {
    const hidden = new Set<string>();
    const recent: Array<{ rec: FeedbackRecord; weight: number }> = [];
    for (const rec of state.records) {
      const last = state.lastInteraction.get(rec.itemId);
      const e = exposureAt(rec, state.now, last);
      if (e > 0) this.exposure.set(rec.itemId, e);
      if (isDismissed(rec, state.now, last)) {
        hidden.add(rec.itemId);
        const weight = DISMISS_NEIGHBOUR_WEIGHT * (1 - (state.now - rec.dismissedAt!) / DISMISS_HIDE_MS);
        if (weight > 0) recent.push({ rec, weight });
      }
    }
    recent.sort((a, b) => b.rec.dismissedAt! - a.rec.dismissedAt!);
    for (const { rec, weight } of recent.slice(0, DISMISS_NEIGHBOURS_MAX)) {
      const candidate = candidateOf(rec.itemId);
      if (candidate) this.dismissed.push({ weight, candidate });
    }
    this.hidden = hidden;
  }

  /** No feedback at all: every list is what it is without it. */
  static readonly EMPTY = new FeedbackView({ records: [], lastInteraction: new Map(), now: 0 }, () => undefined);

  /** The unanswered exposure of an item now (0 when none). */
  exposureOf(itemId: string): number {
    return this.exposure.get(itemId) ?? 0;
  }

  /** The factor of being a close neighbour of a dismissed item (1 when it is none). */
  neighbourFactor(c: RankCandidate): number {
    let push = 0;
    for (const d of this.dismissed) {
      if (d.candidate.itemId === c.itemId) continue;
      const sim = itemSimilarity(c, d.candidate);
      if (sim < DISMISS_NEIGHBOUR_MIN_SIMILARITY) continue;
      const closeness = (sim - DISMISS_NEIGHBOUR_MIN_SIMILARITY) / (1 - DISMISS_NEIGHBOUR_MIN_SIMILARITY);
      push = Math.max(push, d.weight * closeness);
    }
    return 1 - push;
  }

  /**
   * The score adjustment of a list with this exposure discount, or undefined when nothing would
   * change (no exposure to discount, no dismissed neighbours): ranking then runs as without feedback.
   */
  adjust(exposureDiscount: number): ScoreAdjust | undefined {
    const discount = exposureDiscount > 0 && this.exposure.size > 0;
    if (!discount && this.dismissed.length === 0) return undefined;
    return {
      factor: (c) => (discount ? exposureFactor(this.exposureOf(c.itemId), exposureDiscount) : 1)
        * (this.dismissed.length > 0 ? this.neighbourFactor(c) : 1),
    };
  }
}

/**
 * The cart's substitute push-down: candidates of a category already in the cart are scored
 * × (1 - penalty). Undefined when it changes nothing (no penalty, no category in the cart).
 */
export function substituteAdjust(cartCategories: ReadonlySet<string>, penalty: number): ScoreAdjust | undefined {
  if (!(penalty > 0) || cartCategories.size === 0) return undefined;
  return { factor: (c) => (c.item?.category !== undefined && cartCategories.has(c.item.category) ? 1 - penalty : 1) };
}
