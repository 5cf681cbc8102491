/**
 * A grouped event log and an item file as the multi-task model's data (`MtlData`), with a
 * time-ordered split by day: the same structures `npm run train -- --arch mtl` builds from the
 * Tianchi files, so training and evaluation run through the same code.
 *
 * Scenes: the log's scene column where it names one; otherwise simulated from the event type
 * and the session, as for Tianchi (purchase -> cart page, cart / favourite -> product page, a
 * view that opens a session -> home feed, other views -> product page). Sessions: the log's
 * session column, else a gap of over 30 minutes or a new day (training/event-log.ts groupLog).
 */
import { DataFormatError } from './data.js';
import type { GroupedLog, ItemTable } from './event-log.js';
import { mtlDataFrom, type ItemRow, type MtlData } from './mtl-data.js';

/** Days as YYYYMMDD: training up to `trainEnd`, validation `validDay`, test from `testStart`. */
export interface TimeSplit { trainEnd: number; validDay: number; testStart: number }

/** The default split over the log's days: the last `testDays` days test, the day before validation, the rest training. */
export function autoTimeSplit(days: number[], testDays = 1): TimeSplit {
  const d = [...new Set(days)].sort((a, b) => a - b);
  if (d.length < testDays + 2) {
    throw new DataFormatError('(data)', 0, `the log spans ${d.length} day(s): a time split needs at least ${testDays + 2} (training, one validation day, ${testDays} test day(s)); pass --train-end, --valid-day and --test-start, or train the sequence model (--model sasrec)`);
  }
  return { trainEnd: d[d.length - testDays - 2], validDay: d[d.length - testDays - 1], testStart: d[d.length - testDays] };
}

/** Distinct days of a grouped log. */
export function logDays(g: GroupedLog): number[] {
  const s = new Set<number>();
  for (const d of g.dataset.dates) for (let i = 0; i < d.length; i++) s.add(d[i]);
  return [...s].sort((a, b) => a - b);
}

/** Parses a day flag given as YYYYMMDD or YYYY-MM-DD. */
export function parseDay(flag: string, v: string | number): number {
  const s = String(v).replace(/-/g, '');
  if (!/^\d{8}$/.test(s)) throw new DataFormatError('(arguments)', 0, `--${flag} must be a day as YYYY-MM-DD or YYYYMMDD, got "${v}"`);
  return Number(s);
}

/**
 * Builds the multi-task data through the same code as the Tianchi reader (`mtlDataFrom`, whose steps
 * come from the featuriser): the log's scenes where given, its sessions for the simulated ones.
 * Items of the log without a row in `items` are in the catalog with no content.
 */
export function mtlDataFromLog(g: GroupedLog, items: ItemTable | undefined, split: TimeSplit, priceBuckets = 10): MtlData {
  const rows = new Map<string, ItemRow>();
  if (items) items.ids.forEach((id, r) => rows.set(id, { category: items.category[r], brand: items.brand[r], price: items.price[r] }));
  const data = mtlDataFrom(g.dataset, rows, { ...split, priceBuckets }, {
    scene: (u, k) => g.scenes[u][k],
    opensSession: (u, k) => g.sessionStarts[u][k] === 1,
  });
  if (data.vocab.itemIds.length === 1) throw new DataFormatError('(data)', 0, `no events on or before the last training day ${split.trainEnd}`);
  return data;
}
