/**
 * The shopper's history in IndexedDB (via `idb`). Events never leave the device.
 *
 * Schema (version 2):
 *   events        autoIncrement key `id`, indexes `itemId` and `timestamp`
 *   meta          keyPath `key`: { key: 'schema', ... }, { key: 'model', ... }, { key: 'backend', ... }
 *   catalogCache  keyPath `key` (v2): derived catalog matrices (int8 rows + scales), keyed by model
 *                 version + catalog hash + format; no shopper data. The newest CATALOG_CACHE_KEEP stay.
 * Migrations are `if (oldVersion < N)` steps in `upgrade`, so any old version steps up in order.
 *
 * Every write is one transaction: a batch is stored whole or not at all, and retention
 * (maxEvents, maxAgeDays) runs inside the same transaction.
 *
 * `events()` (the recommend path) keeps the history in memory between calls instead of reading
 * IndexedDB each time. It stays correct when others write the same database: this store's own
 * writes update or drop it; every store of the same database in this realm is told synchronously
 * after a commit; other tabs and workers are told through a BroadcastChannel named after the
 * database (their message arrives a few milliseconds after their commit; a call in that window sees
 * the history as it was just before). Without BroadcastChannel there is no cache.
 */
import { openDB, type DBSchema, type IDBPDatabase, type IDBPObjectStore, type IDBPTransaction, type StoreNames } from 'idb';
import { DB_BLOCKED_TIMEOUT_MS } from '../../contract/defaults.js';
import {
  QuotaExceededError, ScenerecError, StorageBlockedError, StorageError,
} from '../../contract/errors.js';
import type { BackendName, BackendProbe, HistoryExport, HistoryQuery, StoredEvent } from '../../contract/protocol.js';
import type { NewEvent } from '../../contract/options.js';

/** Current schema version. Bump it and add an `if (oldVersion < N)` step to migrate. */
export const DB_VERSION = 2;

/** How many cached catalog matrices are kept (newest first). */
export const CATALOG_CACHE_KEEP = 2;

/** A derived catalog matrix, cached so a reload skips computing it. */
export interface CatalogCacheRecord {
  /** modelVersion | catalog hash | storage format. */
  key: string;
  rows: number;
  dim: number;
  data: Int8Array;
  scales: Float32Array;
  createdAt: number;
}

export interface SchemaMeta { key: 'schema'; version: number; createdAt: number; upgradedAt: number }
export interface ModelMeta { key: 'model'; modelVersion: string; modelUrl: string; loadedAt: number }
/** The last 'auto' backend probe on this browser (src/backend.ts), reused for PROBE_CACHE_MS. */
export interface BackendMeta {
  key: 'backend';
  /** Browser identity the decision holds for (user agent, cores). */
  env: string;
  backend: BackendName;
  reason: string;
  probe: BackendProbe[];
  at: number;
}
export type MetaRecord = SchemaMeta | ModelMeta | BackendMeta;

export interface ScenerecDB extends DBSchema {
  events: {
    key: number;
    value: StoredEvent;
    indexes: { itemId: string; timestamp: number };
  };
  meta: {
    key: string;
    value: MetaRecord;
  };
  catalogCache: {
    key: string;
    value: CatalogCacheRecord;
  };
}

export interface Retention { maxEvents: number; maxAgeDays: number }

export interface OpenStoreOptions {
  /** How long a blocked upgrade waits for other tabs before failing with StorageBlockedError. */
  blockedTimeoutMs?: number;
  /** Schema version to open. Tests only (simulates a newer SDK); defaults to DB_VERSION. */
  schemaVersion?: number;
}

const DAY_MS = 86_400_000;

type UpgradeTx = IDBPTransaction<ScenerecDB, StoreNames<ScenerecDB>[], 'versionchange'>;

/** Schema migrations. Runs inside the versionchange transaction; no awaits on other work here. */
function upgradeSchema(db: IDBPDatabase<ScenerecDB>, oldVersion: number, newVersion: number, tx: UpgradeTx): void {
  tx.done.catch(() => undefined); // an aborted upgrade is reported through the open request
  if (oldVersion < 1) {
    createEventsStore(db);
    db.createObjectStore('meta', { keyPath: 'key' });
  }
  if (oldVersion < 2) db.createObjectStore('catalogCache', { keyPath: 'key' });
  // Future steps go here: if (oldVersion < 3) { ... }

  // Repair: a database of this name created by other code lacks our stores.
  if (!db.objectStoreNames.contains('events')) createEventsStore(db);
  if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta', { keyPath: 'key' });
  if (newVersion >= 2 && !db.objectStoreNames.contains('catalogCache')) db.createObjectStore('catalogCache', { keyPath: 'key' });

  const now = Date.now();
  const meta = tx.objectStore('meta');
  // Chained on the request inside the upgrade transaction: the open resolves only after it commits.
  void meta.get('schema').then((old) => meta.put({
    key: 'schema',
    version: newVersion,
    createdAt: old && old.key === 'schema' ? old.createdAt : now,
    upgradedAt: now,
  })).catch(() => undefined);
}

function createEventsStore(db: IDBPDatabase<ScenerecDB>): void {
  const events = db.createObjectStore('events', { keyPath: 'id', autoIncrement: true });
  events.createIndex('itemId', 'itemId');
  events.createIndex('timestamp', 'timestamp');
}

/** Issues requests and waits for all; every request promise is handled, even if a later issue throws. */
function allRequests<T>(issue: Array<() => Promise<T>>): Promise<T[]> {
  const pending: Promise<T>[] = [];
  for (const f of issue) {
    const p = f();
    p.catch(() => undefined);
    pending.push(p);
  }
  return Promise.all(pending);
}

/** Maps an IndexedDB failure to the SDK's typed errors. */
export function mapStorageError(err: unknown, action: string, dbName?: string): ScenerecError {
  if (err instanceof ScenerecError) return err;
  const e = err as { name?: string; message?: string } | undefined;
  const name = e?.name ?? 'Error';
  const detail = { action, cause: `${name}: ${e?.message ?? String(err)}` };
  if (name === 'QuotaExceededError') {
    return new QuotaExceededError(
      `The browser refused to store more history while ${action} (storage quota exceeded). ` +
      'History written before is intact; free up site storage or lower retention.maxEvents.', detail);
  }
  if (name === 'VersionError') {
    return new StorageError(
      `The history database${dbName ? ` "${dbName}"` : ''} was upgraded by a newer version of scenerec (in another tab?). ` +
      'Reload this page to use the newer version.', detail);
  }
  return new StorageError(`IndexedDB failed while ${action}: ${detail.cause}`, detail);
}

async function openDatabase(
  name: string,
  version: number,
  blockedTimeoutMs: number,
  onBlocking: () => void,
  onTerminated: () => void,
): Promise<IDBPDatabase<ScenerecDB>> {
  if (typeof indexedDB === 'undefined') {
    throw new StorageError('IndexedDB is not available here; scenerec needs it to keep the shopper history (it is missing in some private-browsing modes and in Node without fake-indexeddb).');
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failBlocked!: (e: Error) => void;
  const blockedP = new Promise<never>((_, reject) => { failBlocked = reject; });
  let openP: Promise<IDBPDatabase<ScenerecDB>>;
  try {
    openP = openDB<ScenerecDB>(name, version, {
      upgrade: (db, oldVersion, newVersion, tx) => upgradeSchema(db, oldVersion, newVersion ?? version, tx),
      blocked: (currentVersion) => {
        if (timer !== undefined) return;
        timer = setTimeout(() => failBlocked(new StorageBlockedError(
          `Another tab keeps an older version (${currentVersion}) of the history database "${name}" open, which blocks the upgrade to version ${version}. ` +
          'Close or reload the other tabs of this shop and try again.', { dbName: name, currentVersion, version })), blockedTimeoutMs);
      },
      blocking: onBlocking,
      terminated: onTerminated,
    });
  } catch (e) {
    throw mapStorageError(e, 'opening the history database', name);
  }
  try {
    return await Promise.race([openP, blockedP]);
  } catch (e) {
    // If the open completes after we gave up, close that connection so it blocks nobody.
    openP.then((db) => db.close(), () => undefined);
    throw mapStorageError(e, 'opening the history database', name);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Runs `body` in one transaction and waits for the commit; maps failures; never leaves a rejection unhandled. */
async function inTransaction<T, Mode extends IDBTransactionMode>(
  db: IDBPDatabase<ScenerecDB>,
  stores: StoreNames<ScenerecDB>[],
  mode: Mode,
  action: string,
  body: (tx: IDBPTransaction<ScenerecDB, StoreNames<ScenerecDB>[], Mode>) => Promise<T>,
): Promise<T> {
  let tx: IDBPTransaction<ScenerecDB, StoreNames<ScenerecDB>[], Mode>;
  try {
    tx = db.transaction(stores, mode);
  } catch (e) {
    throw mapStorageError(e, action, db.name);
  }
  const done = tx.done;
  done.catch(() => undefined);
  try {
    const result = await body(tx);
    await done;
    return result;
  } catch (e) {
    try { tx.abort(); } catch { /* already finished or aborted */ }
    // An aborted transaction's own error (e.g. QuotaExceededError at commit) is more telling.
    throw mapStorageError(tx.error ?? e, action, db.name);
  }
}

/** Open stores per database name in this realm (they tell each other about their writes). */
const openStores = new Map<string, Set<HistoryStore>>();
const CHANGE_CHANNEL_PREFIX = 'scenerec-history:';

/** The history of one shopper in one database. Create with `HistoryStore.open`. */
export class HistoryStore {
  private db: IDBPDatabase<ScenerecDB> | null;
  private closed = false;
  private lostReason: string | null = null;
  /** `events()` cache (oldest first), or null; `generation` moves on every change seen. */
  private cache: StoredEvent[] | null = null;
  private generation = 0;
  private channel: BroadcastChannel | null = null;

  private constructor(
    readonly name: string,
    private readonly version: number,
    private readonly blockedTimeoutMs: number,
  ) {
    this.db = null;
  }

  /**
   * Opens (creating or migrating) the database.
   * @throws StorageBlockedError when another tab's connection blocks the upgrade for longer than the timeout.
   * @throws StorageError when IndexedDB is missing or fails.
   */
  static async open(name: string, options: OpenStoreOptions = {}): Promise<HistoryStore> {
    const store = new HistoryStore(name, options.schemaVersion ?? DB_VERSION, options.blockedTimeoutMs ?? DB_BLOCKED_TIMEOUT_MS);
    store.db = await store.connect();
    if (typeof BroadcastChannel !== 'undefined') {
      try {
        const ch = new BroadcastChannel(CHANGE_CHANNEL_PREFIX + name);
        ch.onmessage = () => store.invalidate();
        (ch as { unref?: () => void }).unref?.(); // Node: do not keep the process alive
        store.channel = ch;
      } catch { /* no channel: no cache */ }
    }
    let set = openStores.get(name);
    if (!set) openStores.set(name, (set = new Set()));
    set.add(store);
    return store;
  }

  /** Drops the `events()` cache (someone changed the history). */
  private invalidate(): void {
    this.cache = null;
    this.generation++;
  }

  /** After a committed write: other stores of this database, here and in other realms, drop their cache. */
  private announce(): void {
    for (const other of openStores.get(this.name) ?? []) if (other !== this) other.invalidate();
    try { this.channel?.postMessage('changed'); } catch { /* closed */ }
  }

  /** Runs a write; the cache is dropped unless `update` (given the write's result) brings it up to date. */
  private async written<T>(work: () => Promise<T>, update?: (cache: StoredEvent[], result: T) => StoredEvent[]): Promise<T> {
    const gen = ++this.generation;
    const had = this.cache;
    this.cache = null;
    try {
      const result = await work();
      this.generation++;
      // Only if nothing else changed the history meanwhile (another write, another store's announcement).
      if (update && had && gen === this.generation - 1) this.cache = update(had, result);
      return result;
    } finally {
      this.announce();
    }
  }

  private connect(): Promise<IDBPDatabase<ScenerecDB>> {
    return openDatabase(this.name, this.version, this.blockedTimeoutMs,
      () => {
        // Another tab wants to upgrade or delete the database: let it, and reconnect on next use.
        this.db?.close();
        this.db = null;
        this.lostReason = 'another tab upgraded or deleted it';
        this.invalidate();
      },
      () => {
        this.db = null;
        this.lostReason = 'the browser closed it';
        this.invalidate();
      });
  }

  private async conn(): Promise<IDBPDatabase<ScenerecDB>> {
    if (this.closed) throw new StorageError('The history store is closed.');
    if (!this.db) {
      try {
        this.db = await this.connect();
      } catch (e) {
        const versionError = e instanceof StorageError && (e.details as { cause?: string } | undefined)?.cause?.startsWith('VersionError');
        if (versionError && this.lostReason) {
          // We let another tab upgrade (see `blocking`); this tab's code is now the old version.
          throw new StorageBlockedError(
            `Another tab upgraded the history database "${this.name}" to a newer version of scenerec. Reload this page to keep using it.`,
            { dbName: this.name });
        }
        throw e;
      }
    }
    return this.db;
  }

  /**
   * Adds validated events in one transaction and applies retention.
   * Either every event is stored or none is (the earlier history is untouched on failure).
   */
  async add(events: NewEvent[], retention: Retention, now: number = Date.now()): Promise<{ stored: number; pruned: number }> {
    if (events.length === 0) return { stored: 0, pruned: await this.prune(retention, now) };
    const db = await this.conn();
    const done = await this.written(() => inTransaction(db, ['events'], 'readwrite', 'storing events', async (tx) => {
      const store = tx.objectStore('events');
      const keys = await allRequests(events.map((ev) => () => store.add({ ...ev } as StoredEvent)));
      const pruned = await pruneIn(store, retention, now);
      return { keys, pruned };
    }), (cache, { keys, pruned }) => withChanges(cache, events.map((ev, i) => ({ ...ev, id: keys[i] } as StoredEvent)), pruned));
    return { stored: events.length, pruned: done.pruned.length };
  }

  /** Applies retention without adding anything. Returns how many events were dropped. */
  async prune(retention: Retention, now: number = Date.now()): Promise<number> {
    const db = await this.conn();
    const keys = await this.written(() => inTransaction(db, ['events'], 'readwrite', 'pruning history', (tx) => pruneIn(tx.objectStore('events'), retention, now)),
      (cache, pruned) => withChanges(cache, [], pruned));
    return keys.length;
  }

  /** Every event, oldest first (by timestamp, then insertion order). */
  async all(): Promise<StoredEvent[]> {
    const db = await this.conn();
    return inTransaction(db, ['events'], 'readonly', 'reading history', (tx) => tx.objectStore('events').index('timestamp').getAll());
  }

  /**
   * Every event, oldest first, as `all()`, kept in memory between calls while nobody writes (see the
   * file comment). The array is shared: do not change it.
   */
  async events(): Promise<readonly StoredEvent[]> {
    if (this.cache) return this.cache;
    const gen = this.generation;
    const events = await this.all();
    if (this.channel && gen === this.generation && !this.closed) this.cache = events;
    return events;
  }

  /** Events by timestamp, newest first unless `newestFirst: false`, at most `limit`. */
  async list(query: { limit?: number; newestFirst?: boolean } = {}): Promise<StoredEvent[]> {
    const { limit = Infinity, newestFirst = true } = query;
    const db = await this.conn();
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

  /** Removes every event about `itemId`. Returns how many were removed. */
  async forgetItem(itemId: string): Promise<number> {
    const db = await this.conn();
    return this.written(() => inTransaction(db, ['events'], 'readwrite', 'forgetting an item', async (tx) => {
      const store = tx.objectStore('events');
      const keys = await store.index('itemId').getAllKeys(itemId);
      await allRequests(keys.map((k) => () => store.delete(k)));
      return keys.length;
    }), (cache) => cache.filter((e) => e.itemId !== itemId));
  }

  /** Removes every event. */
  async clear(): Promise<void> {
    const db = await this.conn();
    await this.written(() => inTransaction(db, ['events'], 'readwrite', 'clearing history', (tx) => tx.objectStore('events').clear()), () => []);
  }

  async getMeta<K extends MetaRecord['key']>(key: K): Promise<Extract<MetaRecord, { key: K }> | undefined> {
    const db = await this.conn();
    const rec = await inTransaction(db, ['meta'], 'readonly', 'reading metadata', (tx) => tx.objectStore('meta').get(key));
    return rec as Extract<MetaRecord, { key: K }> | undefined;
  }

  async setMeta(record: MetaRecord): Promise<void> {
    const db = await this.conn();
    await inTransaction(db, ['meta'], 'readwrite', 'writing metadata', (tx) => tx.objectStore('meta').put(record));
  }

  /** A cached catalog matrix, or undefined. */
  async getCatalogMatrix(key: string): Promise<CatalogCacheRecord | undefined> {
    const db = await this.conn();
    if (!db.objectStoreNames.contains('catalogCache')) return undefined;
    return inTransaction(db, ['catalogCache'], 'readonly', 'reading the catalog cache', (tx) => tx.objectStore('catalogCache').get(key));
  }

  /** Caches a catalog matrix (copies of the arrays are stored) and drops all but the newest CATALOG_CACHE_KEEP. */
  async putCatalogMatrix(record: CatalogCacheRecord): Promise<void> {
    const db = await this.conn();
    if (!db.objectStoreNames.contains('catalogCache')) return;
    await inTransaction(db, ['catalogCache'], 'readwrite', 'writing the catalog cache', async (tx) => {
      const store = tx.objectStore('catalogCache');
      // slice(): a view into a larger buffer would otherwise store the whole buffer.
      await store.put({ ...record, data: record.data.slice(), scales: record.scales.slice() });
      const all: Array<{ key: string; createdAt: number }> = [];
      let cursor = await store.openCursor();
      while (cursor) {
        all.push({ key: cursor.value.key, createdAt: cursor.value.createdAt });
        cursor = await cursor.continue();
      }
      all.sort((a, b) => b.createdAt - a.createdAt);
      await allRequests(all.slice(CATALOG_CACHE_KEEP).filter((r) => r.key !== record.key).map((r) => () => store.delete(r.key)));
    });
  }

  /** Why the connection was dropped last (for diagnostics), or null. */
  get connectionLostReason(): string | null {
    return this.lostReason;
  }

  /** Closes the connection. Later calls fail with StorageError. */
  close(): void {
    this.closed = true;
    this.db?.close();
    this.db = null;
    this.invalidate();
    this.channel?.close();
    this.channel = null;
    openStores.get(this.name)?.delete(this);
  }
}

/** The cache after a write: `added` (with their keys) in (timestamp, key) order, `removed` keys dropped. */
function withChanges(cache: readonly StoredEvent[], added: StoredEvent[], removed: number[]): StoredEvent[] {
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

type EventsStore = IDBPObjectStore<ScenerecDB, StoreNames<ScenerecDB>[], 'events', 'readwrite'>;

/** Retention inside an open readwrite transaction: drop events older than maxAgeDays, then the oldest beyond maxEvents. Returns the keys dropped. */
async function pruneIn(store: EventsStore, retention: Retention, now: number): Promise<number[]> {
  const index = store.index('timestamp');
  const pruned: number[] = [];
  const cutoff = now - retention.maxAgeDays * DAY_MS;
  let cursor = await index.openCursor(IDBKeyRange.upperBound(cutoff, true));
  while (cursor) {
    pruned.push(cursor.primaryKey);
    await cursor.delete();
    cursor = await cursor.continue();
  }
  let excess = (await store.count()) - retention.maxEvents;
  if (excess > 0) {
    cursor = await index.openCursor();
    while (cursor && excess > 0) {
      pruned.push(cursor.primaryKey);
      await cursor.delete();
      excess--;
      cursor = await cursor.continue();
    }
  }
  return pruned;
}
