/**
 * Retention (maxEvents, maxAgeDays) as both history stores apply it (IndexedDB in history.ts, the
 * in-memory one in memory.ts), so the two keep the same events.
 *
 * - A write never stores an event retention would drop at once: events of the batch older than
 *   maxAgeDays, and those beyond the newest maxEvents of the batch, are left out and reported as
 *   `outsideRetention` (a replay of old logs learns how many were not kept instead of a `stored`
 *   count that retention undoes in the same call).
 * - Pruning by count runs in batches: a write lets the store grow to maxEvents + retentionSlack()
 *   and, once past that, prunes the oldest down to maxEvents. Each prune removes at least the slack,
 *   so its cost spreads over as many writes (amortised constant work per event); the store never
 *   holds more than maxEvents + slack events.
 * - Pruning by age runs with the count prune, on `prune()` (the engine calls it at load), and at
 *   least every AGE_PRUNE_INTERVAL_MS on a write (events only age out of the window with time).
 */
import type { NewEvent } from '../../contract/options.js';

export interface Retention { maxEvents: number; maxAgeDays: number }

export const DAY_MS = 86_400_000;

/** How far past maxEvents a write lets the store grow before it prunes back: a tenth of maxEvents (0 below 10). */
export function retentionSlack(maxEvents: number): number {
  return Math.floor(maxEvents / 10);
}

/** A write checks for events that aged out of maxAgeDays at least this often. */
export const AGE_PRUNE_INTERVAL_MS = 3_600_000;

/** Timestamps below this are older than maxAgeDays at `now`. */
export function ageCutoff(retention: Retention, now: number): number {
  return now - retention.maxAgeDays * DAY_MS;
}

/**
 * The events of a batch that retention keeps, in batch order (their insertion order), and how many
 * it leaves out: older than maxAgeDays, or beyond the newest maxEvents of the batch (ties: the later
 * in the batch is the newer, as the store orders them).
 */
export function planBatch(events: readonly NewEvent[], retention: Retention, now: number): { keep: NewEvent[]; outside: number } {
  const cutoff = ageCutoff(retention, now);
  let idx: number[] = [];
  for (let i = 0; i < events.length; i++) if (events[i].timestamp >= cutoff) idx.push(i);
  if (idx.length > retention.maxEvents) {
    const newest = [...idx].sort((a, b) => events[b].timestamp - events[a].timestamp || b - a).slice(0, retention.maxEvents);
    idx = newest.sort((a, b) => a - b);
  }
  return { keep: idx.map((i) => events[i]), outside: events.length - idx.length };
}

/** Whether a write that leaves `count` events must prune by count now. */
export function overCountLimit(count: number, retention: Retention): boolean {
  return count > retention.maxEvents + retentionSlack(retention.maxEvents);
}
