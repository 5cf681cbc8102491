/**
 * The int8 catalog-matrix cache in the `catalogCache` object store (schema v2): derived matrices
 * (int8 rows + per-row scales), keyed by model version + catalog hash + storage format, so a reload
 * skips computing them. No shopper data. The newest CATALOG_CACHE_KEEP records stay.
 */
import { allRequests, inTransaction, type StorageAccess, type StorageConnection } from './db.js';

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

/** The catalog-matrix cache as the engine uses it: CatalogCache (IndexedDB) and MemoryCatalogCache (memory.ts). */
export interface CatalogMatrixCache {
  /** A cached catalog matrix, or undefined. */
  get(key: string): Promise<CatalogCacheRecord | undefined>;
  /** Caches a catalog matrix. */
  put(record: CatalogCacheRecord): Promise<void>;
}

/**
 * The catalog-matrix cache of one database. Get one from `openStorage` (index.ts). In read-only
 * mode `put` stores nothing and resolves (a cache miss next load only costs the quantisation).
 */
export class CatalogCache implements CatalogMatrixCache {
  constructor(private readonly conn: StorageConnection, private readonly access: StorageAccess = { readOnly: null }) {}

  /** A cached catalog matrix, or undefined (also when the database predates the cache). */
  async get(key: string): Promise<CatalogCacheRecord | undefined> {
    const db = await this.conn.get();
    if (!db.objectStoreNames.contains('catalogCache')) return undefined;
    return inTransaction(db, ['catalogCache'], 'readonly', 'reading the catalog cache', (tx) => tx.objectStore('catalogCache').get(key));
  }

  /** Caches a catalog matrix (copies of the arrays are stored) and drops all but the newest CATALOG_CACHE_KEEP. */
  async put(record: CatalogCacheRecord): Promise<void> {
    if (this.access.readOnly !== null) return;
    const db = await this.conn.get();
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
}
