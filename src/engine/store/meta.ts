/**
 * Meta records in the `meta` object store: the schema record (written by the migrations in db.ts),
 * the last model loaded, and the last 'auto' backend-probe verdict (reused for PROBE_CACHE_MS).
 * No shopper data.
 */
import type { BackendName, BackendProbe } from '../../contract/protocol.js';
import type { StorageConnection } from './db.js';

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

/** The meta records of one database. Get one from `openStorage` (index.ts). */
export class MetaStore {
  constructor(private readonly conn: StorageConnection) {}

  /** The record stored under `key`, or undefined. */
  async get<K extends MetaKey>(key: K): Promise<MetaOf<K> | undefined> {
    const rec = await this.conn.run(['meta'], 'readonly', 'reading metadata', (tx) => tx.objectStore('meta').get(key));
    return rec as MetaOf<K> | undefined;
  }

  /** Stores (replaces) the record under its key. */
  async set(record: MetaRecord): Promise<void> {
    await this.conn.run(['meta'], 'readwrite', 'writing metadata', (tx) => tx.objectStore('meta').put(record));
  }
}
