/**
 * The scenerec IndexedDB database (via `idb`): its typed schema, opening (with the blocked-upgrade
 * timeout), migrations, storage-error mapping, and the one connection the stores share.
 *
 * Schema (version 4):
 *   events        autoIncrement key `id`, indexes `itemId` and `timestamp`        (history.ts)
 *   meta          keyPath `key`: { key: 'schema', ... }, { key: 'model', ... }, { key: 'backend', ... }  (meta.ts)
 *   catalogCache  keyPath `key` (v2): derived catalog matrices (int8 rows + scales), keyed by model
 *                 version + catalog hash + format; no shopper data.                 (catalog-cache.ts)
 *   writes        autoIncrement key `seq`, unique index `writeId` (v3): the ids of the last applied
 *                 history writes and their results, written in the write's own transaction, so a
 *                 replayed write is a no-op that answers as the first time.          (writes.ts)
 *   feedback      keyPath `itemId` (v4), index `touchedAt`: impressions and dismissals counted per
 *                 item (FeedbackRecord), with their own retention; never read as history.  (feedback.ts)
 * Migrations are `if (oldVersion < N)` steps in `upgradeSchema`, so any old version steps up in order.
 *
 * Every operation is one transaction (`inTransaction`): a write is stored whole or not at all.
 */
import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { DB_BLOCKED_TIMEOUT_MS } from '../../contract/defaults.js';
import {
  QuotaExceededError, ScenerecError, StorageBlockedError, StorageError,
} from '../../contract/errors.js';
import type { FeedbackRecord, StoredEvent } from '../../contract/protocol.js';
import type { CatalogCacheRecord } from './catalog-cache.js';
import type { MetaRecord } from './meta.js';
import type { AppliedWrite } from './writes.js';

/** Current schema version. Bump it and add an `if (oldVersion < N)` step to migrate. */
export const DB_VERSION = 4;

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
  writes: {
    key: number;
    value: AppliedWrite;
    indexes: { writeId: string };
  };
  feedback: {
    key: string;
    value: FeedbackRecord;
    indexes: { touchedAt: number };
  };
}

export type ScenerecStoreName = StoreNames<ScenerecDB>;
export type ScenerecTransaction<Mode extends IDBTransactionMode> = IDBPTransaction<ScenerecDB, ScenerecStoreName[], Mode>;

export interface OpenStorageOptions {
  /** How long a blocked upgrade waits for other tabs before failing with StorageBlockedError. */
  blockedTimeoutMs?: number;
  /** Schema version to open. Tests only (simulates a newer SDK); defaults to DB_VERSION. */
  schemaVersion?: number;
}

type UpgradeTx = IDBPTransaction<ScenerecDB, ScenerecStoreName[], 'versionchange'>;

/** Schema migrations. Runs inside the versionchange transaction; no awaits on other work here. */
function upgradeSchema(db: IDBPDatabase<ScenerecDB>, oldVersion: number, newVersion: number, tx: UpgradeTx): void {
  tx.done.catch(() => undefined); // an aborted upgrade is reported through the open request
  if (oldVersion < 1) {
    createEventsStore(db);
    db.createObjectStore('meta', { keyPath: 'key' });
  }
  if (oldVersion < 2) db.createObjectStore('catalogCache', { keyPath: 'key' });
  if (oldVersion < 3 && newVersion >= 3) createWritesStore(db);
  if (oldVersion < 4 && newVersion >= 4) createFeedbackStore(db);
  // Future steps go here: if (oldVersion < 5) { ... }

  // Repair: a database of this name created by other code lacks our stores.
  if (!db.objectStoreNames.contains('events')) createEventsStore(db);
  if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta', { keyPath: 'key' });
  if (newVersion >= 2 && !db.objectStoreNames.contains('catalogCache')) db.createObjectStore('catalogCache', { keyPath: 'key' });
  if (newVersion >= 3 && !db.objectStoreNames.contains('writes')) createWritesStore(db);
  if (newVersion >= 4 && !db.objectStoreNames.contains('feedback')) createFeedbackStore(db);

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

function createWritesStore(db: IDBPDatabase<ScenerecDB>): void {
  db.createObjectStore('writes', { keyPath: 'seq', autoIncrement: true }).createIndex('writeId', 'writeId', { unique: true });
}

function createFeedbackStore(db: IDBPDatabase<ScenerecDB>): void {
  db.createObjectStore('feedback', { keyPath: 'itemId' }).createIndex('touchedAt', 'touchedAt');
}

/**
 * How the stores of one opened storage may write. `readOnly`: why nothing new may be stored (the
 * quota was exceeded when storage opened, index.ts), or null.
 */
export interface StorageAccess { readOnly: string | null }

/** The error of a history write in read-only mode: nothing was written. */
export function readOnlyError(reason: string): QuotaExceededError {
  return new QuotaExceededError(
    `The history is read-only for this session: ${reason}. Nothing was stored; recommendations still use the history stored before. ` +
    'Free up site storage (or lower retention.maxEvents) and reload the page to store history again.', { storage: 'read-only', reason });
}

/**
 * Whether the database takes a write now: rewrites the schema record (same content) in one
 * transaction. Over the quota, the commit fails with QuotaExceededError (mapped).
 */
export async function probeWrite(conn: StorageConnection): Promise<void> {
  await conn.run(['meta'], 'readwrite', 'checking that the history can be written', async (tx) => {
    const meta = tx.objectStore('meta');
    const schema = await meta.get('schema');
    const at = Date.now();
    await meta.put(schema ?? { key: 'schema', version: conn.schemaVersionOpened, createdAt: at, upgradedAt: at });
  });
}

/** Issues requests and waits for all; every request promise is handled, even if a later issue throws. */
export function allRequests<T>(issue: Array<() => Promise<T>>): Promise<T[]> {
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

/**
 * Opens (creating or migrating) the database; fails with StorageBlockedError when another
 * connection blocks the upgrade for longer than `blockedTimeoutMs`.
 */
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
  // An upgrade aborted at commit (over the quota) fails the open with AbortError; its own error says why.
  let upgradeTx: UpgradeTx | undefined;
  try {
    openP = openDB<ScenerecDB>(name, version, {
      upgrade: (db, oldVersion, newVersion, tx) => {
        upgradeTx = tx;
        upgradeSchema(db, oldVersion, newVersion ?? version, tx);
      },
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
    let cause: unknown = e;
    try { cause = upgradeTx?.error ?? e; } catch { /* not finished */ }
    throw mapStorageError(cause, 'opening the history database', name);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * One store's write as a part of another store's readwrite transaction, so both commit or neither
 * does (a track call's impressions and its history events: history.ts `add`). `stores`: what `run`
 * needs beside the host's (the host adds `writes`); `run`: the part's requests inside the open
 * transaction; `around`: wraps the whole write (the part's own cache bookkeeping follows the outcome).
 */
export interface TransactionPart {
  readonly stores: ScenerecStoreName[];
  run(tx: ScenerecTransaction<'readwrite'>): Promise<void>;
  around<T>(work: () => Promise<T>): Promise<T>;
}

/** Runs `body` in one transaction and waits for the commit; maps failures; never leaves a rejection unhandled. */
export async function inTransaction<T, Mode extends IDBTransactionMode>(
  db: IDBPDatabase<ScenerecDB>,
  stores: ScenerecStoreName[],
  mode: Mode,
  action: string,
  body: (tx: ScenerecTransaction<Mode>) => Promise<T>,
): Promise<T> {
  let tx: ScenerecTransaction<Mode>;
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

/**
 * One connection to the database, shared by the history, meta and catalog-cache stores.
 *
 * When another tab wants to upgrade or delete the database, the connection closes itself (so it
 * does not block that tab) and reconnects on next use; so it does after the browser closed it.
 * `onLost` listeners hear of both (the history drops its in-memory copy: the data may have changed).
 * After `close()` every use fails with StorageError.
 */
export class StorageConnection {
  private db: IDBPDatabase<ScenerecDB> | null = null;
  private closed = false;
  private lostReason: string | null = null;
  private readonly lostListeners = new Set<() => void>();
  private readonly closeListeners = new Set<() => void>();

  private constructor(
    readonly name: string,
    private readonly schemaVersion: number,
    private readonly blockedTimeoutMs: number,
  ) {}

  /**
   * Opens (creating or migrating) the database.
   * @throws StorageBlockedError when another tab's connection blocks the upgrade for longer than the timeout.
   * @throws StorageError when IndexedDB is missing or fails.
   */
  static async open(name: string, options: OpenStorageOptions = {}): Promise<StorageConnection> {
    const c = new StorageConnection(name, options.schemaVersion ?? DB_VERSION, options.blockedTimeoutMs ?? DB_BLOCKED_TIMEOUT_MS);
    c.db = await c.connect();
    return c;
  }

  private connect(): Promise<IDBPDatabase<ScenerecDB>> {
    return openDatabase(this.name, this.schemaVersion, this.blockedTimeoutMs,
      () => {
        // Another tab wants to upgrade or delete the database: let it, and reconnect on next use.
        this.db?.close();
        this.db = null;
        this.lost('another tab upgraded or deleted it');
      },
      () => {
        this.db = null;
        this.lost('the browser closed it');
      });
  }

  private lost(reason: string): void {
    this.lostReason = reason;
    for (const f of [...this.lostListeners]) f();
  }

  /** The open database, reconnecting if it was dropped. */
  async get(): Promise<IDBPDatabase<ScenerecDB>> {
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

  /** `inTransaction` on this connection. */
  async run<T, Mode extends IDBTransactionMode>(
    stores: ScenerecStoreName[],
    mode: Mode,
    action: string,
    body: (tx: ScenerecTransaction<Mode>) => Promise<T>,
  ): Promise<T> {
    return inTransaction(await this.get(), stores, mode, action, body);
  }

  /** Calls `f` whenever the connection is dropped (another tab upgrades or deletes the database, or the browser closes it). */
  onLost(f: () => void): void {
    this.lostListeners.add(f);
  }

  /** Calls `f` once, on `close()`. */
  onClose(f: () => void): void {
    this.closeListeners.add(f);
  }

  /** Why the connection was dropped last (for diagnostics), or null. */
  get connectionLostReason(): string | null {
    return this.lostReason;
  }

  /** The schema version this connection opens. */
  get schemaVersionOpened(): number {
    return this.schemaVersion;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the connection for every store that shares it. Later calls fail with StorageError. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db?.close();
    this.db = null;
    const listeners = [...this.closeListeners];
    this.closeListeners.clear();
    this.lostListeners.clear();
    for (const f of listeners) f();
  }
}
