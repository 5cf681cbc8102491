/**
 * The engine's storage: opens the scenerec database once and hands out its three stores over that
 * one connection. `close()` closes the connection for all three.
 *
 *   const storage = await openStorage(config.dbName);
 *   storage.mode          'indexeddb' | 'read-only' | 'memory' (and `reason` when not 'indexeddb')
 *   storage.history       events (history.ts; memory.ts in 'memory' mode)
 *   storage.meta          model meta, backend-probe verdict (meta.ts)
 *   storage.catalogCache  int8 catalog matrices (catalog-cache.ts)
 *   storage.feedback      impressions and dismissals per item (feedback.ts; in memory in 'memory' mode;
 *                         read-only mode rejects new feedback as it rejects new history)
 *
 * The modes are tried in the order of STORAGE_MODES, each falling through to the next on the
 * failures it cannot serve:
 *   'indexeddb'  the database opens and takes a write (a probe rewrites the schema record).
 *   'read-only'  it opens but the probe write exceeds the quota, and there is a stored history (a
 *                returning shopper over quota; with nothing stored, 'memory' serves better):
 *                the stored history is read and recommended from; `history.add` rejects with
 *                QuotaExceededError and stores nothing; forgetItem/clear still try (they free
 *                space); meta and catalog-cache writes are skipped.
 *   'memory'     IndexedDB is missing or `open` fails (private modes, locked-down browsers), or it
 *                is over the quota with nothing stored (a new shopper on a full disk): the history
 *                lives in memory for the session (memory.ts); nothing persists.
 * Not served by any mode, so thrown: StorageBlockedError (another tab blocks an upgrade) and a
 * database newer than this SDK (StorageError): both are fixed by a reload, and a memory history
 * would hide the stored one.
 */
import { StorageBlockedError, StorageError, QuotaExceededError, type ScenerecError } from '../../contract/errors.js';
import type { StorageMode } from '../../contract/protocol.js';
import { CatalogCache, type CatalogMatrixCache } from './catalog-cache.js';
import { probeWrite, StorageConnection, type OpenStorageOptions, type StorageAccess } from './db.js';
import { HistoryStore, type EventHistory } from './history.js';
import { FeedbackStore, MemoryFeedback, type FeedbackLog } from './feedback.js';
import { MemoryCatalogCache, MemoryHistory, MemoryLifetime, MemoryMeta } from './memory.js';
import { MetaStore, type MetaRecords } from './meta.js';
import type { AddResult, Retention } from './history.js';
import type { FeedbackEvent, NewEvent } from '../../contract/options.js';

export { CATALOG_CACHE_KEEP, CatalogCache, type CatalogCacheRecord, type CatalogMatrixCache } from './catalog-cache.js';
export { FeedbackStore, MemoryFeedback, feedbackToDrop, type FeedbackLog } from './feedback.js';
export { DB_VERSION, mapStorageError, type OpenStorageOptions, type ScenerecDB } from './db.js';
export { HistoryStore, type AddResult, type EventHistory, type HistorySnapshot, type Retention } from './history.js';
export { MemoryHistory } from './memory.js';
export { MetaStore, type BackendMeta, type MetaKey, type MetaOf, type MetaRecord, type MetaRecords, type ModelMeta, type SchemaMeta } from './meta.js';
export { retentionSlack } from './retention.js';

/** The three stores of one database, sharing one connection. (Not `Storage`: that is the DOM's Web Storage type.) */
export interface ScenerecStorage {
  /** How the history is kept (see the file comment). */
  readonly mode: StorageMode;
  /** Why the mode is not 'indexeddb' (the failure that made it so), or undefined. */
  readonly reason?: string;
  readonly history: EventHistory;
  readonly meta: MetaRecords;
  readonly catalogCache: CatalogMatrixCache;
  readonly feedback: FeedbackLog;
  /**
   * Stores one track call: its history events (`history.add`) and its impressions and dismissals
   * (`feedback.apply`), both or neither. IndexedDB: one transaction over both stores (and `writes`,
   * each part recording its write id), so a failure (quota, a lost connection) leaves neither and a
   * retry stores each once. Memory: one after the other with nothing between them that can fail.
   * `lastInteraction`: an item's latest interaction (stored history and this batch).
   * @throws QuotaExceededError in read-only mode (nothing is written).
   */
  track(write: TrackWrite): Promise<AddResult>;
  /** Why the shared connection was dropped last (for diagnostics), or null. */
  readonly connectionLostReason: string | null;
  /** Closes the shared connection; every later call on the three stores fails with StorageError. Safe to call twice. */
  close(): void;
}

/** What one track call stores (ScenerecStorage.track). */
export interface TrackWrite {
  events: NewEvent[];
  feedback: readonly FeedbackEvent[];
  retention: Retention;
  now: number;
  lastInteraction: (itemId: string) => number | undefined;
  writeId?: string;
}

/** One way to keep the history. `open` resolves, or rejects with the failure; `servesAfter` says which failures of earlier modes it takes over. */
interface StorageOpener {
  mode: StorageMode;
  /** `failure`: why the previous mode failed (the reason this one reports). */
  open(dbName: string, options: OpenStorageOptions, failure?: Error): Promise<ScenerecStorage>;
  /** Whether this mode stands in when the previous ones failed with `err`. */
  servesAfter(err: ScenerecError | Error): boolean;
}

/** IndexedDB, writable or (over the quota at open) read-only. */
async function openIndexedDb(dbName: string, options: OpenStorageOptions): Promise<ScenerecStorage> {
  const conn = await StorageConnection.open(dbName, options);
  const access: StorageAccess = { readOnly: null };
  try {
    await probeWrite(conn);
  } catch (e) {
    // Read-only pays only with a history to read; else a session history in memory is better.
    const empty = e instanceof QuotaExceededError
      && await conn.run(['events'], 'readonly', 'reading history', (tx) => tx.objectStore('events').count()).then((n) => n === 0, () => true);
    if (!(e instanceof QuotaExceededError) || empty) {
      conn.close();
      throw e;
    }
    access.readOnly = `the browser's storage quota for this site was exceeded when the recommender started (${(e.details as { cause?: string } | undefined)?.cause ?? e.message})`;
  }
  const history = new HistoryStore(conn, access);
  const feedback = new FeedbackStore(conn, access);
  return {
    mode: access.readOnly === null ? 'indexeddb' : 'read-only',
    reason: access.readOnly ?? undefined,
    history,
    meta: new MetaStore(conn, access),
    catalogCache: new CatalogCache(conn, access),
    feedback,
    track: (w) => history.add(w.events, w.retention, w.now, w.writeId,
      w.feedback.length > 0 ? feedback.part(w.feedback, w.lastInteraction, w.now, w.writeId) : undefined),
    get connectionLostReason() { return conn.connectionLostReason; },
    close: () => conn.close(),
  };
}

/** The session's memory (memory.ts). */
async function openMemory(dbName: string, reason: string): Promise<ScenerecStorage> {
  const life = new MemoryLifetime();
  const history = new MemoryHistory(dbName, life);
  const feedback = new MemoryFeedback(life);
  return {
    mode: 'memory',
    reason: `the history is kept in memory for this session only: ${reason}`,
    history,
    meta: new MemoryMeta(life),
    catalogCache: new MemoryCatalogCache(life),
    feedback,
    track: async (w) => {
      life.check();
      if (w.feedback.length > 0) await feedback.apply(w.feedback, w.lastInteraction, w.now, w.writeId);
      return history.add(w.events, w.retention, w.now, w.writeId);
    },
    connectionLostReason: null,
    close: () => life.close(),
  };
}

/** A database newer than this SDK (in another tab?): a reload fixes it. */
const isVersionError = (err: Error): boolean =>
  err instanceof StorageError && ((err as ScenerecError).details as { cause?: string } | undefined)?.cause?.startsWith('VersionError') === true;

/** The storage modes, best first. */
export const STORAGE_MODES: readonly StorageOpener[] = [
  { mode: 'indexeddb', open: openIndexedDb, servesAfter: () => true },
  { mode: 'memory', open: (name, _options, failure) => openMemory(name, failure?.message ?? 'memory storage was asked for'), servesAfter: (err) => !(err instanceof StorageBlockedError) && !isVersionError(err) },
];

/**
 * Opens the history in the best mode that works (STORAGE_MODES): IndexedDB (writable or read-only)
 * or, when IndexedDB is missing or fails to open, memory. `mode` and `reason` say which and why.
 * @throws StorageBlockedError when another tab's connection blocks the upgrade for longer than the timeout.
 * @throws StorageError when the database is newer than this SDK.
 */
export async function openStorage(dbName: string, options: OpenStorageOptions & { modes?: readonly StorageOpener[] } = {}): Promise<ScenerecStorage> {
  const modes = options.modes ?? STORAGE_MODES;
  let failure: Error | null = null;
  for (const m of modes) {
    if (failure && !m.servesAfter(failure)) break;
    try {
      return await m.open(dbName, options, failure ?? undefined);
    } catch (e) {
      failure = e as Error;
    }
  }
  throw failure ?? new StorageError('No storage mode is configured.');
}
