/**
 * Degraded storage and hostile input (issue 14, items 5-8):
 * - the storage modes of openStorage: IndexedDB missing or `open` throwing -> 'memory' (the
 *   in-memory history keeps the same events as the IndexedDB one, op by op); over the quota at
 *   open -> 'read-only' (reads work, `add` rejects with QuotaExceededError and changes nothing);
 *   a blocked upgrade still throws;
 * - the engine on each mode: recommendations work from what can be read, the mode is reported;
 * - batched retention: the store stays within maxEvents + slack and prunes once per slack writes;
 * - timestamps (seconds, future, absurd), old events reported as outsideRetention;
 * - sparse arrays and values that cannot be cloned: InvalidEventError with the index;
 * - bad input never loses stored data.
 */
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as Comlink from 'comlink';
import {
  createRecommender, InvalidEventError, QuotaExceededError, StorageBlockedError, type LoadProgress, type StoredEvent,
} from '../../src/index.js';
import type { NewEvent } from '../../src/contract/options.js';
import { validateEvents } from '../../src/contract/options.js';
import { MAX_EVENT_CLOCK_SKEW_MS } from '../../src/contract/defaults.js';
import { createEngine } from '../../src/engine/engine.js';
import { exposeEngine } from '../../src/engine/host.js';
import {
  HistoryStore, MemoryHistory, openStorage, retentionSlack, type EventHistory, type ScenerecStorage,
} from '../../src/engine/store/index.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const NOW = Date.UTC(2026, 0, 15);
const DAY = 86_400_000;
const keep = { maxEvents: 1000, maxAgeDays: 180 };
const ev = (id: string, timestamp: number): NewEvent => ({ type: 'view', itemId: id, scene: 'home', timestamp });

const open: ScenerecStorage[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});
async function storage(name = freshDbName(), options?: Parameters<typeof openStorage>[1]): Promise<ScenerecStorage> {
  const s = await openStorage(name, options);
  open.push(s);
  return s;
}

/** Writes in fake-indexeddb fail as Chromium's do over the quota (reads still work). */
function overQuota(): void {
  const quota = () => { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); };
  vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(quota);
  vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(quota);
}

describe('storage modes', () => {
  it("IndexedDB missing: 'memory', with the reason", async () => {
    vi.stubGlobal('indexedDB', undefined);
    const s = await storage();
    expect(s.mode).toBe('memory');
    expect(s.reason).toMatch(/memory for this session only: IndexedDB is not available/);
    expect(s.history).toBeInstanceOf(MemoryHistory);
    await s.history.add([ev('a', NOW)], keep, NOW);
    expect((await s.history.all()).map((e) => e.itemId)).toEqual(['a']);
    await s.meta.set({ key: 'model', modelVersion: 'v', modelUrl: 'u', loadedAt: 1 });
    expect(await s.meta.get('model')).toMatchObject({ modelVersion: 'v' });
    s.close();
    await expect(s.history.all()).rejects.toThrow('The history store is closed.');
  });

  it("indexedDB.open throwing (SecurityError, as in locked-down browsers): 'memory'", async () => {
    vi.spyOn(indexedDB, 'open').mockImplementation(() => { throw new DOMException('access denied', 'SecurityError'); });
    const s = await storage();
    expect(s.mode).toBe('memory');
    expect(s.reason).toContain('SecurityError: access denied');
  });

  it("over the quota at open: 'read-only'; reads work, add rejects with QuotaExceededError and changes nothing", async () => {
    const name = freshDbName();
    const first = await storage(name);
    await first.history.add([ev('a', NOW - 2), ev('b', NOW - 1)], keep, NOW);
    first.close();
    overQuota();
    const s = await storage(name);
    expect(s.mode).toBe('read-only');
    expect(s.reason).toMatch(/quota/);
    expect((await s.history.all()).map((e) => e.itemId)).toEqual(['a', 'b']);
    const v = s.history.version;
    const err = await s.history.add([ev('c', NOW)], keep, NOW).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err.details).toMatchObject({ storage: 'read-only' });
    expect(err.message).toMatch(/read-only for this session.*Nothing was stored/);
    expect(s.history.version).toBe(v);
    // Meta and catalog-cache writes are skipped, not failed.
    await expect(s.meta.set({ key: 'model', modelVersion: 'v', modelUrl: 'u', loadedAt: 1 })).resolves.toBeUndefined();
    vi.restoreAllMocks();
    expect((await s.history.all()).map((e) => e.itemId)).toEqual(['a', 'b']);
    // Deleting still goes to IndexedDB (it frees space; the shopper's right to forget).
    expect(await s.history.forgetItem('a')).toBe(1);
  });

  it("over the quota at open with nothing stored (a new shopper): 'memory', not an empty read-only history", async () => {
    overQuota();
    const s = await storage();
    expect(s.mode).toBe('memory');
    expect(s.reason).toMatch(/memory for this session only.*quota/);
    expect(await s.history.add([ev('a', NOW)], keep, NOW)).toMatchObject({ stored: 1 });
  });

  it('a blocked upgrade still throws StorageBlockedError (a reload fixes it; memory would hide the history)', async () => {
    const name = freshDbName();
    const otherTab = await openDB(name, 1);
    const err = await openStorage(name, { schemaVersion: 2, blockedTimeoutMs: 50 }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageBlockedError);
    otherTab.close();
  });
});

/** The same operations on both stores; after each, the same events (ids included) and the version moving alike. */
describe('MemoryHistory keeps what HistoryStore keeps', () => {
  it('op by op: add with retention by count and age, prune, forgetItem, clear, export', async () => {
    const idb = (await storage()).history as HistoryStore;
    const mem: EventHistory = new MemoryHistory('mem');
    const both = async <T>(f: (h: EventHistory) => Promise<T>) => {
      const vi0 = idb.version;
      const vm0 = mem.version;
      const [a, b] = [await f(idb), await f(mem)];
      expect(b).toEqual(a);
      expect(await mem.all()).toEqual(await idb.all());
      expect(await mem.events()).toEqual(await idb.events());
      expect(await mem.list({ limit: 3 })).toEqual(await idb.list({ limit: 3 }));
      expect(mem.version !== vm0).toBe(idb.version !== vi0);
      return a;
    };
    const r = { maxEvents: 20, maxAgeDays: 30 };
    await both((h) => h.add([ev('a', NOW - 40 * DAY), ev('b', NOW - 5), ev('c', NOW - 5), ev('d', NOW - 9)], r, NOW));
    for (let i = 0; i < 30; i++) await both((h) => h.add([ev(`x${i}`, NOW - 100 + (i % 7))], r, NOW));
    await both((h) => h.add(Array.from({ length: 25 }, (_, i) => ev(`y${i}`, NOW - 50 + (i % 4))), r, NOW));
    await both((h) => h.add([ev('old', NOW - 31 * DAY)], r, NOW));
    await both((h) => h.prune({ maxEvents: 10, maxAgeDays: 30 }, NOW));
    await both((h) => h.prune({ maxEvents: 10, maxAgeDays: 30 }, NOW));
    await both((h) => h.forgetItem('y24'));
    await both((h) => h.forgetItem('nothing'));
    expect((await mem.export(NOW)).events).toEqual((await idb.export(NOW)).events);
    await both((h) => h.clear());
    await both((h) => h.clear());
  });

  it('hands out copies from all() and list(): changing them changes nothing stored', async () => {
    const mem = new MemoryHistory('mem');
    await mem.add([ev('a', NOW)], keep, NOW);
    (await mem.all())[0].itemId = 'hacked';
    (await mem.list())[0].itemId = 'hacked';
    expect((await mem.all())[0].itemId).toBe('a');
  });
});

describe('batched retention', () => {
  for (const kind of ['indexeddb', 'memory'] as const) {
    it(`${kind}: one event per write stays within maxEvents + slack and prunes once per slack writes`, async () => {
      const h = kind === 'memory' ? new MemoryHistory('m') : (await storage()).history;
      const r = { maxEvents: 100, maxAgeDays: 180 };
      const slack = retentionSlack(r.maxEvents);
      expect(slack).toBe(10);
      let prunes = 0;
      let size = 0;
      const writes = 600;
      for (let i = 0; i < writes; i++) {
        const res = await h.add([ev(`i${i}`, NOW - writes + i)], r, NOW);
        expect(res.stored).toBe(1);
        size += 1 - res.pruned;
        if (res.pruned > 0) {
          prunes++;
          expect(size).toBe(r.maxEvents); // pruned down to maxEvents, not by one
        }
        expect(size).toBeLessThanOrEqual(r.maxEvents + slack);
      }
      const all = await h.all();
      expect(all).toHaveLength(size);
      // The newest are kept, in order.
      expect(all.at(-1)?.itemId).toBe(`i${writes - 1}`);
      expect(all.map((e) => e.itemId)).toEqual(Array.from({ length: size }, (_, j) => `i${writes - size + j}`));
      // Pruning inside every write would be ~500 prunes.
      // The first prune is at the write that passes maxEvents + slack, then one every slack + 1 writes.
      expect(prunes).toBe(Math.floor((writes - 1 - (r.maxEvents + slack)) / (slack + 1)) + 1);
    });
  }

  it('many writes in flight at once: the count stays exact (pruning is still batched, the bound holds)', async () => {
    const h = (await storage()).history;
    const r = { maxEvents: 100, maxAgeDays: 180 };
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => h.add([ev(`c${i}`, NOW - 400 + i)], r, NOW)));
    const stored = results.reduce((n, x) => n + x.stored - x.pruned, 0);
    const all = await h.all();
    expect(all).toHaveLength(stored);
    expect(all.length).toBeLessThanOrEqual(r.maxEvents + retentionSlack(r.maxEvents));
    expect(results.filter((x) => x.pruned > 0).length).toBeLessThanOrEqual(Math.ceil(300 / retentionSlack(r.maxEvents)));
    expect(all.at(-1)?.itemId).toBe('c399');
  });

  it('a batch larger than maxEvents stores its newest maxEvents and reports the rest as outsideRetention', async () => {
    const h = (await storage()).history;
    await h.add([ev('keep-me', NOW - 10)], keep, NOW);
    const batch = Array.from({ length: 50 }, (_, i) => ev(`b${i}`, NOW - 1000 + i));
    const res = await h.add(batch, { maxEvents: 5, maxAgeDays: 180 }, NOW);
    // The batch's newest 5 are written; keep-me (NOW - 10) is newer than all of them, so the oldest of
    // the five is pruned after writing (maxEvents 5: no slack): 4 stored, 46 outside retention.
    expect(res).toEqual({ stored: 4, pruned: 0, outsideRetention: 46 });
    const ids = (await h.all()).map((e) => e.itemId);
    expect(ids).toEqual(['b46', 'b47', 'b48', 'b49', 'keep-me']);
  });

  it('another store writing the same database: the count is read again, the bound holds', async () => {
    const name = freshDbName();
    const a = (await storage(name)).history;
    const b = (await storage(name)).history;
    const r = { maxEvents: 30, maxAgeDays: 180 };
    for (let i = 0; i < 200; i++) {
      await (i % 3 === 0 ? b : a).add([ev(`e${i}`, NOW - 500 + i)], r, NOW);
      expect((await a.all()).length).toBeLessThanOrEqual(r.maxEvents + retentionSlack(r.maxEvents));
    }
  });
});

describe('timestamps', () => {
  const at = NOW;
  it('rejects seconds, the future beyond a day, and absurd values, naming the index', () => {
    const cases: Array<[number, RegExp]> = [
      [Math.floor(at / 1000), /milliseconds since the epoch.*not seconds.*pass \d+ \* 1000/],
      [5, /not seconds/],
      [at + MAX_EVENT_CLOCK_SKEW_MS + 1, /more than a day ahead/],
      [Date.UTC(3000, 0, 1), /3000-01-01.*more than a day ahead/],
      [1e20, /100000000000000000000 ms, more than a day ahead/],
    ];
    for (const [ts, re] of cases) {
      let err: unknown;
      try { validateEvents([{ type: 'view', itemId: 'a' }, { type: 'view', itemId: 'b', timestamp: ts }], at); } catch (e) { err = e; }
      expect(err, String(ts)).toBeInstanceOf(InvalidEventError);
      expect((err as InvalidEventError).message).toMatch(re);
      expect((err as InvalidEventError).details).toMatchObject({ index: 1, field: 'timestamp' });
    }
    // Within the skew, and old real dates, are fine.
    expect(validateEvents({ type: 'view', itemId: 'a', timestamp: at + MAX_EVENT_CLOCK_SKEW_MS }, at)[0].timestamp).toBe(at + MAX_EVENT_CLOCK_SKEW_MS);
    expect(validateEvents({ type: 'view', itemId: 'a', timestamp: Date.UTC(2001, 0, 1) }, at)).toHaveLength(1);
  });

  it('names the index for every field error, and for holes of a sparse array', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [{ type: 'view', itemId: 'a' }, , { type: 'view', itemId: 'b' }];
    const err = (() => { try { validateEvents(sparse); } catch (e) { return e as InvalidEventError; } })();
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err?.message).toMatch(/events\[1\] is missing \(a hole in a sparse array/);
    expect(err?.details).toMatchObject({ index: 1 });
    const bad = (() => { try { validateEvents([{ type: 'view', itemId: 'a' }, { type: 'view', itemId: Symbol('x') }]); } catch (e) { return e as InvalidEventError; } })();
    expect(bad?.details).toMatchObject({ index: 1 });
    const unknown = (() => { try { validateEvents([{ type: 'view', itemId: 'a', colour: 'red' }]); } catch (e) { return e as InvalidEventError; } })();
    expect(unknown?.details).toMatchObject({ index: 0 });
  });
});

describe('the engine on degraded storage', () => {
  const base = () => ({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu' as const, catalog: fixtureCatalog(), dbName: freshDbName() });

  it("IndexedDB missing: loads with storage 'memory', warns, tracks and recommends from the session's history", async () => {
    vi.stubGlobal('indexedDB', undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const progress: LoadProgress[] = [];
    const e = await createEngine(base(), { fetch: fileFetch(), onProgress: (p) => progress.push(p) });
    try {
      expect(progress[0]).toMatchObject({ stage: 'storage', storage: 'memory' });
      expect(warn).toHaveBeenCalled();
      const info = await e.info();
      expect(info.storage).toBe('memory');
      expect(info.storageReason).toMatch(/IndexedDB is not available/);
      expect(await e.track([{ type: 'view', itemId: itemId(3) }, { type: 'cart', itemId: itemId(4) }])).toMatchObject({ stored: 2 });
      const home = await e.recommend('home', { k: 5 });
      expect(home.items).toHaveLength(5);
      expect(home.historyUsed).toBe(2);
      expect((await e.listHistory()).map((x) => x.itemId)).toEqual([itemId(4), itemId(3)]);
    } finally {
      await e.dispose();
    }
  });

  it("over the quota at load: storage 'read-only', recommends from the stored history, track rejects and stores nothing", async () => {
    const config = base();
    const seed = await createEngine(config, { fetch: fileFetch() });
    await seed.track([{ type: 'view', itemId: itemId(11), timestamp: Date.now() - 2000 }, { type: 'view', itemId: itemId(12), timestamp: Date.now() - 1000 }]);
    const before = await seed.recommend('home', { k: 5, diversity: 0 });
    await seed.dispose();

    overQuota();
    const e = await createEngine(config, { fetch: fileFetch() });
    try {
      expect((await e.info()).storage).toBe('read-only');
      const home = await e.recommend('home', { k: 5, diversity: 0 });
      expect(home.historyUsed).toBe(2);
      expect(home.items.map((i) => i.itemId)).toEqual(before.items.map((i) => i.itemId));
      const err = await e.track({ type: 'view', itemId: itemId(13) }).catch((x) => x);
      expect(err).toBeInstanceOf(QuotaExceededError);
      expect(err.details).toMatchObject({ storage: 'read-only' });
      expect((await e.listHistory()).map((x) => x.itemId)).toEqual([itemId(12), itemId(11)]);
      // The next call works.
      expect((await e.recommend('product', { itemId: itemId(11), k: 3 })).items).toHaveLength(3);
    } finally {
      await e.dispose();
    }
  });

  it('old events: not stored, counted as outsideRetention; stored history equals what the result said', async () => {
    const e = await createEngine({ ...base(), retention: { maxAgeDays: 30 } }, { fetch: fileFetch() });
    try {
      const now = Date.now();
      const log = Array.from({ length: 566 }, (_, i) => ({ type: 'view' as const, itemId: itemId(1 + (i % 40)), timestamp: now - 40 * DAY + i * 60_000 }));
      const recent = [{ type: 'view' as const, itemId: itemId(45), timestamp: now - DAY }];
      const r = await e.track([...log, ...recent]);
      expect(r).toMatchObject({ stored: 1, pruned: 0, outsideRetention: 566 });
      expect((await e.listHistory()).map((x) => x.itemId)).toEqual([itemId(45)]);
    } finally {
      await e.dispose();
    }
  });

  it('bad input never loses stored data: sparse arrays, future and seconds timestamps', async () => {
    const e = await createEngine(base(), { fetch: fileFetch() });
    try {
      await e.track([{ type: 'view', itemId: itemId(1) }, { type: 'view', itemId: itemId(2) }]);
      const before: StoredEvent[] = await e.listHistory();
      // eslint-disable-next-line no-sparse-arrays
      const bad: unknown[] = [[{ type: 'view', itemId: itemId(3) }, , { type: 'view', itemId: itemId(4) }],
        [{ type: 'view', itemId: itemId(3) }, { type: 'view', itemId: itemId(4), timestamp: 1e20 }],
        [{ type: 'view', itemId: itemId(3), timestamp: Math.floor(Date.now() / 1000) }]];
      for (const events of bad) {
        const err = await e.track(events as never).catch((x) => x);
        expect(err).toBeInstanceOf(InvalidEventError);
        expect(typeof err.details.index).toBe('number');
        expect(await e.listHistory()).toEqual(before);
      }
      expect(await e.track({ type: 'view', itemId: itemId(5) })).toMatchObject({ stored: 1 });
    } finally {
      await e.dispose();
    }
  });
});

describe('through the worker boundary', () => {
  it('an event that cannot be cloned is an InvalidEventError with its index, not a DataCloneError; nothing is stored', async () => {
    const { port1, port2 } = new MessageChannel();
    exposeEngine(port1 as unknown as Comlink.Endpoint, { fetch: fileFetch() });
    const rec = await createRecommender({ worker: port2 as unknown as Worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() });
    try {
      await rec.track({ type: 'view', itemId: itemId(1) });
      const proxy = new Proxy({ type: 'view', itemId: itemId(2) }, {});
      const cases: unknown[] = [
        [{ type: 'view', itemId: itemId(2) }, proxy],
        [{ type: 'view', itemId: itemId(2) }, { type: 'view', itemId: () => 'x' }],
        [{ type: 'view', itemId: itemId(2) }, { type: 'view', itemId: Symbol('x') }],
      ];
      for (const events of cases) {
        const err = await rec.track(events as never).catch((x) => x);
        expect(err).toBeInstanceOf(InvalidEventError);
        expect(err.details).toMatchObject({ index: 1 });
      }
      expect((await rec.listHistory()).map((x) => x.itemId)).toEqual([itemId(1)]);
      expect(await rec.track({ type: 'view', itemId: itemId(3) })).toMatchObject({ stored: 1 });
    } finally {
      await rec.dispose();
      port1.close();
      port2.close();
    }
  });
});
