/**
 * The in-memory history of HistoryStore.events() (the recommend path): equal to a fresh IndexedDB
 * read after every kind of write, and dropped when another store of the same database writes (in
 * this realm synchronously, from other tabs and workers through the BroadcastChannel). And the
 * change counter (`version`, `snapshot()`): moved by exactly those changes, never by a read.
 */
import 'fake-indexeddb/auto';
import { deleteDB, openDB } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NewEvent } from '../../src/contract/options.js';
import { createEngine } from '../../src/engine/engine.js';
import { HistoryStore } from '../../src/engine/store/history.js';
import { openStorage, type ScenerecStorage } from '../../src/engine/store/index.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const NOW = Date.UTC(2025, 0, 31);
const keep = { maxEvents: 1000, maxAgeDays: 180 };
const ev = (id: string, timestamp: number, type: NewEvent['type'] = 'view'): NewEvent => ({ type, itemId: id, scene: 'home', timestamp });
const open: ScenerecStorage[] = [];
async function store(name: string) { const s = await openStorage(name); open.push(s); return s.history; }
afterEach(() => { for (const s of open.splice(0)) s.close(); vi.restoreAllMocks(); });

describe('HistoryStore.events() cache', () => {
  it('is served from memory while nothing changes, and equals a fresh read after every write', async () => {
    const s = await store(freshDbName());
    await s.add([ev('a', NOW - 30), ev('b', NOW - 20)], keep, NOW);
    const first = await s.events();
    expect(await s.events()).toBe(first); // the same array: no IndexedDB read
    const same = async () => expect(await s.events()).toEqual(await s.all());
    // Out-of-order timestamps, ties, and retention by count and by age in the same write.
    await s.add([ev('c', NOW - 25), ev('d', NOW - 20), ev('e', NOW - 40)], keep, NOW);
    await same();
    await s.add([ev('f', NOW - 1)], { maxEvents: 4, maxAgeDays: 180 }, NOW);
    await same();
    expect((await s.events()).length).toBe(4);
    await s.add([ev('g', NOW - 3 * 86_400_000), ev('h', NOW)], { maxEvents: 100, maxAgeDays: 2 }, NOW);
    await same();
    await s.events();
    await s.forgetItem('h');
    await same();
    await s.events();
    await s.prune({ maxEvents: 1, maxAgeDays: 180 }, NOW);
    await same();
    await s.events();
    await s.clear();
    expect(await s.events()).toEqual([]);
    await same();
  });

  it('another store of the same database in this realm: the next read sees its write at once', async () => {
    const name = freshDbName();
    const a = await store(name);
    const b = await store(name);
    await a.add([ev('x', NOW - 10)], keep, NOW);
    expect((await a.events()).map((e) => e.itemId)).toEqual(['x']);
    await b.add([ev('y', NOW - 5)], keep, NOW);
    expect((await a.events()).map((e) => e.itemId)).toEqual(['x', 'y']);
    await b.forgetItem('x');
    expect((await a.events()).map((e) => e.itemId)).toEqual(['y']);
    await b.clear();
    expect(await a.events()).toEqual([]);
  });

  it('another tab or worker: its BroadcastChannel message drops the cache', async () => {
    const name = freshDbName();
    const a = await store(name);
    await a.add([ev('x', NOW - 10)], keep, NOW);
    await a.events();
    // A write by another realm (raw IndexedDB here), then its announcement on the channel.
    const db = await openDB(name);
    await db.add('events', { ...ev('z', NOW - 1) } as never);
    db.close();
    const channel = new BroadcastChannel(`scenerec-history:${name}`);
    channel.postMessage('changed');
    await new Promise((r) => setTimeout(r, 50));
    channel.close();
    expect((await a.events()).map((e) => e.itemId)).toEqual(['x', 'z']);
  });

  it('two engines on one database (two tabs of a shop): a recommend sees the other one\'s track', { timeout: 30_000 }, async () => {
    const dbName = freshDbName();
    const make = () => createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName }, { fetch: fileFetch() });
    const [e1, e2] = [await make(), await make()];
    try {
      await e1.track({ type: 'view', itemId: itemId(12) });
      expect((await e1.recommend('home', { k: 5 })).historyUsed).toBe(1);
      expect((await e1.recommend('home', { k: 5 })).historyUsed).toBe(1);
      await e2.track({ type: 'view', itemId: itemId(13) });
      expect((await e1.recommend('home', { k: 5 })).historyUsed).toBe(2);
      await e2.track({ type: 'purchase', itemId: itemId(14) });
      const r = await e1.recommend('home', { k: 50 });
      expect(r.items.map((i) => i.itemId)).not.toContain(itemId(14)); // purchased in the other tab
      await e2.clearHistory();
      expect((await e1.recommend('home', { k: 5 })).historyUsed).toBe(0);
    } finally {
      await e1.dispose();
      await e2.dispose();
    }
  });

  it('loading reads the history into memory: track then the first recommend read no IndexedDB rows', { timeout: 30_000 }, async () => {
    const dbName = freshDbName();
    const before = await store(dbName);
    await before.add([ev(itemId(3), Date.now() - 1000)], keep, Date.now()); // a returning shopper
    const reads: string[] = [];
    const all = HistoryStore.prototype.all;
    HistoryStore.prototype.all = function (this: HistoryStore) { reads.push('all'); return all.call(this); };
    try {
      const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName }, { fetch: fileFetch() });
      try {
        expect(reads.length).toBe(1); // during loading (warm-up)
        await e.track({ type: 'view', itemId: itemId(12) });
        const r = await e.recommend('home', { k: 5 });
        expect(r.historyUsed).toBe(2); // the stored event and the new one
        expect(reads.length).toBe(1);
      } finally {
        await e.dispose();
      }
    } finally {
      HistoryStore.prototype.all = all;
    }
  });
});

describe('HistoryStore.version (the change counter)', () => {
  it('moves on with each own write that changes the events, never on a read or a write that changes nothing', async () => {
    const s = await store(freshDbName());
    let v = s.version;
    const moved = () => { const was = v; v = s.version; return v !== was; };
    const reads = async () => {
      await s.events(); await s.snapshot(); await s.all(); await s.list(); await s.export(NOW);
    };
    await reads();
    expect(moved()).toBe(false);
    await s.add([ev('a', NOW - 30), ev('b', NOW - 20), ev('c', NOW - 10)], keep, NOW);
    expect(moved()).toBe(true);
    await reads();
    expect(moved()).toBe(false);
    const snap = await s.snapshot();
    expect(snap.version).toBe(s.version);
    expect(snap.events).toBe(await s.events()); // the in-memory copy
    expect(snap.events.map((e) => e.itemId)).toEqual(['a', 'b', 'c']);
    await s.prune({ maxEvents: 2, maxAgeDays: 180 }, NOW); // drops 'a'
    expect(moved()).toBe(true);
    await s.prune({ maxEvents: 2, maxAgeDays: 180 }, NOW); // nothing to drop
    expect(moved()).toBe(false);
    await s.add([], { maxEvents: 1, maxAgeDays: 180 }, NOW); // prunes 'b'
    expect(moved()).toBe(true);
    await s.add([ev('old', NOW - 400 * 86_400_000)], keep, NOW); // stored and dropped again at once
    expect(moved()).toBe(false);
    expect((await s.events()).map((e) => e.itemId)).toEqual(['c']);
    await s.add([ev('d', NOW - 5)], keep, NOW);
    expect(moved()).toBe(true);
    await s.forgetItem('c');
    expect(moved()).toBe(true);
    await s.forgetItem('nope');
    expect(moved()).toBe(false);
    await reads();
    expect(moved()).toBe(false);
    await s.clear();
    expect(moved()).toBe(true);
    await s.clear(); // already empty
    expect(moved()).toBe(false);
    expect(await s.snapshot()).toEqual({ events: [], version: v });
  });

  it('a failed write (rolled back) leaves it as it was', async () => {
    const s = await store(freshDbName());
    await s.add([ev('a', NOW - 2)], keep, NOW);
    const v = s.version;
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(() => { throw new DOMException('quota', 'QuotaExceededError'); });
    await expect(s.add([ev('b', NOW)], keep, NOW)).rejects.toThrow();
    vi.restoreAllMocks();
    expect(s.version).toBe(v);
    expect((await s.snapshot())).toMatchObject({ version: v });
    expect((await s.events()).map((e) => e.itemId)).toEqual(['a']);
  });

  it('a second store of the same database: each of its writes moves the first one\'s version; its reads do not', async () => {
    const name = freshDbName();
    const a = await store(name);
    const b = await store(name);
    await a.events();
    let v = a.version;
    const moved = () => { const was = v; v = a.version; return v !== was; };
    await b.add([ev('x', NOW - 10)], keep, NOW);
    expect(moved()).toBe(true);
    const snap = await a.snapshot();
    expect(snap.version).toBe(v);
    expect(snap.events.map((e) => e.itemId)).toEqual(['x']);
    await b.events(); await b.list(); await b.all();
    // b's channel message also reaches a's channel (same realm): it must not move a's version again.
    await new Promise((r) => setTimeout(r, 50));
    expect(moved()).toBe(false);
    await b.add([ev('y', NOW - 5)], keep, NOW);
    expect(moved()).toBe(true);
    await b.prune({ maxEvents: 1, maxAgeDays: 180 }, NOW);
    expect(moved()).toBe(true);
    await b.forgetItem('y');
    expect(moved()).toBe(true);
    await b.add([ev('z', NOW)], keep, NOW);
    expect(moved()).toBe(true);
    await b.clear();
    expect(moved()).toBe(true);
    expect(await a.snapshot()).toEqual({ events: [], version: v });
    // And the other way round: a's write moves b's version.
    const vb = b.version;
    await a.add([ev('w', NOW)], keep, NOW);
    expect(b.version).not.toBe(vb);
  });

  it('another tab\'s BroadcastChannel message and a dropped connection move it', async () => {
    const name = freshDbName();
    const a = await store(name);
    await a.add([ev('x', NOW - 10)], keep, NOW);
    await a.events();
    let v = a.version;
    const db = await openDB(name);
    await db.add('events', { ...ev('z', NOW - 1) } as never);
    db.close();
    const channel = new BroadcastChannel(`scenerec-history:${name}`);
    channel.postMessage('changed');
    await new Promise((r) => setTimeout(r, 50));
    channel.close();
    expect(a.version).not.toBe(v);
    v = a.version;
    expect((await a.snapshot())).toMatchObject({ version: v });
    await deleteDB(name); // another tab deletes the database
    expect(a.version).not.toBe(v);
    expect((await a.snapshot()).events).toEqual([]);
  });
});
