/**
 * Feedback on lists (impressions, dismissals): the `feedback` object store (schema v4 in db.ts),
 * one FeedbackRecord per item, apart from the history so that impressions never crowd out real
 * events and are never read by the model. Retention of its own: at most FEEDBACK_MAX_ITEMS records,
 * spent records (exposure decayed away, no dismissal in force) dropped first, then the least
 * recently touched. What the records do to ranking: src/ranking/feedback.ts.
 *
 * `records()` keeps the records in memory between calls; this store's writes update the copy, other
 * stores of the database (this realm: at once; other tabs: through a BroadcastChannel) drop it.
 */
import { FEEDBACK_MAX_ITEMS, WRITE_IDS_KEEP } from '../../contract/defaults.js';
import type { FeedbackEvent } from '../../contract/options.js';
import type { FeedbackRecord } from '../../contract/protocol.js';
import { applyFeedback, isSpent } from '../../ranking/feedback.js';
import { allRequests, readOnlyError, type StorageAccess, type StorageConnection, type TransactionPart } from './db.js';
import { MemoryLifetime } from './memory.js';
import { applyOnce, hasWritesStore, type Applied } from './writes.js';
import { ChangeChannel } from './changes.js';

/**
 * The write id of a track's feedback part, recorded in the `writes` store beside the history part's
 * (writes.ts): a replayed track applies its impressions and dismissals once.
 */
const feedbackWriteId = (writeId: string | undefined) => (writeId === undefined ? undefined : `${writeId}#feedback`);

/** What the engine needs of a feedback store (IndexedDB below, or memory). */
export interface FeedbackLog {
  /** Every record by item id (shared: do not change). */
  records(): Promise<ReadonlyMap<string, FeedbackRecord>>;
  /**
   * Applies impressions and dismissals (in order) in one transaction, then retention. `lastInteraction`:
   * an item's latest interaction (history and the same batch). A `writeId` applied before (the page's
   * replay after a lost worker, writes.ts) applies nothing again. Returns how many events were applied.
   */
  apply(events: readonly FeedbackEvent[], lastInteraction: (itemId: string) => number | undefined, now?: number, writeId?: string): Promise<number>;
  /** Drops spent records and those beyond FEEDBACK_MAX_ITEMS. Returns how many were dropped. */
  prune(now?: number): Promise<number>;
  /** Removes the item's record. Returns 1 when it had one. */
  forgetItem(itemId: string): Promise<number>;
  clear(): Promise<void>;
}

/** Which records retention drops from `all`: spent ones, then the least recently touched beyond `max`. */
export function feedbackToDrop(all: Iterable<FeedbackRecord>, now: number, max = FEEDBACK_MAX_ITEMS): string[] {
  const dropIds: string[] = [];
  const live: FeedbackRecord[] = [];
  for (const rec of all) {
    if (isSpent(rec, now)) dropIds.push(rec.itemId);
    else live.push(rec);
  }
  if (live.length > max) {
    live.sort((a, b) => a.touchedAt - b.touchedAt);
    for (const rec of live.slice(0, live.length - max)) dropIds.push(rec.itemId);
  }
  return dropIds;
}

const CHANNEL_PREFIX = 'scenerec-feedback:';

/** The feedback records of one database. Get one from `openStorage` (index.ts). */
export class FeedbackStore implements FeedbackLog {
  private cache: Map<string, FeedbackRecord> | null = null;
  /** Moves on every change seen and at the start of every write (a read it overlaps must not fill the cache). */
  private generation = 0;
  private readonly changeChannel: ChangeChannel;

  /** `access.readOnly` (over the quota at open): new feedback is refused as new history is; forget and clear still try. */
  constructor(private readonly conn: StorageConnection, private readonly access: StorageAccess = { readOnly: null }) {
    this.changeChannel = new ChangeChannel(CHANNEL_PREFIX + conn.name, () => this.invalidate());
    conn.onLost(() => this.invalidate());
    conn.onClose(() => {
      this.invalidate();
      this.changeChannel.close();
    });
  }

  private invalidate(): void {
    this.cache = null;
    this.generation++;
  }

  private announce(): void {
    this.changeChannel.announce();
  }

  /** Runs a write; afterwards the cache is `update`d when nothing else changed it meanwhile, else dropped. */
  private async written<T>(work: () => Promise<T>, update: (cache: Map<string, FeedbackRecord>, result: T) => void): Promise<T> {
    const gen = ++this.generation;
    const had = this.cache;
    this.cache = null;
    const result = await work();
    this.generation++;
    if (had && gen === this.generation - 1) {
      update(had, result);
      this.cache = had;
    }
    this.announce();
    return result;
  }

  async records(): Promise<ReadonlyMap<string, FeedbackRecord>> {
    if (this.cache) return this.cache;
    const gen = this.generation;
    const all = await this.conn.run(['feedback'], 'readonly', 'reading feedback', (tx) => tx.objectStore('feedback').getAll());
    const map = new Map(all.map((r) => [r.itemId, r]));
    if (this.changeChannel.hearsOthers && gen === this.generation && !this.conn.isClosed) this.cache = map;
    return map;
  }

  async apply(events: readonly FeedbackEvent[], lastInteraction: (itemId: string) => number | undefined, now = Date.now(), writeId?: string): Promise<number> {
    if (events.length === 0) return 0;
    const part = this.part(events, lastInteraction, now, writeId);
    const db = await this.conn.get();
    await part.around(() => this.conn.run(writeId !== undefined && hasWritesStore(db) ? [...part.stores, 'writes'] : part.stores, 'readwrite', 'storing feedback', part.run));
    return events.length;
  }

  /**
   * `apply` as a part of another store's write transaction (a track call's history write, history.ts):
   * `run` inside the transaction, `around` the whole write (this store's cache follows the commit).
   * @throws QuotaExceededError in read-only mode (before any transaction).
   */
  part(events: readonly FeedbackEvent[], lastInteraction: (itemId: string) => number | undefined, now = Date.now(), writeId?: string): TransactionPart {
    if (this.access.readOnly !== null) throw readOnlyError(this.access.readOnly);
    const ids = [...new Set(events.map((e) => e.itemId))];
    let applied: Applied<{ changed: FeedbackRecord[]; dropped: string[] }, number> | undefined;
    return {
      stores: ['feedback'],
      run: async (tx) => {
        applied = undefined; // set once this run's requests are done: a rolled-back run leaves it unset
        const r = await applyOnce(tx, feedbackWriteId(writeId), async () => {
          const store = tx.objectStore('feedback');
          const old = await allRequests(ids.map((id) => () => store.get(id)));
          const current = new Map<string, FeedbackRecord>();
          old.forEach((rec) => { if (rec) current.set(rec.itemId, rec); });
          const changed = applyFeedback(current, events, lastInteraction);
          await allRequests(changed.map((rec) => () => store.put(rec)));
          let dropped: string[] = [];
          if ((await store.count()) > FEEDBACK_MAX_ITEMS) {
            dropped = feedbackToDrop(await store.getAll(), now);
            await allRequests(dropped.map((id) => () => store.delete(id)));
          }
          return { changed, dropped };
        }, () => events.length);
        applied = r;
      },
      around: (work) => this.written(work, (cache) => {
        if (!applied || applied.replayed) return;
        for (const rec of applied.value.changed) cache.set(rec.itemId, rec);
        for (const id of applied.value.dropped) cache.delete(id);
      }),
    };
  }

  async prune(now = Date.now()): Promise<number> {
    if (this.access.readOnly !== null) return 0;
    const dropped = await this.written(() => this.conn.run(['feedback'], 'readwrite', 'pruning feedback', async (tx) => {
      const store = tx.objectStore('feedback');
      const drop = feedbackToDrop(await store.getAll(), now);
      await allRequests(drop.map((id) => () => store.delete(id)));
      return drop;
    }), (cache, drop) => { for (const id of drop) cache.delete(id); });
    return dropped.length;
  }

  async forgetItem(itemId: string): Promise<number> {
    return this.written(() => this.conn.run(['feedback'], 'readwrite', 'forgetting an item\'s feedback', async (tx) => {
      const store = tx.objectStore('feedback');
      const had = (await store.getKey(itemId)) !== undefined;
      if (had) await store.delete(itemId);
      return had ? 1 : 0;
    }), (cache) => { cache.delete(itemId); });
  }

  async clear(): Promise<void> {
    await this.written(() => this.conn.run(['feedback'], 'readwrite', 'clearing feedback', (tx) => tx.objectStore('feedback').clear()),
      (cache) => cache.clear());
  }
}

/** Feedback kept in memory for the session (storage without IndexedDB). */
export class MemoryFeedback implements FeedbackLog {
  private readonly map = new Map<string, FeedbackRecord>();
  /** Applied write ids (as MemoryHistory keeps them), the last WRITE_IDS_KEEP. */
  private readonly applied = new Set<string>();

  constructor(private readonly life: MemoryLifetime = new MemoryLifetime()) {}

  async records(): Promise<ReadonlyMap<string, FeedbackRecord>> {
    this.life.check();
    return this.map;
  }

  async apply(events: readonly FeedbackEvent[], lastInteraction: (itemId: string) => number | undefined, now = Date.now(), writeId?: string): Promise<number> {
    this.life.check();
    if (writeId !== undefined) {
      if (this.applied.has(writeId)) return events.length;
      this.applied.add(writeId);
      if (this.applied.size > WRITE_IDS_KEEP) this.applied.delete(this.applied.values().next().value as string);
    }
    for (const rec of applyFeedback(this.map, events, lastInteraction)) this.map.set(rec.itemId, rec);
    if (this.map.size > FEEDBACK_MAX_ITEMS) await this.prune(now);
    return events.length;
  }

  async prune(now = Date.now()): Promise<number> {
    this.life.check();
    const drop = feedbackToDrop(this.map.values(), now);
    for (const id of drop) this.map.delete(id);
    return drop.length;
  }

  async forgetItem(itemId: string): Promise<number> {
    this.life.check();
    return this.map.delete(itemId) ? 1 : 0;
  }

  async clear(): Promise<void> {
    this.life.check();
    this.map.clear();
  }
}
