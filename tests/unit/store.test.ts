import 'fake-indexeddb/auto';
import { deleteDB, openDB } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NewEvent } from '../../src/contract/options.js';
import { QuotaExceededError, StorageBlockedError, StorageError } from '../../src/contract/errors.js';
import { DB_VERSION, mapStorageError } from '../../src/engine/store/db.js';
import { HistoryStore } from '../../src/engine/store/history.js';
import { freshDbName } from './helpers.js';

const DAY = 86_400_000;
const keep = { maxEvents: 1000, maxAgeDays: 180 };
const NOW = Date.UTC(2025, 0, 31);
const ev = (itemId: string, timestamp: number, type: NewEvent['type'] = 'view'): NewEvent => ({ type, itemId, scene: 'home', timestamp });

const open: HistoryStore[] = [];
async function openStore(name = freshDbName()): Promise<HistoryStore> {
  const s = await HistoryStore.open(name);
  open.push(s);
  return s;
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
    expect([...db.objectStoreNames].sort()).toEqual(['catalogCache', 'events', 'meta']);
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
    const v1 = await HistoryStore.open(name);
    await v1.add([ev('a', NOW - 10), ev('b', NOW - 5)], keep, NOW);
    const created = (await v1.getMeta('schema'))!.createdAt;
    v1.close();
    // A future SDK opening the same database at a higher version.
    const v2 = await HistoryStore.open(name, { schemaVersion: DB_VERSION + 1 });
    open.push(v2);
    expect((await v2.all()).map((e) => e.itemId)).toEqual(['a', 'b']);
    const meta = await v2.getMeta('schema');
    expect(meta).toMatchObject({ version: DB_VERSION + 1, createdAt: created });
  });

  it('fails with StorageError when the database is newer than this SDK', async () => {
    const name = freshDbName();
    (await HistoryStore.open(name, { schemaVersion: DB_VERSION + 1 })).close();
    const err = await HistoryStore.open(name).catch((e) => e);
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
    expect(r1).toEqual({ stored: 3, pruned: 0 });
    const r2 = await s.add([ev('d', NOW - 2), ev('e', NOW - 1)], { maxEvents: 3, maxAgeDays: 180 }, NOW);
    expect(r2).toEqual({ stored: 2, pruned: 2 });
    expect((await s.all()).map((e) => e.itemId)).toEqual(['c', 'd', 'e']);
  });

  it('drops events older than maxAgeDays on write, including old ones just written', async () => {
    const s = await openStore();
    await s.add([ev('old', NOW - 40 * DAY), ev('mid', NOW - 20 * DAY)], keep, NOW);
    const r = await s.add([ev('new', NOW), ev('ancient', NOW - 100 * DAY)], { maxEvents: 1000, maxAgeDays: 30 }, NOW);
    expect(r).toEqual({ stored: 2, pruned: 2 });
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
    const err = await HistoryStore.open(name, { schemaVersion: 2, blockedTimeoutMs: 100 }).catch((e) => e);
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
