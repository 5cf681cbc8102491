/**
 * The demo shop (demo/) driven like a shopper would, on the Tianchi model
 * (models/tianchi-mtl, the multi-task model) and its catalog (demo/catalog.json), backend 'webgpu'.
 * Also the request log of the whole session: nothing but static same-origin files; the phone
 * layout (390 px); Clear emptying the demo's own cart storage; the feedback loop (impressions,
 * "Not interested", the history shelves) where the SDK has it.
 */
import { readFileSync } from 'node:fs';
import { expect, test, type Locator, type Page } from '@playwright/test';
import type { CatalogItem } from '../../src/index';
import { expectOnlyStaticAssetRequests, logRequests, waitForDemo, watchConsole } from './helpers';

const catalog: CatalogItem[] = JSON.parse(readFileSync(new URL('../../demo/catalog.json', import.meta.url), 'utf8'));
const byId = new Map(catalog.map((i) => [i.id, i]));

async function recIds(page: Page, scene: string): Promise<string[]> {
  const grid = page.locator(`.recs[data-scene=${scene}][data-ready]`);
  await expect(grid).toBeVisible();
  return grid.locator('.product').evaluateAll((els) => els.map((e) => e.getAttribute('data-item-id')!));
}

/** Every recommended card: a catalog item, available, unique, with a reason shown. */
async function checkRecs(page: Page, scene: string, k: number): Promise<string[]> {
  const ids = await recIds(page, scene);
  expect(ids.length).toBeGreaterThan(0);
  expect(ids.length).toBeLessThanOrEqual(k);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) {
    expect(byId.has(id), `${scene}: ${id} in the catalog`).toBe(true);
    expect(byId.get(id)!.available, `${scene}: ${id} available`).not.toBe(false);
  }
  const reasons: Locator = page.locator(`.recs[data-scene=${scene}] .product .reason`);
  await expect(reasons).toHaveCount(ids.length);
  for (const text of await reasons.allInnerTexts()) expect(text.trim()).not.toBe('');
  return ids;
}

const CART_KEY = 'scenerec-demo-cart';

/** Opens one of the header's drawers ('data' or 'settings'). */
async function openDrawer(page: Page, which: 'data' | 'settings'): Promise<void> {
  await page.locator(`#${which}-toggle`).click();
  const drawer = page.locator(`#${which}-drawer`);
  await expect(drawer).toBeVisible();
  await drawer.evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished))); // slid in
}

async function closeDrawer(page: Page, which: 'data' | 'settings'): Promise<void> {
  await page.locator(`#${which}-drawer .drawer-close`).click();
  await expect(page.locator(`#${which}-drawer`)).toBeHidden();
}

async function historyItems(page: Page): Promise<Array<{ type: string; itemId: string | null }>> {
  return page.locator('#history-list li').evaluateAll((els) => els.map((e) => ({ type: e.getAttribute('data-type')!, itemId: e.getAttribute('data-item-id') })));
}

test('demo shop: scenes, history panel, reload, forget, clear, export; only static requests', async ({ page }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  const log = logRequests(page);

  await page.goto('/demo/?backend=webgpu');
  await waitForDemo(page);
  await expect(page.locator('#loading')).toBeHidden();
  await expect(page.locator('#info-backend')).toHaveText('webgpu');
  await expect(page.locator('#info-adapter')).toHaveAttribute('data-architecture', 'swiftshader');
  await expect(page.locator('#info-load')).toContainText(/\d/);
  await openDrawer(page, 'data');
  await page.locator('#history-clear').click(); // start from an empty history
  await expect(page.locator('#history-empty')).toBeVisible();
  await closeDrawer(page, 'data');
  await checkRecs(page, 'home', 10);
  // The list explains itself on demand: one line per item, no raw scores.
  await page.locator('.shelf[data-shelf=home] .why-toggle').click();
  await expect(page.locator('#why-home .why')).toHaveCount((await recIds(page, 'home')).length);
  await expect(page.locator('#why-home')).not.toContainText(/score/i);
  await expect(page.locator('#info-last')).toContainText('home:');

  // Catalog: paging and the category filter.
  await expect(page.locator('#catalog-grid .product')).toHaveCount(24);
  await page.locator('.pager a', { hasText: 'Next' }).click();
  await expect(page.locator('#page-info')).toHaveText(/^Page 2 of/);
  const firstCategory = catalog[0].category!;
  await page.locator('#category-filter').selectOption(firstCategory);
  const inCategory = catalog.filter((i) => i.category === firstCategory).length;
  await expect(page.locator('#catalog-grid .product')).toHaveCount(Math.min(24, inCategory));

  // Product page: a view is tracked, similar items exclude the product itself.
  const product = catalog.find((i) => i.available !== false && i.category === firstCategory)!;
  await page.locator(`#catalog-grid .product[data-item-id="${product.id}"]`).click();
  await expect(page.locator(`.pdp[data-item-id="${product.id}"]`)).toBeVisible();
  const similar = await checkRecs(page, 'product', 10);
  expect(similar).not.toContain(product.id);
  await expect.poll(() => historyItems(page)).toEqual([{ type: 'view', itemId: product.id }]);

  // Cart: add, the cart scene leaves cart items out.
  await page.locator('#add-to-cart').click();
  await expect(page.locator('#cart-count')).toHaveText('1');
  await expect.poll(async () => (await historyItems(page))[0]).toEqual({ type: 'cart', itemId: product.id });
  // Click a recommended item: a click event in the product scene, then its page.
  const clicked = similar[0];
  await page.locator(`.recs[data-scene=product] .product[data-item-id="${clicked}"]`).click();
  await expect(page.locator(`.pdp[data-item-id="${clicked}"]`)).toBeVisible();
  await page.locator('#add-to-cart').click();
  await expect(page.locator('#cart-count')).toHaveText('2');
  await page.locator('#cart-link').click();
  await expect(page.locator('#cart-list li')).toHaveCount(2);
  const cartRecs = await checkRecs(page, 'cart', 5);
  expect(cartRecs).not.toContain(product.id);
  expect(cartRecs).not.toContain(clicked);
  await page.locator(`#cart-list .remove[data-item-id="${clicked}"]`).click();
  await expect(page.locator('#cart-list li')).toHaveCount(1);
  await expect(page.locator('#cart-count')).toHaveText('1');

  // Search: the shop's substring search gives candidates, the SDK reranks them.
  const query = firstCategory;
  await page.locator('#search-input').fill(query);
  await page.locator('#search-input').press('Enter');
  const found = await checkRecs(page, 'search', 20);
  for (const id of found) expect(JSON.stringify(byId.get(id)), `${id} matches "${query}"`).toContain(query);
  await expect(page.locator('.recs[data-scene=search] .reason').first()).toContainText(/Shop result|new to the model/);

  const before = await historyItems(page);
  expect(before.map((e) => e.type)).toEqual(['search', 'cart', 'view', 'click', 'cart', 'view']);

  // Reload: the history is still there (IndexedDB), and so is the cart (the shop's localStorage).
  await page.reload();
  await waitForDemo(page);
  await expect.poll(() => historyItems(page)).toEqual(before);
  await expect(page.locator('#cart-count')).toHaveText('1');
  expect(JSON.parse((await page.evaluate((k) => localStorage.getItem(k), CART_KEY))!)).toEqual([product.id]);

  // Export downloads the same events as JSON.
  await openDrawer(page, 'data');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#history-export').click()]);
  const exported = JSON.parse(readFileSync((await download.path())!, 'utf8'));
  expect(exported.format).toBe('scenerec-history');
  expect(exported.events).toHaveLength(before.length);

  // Forget one item: every event about it goes.
  await page.locator(`#history-list .forget[data-item-id="${clicked}"]`).first().click();
  await expect.poll(async () => (await historyItems(page)).map((e) => e.itemId)).not.toContain(clicked);
  expect((await historyItems(page)).length).toBe(before.length - 3);

  // Clear: nothing left, in the SDK's history nor in the demo's own cart storage; home falls back
  // to popular items.
  await page.locator('#history-clear').click();
  await expect(page.locator('#history-empty')).toBeVisible();
  await expect(page.locator('#history-list li')).toHaveCount(0);
  await expect(page.locator('#cart-count')).toHaveText('0');
  expect(await page.evaluate((k) => localStorage.getItem(k), CART_KEY)).toBeNull();
  await closeDrawer(page, 'data');
  await page.reload();
  await waitForDemo(page);
  await expect(page.locator('#cart-count')).toHaveText('0');
  expect(await page.evaluate((k) => localStorage.getItem(k), CART_KEY)).toBeNull();
  await page.locator('a.brand').click();
  await checkRecs(page, 'home', 10);
  await expect(page.locator('.recs[data-scene=home] .reason').first()).toHaveText('Popular in the shop');

  // The whole session fetched only static same-origin files; no request carried history.
  await page.waitForTimeout(500);
  const paths = log.map((r) => new URL(r.url).pathname);
  expect(paths).toContain('/models/tianchi-mtl/model.json');
  expect(paths).toContain('/models/tianchi-mtl/vocab.json');
  expectOnlyStaticAssetRequests(log, {
    documentPath: '/demo/',
    allowedQuery: /^\?backend=webgpu$/,
    allowedPaths: [/^\/demo\/$/, /^\/assets\/[\w.-]+\.(js|css|wasm|json)$/, /^\/models\/tianchi-mtl\/[\w.-]+\.(json|bin)$/],
    secrets: [product.id, clicked, ...similar, ...cartRecs, ...found, query],
  });
  expect(errors).toEqual([]);
});

/** Fails when the page is wider than its viewport or `selector` is not wholly inside it. */
async function expectFits(page: Page, selector: string): Promise<void> {
  const vw = page.viewportSize()!.width;
  const box = (await page.locator(selector).boundingBox())!;
  expect(box, `${selector} rendered`).not.toBeNull();
  expect(box.x, `${selector} left edge`).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width, `${selector} right edge within ${vw} px`).toBeLessThanOrEqual(vw);
  expect(box.y, `${selector} top edge`).toBeGreaterThanOrEqual(0);
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    header: document.querySelector('.topbar')!.scrollWidth,
    headerBox: document.querySelector('.topbar')!.clientWidth,
  }));
  expect(widths.doc, 'page wider than the viewport').toBeLessThanOrEqual(vw);
  expect(widths.header, 'header content overflowing').toBeLessThanOrEqual(widths.headerBox);
}

test('demo shop on a 390 px phone: the header with the cart link fits, on every page', async ({ page }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/demo/?backend=webgpu');
  await waitForDemo(page);
  await checkRecs(page, 'home', 10);
  await expectFits(page, '#cart-link');
  await expect(page.locator('#cart-link')).toBeInViewport({ ratio: 1 });
  await expectFits(page, '#search-input');
  for (const toggle of ['#data-toggle', '#settings-toggle']) await expectFits(page, toggle);

  // A product page (long title, facts, shelves) and the cart keep the header whole.
  const product = catalog.find((i) => i.available !== false)!;
  await page.locator(`#catalog-grid .product[data-item-id="${product.id}"]`).click();
  await expect(page.locator(`.pdp[data-item-id="${product.id}"]`)).toBeVisible();
  await checkRecs(page, 'product', 10);
  await expectFits(page, '#cart-link');
  await page.locator('#add-to-cart').click();
  await page.locator('#cart-link').click();
  await expect(page.locator('#cart-list li')).toHaveCount(1);
  await expectFits(page, '#cart-link');
  await expectFits(page, '#checkout');

  // The README's search example finds something.
  await page.locator('#search-input').fill('notebook');
  await page.locator('#search-input').press('Enter');
  const found = await checkRecs(page, 'search', 20);
  for (const id of found) expect(byId.get(id)!.title!.toLowerCase()).toContain('notebook');
  await expectFits(page, '#cart-link');

  // The settings drawer fits the phone too.
  await openDrawer(page, 'settings');
  const drawer = (await page.locator('#settings-drawer').boundingBox())!;
  expect(drawer.x).toBeGreaterThanOrEqual(0);
  expect(drawer.x + drawer.width).toBeLessThanOrEqual(390);
  await closeDrawer(page, 'settings');
  expect(errors).toEqual([]);
});

test('demo shop feedback loop: impressions as the shopper scrolls, "Not interested", recently viewed', async ({ page }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  const log = logRequests(page);
  await page.goto('/demo/?backend=webgpu');
  await waitForDemo(page);
  await openDrawer(page, 'data');
  await page.locator('#history-clear').click();
  await expect(page.locator('#history-empty')).toBeVisible();
  await closeDrawer(page, 'data');
  const home = await checkRecs(page, 'home', 10);

  // The home shelf is in view: its impressions go out as one batch; the SDK's answer says whether
  // it takes feedback events (an SDK without them refuses the type with InvalidEventError).
  await expect(page.locator('body')).toHaveAttribute('data-feedback', /^(on|unsupported)$/);
  const supported = (await page.locator('body').getAttribute('data-feedback')) === 'on';
  if (!supported) {
    // The demo degrades: no dismiss buttons, no history shelves, the lists and the page still work.
    await expect(page.locator('.product .dismiss')).toHaveCount(0);
    await expect(page.locator('.shelf[data-shelf=recentlyViewed]')).toBeHidden();
    await expect(page.locator('#info-feedback')).toContainText('no impression/dismiss');
    expect(errors).toEqual([]);
  }
  const why = 'This SDK has no impression/dismiss events (InvalidEventError): the demo hides "Not interested" and the history shelves; dismissal not testable here.';
  if (!supported) console.log(`[demo feedback] skipped: ${why}`); // the list reporter shows no skip reason
  test.skip(!supported, why);

  // Only what was in view counts: the shelf's first card was shown, its last (off to the right of
  // the sideways-scrolling row) not until the shopper scrolls there.
  const impressionsOf = async (): Promise<Map<string, number>> => {
    await openDrawer(page, 'data');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#history-export').click()]);
    await closeDrawer(page, 'data');
    const data = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { feedback?: Array<{ itemId: string; impressions: number }> };
    return new Map((data.feedback ?? []).map((f) => [f.itemId, f.impressions]));
  };
  const reportedCount = async () => Number(await page.locator('#info-feedback').getAttribute('data-impressions') ?? 0);
  await expect.poll(reportedCount).toBeGreaterThan(0);
  const last = home[home.length - 1];
  let shown = await impressionsOf();
  expect(shown.get(home[0]) ?? 0, 'first card, in view').toBeGreaterThan(0);
  expect(shown.get(last) ?? 0, 'last card, not yet scrolled to').toBe(0);
  const before = await reportedCount();
  await page.locator('.recs[data-scene=home]').evaluate((el) => { el.scrollLeft = el.scrollWidth; });
  await expect.poll(reportedCount).toBeGreaterThan(before);
  shown = await impressionsOf();
  expect(shown.get(last) ?? 0, 'last card, scrolled into view').toBeGreaterThan(0);

  // "Not interested": the card goes now, and the SDK keeps it out of the next list, after a reload too.
  const dropped = home[0];
  await page.locator(`.recs[data-scene=home] .product[data-item-id="${dropped}"] .dismiss`).click();
  await expect(page.locator(`.recs[data-scene=home] .product[data-item-id="${dropped}"]`)).toHaveCount(0);
  await page.reload();
  await waitForDemo(page);
  const after = await checkRecs(page, 'home', 10);
  expect(after).not.toContain(dropped);

  // Recently viewed: a viewed product heads the shelf, with its reason.
  const viewed = after[0];
  await page.locator(`.recs[data-scene=home] .product[data-item-id="${viewed}"]`).click();
  await expect(page.locator(`.pdp[data-item-id="${viewed}"]`)).toBeVisible();
  await page.locator('a.brand').click();
  const shelf = page.locator('.shelf[data-shelf=recentlyViewed]');
  await expect(shelf).toBeVisible();
  await expect(shelf.locator('.product').first()).toHaveAttribute('data-item-id', viewed);
  await expect(shelf.locator('.product .reason').first()).toContainText(/^Viewed today/);

  await page.waitForTimeout(500);
  expectOnlyStaticAssetRequests(log, {
    documentPath: '/demo/',
    allowedQuery: /^\?backend=webgpu$/,
    allowedPaths: [/^\/demo\/$/, /^\/assets\/[\w.-]+\.(js|css|wasm|json)$/, /^\/models\/tianchi-mtl\/[\w.-]+\.(json|bin)$/],
    secrets: [dropped, viewed],
  });
  expect(errors).toEqual([]);
});
