/**
 * Applied write ids: the `writes` object store (schema in db.ts, version 3).
 *
 * The page gives every history write (track, forgetItem, clearHistory) an id of its own making.
 * `applyOnce` runs inside the write's readwrite transaction: if the id is recorded, the write is
 * not applied again and the recorded result comes back; otherwise the write runs and its id and
 * result are recorded in that same transaction. So a write and its record commit together or not
 * at all, and when a worker dies between the commit and its answer, the page's replay on a new
 * worker is a no-op that answers as the first time. IndexedDB runs readwrite transactions on the
 * same stores in the order they were created, so the dead worker's transaction has finished
 * (committed or aborted) before the replay's check reads.
 *
 * Retention: the last `keep` ids (WRITE_IDS_KEEP), by an autoIncrement key, so pruning is one
 * key-range delete per write.
 */
import type { IDBPObjectStore, StoreNames } from 'idb';
import { WRITE_IDS_KEEP } from '../../contract/defaults.js';
import type { ScenerecDB, ScenerecTransaction } from './db.js';

/** One applied write. */
export interface AppliedWrite {
  /** Auto-increment key, in commit order. */
  seq?: number;
  writeId: string;
  /** What the write answered (structured-clonable). */
  result: unknown;
  at: number;
}

/** The write was applied now (`value`: what the body returned), or before (`result`: what it answered then). */
export type Applied<T, R> = { replayed: false; value: T; result: R } | { replayed: true; result: R };

type WritesStore = IDBPObjectStore<ScenerecDB, StoreNames<ScenerecDB>[], 'writes', 'readwrite'>;

/** True when the database has the `writes` store (a schema older than version 3 has not). */
export function hasWritesStore(db: { objectStoreNames: DOMStringList }): boolean {
  return db.objectStoreNames.contains('writes');
}

/**
 * Inside an open readwrite transaction that includes `writes`: applies `body` unless `writeId` was
 * applied before. `answer` turns the body's value into what is recorded and answered. Without a
 * write id (or without the store) the body always runs.
 */
export async function applyOnce<T, R>(
  tx: ScenerecTransaction<'readwrite'>,
  writeId: string | undefined,
  body: () => Promise<T>,
  answer: (value: T) => R,
  keep: number = WRITE_IDS_KEEP,
): Promise<Applied<T, R>> {
  if (writeId === undefined || !hasWritesStore(tx.db)) {
    const value = await body();
    return { replayed: false, value, result: answer(value) };
  }
  const writes = tx.objectStore('writes') as unknown as WritesStore;
  const before = await writes.index('writeId').get(writeId);
  if (before) return { replayed: true, result: before.result as R };
  const value = await body();
  const result = answer(value);
  const seq = await writes.add({ writeId, result, at: Date.now() });
  if (seq > keep) await writes.delete(IDBKeyRange.upperBound(seq - keep));
  return { replayed: false, value, result };
}
