/**
 * The engine's storage: opens the scenerec database once and hands out its three stores over that
 * one connection. `close()` closes the connection for all three.
 *
 *   const storage = await openStorage(config.dbName);
 *   storage.history       events (history.ts)
 *   storage.meta          model meta, backend-probe verdict (meta.ts)
 *   storage.catalogCache  int8 catalog matrices (catalog-cache.ts)
 *   storage.feedback      impressions and dismissals per item (feedback.ts)
 */
import { CatalogCache } from './catalog-cache.js';
import { StorageConnection, type OpenStorageOptions } from './db.js';
import { FeedbackStore, type FeedbackLog } from './feedback.js';
import { HistoryStore } from './history.js';
import { MetaStore } from './meta.js';

export { CATALOG_CACHE_KEEP, CatalogCache, type CatalogCacheRecord } from './catalog-cache.js';
export { FeedbackStore, MemoryFeedback, feedbackToDrop, type FeedbackLog } from './feedback.js';
export { DB_VERSION, mapStorageError, type OpenStorageOptions, type ScenerecDB } from './db.js';
export { HistoryStore, type HistorySnapshot, type Retention } from './history.js';
export { MetaStore, type BackendMeta, type MetaKey, type MetaOf, type MetaRecord, type ModelMeta, type SchemaMeta } from './meta.js';

/** The three stores of one database, sharing one connection. (Not `Storage`: that is the DOM's Web Storage type.) */
export interface ScenerecStorage {
  readonly history: HistoryStore;
  readonly meta: MetaStore;
  readonly catalogCache: CatalogCache;
  readonly feedback: FeedbackLog;
  /** Why the shared connection was dropped last (for diagnostics), or null. */
  readonly connectionLostReason: string | null;
  /** Closes the shared connection; every later call on the three stores fails with StorageError. Safe to call twice. */
  close(): void;
}

/**
 * Opens (creating or migrating) the database `dbName` once.
 * @throws StorageBlockedError when another tab's connection blocks the upgrade for longer than the timeout.
 * @throws StorageError when IndexedDB is missing or fails (a database newer than this SDK included).
 */
export async function openStorage(dbName: string, options: OpenStorageOptions = {}): Promise<ScenerecStorage> {
  const conn = await StorageConnection.open(dbName, options);
  return {
    history: new HistoryStore(conn),
    meta: new MetaStore(conn),
    catalogCache: new CatalogCache(conn),
    feedback: new FeedbackStore(conn),
    get connectionLostReason() { return conn.connectionLostReason; },
    close: () => conn.close(),
  };
}
