/**
 * Fault suite, storage (issue 14, items 5-8), in real Chromium:
 * - IndexedDB missing or `open` throwing in the worker (tests/support/storage-fault.worker.ts):
 *   the recommender loads with `storage: 'memory'`, says so, tracks and recommends; nothing persists.
 * - Over the quota at load (CDP Storage.overrideQuotaForOrigin, set before the page's first storage
 *   use, for a returning shopper with a stored history): `storage: 'read-only'`, recommendations
 *   from the stored history, `track` rejects with QuotaExceededError and stores nothing; once the
 *   quota is back, a reload stores again. A new shopper over the quota gets 'memory'.
 * - Hostile timestamps, sparse arrays and values that cannot be cloned: InvalidEventError with the
 *   index; old events are reported as outsideRetention; the stored history is what the page was told.
 * - Retention timing: 100,000 tracked events with the default maxEvents vs with no pruning.
 * Every case: the call settles with the typed error or the degraded mode, the stored history equals
 * what the page was told, and the next call works.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type BrowserContext, type CDPSession, type Page } from '@playwright/test';
import { BASE_URL } from '../env';
import { freshDb, HARNESS, openHarness, watchConsole } from '../helpers';

const BACKEND = 'wasm' as const;

for (const fault of ['idb-missing', 'idb-open-throws'] as const) {
  test(`${fault}: loads with storage 'memory', tracks and recommends; nothing persists`, async ({ page }) => {
    const { errors } = watchConsole(page);
    const dbName = freshDb(fault);
    await openHarness(page);
    const out = await page.evaluate(async ({ dbName, fault, backend }) => {
      const h = window.harness;
      const progress: unknown[] = [];
      const t0 = performance.now();
      const rec = await h.create({ backend, dbName, storageFault: fault, onProgress: (p) => progress.push(p) });
      const loadMs = performance.now() - t0;
      const info = await rec.info();
      const tracked = await rec.track([
        { type: 'view', itemId: 'item-03' }, { type: 'cart', itemId: 'item-04' }, { type: 'search', query: 'lamp', scene: 'search' },
      ]);
      const home = await rec.scene('home').recommend({ k: 5 });
      const history = await rec.listHistory({ newestFirst: false });
      const forgotten = await rec.forgetItem('item-03');
      const afterForget = await rec.listHistory({ newestFirst: false });
      const exported = await rec.exportHistory();
      await rec.dispose();
      const databases = (await indexedDB.databases()).map((d) => d.name);
      return { progress, loadMs, info, tracked, home: home.items.length, used: home.historyUsed, history, forgotten, afterForget, exported, databases };
    }, { dbName, fault, backend: BACKEND });

    expect(out.info.storage).toBe('memory');
    expect(out.info.storageReason).toMatch(fault === 'idb-missing' ? /IndexedDB is not available/ : /SecurityError/);
    expect(out.progress[0]).toMatchObject({ stage: 'storage', storage: 'memory' });
    expect(out.tracked).toMatchObject({ stored: 3, outsideRetention: 0 });
    expect(out.home).toBe(5);
    expect(out.used).toBe(2);
    expect(out.history.map((e) => e.itemId ?? e.query)).toEqual(['item-03', 'item-04', 'lamp']);
    expect(out.forgotten).toBe(1);
    expect(out.afterForget.map((e) => e.itemId ?? e.query)).toEqual(['item-04', 'lamp']);
    expect(out.exported.events).toEqual(out.afterForget);
    // Nothing pretended to persist: no database was created, and a fresh load has no history.
    expect(out.databases).not.toContain(dbName);
    await page.reload();
    await expect(page.locator('#status')).toHaveText('ready');
    const again = await page.evaluate(async ({ dbName, backend }) => {
      const rec = await window.harness.create({ backend, dbName });
      const r = { storage: (await rec.info()).storage, history: await rec.listHistory() };
      await rec.dispose();
      return r;
    }, { dbName, backend: BACKEND });
    expect(again).toEqual({ storage: 'indexeddb', history: [] });
    console.log(`${fault}: storage 'memory', load ${out.loadMs.toFixed(0)} ms`);
    expect(errors.filter((e) => !/history storage is 'memory'/.test(e))).toEqual([]);
  });
}

/**
 * The origin's quota (CDP Storage.overrideQuotaForOrigin; no quotaSize resets it). Chromium checks it
 * from the page's first storage use on (it caches the space left), so set it before that. The
 * override lasts while `cdp` is attached.
 */
async function overrideQuota(context: BrowserContext, page: Page, quotaSize?: number): Promise<CDPSession> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', quotaSize === undefined ? { origin: BASE_URL } : { origin: BASE_URL, quotaSize });
  return cdp;
}

test("over the quota at load (a returning shopper): storage 'read-only', recommends from the stored history, track stores nothing", async ({}, testInfo) => {
  test.setTimeout(240_000);
  // A profile on disk, so the history outlives the browser: each launch is a new first storage use.
  const profile = mkdtempSync(join(tmpdir(), 'scenerec-quota-'));
  const launch = async (quotaSize?: number) => {
    const context = await chromium.launchPersistentContext(profile, { ...testInfo.project.use.launchOptions, headless: true });
    const page = context.pages()[0] ?? await context.newPage();
    const errors = watchConsole(page).errors;
    if (quotaSize !== undefined) await overrideQuota(context, page, quotaSize);
    await page.goto(BASE_URL + HARNESS);
    await expect(page.locator('#status')).toHaveText('ready');
    return { context, page, errors };
  };
  const dbName = freshDb('quota');
  let session = await launch();
  try {
    const seeded = await session.page.evaluate(async ({ dbName, backend }) => {
      const rec = await window.harness.create({ backend, dbName });
      const now = Date.now();
      await rec.track(Array.from({ length: 40 }, (_, i) => ({ type: 'view' as const, itemId: `item-${String(11 + (i % 9)).padStart(2, '0')}`, timestamp: now - 60_000 + i * 1000 })));
      const home = await rec.scene('home').recommend({ k: 6, diversity: 0 });
      const history = await rec.listHistory({ newestFirst: false });
      await rec.dispose();
      return { home: home.items.map((i) => i.itemId), history };
    }, { dbName, backend: BACKEND });
    expect(seeded.history).toHaveLength(40);
    await session.context.close();

    session = await launch(1);
    const out = await session.page.evaluate(async ({ dbName, backend }) => {
      const h = window.harness;
      const progress: unknown[] = [];
      const t0 = performance.now();
      const rec = await h.create({ backend, dbName, onProgress: (p) => progress.push(p) });
      const loadMs = performance.now() - t0;
      const info = await rec.info();
      const home = await rec.scene('home').recommend({ k: 6, diversity: 0 });
      const t1 = performance.now();
      const trackError = await h.errorOf(() => rec.track({ type: 'view', itemId: 'item-30' }));
      const trackMs = performance.now() - t1;
      const afterTrack = await rec.listHistory({ newestFirst: false });
      // Deleting is tried (it frees space): either it works or it is a typed error; the history says which.
      const forgetError = await h.errorOf(() => rec.forgetItem('item-11'));
      const afterForget = await rec.listHistory({ newestFirst: false });
      const next = await rec.scene('product').recommend({ itemId: 'item-12', k: 3 });
      await rec.dispose();
      return { progress, loadMs, info, home: home.items.map((i) => i.itemId), used: home.historyUsed, trackError, trackMs, afterTrack, forgetError, afterForget, next: next.items.length };
    }, { dbName, backend: BACKEND });

    expect(out.info.storage).toBe('read-only');
    expect(out.info.storageReason).toMatch(/quota/);
    expect(out.progress[0]).toMatchObject({ stage: 'storage', storage: 'read-only' });
    expect(out.home, 'the same recommendations as before, from the stored history').toEqual(seeded.home);
    expect(out.used).toBeGreaterThan(0);
    expect(out.trackError).toMatchObject({ name: 'QuotaExceededError', code: 'QUOTA_EXCEEDED', instanceOf: 'QuotaExceededError' });
    expect(out.trackError!.details).toMatchObject({ storage: 'read-only' });
    expect(out.trackError!.message).toMatch(/read-only for this session/);
    expect(out.afterTrack).toEqual(seeded.history);
    const forgotten = seeded.history.filter((e) => e.itemId !== 'item-11');
    if (out.forgetError) {
      expect(out.forgetError).toMatchObject({ isScenerecError: true });
      expect(out.afterForget).toEqual(seeded.history);
    } else {
      expect(out.afterForget).toEqual(forgotten);
    }
    expect(out.next).toBe(3);
    expect(session.errors).toEqual([]);
    console.log(`over quota: storage 'read-only', load ${out.loadMs.toFixed(0)} ms, track rejected in ${out.trackMs.toFixed(1)} ms, ` +
      `forgetItem ${out.forgetError ? `rejected (${out.forgetError.name})` : 'worked'}`);
    await session.context.close();

    // The quota back: the next load stores again, with the history the page was told about.
    session = await launch();
    const back = await session.page.evaluate(async ({ dbName, backend }) => {
      const rec = await window.harness.create({ backend, dbName });
      const before = await rec.listHistory({ newestFirst: false });
      const tracked = await rec.track({ type: 'view', itemId: 'item-30' });
      const r = { storage: (await rec.info()).storage, before, tracked, after: (await rec.listHistory()).length };
      await rec.dispose();
      return r;
    }, { dbName, backend: BACKEND });
    expect(back.storage).toBe('indexeddb');
    expect(back.before).toEqual(out.afterForget);
    expect(back.tracked).toMatchObject({ stored: 1 });
    expect(back.after).toBe(out.afterForget.length + 1);
  } finally {
    await session.context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test("over the quota at load (a new shopper, nothing stored): storage 'memory', the session's history works", async ({ page, context }) => {
  const dbName = freshDb('quota-new');
  await overrideQuota(context, page, 1);
  await openHarness(page);
  const out = await page.evaluate(async ({ dbName, backend }) => {
    const rec = await window.harness.create({ backend, dbName });
    const info = await rec.info();
    const tracked = await rec.track({ type: 'view', itemId: 'item-05' });
    const home = await rec.scene('home').recommend({ k: 4 });
    const history = await rec.listHistory();
    await rec.dispose();
    return { storage: info.storage, reason: info.storageReason, tracked, used: home.historyUsed, history: history.map((e) => e.itemId) };
  }, { dbName, backend: BACKEND });
  expect(out.storage).toBe('memory');
  expect(out.reason).toMatch(/quota/i);
  expect(out.tracked).toMatchObject({ stored: 1 });
  expect(out.used).toBe(1);
  expect(out.history).toEqual(['item-05']);
});

test('hostile input: timestamps, sparse arrays, values that cannot be cloned; old events reported outside retention', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async ({ dbName, backend }) => {
    const h = window.harness;
    const rec = await h.create({ backend, dbName, retention: { maxAgeDays: 30 } });
    const now = Date.now();
    await rec.track([{ type: 'view', itemId: 'item-01' }, { type: 'cart', itemId: 'item-02' }]);
    const before = await rec.listHistory();
    const ok = { type: 'view' as const, itemId: 'item-03' };
    const bad = {
      year3000: await h.errorOf(() => rec.track([ok, { ...ok, timestamp: Date.UTC(3000, 0, 1) }])),
      huge: await h.errorOf(() => rec.track([ok, { ...ok, timestamp: 1e20 }])),
      tomorrowPlus: await h.errorOf(() => rec.track([ok, { ...ok, timestamp: now + 2 * 86_400_000 }])),
      seconds: await h.errorOf(() => rec.track([ok, { ...ok, timestamp: Math.floor(now / 1000) }])),
      // eslint-disable-next-line no-sparse-arrays
      sparse: await h.errorOf(() => rec.track([ok, , ok] as never)),
      symbol: await h.errorOf(() => rec.track([ok, { type: 'view', itemId: Symbol('x') as never }])),
      fn: await h.errorOf(() => rec.track([ok, { type: 'view', itemId: (() => 'x') as never }])),
      proxy: await h.errorOf(() => rec.track([ok, new Proxy({ ...ok }, {})])),
    };
    const afterBad = await rec.listHistory();
    // A replay of real logs with their own timestamps: 566 older than maxAgeDays, 2 recent.
    const log = Array.from({ length: 566 }, (_, i) => ({ type: 'view' as const, itemId: `item-${String(1 + (i % 40)).padStart(2, '0')}`, timestamp: now - 45 * 86_400_000 + i * 60_000 }));
    const replay = await rec.track([...log, { type: 'view', itemId: 'item-44', timestamp: now - 86_400_000 }, { type: 'view', itemId: 'item-45', timestamp: now - 3_600_000 }]);
    const afterReplay = await rec.listHistory({ newestFirst: false });
    const next = await rec.scene('home').recommend({ k: 3 });
    await rec.dispose();
    return { before, bad, afterBad, replay, afterReplay, next: next.items.length, used: next.historyUsed };
  }, { dbName: freshDb('hostile'), backend: BACKEND });

  for (const [key, e] of Object.entries(out.bad)) {
    expect(e, key).toMatchObject({ name: 'InvalidEventError', code: 'INVALID_EVENT', instanceOf: 'InvalidEventError' });
    expect(e!.details, key).toMatchObject({ index: 1 });
  }
  expect(out.bad.year3000!.message).toMatch(/3000-01-01.*more than a day ahead/);
  expect(out.bad.huge!.message).toMatch(/more than a day ahead/);
  expect(out.bad.seconds!.message).toMatch(/not seconds.*\* 1000/);
  expect(out.bad.sparse!.message).toMatch(/sparse array/);
  expect(out.afterBad, 'history unchanged by the rejected calls').toEqual(out.before);
  expect(out.replay).toMatchObject({ stored: 2, pruned: 0, outsideRetention: 566 });
  // Oldest first: the two recent replayed events, then the two tracked at the start (timestamp: now).
  expect(out.afterReplay.map((e) => e.itemId)).toEqual(['item-44', 'item-45', 'item-01', 'item-02']);
  expect(out.afterReplay).toHaveLength(4);
  expect(out.next).toBe(3);
  expect(errors).toEqual([]);
});

/**
 * Retention timing: N events tracked in calls of PER_CALL events, IN_FLIGHT calls at a time, with the
 * default maxEvents (1000: batched pruning) and with maxEvents = N (nothing to prune). The event count
 * per call can be changed (SCENEREC_RETENTION_PER_CALL=1 for one event per call, several minutes here).
 */
test('retention: 100,000 tracked events with the default maxEvents take within 2x the time without pruning', async ({ page }) => {
  test.setTimeout(600_000);
  await openHarness(page);
  const N = 100_000;
  const PER_CALL = Number(process.env.SCENEREC_RETENTION_PER_CALL ?? 10);
  const IN_FLIGHT = 100;
  const run = (maxEvents: number | undefined) => page.evaluate(async ({ dbName, backend, N, PER_CALL, IN_FLIGHT, maxEvents }) => {
    const rec = await window.harness.create({ backend, dbName, ...(maxEvents ? { retention: { maxEvents } } : {}) });
    const base = Date.now() - N;
    const event = (j: number) => ({ type: 'view' as const, itemId: `item-${String(1 + (j % 50)).padStart(2, '0')}`, timestamp: base + j });
    const t0 = performance.now();
    let stored = 0;
    let pruned = 0;
    let outside = 0;
    for (let i = 0; i < N; i += PER_CALL * IN_FLIGHT) {
      const calls = [];
      for (let j = i; j < Math.min(N, i + PER_CALL * IN_FLIGHT); j += PER_CALL) {
        const batch = [];
        for (let k = j; k < Math.min(N, j + PER_CALL); k++) batch.push(event(k));
        calls.push(rec.track(batch));
      }
      for (const r of await Promise.all(calls)) { stored += r.stored; pruned += r.pruned; outside += r.outsideRetention; }
    }
    const ms = performance.now() - t0;
    const history = await rec.listHistory();
    const next = await rec.scene('home').recommend({ k: 3 });
    await rec.dispose();
    return { ms, stored, pruned, outside, kept: history.length, newest: history[0].timestamp - base, next: next.items.length };
  }, { dbName: freshDb(`retention-${maxEvents ?? 'default'}`), backend: BACKEND, N, PER_CALL, IN_FLIGHT, maxEvents });

  const noPruning = await run(N); // maxEvents = N: never over the limit
  const withPruning = await run(undefined); // the default maxEvents (1000)
  console.log(`retention timing: ${N} events, ${PER_CALL} per call, ${IN_FLIGHT} calls in flight: default maxEvents ${withPruning.ms.toFixed(0)} ms ` +
    `(kept ${withPruning.kept}, pruned ${withPruning.pruned}), no pruning ${noPruning.ms.toFixed(0)} ms (kept ${noPruning.kept}); ` +
    `ratio ${(withPruning.ms / noPruning.ms).toFixed(2)}`);
  expect(noPruning).toMatchObject({ stored: N, pruned: 0, outside: 0, kept: N, newest: N - 1, next: 3 });
  expect(withPruning).toMatchObject({ stored: N, outside: 0, newest: N - 1, next: 3 });
  // What the page was told: stored N, minus pruned, is what is kept; within maxEvents + slack.
  expect(withPruning.kept).toBe(N - withPruning.pruned);
  expect(withPruning.kept).toBeGreaterThanOrEqual(1000);
  expect(withPruning.kept).toBeLessThanOrEqual(1100);
  expect(withPruning.ms).toBeLessThan(2 * noPruning.ms);
});
