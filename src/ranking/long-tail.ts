/**
 * Long-tail exposure: a request's `tailExposure` t in [0, 1] scores each candidate
 * × (1 - t × popularity), popularity being the catalog's log-scaled interaction count in [0, 1]
 * (1 = the most popular item, 0 = items without interactions). t = 0 changes nothing; higher t
 * trades relevance for exposure of less popular items (measured curve: docs/feedback.md).
 */
import type { RankCandidate, ScoreAdjust } from './rank.js';

/** The adjustment, or undefined at t = 0. `popularityOf` gives an item's popularity in [0, 1] (0 when unknown). */
export function tailAdjust(popularityOf: (c: RankCandidate) => number, t: number): ScoreAdjust | undefined {
  if (!(t > 0)) return undefined;
  return { factor: (c) => 1 - t * Math.min(1, Math.max(0, popularityOf(c))), everywhere: true };
}
