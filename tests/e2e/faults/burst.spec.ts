/**
 * Writes stay exact under load and across a lost worker: a 1,000-call track burst (one event a call)
 * stores exactly the 1,000 events, with the worker terminated or hung halfway through it too
 * (every call resolves once, every event is stored once); and two tabs writing the same history at
 * once store exactly what both were told.
 */
import { expect, test, type Page } from '@playwright/test';
import { freshDb, openHarness } from '../helpers';

const N = 1000;

/** In the page: N concurrent single-event tracks; `fault` halfway (after N/2 calls were made). */
async function burst(page: Page, dbName: string, fault: 'none' | 'terminate' | 'hang', n = N, tag = 'a') {
  return page.evaluate(async ({ dbName, fault, n, tag }) => {
    const h = window.harness;
    const rec = window.rec ?? await h.create({ backend: 'wasm', dbName, debugWorker: true, retention: { maxEvents: 10_000 } });
    const base = Date.now() - 3_600_000;
    const t0 = performance.now();
    const calls: Array<Promise<{ ok: boolean; stored?: number; error?: string }>> = [];
    for (let i = 0; i < n; i++) {
      calls.push(rec.track({ type: 'view', itemId: `${tag}-${i}`, timestamp: base + i }).then(
        (r) => ({ ok: true, stored: r.stored }), (e: Error) => ({ ok: false, error: e.name })));
      if (i === n / 2 && fault === 'terminate') h.terminateWorker();
      if (i === n / 2 && fault === 'hang') void h.fault({ kind: 'hang', at: 'now' }).catch(() => undefined);
    }
    const results = await Promise.all(calls);
    const ms = performance.now() - t0;
    const history = await rec.listHistory({ newestFirst: false, limit: 100_000 });
    return {
      ms, told: results.filter((r) => r.ok).reduce((a, r) => a + (r.stored ?? 0), 0),
      failed: results.filter((r) => !r.ok).map((r) => r.error),
      history: history.filter((e) => e.itemId?.startsWith(`${tag}-`)).map((e) => e.itemId!),
      events: h.events.map((e) => e.type), spawned: h.workersSpawned(),
    };
  }, { dbName, fault, n, tag });
}

for (const fault of ['none', 'terminate', 'hang'] as const) {
  test(`a ${N}-call track burst is exact${fault === 'none' ? '' : `, with the worker ${fault === 'terminate' ? 'terminated' : 'hung'} halfway`}`, async ({ page }) => {
    test.setTimeout(120_000);
    await openHarness(page);
    const r = await burst(page, freshDb(`burst-${fault}`), fault);
    console.log(`[burst ${fault}] ${N} tracks settled in ${r.ms.toFixed(0)} ms; told ${r.told}, stored ${r.history.length}; events ${r.events.join(', ') || 'none'}`);
    expect(r.failed).toEqual([]);
    expect(r.told).toBe(N);
    // Exactly the N events, each once, in order.
    expect(r.history).toEqual(Array.from({ length: N }, (_, i) => `a-${i}`));
    expect(r.events).toEqual(fault === 'none' ? [] : ['worker-lost', 'worker-restarted']);
    expect(r.spawned).toBe(fault === 'none' ? 1 : 2);
    // And it goes on working.
    const next = await page.evaluate(async () => (await window.rec!.scene('home').recommend({ k: 3 })).items.length);
    expect(next).toBe(3);
    await page.evaluate(() => window.rec!.dispose());
  });
}

test('two tabs writing the same history at once store exactly what both were told', async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext();
  const [a, b] = [await context.newPage(), await context.newPage()];
  const dbName = freshDb('two-tabs');
  await Promise.all([openHarness(a), openHarness(b)]);
  await Promise.all([a, b].map((p) => p.evaluate((dbName) => window.harness.create({ backend: 'wasm', dbName, debugWorker: true, retention: { maxEvents: 10_000 } }).then(() => undefined), dbName)));
  const [ra, rb] = await Promise.all([burst(a, dbName, 'none', 300, 'a'), burst(b, dbName, 'none', 300, 'b')]);
  expect(ra.told + rb.told).toBe(600);
  // Each tab sees both tabs' events, each once.
  const all = await a.evaluate(async () => (await window.rec!.listHistory({ limit: 100_000 })).map((e) => e.itemId!));
  expect(all.filter((id) => id.startsWith('a-')).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `a-${i}`).sort());
  expect(all.filter((id) => id.startsWith('b-')).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `b-${i}`).sort());
  expect(all).toHaveLength(600);
  await Promise.all([a, b].map((p) => p.evaluate(() => window.rec!.dispose())));
  await context.close();
});
