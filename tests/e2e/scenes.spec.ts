/**
 * Every scene returns valid lists: catalog ids, no duplicates, at most k, only available items,
 * scene rules (cart items left out of the cart scene, search returns only its candidates).
 * Fixture model + fixture catalog (tests/e2e/pages/harness.ts), backend 'webgpu'.
 */
import { expect, test } from '@playwright/test';
import type { RecommendResult } from '../../src/index';
import { freshDb, openHarness, watchConsole } from './helpers';

const REASON_KINDS = ['personal', 'similar', 'complement', 'search', 'popular', 'affinity', 'pinned', 'fallback'];

/** Checks the invariants every list shares; returns its ids. */
function checkList(r: RecommendResult, scene: string, k: number, catalogIds: Set<string>, unavailable: string[]): string[] {
  const ids = r.items.map((i) => i.itemId);
  expect(r.scene).toBe(scene);
  expect(r.backend).toBe('webgpu');
  expect(r.modelVersion).toBeTruthy();
  expect(r.latencyMs).toBeGreaterThanOrEqual(0);
  expect(ids.length, `${scene}: at most k`).toBeLessThanOrEqual(k);
  expect(new Set(ids).size, `${scene}: no duplicates in ${ids}`).toBe(ids.length);
  for (const [n, it] of r.items.entries()) {
    expect(catalogIds.has(it.itemId), `${scene}: ${it.itemId} is a catalog id`).toBe(true);
    expect(unavailable, `${scene}: ${it.itemId} is available`).not.toContain(it.itemId);
    expect(it.rank).toBe(n);
    expect(Number.isFinite(it.score)).toBe(true);
    expect(REASON_KINDS).toContain(it.reason.kind);
    expect(it.item?.id).toBe(it.itemId);
    expect(it.item?.available).not.toBe(false);
  }
  return ids;
}

test('each scene returns valid, de-duplicated, available catalog items within k', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const h = window.harness;
    const rec = await h.create({ backend: 'webgpu', dbName });
    await rec.track([
      { type: 'view', itemId: 'item-21', scene: 'home' },
      { type: 'click', itemId: 'item-22', scene: 'home' },
      { type: 'view', itemId: 'item-24', scene: 'product' },
      { type: 'purchase', itemId: 'item-25', scene: 'cart' },
      { type: 'view', itemId: 'item-23', scene: 'product' },
    ]);
    const searchCandidates = ['item-03', 'item-25', 'item-13', 'cold-2', 'item-41', 'item-03', 'item-26', 'item-02', 'item-44'];
    const res = {
      catalogIds: h.fixtureCatalog().map((i) => i.id),
      unavailable: h.unavailable,
      home: await rec.scene('home').recommend({ k: 12 }),
      homeAll: await rec.scene('home').recommend({ k: 200 }),
      product: await rec.scene('product').recommend({ itemId: 'item-45', k: 8 }),
      productCold: await rec.scene('product').recommend({ itemId: 'cold-1', k: 5 }),
      cart: await rec.scene('cart').recommend({ cart: ['item-01', 'item-09'], k: 6 }),
      search: await rec.scene('search').rerank({ query: 'item', candidates: searchCandidates, k: 20 }),
      searchK: await rec.scene('search').rerank({ query: 'item', candidates: searchCandidates, k: 2 }),
      searchCandidates,
    };
    await rec.dispose();
    return res;
  }, freshDb('scenes'));

  const catalog = new Set(out.catalogIds);
  const home = checkList(out.home, 'home', 12, catalog, out.unavailable);
  expect(home).toHaveLength(12);
  expect(out.home.historyUsed).toBeGreaterThan(0);
  // Bought items are left out of home lists (excludePurchased defaults to true).
  const homeAll = checkList(out.homeAll, 'home', 200, catalog, out.unavailable);
  expect(homeAll).not.toContain('item-25');
  // k = 200 > catalog: every available, not-bought item exactly once (53 items - 3 unavailable - 1 bought).
  expect(homeAll).toHaveLength(out.catalogIds.length - out.unavailable.length - 1);

  const product = checkList(out.product, 'product', 8, catalog, out.unavailable);
  expect(product).toHaveLength(8);
  expect(product, 'the product page does not recommend its own item').not.toContain('item-45');
  expect(product).not.toContain('item-25');

  const productCold = checkList(out.productCold, 'product', 5, catalog, out.unavailable);
  expect(productCold).not.toContain('cold-1');
  expect(productCold.length).toBeGreaterThan(0);

  const cart = checkList(out.cart, 'cart', 6, catalog, out.unavailable);
  expect(cart).toHaveLength(6);
  expect(cart, 'cart items are not recommended in the cart').not.toContain('item-01');
  expect(cart).not.toContain('item-09');

  const cands = new Set(out.searchCandidates);
  const search = checkList(out.search, 'search', 20, catalog, out.unavailable);
  for (const id of search) expect(cands.has(id), `search returned ${id}, not a candidate`).toBe(true);
  // Every available candidate once: 7 distinct candidates minus item-13 and item-02 (unavailable).
  expect(new Set(search)).toEqual(new Set(['item-03', 'item-25', 'cold-2', 'item-41', 'item-26', 'item-44']));
  const searchK = checkList(out.searchK, 'search', 2, catalog, out.unavailable);
  expect(searchK).toHaveLength(2);
  expect(errors).toEqual([]);
});
