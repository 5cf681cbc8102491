/**
 * Interaction datasets: parsing of the three input formats into per-user item
 * sequences over a dense item index (1..numItems; 0 is padding).
 */
export type DataFormat = 'pairs' | 'lines' | 'tianchi';
export const DATA_FORMATS: readonly DataFormat[] = ['pairs', 'lines', 'tianchi'];

/** Behaviour codes of the Tianchi file; other formats are all `click`. */
export const BEHAVIOURS = { click: 1, favorite: 2, cart: 3, purchase: 4 } as const;

export interface SequenceDataset {
  /** Original user ids, in file order. */
  users: string[];
  /** Per user, model item indices in time order. */
  sequences: Int32Array[];
  /** Per user, behaviour code of each step (1 click, 2 favourite, 3 cart, 4 purchase). */
  behaviours: Uint8Array[];
  /** Per user, day number (YYYYMMDD) of each step, where the format has dates. */
  dates?: Int32Array[];
  /** itemIds[i] = original item id of index i; itemIds[0] = ''. */
  itemIds: string[];
  numItems: number;
  numInteractions: number;
}

export class DataFormatError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'DataFormatError';
  }
}

interface RawEvent { user: string; item: string; behaviour: number; date: number; order: number }

function assertFormat(format: string): asserts format is DataFormat {
  if (!(DATA_FORMATS as readonly string[]).includes(format)) {
    throw new DataFormatError('(arguments)', 0, `unknown format "${format}"; use one of ${DATA_FORMATS.join(', ')}`);
  }
}

const ID = /^[A-Za-z0-9_.:\-]+$/;

/** Parses a file's text. `fileName` is only used in error messages. */
export function parseDataset(text: string, format: string, fileName: string): SequenceDataset {
  assertFormat(format);
  const lines = text.split(/\r?\n/);
  const events: RawEvent[] = [];
  let lastUserPairs: string | undefined;
  const seenPairsUsers = new Set<string>();
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const lineNo = n + 1;
    const fields = format === 'tianchi' ? line.split('\t') : line.split(/\s+/);
    const bad = (why: string) => new DataFormatError(fileName, lineNo, `${why} (format "${format}"): "${line.slice(0, 80)}"`);
    if (format === 'pairs') {
      if (fields.length !== 2) throw bad('expected "<user_id> <item_id>"');
      if (!ID.test(fields[0]) || !ID.test(fields[1])) throw bad('ids must be letters, digits, _ . : -');
      if (fields[0] !== lastUserPairs) {
        if (seenPairsUsers.has(fields[0])) throw bad(`user ${fields[0]} appears again after other users; lines must be grouped by user`);
        seenPairsUsers.add(fields[0]);
        lastUserPairs = fields[0];
      }
      events.push({ user: fields[0], item: fields[1], behaviour: 1, date: 0, order: events.length });
    } else if (format === 'lines') {
      if (fields.length < 2) throw bad('expected "<user_id> <item_id> [<item_id> ...]"');
      if (!fields.every((f) => ID.test(f))) throw bad('ids must be letters, digits, _ . : -');
      for (let i = 1; i < fields.length; i++) events.push({ user: fields[0], item: fields[i], behaviour: 1, date: 0, order: events.length });
    } else {
      if (fields.length !== 4) throw bad('expected 4 tab-separated fields: user_id, item_id, behaviour, date');
      const behaviour = Number(fields[2]);
      const date = Number(fields[3]);
      if (!ID.test(fields[0]) || !ID.test(fields[1])) throw bad('ids must be letters, digits, _ . : -');
      if (![1, 2, 3, 4].includes(behaviour)) throw bad('behaviour must be 1 (click), 2 (favourite), 3 (cart) or 4 (purchase)');
      if (!/^\d{8}$/.test(fields[3])) throw bad('date must be YYYYMMDD');
      events.push({ user: fields[0], item: fields[1], behaviour, date, order: events.length });
    }
  }
  if (events.length === 0) throw new DataFormatError(fileName, 0, 'no interactions found');
  // Tianchi dates have day granularity: a stable sort by date keeps the file order within a day.
  if (format === 'tianchi') events.sort((a, b) => a.date - b.date || a.order - b.order);

  const itemIndex = new Map<string, number>();
  const itemIds: string[] = [''];
  const userIndex = new Map<string, number>();
  const users: string[] = [];
  const seqs: number[][] = [];
  const behs: number[][] = [];
  const dates: number[][] = [];
  for (const e of events) {
    let it = itemIndex.get(e.item);
    if (it === undefined) { it = itemIds.length; itemIndex.set(e.item, it); itemIds.push(e.item); }
    let u = userIndex.get(e.user);
    if (u === undefined) { u = users.length; userIndex.set(e.user, u); users.push(e.user); seqs.push([]); behs.push([]); dates.push([]); }
    seqs[u].push(it); behs[u].push(e.behaviour); dates[u].push(e.date);
  }
  return {
    users,
    sequences: seqs.map((s) => Int32Array.from(s)),
    behaviours: behs.map((b) => Uint8Array.from(b)),
    dates: format === 'tianchi' ? dates.map((d) => Int32Array.from(d)) : undefined,
    itemIds,
    numItems: itemIds.length - 1,
    numInteractions: events.length,
  };
}

/** Leave-one-out split, as in the SASRec paper: last item test, second last validation, the rest training. */
export interface LeaveOneOutSplit {
  /** Per user, the training prefix. Users with fewer than 3 items keep everything here. */
  train: Int32Array[];
  /** Per user, the validation item or 0. */
  valid: Int32Array;
  /** Per user, the test item or 0. */
  test: Int32Array;
}

export function leaveOneOut(sequences: Int32Array[]): LeaveOneOutSplit {
  const n = sequences.length;
  const split: LeaveOneOutSplit = { train: [], valid: new Int32Array(n), test: new Int32Array(n) };
  sequences.forEach((s, u) => {
    if (s.length < 3) { split.train.push(s); return; }
    split.train.push(s.subarray(0, s.length - 2));
    split.valid[u] = s[s.length - 2];
    split.test[u] = s[s.length - 1];
  });
  return split;
}

/** Interaction counts per item index over the given sequences. */
export function itemCounts(sequences: Int32Array[], numItems: number): Float64Array {
  const counts = new Float64Array(numItems + 1);
  for (const s of sequences) for (const i of s) counts[i]++;
  return counts;
}
