import 'fake-indexeddb/auto';
import { deleteDB, openDB } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NewEvent } from '../../src/contract/options.js';
import { QuotaExceededError, StorageBlockedError, StorageError } from '../../src/contract/errors.js';
import { CATALOG_CACHE_KEEP, type CatalogCacheRecord } from '../../src/engine/store/catalog-cache.js';
import { DB_VERSION, mapStorageError } from '../../src/engine/store/db.js';
import { HistoryStore } from '../../src/engine/store/history.js';
import { openStorage, type OpenStorageOptions, type ScenerecStorage } from '../../src/engine/store/index.js';
import { freshDbName } from './helpers.js';

const DAY = 86_400_000;
const keep = { maxEvents: 1000, maxAgeDays: 180 };
const NOW = Date.UTC(2025, 0, 31);
const ev = (itemId: string, timestamp: number, type: NewEvent['type'] = 'view'): NewEvent => ({ type, itemId, scene: 'home', timestamp });

const open: Array<{ close(): void }> = [];
async function openAll(name = freshDbName(), options?: OpenStorageOptions): Promise<ScenerecStorage> {
  const s = await openStorage(name, options);
  open.push(s);
  return s;
}
async function openStore(name = freshDbName()): Promise<HistoryStore> {
  return (await openAll(name)).history as HistoryStore;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  vi.restoreAllMocks();
});

describe('schema', () => {
  it('creates the events store with its indexes and records the schema version', async () => {
    const name = freshDbName();
    (await openStore(name)).close();
    const db = await openDB(name);
    expect(db.version).toBe(DB_VERSION);
    // 'writes' (v3): the applied write ids (src/engine/store/writes.ts); 'feedback' (v4): impressions and dismissals.
    expect([...db.objectStoreNames].sort()).toEqual(['catalogCache', 'events', 'feedback', 'meta', 'writes']);
    const tx = db.transaction('events');
    expect(tx.store.keyPath).toBe('id');
    expect(tx.store.autoIncrement).toBe(true);
    expect([...tx.store.indexNames].sort()).toEqual(['itemId', 'timestamp']);
    const meta = await db.get('meta', 'schema');
    expect(meta).toMatchObject({ key: 'schema', version: DB_VERSION });
    db.close();
  });

  it('migrates an existing database forward without losing events', async () => {
    const name = freshDbName();
    const v1 = await openStorage(name);
    await v1.history.add([ev('a', NOW - 10), ev('b', NOW - 5)], keep, NOW);
    const created = (await v1.meta.get('schema'))!.createdAt;
    v1.close();
    // A future SDK opening the same database at a higher version.
    const v2 = await openAll(name, { schemaVersion: DB_VERSION + 1 });
    expect((await v2.history.all()).map((e) => e.itemId)).toEqual(['a', 'b']);
    const meta = await v2.meta.get('schema');
    expect(meta).toMatchObject({ version: DB_VERSION + 1, createdAt: created });
  });

  it('fails with StorageError when the database is newer than this SDK', async () => {
    const name = freshDbName();
    (await openStorage(name, { schemaVersion: DB_VERSION + 1 })).close();
    const err = await openStorage(name).catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.message).toMatch(/newer version/);
  });
});

describe('events', () => {
  it('lists newest first with a limit, or oldest first', async () => {
    const s = await openStore();
    await s.add([ev('a', NOW - 30), ev('c', NOW - 10), ev('b', NOW - 20)], keep, NOW);
    expect((await s.list()).map((e) => e.itemId)).toEqual(['c', 'b', 'a']);
    expect((await s.list({ limit: 2 })).map((e) => e.itemId)).toEqual(['c', 'b']);
    expect((await s.list({ newestFirst: false })).map((e) => e.itemId)).toEqual(['a', 'b', 'c']);
    const all = await s.all();
    expect(all.map((e) => e.itemId)).toEqual(['a', 'b', 'c']);
    expect(all.every((e) => typeof e.id === 'number')).toBe(true);
  });

  it('keeps insertion order for equal timestamps', async () => {
    const s = await openStore();
    await s.add([ev('x', NOW), ev('y', NOW)], keep, NOW);
    await s.add([ev('z', NOW)], keep, NOW);
    expect((await s.all()).map((e) => e.itemId)).toEqual(['x', 'y', 'z']);
    expect((await s.list()).map((e) => e.itemId)).toEqual(['z', 'y', 'x']);
  });

  it('forgets one item, clears, exports', async () => {
    const s = await openStore();
    await s.add([ev('a', NOW - 3), ev('b', NOW - 2), ev('a', NOW - 1, 'cart'), { type: 'search', query: 'q', scene: 'search', timestamp: NOW }], keep, NOW);
    expect(await s.forgetItem('a')).toBe(2);
    expect(await s.forgetItem('nope')).toBe(0);
    const exp = await s.export(NOW);
    expect(exp.format).toBe('scenerec-history');
    expect(exp.version).toBe(1);
    expect(exp.exportedAt).toBe(NOW);
    expect(exp.events.map((e) => e.itemId ?? e.query)).toEqual(['b', 'q']);
    await s.clear();
    expect(await s.all()).toEqual([]);
  });
});

describe('retention', () => {
  it('drops the oldest events beyond maxEvents on write', async () => {
    const s = await openStore();
    const r1 = await s.add([ev('a', NOW - 5), ev('b', NOW - 4), ev('c', NOW - 3)], { maxEvents: 3, maxAgeDays: 180 }, NOW);
    expect(r1).toEqual({ stored: 3, pruned: 0, outsideRetention: 0 });
    const r2 = await s.add([ev('d', NOW - 2), ev('e', NOW - 1)], { maxEvents: 3, maxAgeDays: 180 }, NOW);
    expect(r2).toEqual({ stored: 2, pruned: 2, outsideRetention: 0 });
    expect((await s.all()).map((e) => e.itemId)).toEqual(['c', 'd', 'e']);
  });

  it('drops events older than maxAgeDays on write, and does not store (but counts) old ones of the batch', async () => {
    const s = await openStore();
    await s.add([ev('old', NOW - 40 * DAY), ev('mid', NOW - 20 * DAY)], keep, NOW);
    const r = await s.add([ev('new', NOW), ev('ancient', NOW - 100 * DAY)], { maxEvents: 1000, maxAgeDays: 30 }, NOW);
    expect(r).toEqual({ stored: 1, pruned: 1, outsideRetention: 1 });
    expect((await s.all()).map((e) => e.itemId)).toEqual(['mid', 'new']);
    expect(await s.prune({ maxEvents: 1, maxAgeDays: 30 }, NOW)).toBe(1);
    expect((await s.all()).map((e) => e.itemId)).toEqual(['new']);
  });
});

describe('failures never lose stored data', () => {
  it('stores nothing of a batch that fails part-way', async () => {
    const s = await openStore();
    await s.add([ev('a', NOW - 2)], keep, NOW);
    const bad = { ...ev('b', NOW - 1), itemId: (() => 'x') as unknown as string }; // not cloneable
    const err = await s.add([ev('ok', NOW), bad], keep, NOW).catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((await s.all()).map((e) => e.itemId)).toEqual(['a']);
  });

  it('maps a quota failure to QuotaExceededError and keeps the history', async () => {
    const s = await openStore();
    await s.add([ev('a', NOW - 2)], keep, NOW);
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(() => {
      throw new DOMException('quota', 'QuotaExceededError');
    });
    const err = await s.add([ev('b', NOW)], keep, NOW).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err.code).toBe('QUOTA_EXCEEDED');
    vi.restoreAllMocks();
    expect((await s.all()).map((e) => e.itemId)).toEqual(['a']);
  });

  it('maps errors by name', () => {
    expect(mapStorageError(new DOMException('x', 'QuotaExceededError'), 'writing')).toBeInstanceOf(QuotaExceededError);
    const other = mapStorageError(new DOMException('boom', 'UnknownError'), 'writing');
    expect(other).toBeInstanceOf(StorageError);
    expect(other.message).toContain('UnknownError: boom');
  });
});

describe('other tabs', () => {
  it('rejects with StorageBlockedError when an old connection blocks the upgrade, and does not hang', async () => {
    const name = freshDbName();
    const otherTab = await openDB(name, 1); // an old tab that ignores versionchange
    const t0 = Date.now();
    const err = await openStorage(name, { schemaVersion: 2, blockedTimeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageBlockedError);
    expect(err.code).toBe('STORAGE_BLOCKED');
    expect(Date.now() - t0).toBeLessThan(2000);
    otherTab.close();
    // The late open is closed by the store, so nothing blocks a delete.
    let blocked = false;
    await deleteDB(name, { blocked: () => { blocked = true; } });
    expect(blocked).toBe(false);
  });

  it('closes its connection when another tab upgrades, instead of blocking it', async () => {
    const name = freshDbName();
    const s = await openStore(name);
    await s.add([ev('a', NOW)], keep, NOW);
    let blocked = false;
    const newer = await openDB(name, DB_VERSION + 1, { blocked: () => { blocked = true; } });
    expect(blocked).toBe(false);
    newer.close();
    // Our old code cannot use the newer database: a typed error that says to reload, not a hang.
    const err = await s.all().catch((e) => e);
    expect(err).toBeInstanceOf(StorageBlockedError);
    expect(err.message).toMatch(/Reload this page/);
  });

  it('reconnects after another tab deleted the database', async () => {
    const name = freshDbName();
    const s = await openStore(name);
    await s.add([ev('a', NOW)], keep, NOW);
    await deleteDB(name);
    expect(await s.all()).toEqual([]);
    await s.add([ev('b', NOW)], keep, NOW);
    expect((await s.all()).map((e) => e.itemId)).toEqual(['b']);
  });

  it('refuses use after close', async () => {
    const s = await openStore();
    s.close();
    await expect(s.all()).rejects.toBeInstanceOf(StorageError);
  });
});

describe('one connection for the three stores', () => {
  it('close() closes it for history, meta and the catalog cache', async () => {
    const name = freshDbName();
    const st = await openStorage(name);
    await st.history.add([ev('a', NOW)], keep, NOW);
    st.close();
    st.close(); // twice is fine
    for (const p of [st.history.all(), st.meta.get('model'), st.catalogCache.get('k')]) {
      const err = await p.catch((e) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err.message).toBe('The history store is closed.');
    }
    // Nothing left open: a delete is not blocked.
    let blocked = false;
    await deleteDB(name, { blocked: () => { blocked = true; } });
    expect(blocked).toBe(false);
  });

  it('all three reconnect after another tab deleted the database', async () => {
    const st = await openAll();
    await st.meta.set({ key: 'model', modelVersion: 'm1', modelUrl: 'u', loadedAt: 1 });
    await deleteDB(st.history.name);
    expect(await st.meta.get('model')).toBeUndefined();
    expect(st.connectionLostReason).toMatch(/another tab/);
    await st.history.add([ev('a', NOW)], keep, NOW);
    expect((await st.history.all()).map((e) => e.itemId)).toEqual(['a']);
  });
});

const matrix = (key: string, createdAt: number): CatalogCacheRecord => ({
  key, rows: 2, dim: 3, data: Int8Array.from([1, 2, 3, 4, 5, 6]), scales: Float32Array.from([0.5, 0.25]), createdAt,
});

describe('meta', () => {
  it('stores model and backend records by key', async () => {
    const { meta } = await openAll();
    expect(await meta.get('model')).toBeUndefined();
    await meta.set({ key: 'model', modelVersion: 'm1', modelUrl: 'https://x/model.json', loadedAt: 5 });
    await meta.set({ key: 'backend', env: 'ua|8|probe-v1', backend: 'cpu', reason: 'r', probe: [{ backend: 'cpu', ms: 1.5 } as never], at: 7 });
    expect(await meta.get('model')).toEqual({ key: 'model', modelVersion: 'm1', modelUrl: 'https://x/model.json', loadedAt: 5 });
    expect((await meta.get('backend'))?.backend).toBe('cpu');
    await meta.set({ key: 'model', modelVersion: 'm2', modelUrl: 'https://x/model.json', loadedAt: 6 });
    expect((await meta.get('model'))?.modelVersion).toBe('m2');
    expect((await meta.get('schema'))?.version).toBe(DB_VERSION);
  });
});

describe('catalog cache', () => {
  it('round-trips a matrix (copies of the arrays) and keeps the newest CATALOG_CACHE_KEEP', async () => {
    const { catalogCache } = await openAll();
    // A view into a larger buffer: only the view is stored.
    const big = new Int8Array(100).fill(9);
    const rec = { ...matrix('m|a|int8-row-v1', 1), data: big.subarray(10, 16) };
    await catalogCache.put(rec);
    const got = (await catalogCache.get('m|a|int8-row-v1'))!;
    expect([...got.data]).toEqual([9, 9, 9, 9, 9, 9]);
    expect(got.data.buffer.byteLength).toBe(6);
    expect([...got.scales]).toEqual([0.5, 0.25]);
    expect(await catalogCache.get('nope')).toBeUndefined();
    for (let i = 2; i <= CATALOG_CACHE_KEEP + 2; i++) await catalogCache.put(matrix(`m|${i}|int8-row-v1`, i));
    const kept: string[] = [];
    for (let i = 1; i <= CATALOG_CACHE_KEEP + 2; i++) if (await catalogCache.get(`m|${i}|int8-row-v1`)) kept.push(`m|${i}|int8-row-v1`);
    expect(kept).toEqual(Array.from({ length: CATALOG_CACHE_KEEP }, (_, j) => `m|${j + 3}|int8-row-v1`));
    // The record just written stays even when its createdAt is older than the kept ones.
    await catalogCache.put(matrix('m|old|int8-row-v1', 0));
    expect(await catalogCache.get('m|old|int8-row-v1')).toBeDefined();
  });

  it('is a no-op on a version-1 database (no catalogCache store)', async () => {
    const name = freshDbName();
    const v1 = await openDB(name, 1, { upgrade: (db) => { db.createObjectStore('events', { keyPath: 'id', autoIncrement: true }); db.createObjectStore('meta', { keyPath: 'key' }); } });
    v1.close();
    const { catalogCache } = await openAll(name, { schemaVersion: 1 });
    await catalogCache.put(matrix('k', 1));
    expect(await catalogCache.get('k')).toBeUndefined();
  });
});
