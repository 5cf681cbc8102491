/**
 * The storage of a session without IndexedDB (missing, or `open` failing: some private modes,
 * locked-down browsers): the history, meta records and catalog cache in this realm's memory. It
 * keeps the same events as the IndexedDB stores would (retention.ts) and implements the same
 * interfaces, and it is reported as `storage: 'memory'`: nothing outlives the recommender, and
 * other tabs do not see it.
 */
import type { NewEvent } from '../../contract/options.js';
import type { HistoryExport, StoredEvent } from '../../contract/protocol.js';
import { StorageError } from '../../contract/errors.js';
import { WRITE_IDS_KEEP } from '../../contract/defaults.js';
import type { CatalogCacheRecord, CatalogMatrixCache } from './catalog-cache.js';
import { withChanges, type AddResult, type EventHistory, type HistorySnapshot } from './history.js';
import type { MetaKey, MetaOf, MetaRecord, MetaRecords } from './meta.js';
import { AGE_PRUNE_INTERVAL_MS, ageCutoff, overCountLimit, planBatch, type Retention } from './retention.js';

/** Ends every store of one memory storage at once (as the IndexedDB connection does). */
export class MemoryLifetime {
  private closed = false;
  check(): void {
    if (this.closed) throw new StorageError('The history store is closed.');
  }
  close(): void {
    this.closed = true;
  }
}

/** A copy of an event (callers get their own, as from IndexedDB). */
const copy = (e: StoredEvent): StoredEvent => ({ ...e });

/** The shopper's history in memory, for one session. See EventHistory for the contract. */
export class MemoryHistory implements EventHistory {
  /** Oldest first, by (timestamp, id): the order of the IndexedDB timestamp index. Replaced, never changed in place (events() shares it). */
  private list_: StoredEvent[] = [];
  private nextId = 1;
  private changes = 0;
  private prunedBelow = -Infinity;
  /** Applied write ids and their answers, oldest first (Map order), at most WRITE_IDS_KEEP. */
  private readonly applied = new Map<string, unknown>();

  constructor(readonly name: string, private readonly life: MemoryLifetime = new MemoryLifetime()) {}

  get version(): number {
    return this.changes;
  }

  get connectionLostReason(): string | null {
    return null;
  }

  private commit(next: StoredEvent[]): void {
    this.list_ = next;
    this.changes++;
  }

  /** Runs a write once per write id, as the `writes` store does for IndexedDB (writes.ts). */
  private async once<R>(writeId: string | undefined, body: () => Promise<R>): Promise<R> {
    if (writeId === undefined) return body();
    if (this.applied.has(writeId)) return this.applied.get(writeId) as R;
    const result = await body();
    this.applied.set(writeId, result);
    if (this.applied.size > WRITE_IDS_KEEP) this.applied.delete(this.applied.keys().next().value as string);
    return result;
  }

  async add(events: NewEvent[], retention: Retention, now: number = Date.now(), writeId?: string): Promise<AddResult> {
    this.life.check();
    return this.once(writeId, () => this.addNow(events, retention, now));
  }

  private async addNow(events: NewEvent[], retention: Retention, now: number): Promise<AddResult> {
    if (events.length === 0) return { stored: 0, pruned: await this.prune(retention, now), outsideRetention: 0 };
    const { keep, outside } = planBatch(events, retention, now);
    if (keep.length === 0) return { stored: 0, pruned: 0, outsideRetention: outside };
    const added = keep.map((ev) => ({ ...ev, id: this.nextId++ } as StoredEvent));
    let next = withChanges(this.list_, added, []);
    let removed: number[] = [];
    const cutoff = ageCutoff(retention, now);
    const ageDue = cutoff - this.prunedBelow >= AGE_PRUNE_INTERVAL_MS;
    if (ageDue || overCountLimit(next.length, retention)) {
      ({ next, removed } = pruned(next, retention, now));
      if (ageDue) this.prunedBelow = cutoff;
    }
    const ids = new Set(added.map((e) => e.id));
    const droppedNew = removed.filter((id) => ids.has(id)).length;
    if (droppedNew !== removed.length || droppedNew !== added.length) this.commit(next);
    return { stored: keep.length - droppedNew, pruned: removed.length - droppedNew, outsideRetention: outside + droppedNew };
  }

  async prune(retention: Retention, now: number = Date.now()): Promise<number> {
    this.life.check();
    const { next, removed } = pruned(this.list_, retention, now);
    this.prunedBelow = ageCutoff(retention, now);
    if (removed.length > 0) this.commit(next);
    return removed.length;
  }

  async all(): Promise<StoredEvent[]> {
    this.life.check();
    return this.list_.map(copy);
  }

  async events(): Promise<readonly StoredEvent[]> {
    this.life.check();
    return this.list_;
  }

  async snapshot(): Promise<HistorySnapshot> {
    this.life.check();
    return { events: this.list_, version: this.changes };
  }

  async list(query: { limit?: number; newestFirst?: boolean } = {}): Promise<StoredEvent[]> {
    this.life.check();
    const { limit = Infinity, newestFirst = true } = query;
    if (limit <= 0) return [];
    const ordered = newestFirst ? [...this.list_].reverse() : this.list_;
    return ordered.slice(0, Math.min(limit, ordered.length)).map(copy);
  }

  async export(now: number = Date.now()): Promise<HistoryExport> {
    return { format: 'scenerec-history', version: 1, exportedAt: now, events: await this.all() };
  }

  async forgetItem(itemId: string, writeId?: string): Promise<number> {
    this.life.check();
    return this.once(writeId, async () => {
      const next = this.list_.filter((e) => e.itemId !== itemId);
      const removed = this.list_.length - next.length;
      if (removed > 0) this.commit(next);
      return removed;
    });
  }

  async clear(writeId?: string): Promise<void> {
    this.life.check();
    return this.once(writeId, async () => {
      if (this.list_.length > 0) this.commit([]);
    });
  }

  close(): void {
    this.life.close();
  }
}

/** Retention applied exactly to an ordered list: age, then the oldest beyond maxEvents. */
function pruned(list: StoredEvent[], retention: Retention, now: number): { next: StoredEvent[]; removed: number[] } {
  const cutoff = ageCutoff(retention, now);
  const removed: number[] = [];
  let next = list.filter((e) => {
    if (e.timestamp >= cutoff) return true;
    removed.push(e.id);
    return false;
  });
  const excess = next.length - retention.maxEvents;
  if (excess > 0) {
    for (const e of next.slice(0, excess)) removed.push(e.id);
    next = next.slice(excess);
  }
  return { next: removed.length > 0 ? next : list, removed };
}

/** Meta records in memory, for one session. */
export class MemoryMeta implements MetaRecords {
  private readonly records = new Map<MetaKey, MetaRecord>();
  constructor(private readonly life: MemoryLifetime = new MemoryLifetime()) {}

  async get<K extends MetaKey>(key: K): Promise<MetaOf<K> | undefined> {
    this.life.check();
    return this.records.get(key) as MetaOf<K> | undefined;
  }

  async set(record: MetaRecord): Promise<void> {
    this.life.check();
    this.records.set(record.key, { ...record });
  }
}

/**
 * No catalog cache in memory: it only pays off across loads, and a session-long copy of the
 * matrix would double its memory.
 */
export class MemoryCatalogCache implements CatalogMatrixCache {
  constructor(private readonly life: MemoryLifetime = new MemoryLifetime()) {}
  async get(_key: string): Promise<CatalogCacheRecord | undefined> {
    this.life.check();
    return undefined;
  }
  async put(_record: CatalogCacheRecord): Promise<void> {
    this.life.check();
  }
}
