/**
 * Write ids (src/engine/store/writes.ts): a history write replayed with the id it was applied with
 * is a no-op that answers as the first time, in the same store, in another store on the same
 * database (the restarted worker), and through the engine's applyWrite; a write that failed
 * records no id; the ids are kept for the last `keep` writes only. A track call's history events and
 * feedback commit in one transaction (ScenerecStorage.track).
 */
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeedbackEvent, NewEvent } from '../../src/contract/options.js';
import { StorageError } from '../../src/contract/errors.js';
import { inTransaction, type ScenerecDB } from '../../src/engine/store/db.js';
import { openStorage, STORAGE_MODES, type ScenerecStorage } from '../../src/engine/store/index.js';
import { applyOnce } from '../../src/engine/store/writes.js';
import { createEngine } from '../../src/engine/engine.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const keep = { maxEvents: 1000, maxAgeDays: 180 };
const NOW = Date.UTC(2025, 0, 31);
const ev = (id: string, timestamp: number): NewEvent => ({ type: 'view', itemId: id, scene: 'home', timestamp });
const batch = (n: number, t0 = NOW - 10_000): NewEvent[] => Array.from({ length: n }, (_, i) => ev(`i${i}`, t0 + i));

const open: ScenerecStorage[] = [];
async function openAll(name = freshDbName(), schemaVersion?: number): Promise<ScenerecStorage> {
  const s = await openStorage(name, schemaVersion ? { schemaVersion } : {});
  open.push(s);
  return s;
}
afterEach(() => { for (const s of open.splice(0)) s.close(); });

describe('history writes with a write id', () => {
  it('a replayed add stores nothing and answers as the first time; the version does not move', async () => {
    const { history } = await openAll();
    const first = await history.add(batch(200), keep, NOW, 'w-1');
    expect(first).toEqual({ stored: 200, pruned: 0, outsideRetention: 0 });
    const version = history.version;
    const again = await history.add(batch(200), keep, NOW, 'w-1');
    expect(again).toEqual(first);
    expect(history.version).toBe(version);
    expect(await history.all()).toHaveLength(200);
    // Another id is another write.
    await history.add([ev('x', NOW)], keep, NOW, 'w-2');
    expect(await history.all()).toHaveLength(201);
  });

  it('a replay through another connection to the same database (the restarted worker) is a no-op', async () => {
    const name = freshDbName();
    const dead = await openAll(name);
    const result = await dead.history.add(batch(3), { maxEvents: 2, maxAgeDays: 180 }, NOW, 'w-pruned');
    // Retention keeps the call's newest maxEvents: one event is left out, none stored is pruned.
    expect(result).toEqual({ stored: 2, pruned: 0, outsideRetention: 1 });
    dead.close(); // the worker died before answering
    const fresh = await openAll(name);
    expect(await fresh.history.add(batch(3), { maxEvents: 2, maxAgeDays: 180 }, NOW, 'w-pruned')).toEqual(result);
    expect((await fresh.history.all()).map((e) => e.itemId)).toEqual(['i1', 'i2']);
  });

  it('a write that failed records no id: its replay applies it', async () => {
    const { history } = await openAll();
    const bad = [ev('a', NOW), { ...ev('b', NOW), itemId: (() => 1) as unknown as string }];
    await expect(history.add(bad, keep, NOW, 'w-f')).rejects.toBeInstanceOf(StorageError);
    expect(await history.all()).toHaveLength(0);
    expect(await history.add([ev('a', NOW), ev('b', NOW)], keep, NOW, 'w-f')).toEqual({ stored: 2, pruned: 0, outsideRetention: 0 });
    expect(await history.all()).toHaveLength(2);
  });

  it('forgetItem and clear replayed do not touch events stored after them', async () => {
    const { history } = await openAll();
    await history.add([ev('a', NOW - 3), ev('a', NOW - 2), ev('b', NOW - 1)], keep, NOW, 'w-add');
    expect(await history.forgetItem('a', 'w-forget')).toBe(2);
    await history.add([ev('a', NOW)], keep, NOW, 'w-add-2');
    expect(await history.forgetItem('a', 'w-forget')).toBe(2); // the first answer, nothing removed
    await history.clear('w-clear');
    await history.add([ev('c', NOW)], keep, NOW, 'w-add-3');
    await history.clear('w-clear');
    expect((await history.all()).map((e) => e.itemId)).toEqual(['c']);
    // The in-memory copy agrees with the database.
    expect((await history.events()).map((e) => e.itemId)).toEqual(['c']);
  });

  it('without a write id every write applies, as before', async () => {
    const { history } = await openAll();
    await history.add([ev('a', NOW)], keep, NOW);
    await history.add([ev('a', NOW)], keep, NOW);
    expect(await history.all()).toHaveLength(2);
  });

  it('on a database older than version 3 (no writes store) a write id is ignored, the write still works', async () => {
    const { history } = await openAll(freshDbName(), 2);
    await history.add([ev('a', NOW)], keep, NOW, 'w-old');
    await history.add([ev('a', NOW)], keep, NOW, 'w-old');
    expect(await history.all()).toHaveLength(2);
  });

  it('keeps the ids of the last `keep` writes only', async () => {
    const name = freshDbName();
    (await openAll(name)).close();
    const db = await openDB<ScenerecDB>(name);
    try {
      const write = (id: string) => inTransaction(db, ['events', 'writes'], 'readwrite', 'test', (tx) =>
        applyOnce(tx, id, async () => { await tx.objectStore('events').add({ type: 'view', itemId: id, scene: 'home', timestamp: NOW } as never); return 1; }, (n) => n, 3));
      for (const id of ['a', 'b', 'c', 'd', 'e']) expect((await write(id)).replayed).toBe(false);
      expect((await db.getAll('writes')).map((w) => w.writeId)).toEqual(['c', 'd', 'e']);
      expect((await write('e')).replayed).toBe(true);
      expect((await write('a')).replayed).toBe(false); // forgotten: applied again
      expect(await db.count('events')).toBe(6);
    } finally {
      db.close();
    }
  });
});

describe('a track call with history and feedback (ScenerecStorage.track)', () => {
  const shown = (id: string, timestamp = NOW - 100): FeedbackEvent => ({ type: 'impression', itemId: id, scene: 'home', timestamp });
  const write = (events: NewEvent[], feedback: FeedbackEvent[], writeId?: string) =>
    ({ events, feedback, retention: keep, now: NOW, lastInteraction: () => undefined, writeId });
  // An item id IndexedDB cannot store (a function: DataCloneError): the history part fails inside the transaction.
  const unstorable = { ...ev('b', NOW), itemId: (() => 1) as unknown as string };

  it('IndexedDB: a failing history write stores the impressions neither (one transaction); the retry stores each once', async () => {
    const storage = await openAll();
    expect((await storage.feedback.records()).size).toBe(0); // fills the feedback cache, which must not keep the rolled-back write
    await expect(storage.track(write([ev('a', NOW), unstorable], [shown('x'), shown('y')]))).rejects.toBeInstanceOf(StorageError);
    expect(await storage.history.all()).toHaveLength(0);
    expect((await storage.feedback.records()).size).toBe(0);
    expect(await storage.track(write([ev('a', NOW), ev('b', NOW)], [shown('x'), shown('y')]))).toEqual({ stored: 2, pruned: 0, outsideRetention: 0 });
    expect(await storage.history.all()).toHaveLength(2);
    const records = await storage.feedback.records();
    expect([...records.values()].map((r) => [r.itemId, r.impressions])).toEqual([['x', 1], ['y', 1]]);
    // The caches agree with the database (a second storage on it reads it afresh).
    const other = await openAll(storage.history.name);
    expect([...(await other.feedback.records()).keys()].sort()).toEqual(['x', 'y']);
    expect((await other.history.events()).map((e) => e.itemId)).toEqual(['a', 'b']);
  });

  it('IndexedDB: a failed write with an id records it for neither part; a replay of the applied one applies nothing', async () => {
    const storage = await openAll();
    await expect(storage.track(write([unstorable], [shown('x')], 'w-t'))).rejects.toBeInstanceOf(StorageError);
    const first = await storage.track(write([ev('a', NOW)], [shown('x')], 'w-t'));
    expect(first).toEqual({ stored: 1, pruned: 0, outsideRetention: 0 });
    expect(await storage.track(write([ev('a', NOW)], [shown('x')], 'w-t'))).toEqual(first);
    expect(await storage.history.all()).toHaveLength(1);
    expect((await storage.feedback.records()).get('x')).toMatchObject({ impressions: 1, exposure: 1 });
  });

  it('IndexedDB: events all outside retention still store the feedback', async () => {
    const storage = await openAll();
    const old = ev('a', NOW - 400 * 86_400_000);
    expect(await storage.track(write([old], [shown('x')]))).toEqual({ stored: 0, pruned: 0, outsideRetention: 1 });
    expect((await storage.feedback.records()).get('x')).toMatchObject({ impressions: 1 });
  });

  it('memory: stores both, once per write id', async () => {
    const storage = await openStorage(freshDbName(), { modes: [STORAGE_MODES.find((m) => m.mode === 'memory')!] });
    open.push(storage);
    expect(storage.mode).toBe('memory');
    await storage.track(write([ev('a', NOW)], [shown('x')], 'w-m'));
    await storage.track(write([ev('a', NOW)], [shown('x')], 'w-m'));
    expect(await storage.history.all()).toHaveLength(1);
    expect((await storage.feedback.records()).get('x')).toMatchObject({ impressions: 1 });
  });
});

describe('engine.applyWrite', () => {
  it('applies a track once per write id, with the same answer, and refuses other methods', async () => {
    const engine = await createEngine(
      { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
      { fetch: fileFetch() },
    );
    try {
      const events = [{ type: 'view' as const, itemId: itemId(3) }, { type: 'view' as const, itemId: 'nobody-knows' }];
      const first = await engine.applyWrite('t-1', 'track', [events]);
      expect(first).toEqual({ stored: 2, unknownItems: ['nobody-knows'], notInCatalog: ['nobody-knows'], pruned: 0, outsideRetention: 0 });
      expect(await engine.applyWrite('t-1', 'track', [events])).toEqual(first);
      expect(await engine.listHistory()).toHaveLength(2);
      expect(await engine.applyWrite('f-1', 'forgetItem', [itemId(3)])).toBe(1);
      await engine.track({ type: 'view', itemId: itemId(3) });
      expect(await engine.applyWrite('f-1', 'forgetItem', [itemId(3)])).toBe(1);
      expect((await engine.listHistory()).map((e) => e.itemId).sort()).toEqual([itemId(3), 'nobody-knows']);
      await expect(engine.applyWrite('r-1', 'recommend' as never, [] as never)).rejects.toThrow(/not a history write/);
      await expect(engine.applyWrite('', 'track', [events])).rejects.toThrow(/write id/);
    } finally {
      await engine.dispose();
    }
  });
});
