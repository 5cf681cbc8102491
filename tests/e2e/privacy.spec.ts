/**
 * The history never leaves the device: while the shopper browses, the SDK (page and worker)
 * only GETs static files from the shop's own origin (app, worker, wasm, model, catalog).
 */
import { expect, test } from '@playwright/test';
import { expectOnlyStaticAssetRequests, freshDb, logRequests, openHarness } from './helpers';

test('the SDK only fetches static same-origin files; nothing carries the history', async ({ page }) => {
  const log = logRequests(page);
  await openHarness(page);
  const items = ['item-17', 'item-28', 'item-39', 'cold-3'];
  await page.evaluate(async ({ dbName, items }) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    for (const [i, itemId] of items.entries()) {
      await rec.track([{ type: 'view', itemId, scene: 'product' }, { type: i % 2 ? 'cart' : 'click', itemId }]);
      await rec.scene('product').recommend({ itemId, k: 5 });
    }
    await rec.track({ type: 'search', query: 'secret-query-text', scene: 'search' });
    await rec.scene('home').recommend({ k: 10 });
    await rec.scene('cart').recommend({ k: 5 });
    await rec.scene('search').rerank({ query: 'secret-query-text', candidates: items, k: 4 });
    await rec.exportHistory();
    await rec.forgetItem('item-17');
    await rec.dispose();
  }, { dbName: freshDb('privacy'), items });
  await page.waitForTimeout(500); // anything sent late would still be logged

  const paths = log.map((r) => new URL(r.url).pathname);
  // Worker requests are in the log: the model files are fetched by the worker.
  expect(paths).toContain('/fixtures/tiny-model/model.json');
  expect(paths).toContain('/fixtures/tiny-model/weights.bin');
  expect(paths).toContain('/fixtures/tiny-model/vocab.json');
  expect(paths.some((p) => /^\/assets\/worker-[\w-]+\.js$/.test(p)), 'the worker script').toBe(true);
  expectOnlyStaticAssetRequests(log, {
    documentPath: '/tests/e2e/pages/harness.html',
    allowedPaths: [/^\/tests\/e2e\/pages\/harness\.html$/, /^\/assets\/[\w.-]+\.(js|wasm|css)$/, /^\/fixtures\/tiny-model\/(model\.json|weights\.bin|vocab\.json)$/],
    secrets: [...items, 'secret-query-text'],
  });
});
