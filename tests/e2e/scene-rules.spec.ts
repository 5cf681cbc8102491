/**
 * Each scene's behaviour under shop settings, through the real SDK in the browser (worker,
 * IndexedDB, backend 'webgpu'): include/exclude filters and price ranges, unavailable items,
 * pins and boosts, cart complements, search re-ranking that keeps only the given candidates,
 * bought items, objectives, price weight, diversity, and the fallback fill.
 *
 * Fixture model + catalog (tests/e2e/pages/harness.ts): item-01..item-50 in categories cat-0..cat-4
 * (ten each, price = number), item-02, item-13, item-27 unavailable, cold-1..cold-3 (cat-0, new to
 * the model). The fixture model's one skill: items of the latest history item's cluster (= category)
 * score highest. It has a single head, so objective weights collapse to that score.
 * The last test drives the demo shop's controls on the Tianchi model.
 */
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { CatalogItem, RecommendResult } from '../../src/index';
import { freshDb, openHarness, waitForDemo, watchConsole } from './helpers';

const ids = (r: RecommendResult) => r.items.map((i) => i.itemId);
const cats = (r: RecommendResult) => r.items.map((i) => i.item?.category);
const UNAVAILABLE = ['item-02', 'item-13', 'item-27'];

test('home and product: include/exclude filters, price range, unavailable items, bought items', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    await rec.track([{ type: 'view', itemId: 'item-21' }, { type: 'purchase', itemId: 'item-24' }, { type: 'view', itemId: 'item-22' }]);
    const home = rec.scene('home');
    const res = {
      plain: await home.recommend({ k: 200 }),
      include: await home.recommend({ k: 200, rules: { include: { category: ['cat-1', 'cat-3'] } } }),
      exclude: await home.recommend({ k: 200, rules: { exclude: { category: ['cat-2', 'cat-4'] } } }),
      price: await home.recommend({ k: 200, rules: { include: { minPrice: 10, maxPrice: 20 } } }),
      both: await home.recommend({ k: 200, rules: { include: { category: ['cat-2'] }, exclude: { itemIds: ['item-23'] } } }),
      unavailableShown: await home.recommend({ k: 200, rules: { includeUnavailable: true } }),
      boughtShown: await home.recommend({ k: 200, rules: { excludePurchased: false } }),
      product: await rec.scene('product').recommend({ itemId: 'item-25', k: 200 }),
      productFiltered: await rec.scene('product').recommend({ itemId: 'item-25', k: 200, rules: { include: { category: ['cat-2'] } } }),
      cart: await rec.scene('cart').recommend({ cart: ['item-01'], k: 200 }),
    };
    await rec.dispose();
    return res;
  }, freshDb('rules-filters'));

  const plain = ids(out.plain);
  for (const u of UNAVAILABLE) expect(plain, 'unavailable items are hidden').not.toContain(u);
  expect(plain, 'bought items are left out of home').not.toContain('item-24');
  expect(out.plain.items[0].item!.category, 'the fixture ranks the latest item\'s category first').toBe('cat-2');

  expect(out.include.items.length).toBeGreaterThan(0);
  expect(new Set(cats(out.include))).toEqual(new Set(['cat-1', 'cat-3']));
  expect(ids(out.include)).not.toContain('item-13');
  expect(cats(out.exclude)).not.toContain('cat-2');
  expect(cats(out.exclude)).not.toContain('cat-4');
  expect(out.exclude.items.length).toBeGreaterThan(0);
  for (const it of out.price.items) {
    expect(it.item!.price!).toBeGreaterThanOrEqual(10);
    expect(it.item!.price!).toBeLessThanOrEqual(20);
  }
  expect(ids(out.price).sort()).toEqual(['item-10', 'item-11', 'item-12', 'item-14', 'item-15', 'item-16', 'item-17', 'item-18', 'item-19', 'item-20']);
  // Include AND exclude; the bought item-24 and unavailable item-27 stay out.
  expect(ids(out.both).sort()).toEqual(['item-21', 'item-22', 'item-25', 'item-26', 'item-28', 'item-29', 'item-30']);

  const shown = ids(out.unavailableShown);
  for (const u of UNAVAILABLE) expect(shown, 'includeUnavailable shows out-of-stock items').toContain(u);
  expect(out.unavailableShown.items.find((i) => i.itemId === 'item-13')!.item!.available).toBe(false);
  expect(ids(out.boughtShown), 'excludePurchased: false shows bought items').toContain('item-24');

  const product = ids(out.product);
  expect(product).not.toContain('item-25');
  expect(product, 'bought items are left out of product lists').not.toContain('item-24');
  expect(out.product.items[0].reason.kind).toMatch(/similar|personal/);
  expect(new Set(cats(out.productFiltered))).toEqual(new Set(['cat-2']));
  // The cart scene keeps bought items (a repeat purchase can go with a cart) but never the cart itself.
  expect(ids(out.cart)).toContain('item-24');
  expect(ids(out.cart)).not.toContain('item-01');
  expect(errors).toEqual([]);
});

test('pins come first in order, boosts raise items and say so, the fill respects the rules', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    await rec.track([{ type: 'view', itemId: 'item-21' }, { type: 'cart', itemId: 'item-33' }]);
    const home = rec.scene('home');
    const res = {
      pinned: await home.recommend({ k: 6, rules: { pin: ['item-45', 'item-13', 'item-33', 'item-05', 'cold-2', 'nope'] } }),
      pinnedFiltered: await home.recommend({ k: 6, rules: { pin: ['item-45'], include: { category: ['cat-2'] } } }),
      unboosted: await home.recommend({ k: 200, diversity: 0 }),
      boosted: await home.recommend({
        k: 200, diversity: 0,
        rules: { boost: [{ filter: { category: ['cat-4'] }, factor: 10 }, { filter: { itemIds: ['item-21', 'item-22'] }, factor: 0.01 }] },
      }),
      fill: await home.recommend({ k: 12, rules: { include: { category: ['cat-0'] } } }),
      noFill: await home.recommend({ k: 12, rules: { include: { category: ['cat-0'] }, fallbackToPopular: false } }),
      productPins: await rec.scene('product').recommend({ itemId: 'item-30', k: 4, rules: { pin: ['item-30', 'item-11'] } }),
    };
    await rec.dispose();
    return res;
  }, freshDb('rules-pins'));

  // Pins: in the given order; unavailable (item-13), in-cart (item-33) and unknown ids are skipped.
  expect(ids(out.pinned).slice(0, 3)).toEqual(['item-45', 'item-05', 'cold-2']);
  expect(out.pinned.items.slice(0, 3).map((i) => i.reason.kind)).toEqual(['pinned', 'pinned', 'pinned']);
  expect(ids(out.pinned)).toHaveLength(6);
  expect(ids(out.pinned)).not.toContain('item-13');
  expect(ids(out.pinned)).not.toContain('item-33');
  expect(out.pinned.items.slice(3).every((i) => i.reason.kind === 'personal')).toBe(true);
  // A pin is the more specific instruction: it skips include/exclude filters.
  expect(ids(out.pinnedFiltered)[0]).toBe('item-45');
  expect(cats(out.pinnedFiltered).slice(1).every((c) => c === 'cat-2')).toBe(true);
  // The product page's own item is never pinned onto it.
  expect(ids(out.productPins)[0]).toBe('item-11');
  expect(ids(out.productPins)).not.toContain('item-30');

  // Boosts multiply the relevance: cat-4 ×10, item-21 and item-22 ×0.01; the list is ordered by the
  // boosted score and each item reports its factor.
  const factor = (id: string, category?: string) => (category === 'cat-4' ? 10 : id === 'item-21' || id === 'item-22' ? 0.01 : 1);
  const base = new Map(out.unboosted.items.filter((i) => i.reason.kind === 'personal').map((i) => [i.itemId, i.score]));
  const scored = out.boosted.items.filter((i) => i.reason.kind === 'personal');
  expect(scored.length).toBe(base.size);
  for (const it of scored) {
    const f = factor(it.itemId, it.item?.category);
    expect(it.score).toBeCloseTo(base.get(it.itemId)! * f, 5);
    expect(it.boost).toBe(f === 1 ? undefined : f);
  }
  for (let i = 1; i < scored.length; i++) expect(scored[i].score).toBeLessThanOrEqual(scored[i - 1].score);
  const rank = (r: RecommendResult, id: string) => ids(r).indexOf(id);
  const meanRank = (r: RecommendResult, pred: (c?: string) => boolean) => {
    const xs = r.items.filter((i) => pred(i.item?.category)).map((i) => i.rank);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  expect(meanRank(out.boosted, (c) => c === 'cat-4')).toBeLessThan(meanRank(out.unboosted, (c) => c === 'cat-4'));
  expect(rank(out.boosted, 'item-21')).toBeGreaterThan(rank(out.unboosted, 'item-21'));
  expect(rank(out.boosted, 'item-22')).toBeGreaterThan(rank(out.unboosted, 'item-22'));

  // Fill: cat-0 has 9 available items the model knows; cold items of cat-0 fill the list, in catalog
  // order and not called popular (the model has no popularity data for them, issue #15).
  expect(ids(out.fill)).toHaveLength(12);
  expect(new Set(cats(out.fill))).toEqual(new Set(['cat-0']));
  expect(out.fill.items.slice(9).map((i) => i.reason)).toEqual(Array(3).fill({ kind: 'fallback', detail: 'catalog order: no popularity data for this item' }));
  expect(ids(out.fill).slice(9).sort()).toEqual(['cold-1', 'cold-2', 'cold-3']);
  expect(ids(out.noFill)).toHaveLength(9);
  expect(errors).toEqual([]);
});

test('cart complements leave the cart out; search keeps only the given candidates', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName });
    await rec.track([{ type: 'view', itemId: 'item-11' }, { type: 'cart', itemId: 'item-31' }, { type: 'cart', itemId: 'item-32' }, { type: 'purchase', itemId: 'item-12' }]);
    const cands = ['item-44', 'item-12', 'item-13', 'not-in-catalog', 'item-35', 'item-31', 'item-44', 'item-03'];
    const search = rec.scene('search');
    const res = {
      tracked: await rec.scene('cart').recommend({ k: 10 }),
      given: await rec.scene('cart').recommend({ cart: ['item-41', 'item-42'], k: 10, diversity: 0 }),
      search: await search.rerank({ query: 'x', candidates: cands, k: 20 }),
      shopOrder: await search.rerank({ query: 'x', candidates: cands, k: 20, personalWeight: 0 }),
      searchRules: await search.rerank({
        query: 'x', candidates: cands, k: 20,
        rules: { pin: ['item-03', 'item-50'], include: { category: ['cat-4', 'cat-1', 'cat-0'] }, excludePurchased: true },
      }),
      searchFew: await search.rerank({ query: 'x', candidates: cands, k: 20, rules: { include: { category: ['cat-4'] } } }),
      searchK: await search.rerank({ candidates: cands, k: 2 }),
      cands,
    };
    await rec.dispose();
    return res;
  }, freshDb('rules-cart-search'));

  // Tracked cart (item-31, item-32, not bought): left out, and the list complements it.
  expect(ids(out.tracked)).not.toContain('item-31');
  expect(ids(out.tracked)).not.toContain('item-32');
  expect(out.tracked.items.every((i) => i.reason.kind === 'complement')).toBe(true);
  expect(out.tracked.items[0].reason).toEqual({ kind: 'complement', to: ['item-31', 'item-32'] });
  // A given cart: its items and the tracked cart's are left out.
  for (const id of ['item-41', 'item-42', 'item-31', 'item-32']) expect(ids(out.given)).not.toContain(id);
  expect(out.given.items[0].reason).toEqual({ kind: 'complement', to: ['item-41', 'item-42'] });
  expect(cats(out.given).slice(0, 3).every((c) => c === 'cat-4'), 'complements of a cat-4 cart come from cat-4 first').toBe(true);

  // Search: only the shop's candidates, each once, never anything else; unavailable (item-13) and
  // in-cart (item-31) ones dropped; a candidate missing from the catalog is kept where the shop put it.
  const cands = new Set(out.cands);
  for (const r of [out.search, out.shopOrder, out.searchRules, out.searchFew, out.searchK]) {
    for (const id of ids(r)) expect(cands.has(id), `search returned ${id}, not a candidate`).toBe(true);
    expect(new Set(ids(r)).size).toBe(r.items.length);
  }
  expect(new Set(ids(out.search))).toEqual(new Set(['item-44', 'item-12', 'not-in-catalog', 'item-35', 'item-03']));
  expect(ids(out.shopOrder)).toEqual(['item-44', 'item-12', 'not-in-catalog', 'item-35', 'item-03']);
  const unknown = out.search.items.find((i) => i.itemId === 'not-in-catalog')!;
  expect(unknown.reason.kind).toBe('fallback');
  expect(unknown.item).toBeUndefined();
  expect(out.search.items.find((i) => i.itemId === 'item-44')!.reason).toMatchObject({ kind: 'search', shopRank: 0 });
  // Rules on a closed list: a candidate pin goes first, an outside pin (item-50) is never added;
  // the metadata filter drops the candidate it cannot check; bought items only when asked.
  expect(ids(out.searchRules)[0]).toBe('item-03');
  expect(out.searchRules.items[0].reason.kind).toBe('pinned');
  expect(ids(out.searchRules)).not.toContain('item-50');
  expect(new Set(ids(out.searchRules))).toEqual(new Set(['item-03', 'item-44']));
  // No fill on a closed list: fewer than k when the rules leave few.
  expect(ids(out.searchFew)).toEqual(['item-44']);
  expect(ids(out.searchK)).toHaveLength(2);
  expect(errors).toEqual([]);
});

test('objectives are accepted and deterministic, price weight and diversity change the list', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const h = window.harness;
    const rec = await h.create({ backend: 'webgpu', dbName });
    await rec.track([{ type: 'view', itemId: 'item-31' }, { type: 'view', itemId: 'item-34' }]);
    const home = rec.scene('home');
    const res = {
      byDefault: await home.recommend({ k: 10 }),
      click: await home.recommend({ k: 10, objectives: { click: 1 } }),
      purchase: await home.recommend({ k: 10, objectives: { purchase: 1, cart: 0.5 } }),
      purchaseAgain: await home.recommend({ k: 10, objectives: { purchase: 1, cart: 0.5 } }),
      cartScene: await rec.scene('cart').recommend({ cart: ['item-35'], k: 10, objectives: { purchase: 1 } }),
      badObjectives: await h.errorOf(() => home.recommend({ objectives: { click: 0 } })),
      unknownObjective: await h.errorOf(() => home.recommend({ objectives: { revenue: 1 } as never })),
      badPrice: await h.errorOf(() => home.recommend({ priceWeight: 2 })),
      relevance: await home.recommend({ k: 200, diversity: 0, priceWeight: 0 }),
      cheap: await home.recommend({ k: 8, diversity: 0, priceWeight: 0 }),
      dear: await home.recommend({ k: 8, diversity: 0, priceWeight: 1 }),
      narrow: await home.recommend({ k: 8, diversity: 0 }),
      varied: await home.recommend({ k: 8, diversity: 1 }),
      variedAgain: await home.recommend({ k: 8, diversity: 1 }),
      historyAfter: (await rec.listHistory()).length,
    };
    await rec.dispose();
    return res;
  }, freshDb('rules-objectives'));

  // Any valid blend is accepted and gives a full list; the same request gives the same list.
  for (const r of [out.byDefault, out.click, out.purchase, out.cartScene]) expect(r.items).toHaveLength(10);
  expect(ids(out.purchase)).toEqual(ids(out.purchaseAgain));
  // The fixture has a single head: every blend collapses to its score (multi-head tests come with that model).
  expect(ids(out.click)).toEqual(ids(out.purchase));
  expect(out.badObjectives).toMatchObject({ name: 'InvalidRequestError', code: 'INVALID_REQUEST' });
  expect(out.unknownObjective).toMatchObject({ name: 'InvalidRequestError' });
  expect(out.unknownObjective!.message).toContain('revenue');
  expect(out.badPrice).toMatchObject({ name: 'InvalidRequestError' });
  expect(out.badPrice!.message).toContain('priceWeight');
  expect(out.historyAfter).toBe(2);

  // Price weight 1 orders by expected revenue, relevance x price (single head: relevance stands in
  // for the purchase probability), rescaled so the best is 1.
  const known = out.relevance.items.filter((i) => i.reason.kind === 'personal');
  const revenue = known.map((i) => ({ id: i.itemId, v: i.score * i.item!.price! })).sort((a, b) => b.v - a.v);
  expect(ids(out.dear)).toEqual(revenue.slice(0, 8).map((x) => x.id));
  out.dear.items.forEach((it, n) => expect(it.score).toBeCloseTo(revenue[n].v / revenue[0].v, 5));
  const mean = (r: RecommendResult) => r.items.reduce((s, i) => s + i.item!.price!, 0) / r.items.length;
  expect(mean(out.dear)).toBeGreaterThanOrEqual(mean(out.cheap));

  // Diversity 1 spreads the list over more categories than 0 (same history, same k), deterministically.
  const distinct = (r: RecommendResult) => new Set(cats(r)).size;
  expect(distinct(out.narrow)).toBe(1);
  expect(distinct(out.varied)).toBeGreaterThan(distinct(out.narrow));
  expect(distinct(out.varied)).toBeGreaterThanOrEqual(4);
  expect(ids(out.varied)).toEqual(ids(out.variedAgain));
  expect(ids(out.varied)[0]).toBe(ids(out.narrow)[0]);
  expect(errors).toEqual([]);
});

test('demo shop: the ranking controls drive every list (Tianchi model)', async ({ page }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  const catalog: CatalogItem[] = JSON.parse(readFileSync(new URL('../../demo/catalog.json', import.meta.url), 'utf8'));
  const byId = new Map(catalog.map((i) => [i.id, i]));
  const recIds = async (scene: string) => page.locator(`.recs[data-scene=${scene}][data-ready] .product`)
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-item-id')!));

  await page.goto('/demo/?backend=webgpu');
  await waitForDemo(page);
  await expect(page.locator('.recs[data-scene=home][data-ready] .product').first()).toBeVisible();
  await expect(page.locator('#controls .tabs [data-scene=home]')).toHaveAttribute('aria-selected', 'true');
  await expect(page.locator('.recs[data-scene=home] .reason').first()).not.toHaveText('');

  // Only one category: every recommended item is in it. The controls live in the settings drawer.
  const category = catalog[0].category!;
  await page.locator('#settings-toggle').click();
  await page.locator('#ctl-include').selectOption([category]);
  await expect.poll(async () => {
    const got = await recIds('home');
    return got.length > 0 && got.every((id) => byId.get(id)?.category === category);
  }).toBe(true);
  await expect(page.locator('#controls-request')).toContainText(category);

  // Pin an item of another category from its product page: it heads the home list, pinned.
  const other = catalog.find((i) => i.category !== category && i.available !== false)!;
  await page.goto(`/demo/?backend=webgpu#/p/${other.id}`);
  await waitForDemo(page);
  await expect(page.locator('#controls .tabs [data-scene=product]')).toHaveAttribute('aria-selected', 'true');
  await page.locator('#pin-item').click();
  await expect(page.locator('#pin-item')).toHaveAttribute('aria-pressed', 'true');
  await page.locator('a.brand').click();
  await expect.poll(async () => (await recIds('home'))[0]).toBe(other.id);
  await expect(page.locator(`.recs[data-scene=home] .product[data-item-id="${other.id}"] .reason`)).toHaveText('Pinned by the shop');

  // Diversity and reset: reset brings back the SDK's defaults and the unfiltered list.
  await page.locator('#settings-toggle').click();
  await page.locator('#ctl-diversity').fill('1');
  await expect(page.locator('#ctl-diversity-value')).toHaveText('1.00');
  await page.locator('#ctl-reset').click();
  await expect(page.locator('#ctl-diversity-value')).toHaveText('0.30');
  await expect(page.locator('#ctl-include')).toHaveValues([]);
  await expect(page.locator('.recs[data-scene=home][data-ready] .product').first()).toBeVisible();
  await expect(page.locator('.recs[data-scene=home] .reason-pinned')).toHaveCount(0);
  expect(errors).toEqual([]);
});
