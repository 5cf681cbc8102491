/**
 * The multi-task model (models/tianchi-mtl) in the browser, on WebGPU in the SDK worker, with the
 * demo's catalog plus a product the model has never seen:
 * - each objective has its own head: click-only, purchase-only and satisfaction-only (the favorite
 *   head) lists differ, raising the satisfaction weight reorders the default blend, and the scene's
 *   default blend is accepted and deterministic;
 * - the new product is scored from its category/brand/price (a 'search' reason, not a fallback);
 * - the cart scene never lists what is in the cart;
 * - no tensors leak across rounds of every scene.
 */
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from './helpers';

const catalog = JSON.parse(readFileSync(new URL('../../demo/catalog.json', import.meta.url), 'utf8')) as Array<{ id: string; category?: string; price?: number; available?: boolean }>;

test('multi-task model: per-objective heads, content-scored new items, scenes, no leak (webgpu)', async ({ page }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  const ids = catalog.filter((c) => c.available !== false).map((c) => c.id);
  const newItem = { id: 'new-arrival-1', title: 'New arrival', category: catalog[0].category, price: 99 };
  await openHarness(page);
  const out = await page.evaluate(async ({ dbName, catalog, ids, newItem }) => {
    const h = window.harness;
    const rec = await h.create({ backend: 'webgpu', dbName, debugWorker: true, modelUrl: '/models/tianchi-mtl/model.json', catalog: [...catalog, newItem] });
    await rec.track([
      { type: 'view', itemId: ids[10] }, { type: 'view', itemId: ids[11] }, { type: 'cart', itemId: ids[12], scene: 'product' },
      { type: 'view', itemId: ids[40] }, { type: 'favorite', itemId: ids[41], scene: 'product' },
    ]);
    const list = async (objectives: { click: number; cart: number; purchase: number; satisfaction?: number }) =>
      (await rec.scene('home').recommend({ k: 10, objectives, diversity: 0 })).items.map((i) => i.itemId);
    const click = await list({ click: 1, cart: 0, purchase: 0 });
    const purchase = await list({ click: 0, cart: 0, purchase: 1 });
    const satisfaction = await list({ click: 0, cart: 0, purchase: 0, satisfaction: 1 });
    const blend = await list({ click: 1, cart: 0.5, purchase: 0.5, satisfaction: 0 });
    const blendSatisfied = await list({ click: 1, cart: 0.5, purchase: 0.5, satisfaction: 3 });
    const def1 = (await rec.scene('home').recommend({ k: 10 })).items.map((i) => i.itemId);
    const def2 = (await rec.scene('home').recommend({ k: 10 })).items.map((i) => i.itemId);
    const cart = await rec.scene('cart').recommend({ cart: [ids[12], ids[20]], k: 8 });
    const search = await rec.scene('search').rerank({ query: 'q', candidates: [newItem.id, ids[100], ids[101]], k: 3 });
    const round = async (i: number) => {
      await rec.track({ type: i % 3 ? 'view' : 'cart', itemId: ids[(i * 7) % ids.length] });
      await rec.scene('home').recommend({ k: 12 });
      await rec.scene('product').recommend({ itemId: ids[i % ids.length], k: 8 });
      await rec.scene('cart').recommend({ cart: [ids[(i + 3) % ids.length]], k: 6 });
      await rec.scene('search').rerank({ query: 'q', candidates: ids.slice(i, i + 20), k: 10 });
    };
    await round(0);
    const before = await h.workerMemory();
    for (let i = 1; i <= 5; i++) await round(i);
    const after = await h.workerMemory();
    const info = rec.engineInfo;
    await rec.clearHistory();
    await rec.dispose();
    return { click, purchase, satisfaction, blend, blendSatisfied, def1, def2, cartItems: cart.items.map((i) => i.itemId), search: search.items, info, before, after };
  }, { dbName: freshDb('mtl'), catalog, ids, newItem });

  expect(out.info.modelVersion).toMatch(/^tianchi-mtl-/);
  // Every catalog item is scored: the new one from its content, counted apart from the learned ones.
  expect(out.info.coverage.learned + out.info.coverage.contentOnly, 'every catalog item is scored, new ones from content').toBe(catalog.length + 1);
  expect(out.info.coverage.contentOnly).toBeGreaterThanOrEqual(1);
  expect(out.info.catalogItemsKnownToModel).toBe(out.info.coverage.learned);
  expect(out.click).toHaveLength(10);
  expect(out.purchase).toHaveLength(10);
  expect(out.click).not.toEqual(out.purchase);
  // The favorite head serves the satisfaction objective (format version 2 model).
  expect(out.info.objectives).toEqual(['click', 'cart', 'purchase', 'satisfaction']);
  expect(out.satisfaction).toHaveLength(10);
  expect(out.satisfaction).not.toEqual(out.click);
  expect(out.blendSatisfied).not.toEqual(out.blend);
  expect(out.def1).toEqual(out.def2);
  expect(out.cartItems).not.toContain(ids[12]);
  expect(out.cartItems).not.toContain(ids[20]);
  expect(out.search.map((i) => i.itemId).sort()).toEqual([newItem.id, ids[100], ids[101]].sort());
  expect(out.search.find((i) => i.itemId === newItem.id)?.reason.kind).toBe('search');
  expect(out.after.numTensors).toBe(out.before.numTensors);
  expect(errors).toEqual([]);
});
