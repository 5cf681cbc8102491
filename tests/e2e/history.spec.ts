/**
 * The shopper's history: it survives a reload (IndexedDB), and forget/clear/export work.
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from './helpers';

test('tracked events are still there after a reload (IndexedDB), forgetting too', async ({ page }) => {
  const { errors } = watchConsole(page);
  const dbName = freshDb('persist');
  await openHarness(page);
  const first = await page.evaluate(async (dbName) => {
    const threeDaysAgo = Math.round(Date.now() / 1000 - 3 * 86400) * 1000;
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    await rec.track([
      { type: 'view', itemId: 'item-41', scene: 'home', timestamp: threeDaysAgo },
      { type: 'click', itemId: 'item-42', scene: 'product' },
      { type: 'search', query: 'blue lamp', scene: 'search' },
    ]);
    await rec.track({ type: 'cart', itemId: 'item-43', scene: 'product' });
    await rec.track({ type: 'view', itemId: 'item-07', scene: 'product' });
    const forgotten = await rec.forgetItem('item-07');
    const history = await rec.listHistory({ newestFirst: false });
    const home = await rec.scene('home').recommend({ k: 5 });
    return { history, forgotten, home: home.items.map((i) => i.itemId), used: home.historyUsed, threeDaysAgo };
  }, dbName);
  expect(first.forgotten).toBe(1);
  expect(first.history.map((e) => [e.type, e.itemId ?? e.query, e.scene])).toEqual([
    ['view', 'item-41', 'home'], ['click', 'item-42', 'product'], ['search', 'blue lamp', 'search'], ['cart', 'item-43', 'product'],
  ]);
  expect(first.history[0].timestamp).toBe(first.threeDaysAgo);

  await page.reload();
  await expect(page.locator('#status')).toHaveText('ready');
  const second = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    const history = await rec.listHistory({ newestFirst: false });
    const home = await rec.scene('home').recommend({ k: 5 });
    // Another database name on the same origin is another (empty) history.
    const other = await window.scenerec.createRecommender({ modelUrl: window.harness.fixtureModelUrl, backend: 'cpu', dbName: `${dbName}-other` });
    const otherHistory = await other.listHistory();
    await other.dispose();
    return { history, home: home.items.map((i) => i.itemId), used: home.historyUsed, otherHistory };
  }, dbName);
  expect(second.history, 'same events, ids and timestamps after the reload').toEqual(first.history);
  expect(second.used).toBe(first.used);
  expect(second.home, 'same history, same recommendations').toEqual(first.home);
  expect(second.otherHistory).toEqual([]);
  expect(errors).toEqual([]);
});

test('forgetItem removes every event about an item, clearHistory removes all, exportHistory matches', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    await rec.track([
      { type: 'view', itemId: 'item-11' }, { type: 'view', itemId: 'item-34' },
      { type: 'cart', itemId: 'item-11', scene: 'product' }, { type: 'view', itemId: 'item-12' },
    ]);
    const exported = await rec.exportHistory();
    const listed = await rec.listHistory();
    const forgotten = await rec.forgetItem('item-11');
    const forgottenAgain = await rec.forgetItem('item-11');
    const afterForget = await rec.listHistory();
    const homeAfterForget = await rec.scene('home').recommend({ k: 10 });
    await rec.clearHistory();
    const afterClear = await rec.listHistory();
    const exportAfterClear = await rec.exportHistory();
    const homeAfterClear = await rec.scene('home').recommend({ k: 10 });
    await rec.dispose();
    return { exported, listed, forgotten, forgottenAgain, afterForget, homeAfterForget, afterClear, exportAfterClear, homeAfterClear };
  }, freshDb('forget'));

  expect(out.exported.format).toBe('scenerec-history');
  expect(out.exported.version).toBe(1);
  expect(out.exported.events).toHaveLength(4);
  expect([...out.exported.events].sort((a, b) => a.id - b.id)).toEqual([...out.listed].sort((a, b) => a.id - b.id));
  expect(out.listed.map((e) => e.itemId), 'newest first by default').toEqual(['item-12', 'item-11', 'item-34', 'item-11']);

  expect(out.forgotten).toBe(2);
  expect(out.forgottenAgain).toBe(0);
  expect(out.afterForget.map((e) => e.itemId)).toEqual(['item-12', 'item-34']);
  expect(out.homeAfterForget.historyUsed).toBe(2);
  for (const it of out.homeAfterForget.items) {
    if (it.reason.kind === 'personal') expect(it.reason.becauseOf).not.toContain('item-11');
  }

  expect(out.afterClear).toEqual([]);
  expect(out.exportAfterClear.events).toEqual([]);
  expect(out.homeAfterClear.historyUsed).toBe(0);
  expect(out.homeAfterClear.items).toHaveLength(10);
  expect(out.homeAfterClear.items.every((i) => i.reason.kind === 'popular')).toBe(true);
  expect(errors).toEqual([]);
});
