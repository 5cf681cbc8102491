/**
 * The in-memory history of HistoryStore.events() (the recommend path): equal to a fresh IndexedDB
 * read after every kind of write, and dropped when another store of the same database writes (in
 * this realm synchronously, from other tabs and workers through the BroadcastChannel).
 */
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/contract/options.js';
import { createEngine } from '../../src/engine/engine.js';
import { HistoryStore } from '../../src/engine/store/history.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const NOW = Date.UTC(2025, 0, 31);
const keep = { maxEvents: 1000, maxAgeDays: 180 };
const ev = (id: string, timestamp: number, type: NewEvent['type'] = 'view'): NewEvent => ({ type, itemId: id, scene: 'home', timestamp });
const open: HistoryStore[] = [];
async function store(name: string) { const s = await HistoryStore.open(name); open.push(s); return s; }
afterEach(() => { for (const s of open.splice(0)) s.close(); });

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
