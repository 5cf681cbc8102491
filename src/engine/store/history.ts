/**
 * The shopper's history: the `events` object store (schema in db.ts). Events never leave the device.
 *
 * Every write is one transaction: a batch is stored whole or not at all, and retention
 * (maxEvents, maxAgeDays; batched, see retention.ts) runs inside the same transaction.
 *
 * `EventHistory` is the interface both history stores implement: this one (IndexedDB) and the
 * in-memory one of a session without IndexedDB (memory.ts). In read-only mode (the quota was
 * exceeded when storage opened, index.ts) `add` rejects with QuotaExceededError and stores nothing;
 * reads and deletions (forgetItem, clear, prune) still go to IndexedDB.
 *
 * `events()` (the recommend path) keeps the history in memory between calls instead of reading
 * IndexedDB each time. It stays correct when others write the same database: this store's own
 * writes update or drop it; every store of the same database in this realm is told synchronously
 * after a commit; other tabs and workers are told through a BroadcastChannel named after the
 * database (their message arrives a few milliseconds after their commit; a call in that window sees
 * the history as it was just before). Without BroadcastChannel there is no cache.
 *
 * The change counter, `version` (and `snapshot()`, which returns the events with the version they
 * belong to): a number of this store that moves on exactly when the stored events change, so a
 * caller can key what it derives from the history on it instead of on the array's identity:
 *   - this store's committed writes that store or remove events: add (with its retention), prune,
 *     forgetItem, clear; a write that changes nothing (a prune or forgetItem with nothing to drop, a
 *     clear of an empty history) and a failed write (rolled back whole) leave it as it was;
 *   - other stores' such writes on the same database: in this realm at once, from other tabs and
 *     workers when their BroadcastChannel message arrives;
 *   - the connection being dropped (another tab upgraded or deleted the database: it may differ).
 * Reads (events, snapshot, all, list, export) never move it, with one exception: without
 * BroadcastChannel other tabs' writes cannot be seen, so every `snapshot()`/`events()` reads IndexedDB
 * and carries a new version. Compare versions for equality
 * only, and only those of one store.
 */
import type { IDBPObjectStore, StoreNames } from 'idb';
import type { HistoryExport, StoredEvent } from '../../contract/protocol.js';
import type { NewEvent } from '../../contract/options.js';
import {
  allRequests, inTransaction, readOnlyError, StorageConnection, type ScenerecDB, type ScenerecStoreName, type StorageAccess, type TransactionPart,
} from './db.js';
import { AGE_PRUNE_INTERVAL_MS, ageCutoff, overCountLimit, planBatch, type Retention } from './retention.js';
import { applyOnce, hasWritesStore } from './writes.js';
import { ChangeChannel } from './changes.js';

export type { Retention } from './retention.js';

/** The events (oldest first; shared, do not change them) and the `version` they are at. */
export interface HistorySnapshot {
  readonly events: readonly StoredEvent[];
  readonly version: number;
}

/** What `add` did with a batch. */
export interface AddResult {
  /** Events of the batch that are stored after the call. */
  stored: number;
  /** Events stored before the call that retention dropped during it. */
  pruned: number;
  /** Events of the batch that retention did not keep (older than maxAgeDays, or beyond maxEvents). */
  outsideRetention: number;
}

/**
 * A shopper's history, as the engine uses it: the IndexedDB store (HistoryStore) and the in-memory
 * store of a session without IndexedDB (MemoryHistory, memory.ts) implement it alike.
 */
export interface EventHistory {
  /** The database name. */
  readonly name: string;
  /** The change counter: moves on exactly when the stored events change (see HistoryStore). */
  readonly version: number;
  /**
   * Adds validated events (all or nothing) and applies retention (retention.ts). A `writeId` that
   * was applied before writes nothing and answers as the first time (writes.ts); so do the other writes.
   */
  add(events: NewEvent[], retention: Retention, now?: number, writeId?: string): Promise<AddResult>;
  /** Applies retention exactly (age, then down to maxEvents). Returns how many events were dropped. */
  prune(retention: Retention, now?: number): Promise<number>;
  /** Every event, oldest first (by timestamp, then insertion order). */
  all(): Promise<StoredEvent[]>;
  /** As `all()`, possibly a shared in-memory copy: do not change it. */
  events(): Promise<readonly StoredEvent[]>;
  /** `events()` with the version it is at. */
  snapshot(): Promise<HistorySnapshot>;
  /** Events by timestamp, newest first unless `newestFirst: false`, at most `limit`. */
  list(query?: { limit?: number; newestFirst?: boolean }): Promise<StoredEvent[]>;
  /** The whole history as a portable document (oldest first). */
  export(now?: number): Promise<HistoryExport>;
  /** Removes every event about `itemId`. Returns how many were removed. */
  forgetItem(itemId: string, writeId?: string): Promise<number>;
  /** Removes every event. */
  clear(writeId?: string): Promise<void>;
  /** Why the connection was dropped last (for diagnostics), or null. */
  readonly connectionLostReason: string | null;
  /** Ends the store; later calls fail with StorageError. */
  close(): void;
}

const CHANGE_CHANNEL_PREFIX = 'scenerec-history:';

/** The history of one shopper in one database. Get one from `openStorage` (index.ts). */
export class HistoryStore implements EventHistory {
  /**
   * `events()` cache (oldest first), or null. `generation` moves on every change seen and at the
   * start of every write (a read it overlaps must not fill the cache); `changes` is the public
   * `version`, moved only when the stored events changed.
   */
  private cache: StoredEvent[] | null = null;
  private generation = 0;
  private changes = 0;
  private readonly changeChannel: ChangeChannel;
  /**
   * Events stored, as of the last of this store's write transactions to run, or null (unknown: the
   * next write counts). Set inside the transactions, after their first request: readwrite
   * transactions on `events` run one at a time in creation order, so these updates happen in the
   * order the writes apply, however many calls are in flight. Saves the batched retention a count()
   * per write. A failed write, or another store's write, makes it unknown.
   */
  private liveCount: number | null = null;
  /** Every event older than this was pruned (by this store; -Infinity: not known). */
  private prunedBelow = -Infinity;
  /**
   * A history store on `conn` (shared with the other stores); `close()` of the connection ends it.
   * `access.readOnly` set: `add` rejects (the quota was exceeded when storage opened).
   */
  constructor(private readonly conn: StorageConnection, private readonly access: StorageAccess = { readOnly: null }) {
    this.changeChannel = new ChangeChannel(CHANGE_CHANNEL_PREFIX + conn.name, () => this.invalidate());
    conn.onLost(() => this.invalidate());
    conn.onClose(() => this.detach());
  }

  /** The database name. */
  get name(): string {
    return this.conn.name;
  }

  /**
   * The change counter: moves on exactly when the stored events change (see the file comment), never
   * on a read (but for the no-BroadcastChannel case). Starts at 0.
   */
  get version(): number {
    return this.changes;
  }

  /** Drops the `events()` cache and moves the version on (someone else changed the history, or may have). */
  private invalidate(): void {
    this.cache = null;
    this.generation++;
    this.changes++;
    this.liveCount = null;
    this.prunedBelow = -Infinity;
  }

  /** After a committed write: other stores of this database, here and in other realms, drop their cache. */
  private announce(): void {
    this.changeChannel.announce();
  }

  /**
   * Runs a write. If it committed a change (`changed(result)`), the version moves on, the cache is
   * brought up to date by `update` (else dropped) and the others are told. If it changed nothing, the
   * cache stays as it was. If it failed (rolled back whole), the cache is dropped (read again next
   * time) and the version stays.
   */
  private async written<T>(work: () => Promise<T>, changed: (result: T) => boolean, update?: (cache: StoredEvent[], result: T) => StoredEvent[]): Promise<T> {
    const gen = ++this.generation;
    const had = this.cache;
    this.cache = null;
    let result: T;
    try {
      result = await work();
    } catch (e) {
      this.liveCount = null; // rolled back: the count set inside may be wrong
      throw e;
    }
    this.generation++;
    // Keep or update the cache only if nothing else changed the history meanwhile (another write, another store's announcement).
    const unchangedMeanwhile = had !== null && gen === this.generation - 1;
    if (!changed(result)) {
      if (unchangedMeanwhile) this.cache = had;
      return result;
    }
    this.changes++;
    if (update && unchangedMeanwhile) this.cache = update(had, result);
    this.announce();
    return result;
  }

  /**
   * Adds validated events in one transaction and applies retention (retention.ts): events of the
   * batch retention would drop at once are not written (`outsideRetention`); pruning by count runs
   * once the store is past maxEvents + slack. Either every kept event is stored or none is (the
   * earlier history is untouched on failure). With a `writeId` already applied (writes.ts), nothing
   * is written and the first answer comes back. `alongside`: another store's write (a track call's
   * impressions and dismissals, ScenerecStorage.track) committed in this same transaction, so neither
   * is stored without the other; with no event to keep it runs in a transaction of its own.
   * @throws QuotaExceededError in read-only mode (nothing is written).
   */
  async add(events: NewEvent[], retention: Retention, now: number = Date.now(), writeId?: string, alongside?: TransactionPart): Promise<AddResult> {
    if (this.access.readOnly !== null) throw readOnlyError(this.access.readOnly);
    const { keep, outside } = planBatch(events, retention, now);
    if (keep.length === 0) {
      if (alongside) {
        const alone = await this.conn.get();
        await alongside.around(() => inTransaction(alone, withWrites(alone, [...alongside.stores]), 'readwrite', 'storing feedback', alongside.run));
      }
      return events.length === 0 ? { stored: 0, pruned: await this.prune(retention, now), outsideRetention: 0 } : { stored: 0, pruned: 0, outsideRetention: outside };
    }
    const db = await this.conn.get();
    const cutoff = ageCutoff(retention, now);
    const answer = ({ keys, pruned }: { keys: number[]; pruned: number[] }): AddResult => {
      const added = new Set(keys);
      const droppedNew = pruned.filter((k) => added.has(k)).length;
      return { stored: keep.length - droppedNew, pruned: pruned.length - droppedNew, outsideRetention: outside + droppedNew };
    };
    const stores: ScenerecStoreName[] = ['events', ...(alongside?.stores ?? [])];
    const work = () => inTransaction(db, withWrites(db, stores), 'readwrite', 'storing events', async (tx) => {
      await alongside?.run(tx);
      return applyOnce(tx, writeId, async () => {
        const store = tx.objectStore('events');
        const keys = await allRequests(keep.map((ev) => () => store.add({ ...ev } as StoredEvent)));
        // Running now: the count and the age mark are those of the writes applied before this one.
        let count = this.liveCount === null ? await store.count() : this.liveCount + keys.length;
        let pruned: number[] = [];
        if (cutoff - this.prunedBelow >= AGE_PRUNE_INTERVAL_MS || overCountLimit(count, retention)) {
          pruned = await pruneIn(store, retention, now, count);
          count -= pruned.length;
          this.prunedBelow = cutoff;
        }
        this.liveCount = count;
        return { keys, pruned };
      }, answer);
    });
    const done = await this.written(() => (alongside ? alongside.around(work) : work()), (applied) => {
      if (applied.replayed) return false;
      // Changed unless every event added was dropped again by retention and nothing else was.
      const { keys, pruned } = applied.value;
      const added = new Set(keys);
      return pruned.length !== keys.length || !pruned.every((k) => added.has(k));
    }, (cache, applied) => applied.replayed ? cache
      : withChanges(cache, keep.map((ev, i) => ({ ...ev, id: applied.value.keys[i] } as StoredEvent)), applied.value.pruned));
    return done.result;
  }

  /** Applies retention exactly (age, then down to maxEvents) without adding anything. Returns how many events were dropped. */
  async prune(retention: Retention, now: number = Date.now()): Promise<number> {
    const db = await this.conn.get();
    const pruned = await this.written(() => inTransaction(db, ['events'], 'readwrite', 'pruning history', async (tx) => {
      const store = tx.objectStore('events');
      const keys = await pruneIn(store, retention, now);
      this.liveCount = null; // rare (load, tests): the next write counts once
      this.prunedBelow = ageCutoff(retention, now);
      return keys;
    }), (keys) => keys.length > 0, (cache, keys) => withChanges(cache, [], keys));
    return pruned.length;
  }

  /** Every event, oldest first (by timestamp, then insertion order), read from IndexedDB. */
  async all(): Promise<StoredEvent[]> {
    const db = await this.conn.get();
    return inTransaction(db, ['events'], 'readonly', 'reading history', (tx) => tx.objectStore('events').index('timestamp').getAll());
  }

  /**
   * Every event, oldest first, as `all()`, kept in memory between calls while nobody writes (see the
   * file comment). The array is shared: do not change it.
   */
  async events(): Promise<readonly StoredEvent[]> {
    return (await this.snapshot()).events;
  }

  /**
   * `events()` with the version it is at: key anything derived from the history on `version`. The
   * version is taken before an IndexedDB read, so it is never newer than the events (a write that
   * lands during the read at worst makes the next snapshot's version differ with equal events).
   */
  async snapshot(): Promise<HistorySnapshot> {
    if (this.cache) return { events: this.cache, version: this.changes };
    if (!this.changeChannel.hearsOthers) this.changes++; // no news of other tabs' writes: each read may differ
    const gen = this.generation;
    const version = this.changes;
    const events = await this.all();
    if (this.changeChannel.hearsOthers && gen === this.generation && !this.conn.isClosed) this.cache = events;
    return { events, version };
  }

  /** Events by timestamp, newest first unless `newestFirst: false`, at most `limit`. */
  async list(query: { limit?: number; newestFirst?: boolean } = {}): Promise<StoredEvent[]> {
    const { limit = Infinity, newestFirst = true } = query;
    const db = await this.conn.get();
    return inTransaction(db, ['events'], 'readonly', 'reading history', async (tx) => {
      const out: StoredEvent[] = [];
      if (limit <= 0) return out;
      let cursor = await tx.objectStore('events').index('timestamp').openCursor(null, newestFirst ? 'prev' : 'next');
      while (cursor && out.length < limit) {
        out.push(cursor.value);
        cursor = await cursor.continue();
      }
      return out;
    });
  }

  /** The whole history as a portable document (oldest first). */
  async export(now: number = Date.now()): Promise<HistoryExport> {
    return { format: 'scenerec-history', version: 1, exportedAt: now, events: await this.all() };
  }

  /** Removes every event about `itemId`. Returns how many were removed (the first answer, for an applied `writeId`). */
  async forgetItem(itemId: string, writeId?: string): Promise<number> {
    const db = await this.conn.get();
    const done = await this.written(() => inTransaction(db, withWrites(db, ['events']), 'readwrite', 'forgetting an item', (tx) => applyOnce(tx, writeId, async () => {
      const store = tx.objectStore('events');
      const keys = await store.index('itemId').getAllKeys(itemId);
      if (this.liveCount !== null) this.liveCount -= keys.length;
      await allRequests(keys.map((k) => () => store.delete(k)));
      return keys.length;
    }, (removed) => removed)), (applied) => !applied.replayed && applied.value > 0, (cache) => cache.filter((e) => e.itemId !== itemId));
    return done.result;
  }

  /** Removes every event (nothing again for an applied `writeId`). */
  async clear(writeId?: string): Promise<void> {
    const db = await this.conn.get();
    await this.written(() => inTransaction(db, withWrites(db, ['events']), 'readwrite', 'clearing history', (tx) => applyOnce(tx, writeId, async () => {
      const store = tx.objectStore('events');
      const had = await store.count();
      this.liveCount = 0;
      await store.clear();
      return had;
    }, () => null)), (applied) => !applied.replayed && applied.value > 0, () => []);
  }

  /** Why the connection was dropped last (for diagnostics), or null. */
  get connectionLostReason(): string | null {
    return this.conn.connectionLostReason;
  }

  /**
   * Closes the connection this store shares with the meta and catalog-cache stores (as
   * `storage.close()`). Later calls fail with StorageError.
   */
  close(): void {
    this.conn.close();
  }

  /** On the connection's close: no more cache, channel or announcements. */
  private detach(): void {
    this.cache = null;
    this.generation++;
    this.changeChannel.close();
  }
}

/** The cache after a write: `added` (with their keys) in (timestamp, key) order, `removed` keys dropped. */
export function withChanges(cache: readonly StoredEvent[], added: StoredEvent[], removed: number[]): StoredEvent[] {
  const gone = new Set(removed);
  const out = gone.size > 0 ? cache.filter((e) => !gone.has(e.id)) : [...cache];
  for (const ev of added) {
    if (gone.has(ev.id)) continue;
    // After the last event with timestamp <= ev's (new keys are the largest): the index order.
    let i = out.length;
    while (i > 0 && out[i - 1].timestamp > ev.timestamp) i--;
    out.splice(i, 0, ev);
  }
  return out;
}

/** `stores` plus `writes` when the database has it (a schema older than version 3 has not). */
function withWrites(db: { objectStoreNames: DOMStringList }, stores: ScenerecStoreName[]): ScenerecStoreName[] {
  return hasWritesStore(db) ? [...stores, 'writes'] : stores;
}

type EventsStore = IDBPObjectStore<ScenerecDB, StoreNames<ScenerecDB>[], 'events', 'readwrite'>;

/**
 * Retention inside an open readwrite transaction: drop events older than maxAgeDays, then the oldest
 * beyond maxEvents. `count` (events in the store now) saves a count() when known. A few requests
 * per prune, not two per event: the keys come in one getAllKeys, and a run of consecutive keys (the
 * usual case: the oldest events were stored first) goes in one range delete. Returns the keys dropped.
 */
async function pruneIn(store: EventsStore, retention: Retention, now: number, count?: number): Promise<number[]> {
  const index = store.index('timestamp');
  const aged = await index.getAllKeys(IDBKeyRange.upperBound(ageCutoff(retention, now), true));
  await deleteKeys(store, aged);
  const excess = (count === undefined ? await store.count() : count - aged.length) - retention.maxEvents;
  const over = excess > 0 ? await index.getAllKeys(null, excess) : [];
  await deleteKeys(store, over);
  return aged.length === 0 ? over : [...aged, ...over];
}

/** Deletes these primary keys: one range delete when they are consecutive integers (then the range holds exactly them). */
async function deleteKeys(store: EventsStore, keys: number[]): Promise<void> {
  if (keys.length === 0) return;
  let lo = Infinity;
  let hi = -Infinity;
  for (const k of keys) {
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  if (hi - lo + 1 === keys.length) {
    await store.delete(IDBKeyRange.bound(lo, hi));
    return;
  }
  await allRequests(keys.map((k) => () => store.delete(k)));
}
