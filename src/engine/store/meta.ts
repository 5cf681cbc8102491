/**
 * Meta records in the `meta` object store: the schema record (written by the migrations in db.ts),
 * the last model loaded, and the last 'auto' backend-probe verdict (reused for PROBE_CACHE_MS).
 * No shopper data.
 */
import type { BackendName, BackendProbe } from '../../contract/protocol.js';
import type { StorageAccess, StorageConnection } from './db.js';

export interface SchemaMeta { key: 'schema'; version: number; createdAt: number; upgradedAt: number }
export interface ModelMeta { key: 'model'; modelVersion: string; modelUrl: string; loadedAt: number }
/** The last 'auto' backend probe on this browser (src/engine/backend.ts), reused for PROBE_CACHE_MS. */
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
export type MetaKey = MetaRecord['key'];
export type MetaOf<K extends MetaKey> = Extract<MetaRecord, { key: K }>;

/** Meta records as the engine uses them: MetaStore (IndexedDB) and MemoryMeta (memory.ts). */
export interface MetaRecords {
  /** The record stored under `key`, or undefined. */
  get<K extends MetaKey>(key: K): Promise<MetaOf<K> | undefined>;
  /** Stores (replaces) the record under its key. */
  set(record: MetaRecord): Promise<void>;
}

/**
 * The meta records of one database. Get one from `openStorage` (index.ts). In read-only mode `set`
 * stores nothing and resolves: these records only save work on the next load.
 */
export class MetaStore implements MetaRecords {
  constructor(private readonly conn: StorageConnection, private readonly access: StorageAccess = { readOnly: null }) {}

  /** The record stored under `key`, or undefined. */
  async get<K extends MetaKey>(key: K): Promise<MetaOf<K> | undefined> {
    const rec = await this.conn.run(['meta'], 'readonly', 'reading metadata', (tx) => tx.objectStore('meta').get(key));
    return rec as MetaOf<K> | undefined;
  }

  /** Stores (replaces) the record under its key. */
  async set(record: MetaRecord): Promise<void> {
    if (this.access.readOnly !== null) return;
    await this.conn.run(['meta'], 'readwrite', 'writing metadata', (tx) => tx.objectStore('meta').put(record));
  }
}
