/**
 * Issue #15 in the browser: a shop with its own catalog (ids, categories and brands the model never
 * saw) on the demo's bundled model (models/tianchi-mtl), in the SDK worker. The load reports the
 * coverage truthfully and warns (onWarning, the 'warning' progress stage, engineInfo.warnings);
 * track names the unknown items; two shoppers who replay different histories get different lists,
 * by content affinity, with no "popular" or constant "similar" claims.
 */
import { expect, test } from '@playwright/test';
import type { CatalogItem, TrackEvent } from '../../src/index';
import { freshDb, openHarness, watchConsole } from './helpers';

const CATEGORIES = ['kitchen', 'garden', 'toys', 'books', 'tools', 'lamps'];
const BRANDS = ['north', 'south', 'east', 'west'];

/** 6 categories x 4 brands x 8 prices of the shop's own ids. */
function shopCatalog(): CatalogItem[] {
  const items: CatalogItem[] = [];
  CATEGORIES.forEach((category, c) => BRANDS.forEach((brand, b) => {
    for (let p = 0; p < 8; p++) items.push({ id: `shop-${c}-${b}-${p}`, title: `${category} ${brand} #${p}`, category: `shop-${category}`, brand: `shop-${brand}`, price: 3 * 1.6 ** p });
  }));
  return items;
}
const id = (category: string, brand: string, p: number) => `shop-${CATEGORIES.indexOf(category)}-${BRANDS.indexOf(brand)}-${p}`;

/** Two shoppers' replayed histories (oldest first): one about kitchen things, one about toys and books. */
const HISTORIES: TrackEvent[][] = [
  [
    { type: 'view', itemId: id('kitchen', 'north', 2) }, { type: 'view', itemId: id('kitchen', 'north', 3) },
    { type: 'view', itemId: id('kitchen', 'south', 2), scene: 'product' }, { type: 'cart', itemId: id('kitchen', 'north', 3), scene: 'product' },
    { type: 'view', itemId: id('lamps', 'north', 2) }, { type: 'view', itemId: id('kitchen', 'north', 4) },
  ],
  [
    { type: 'view', itemId: id('toys', 'east', 6) }, { type: 'favorite', itemId: id('toys', 'east', 7), scene: 'product' },
    { type: 'view', itemId: id('books', 'west', 5) }, { type: 'view', itemId: id('toys', 'west', 6) },
    { type: 'view', itemId: id('toys', 'east', 5) }, { type: 'purchase', itemId: id('toys', 'east', 7), scene: 'cart' },
  ],
];

test('a catalog the model never saw: coverage, the warning, and lists that follow each shopper', async ({ page }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  const catalog = shopCatalog();
  await openHarness(page);
  const out = await page.evaluate(async ({ catalog, histories, dbs, productId }) => {
    const h = window.harness;
    const shoppers = [];
    for (const [i, events] of histories.entries()) {
      const warned: unknown[] = [];
      const stages: string[] = [];
      const rec = await h.create({
        backend: 'wasm', dbName: dbs[i], modelUrl: '/models/tianchi-mtl/model.json', catalog,
        onWarning: (w) => warned.push(w), onProgress: (p) => stages.push(p.stage),
      });
      const tracked = await rec.track(events);
      const home = await rec.scene('home').recommend({ k: 10, diversity: 0 });
      const product = await rec.scene('product').recommend({ itemId: productId, k: 8 });
      const cart = await rec.scene('cart').recommend({ k: 6 });
      shoppers.push({ info: rec.engineInfo, warned, stages, tracked, home, product, cart });
      await rec.clearHistory();
      await rec.dispose();
    }
    return shoppers;
  }, { catalog, histories: HISTORIES, dbs: [freshDb('cov-a'), freshDb('cov-b')], productId: id('garden', 'east', 4) });

  const byId = new Map(catalog.map((c) => [c.id, c]));
  const ids = (r: { items: Array<{ itemId: string }> }) => r.items.map((i) => i.itemId);
  for (const [i, s] of out.entries()) {
    // Coverage: the model learned none of these items, and knows none of their categories or brands.
    expect(s.info.catalogSize).toBe(catalog.length);
    expect(s.info.catalogItemsKnownToModel).toBe(0);
    expect(s.info.coverage).toEqual({ learned: 0, contentOnly: 0, unscored: catalog.length, learnedShare: 0, modelItemsInCatalog: 0 });
    // The warning: once, through onWarning, the progress stages and engineInfo, saying what to do.
    expect(s.warned).toHaveLength(1);
    expect(s.info.warnings).toEqual(s.warned);
    expect(s.info.warnings![0].code).toBe('low-catalog-coverage');
    expect(s.info.warnings![0].message).toContain('npx scenerec train');
    expect(s.stages.indexOf('warning')).toBeGreaterThan(-1);
    expect(s.stages.indexOf('warning')).toBeLessThan(s.stages.indexOf('ready'));
    // track names every item of the history as unknown to the model (all are in the catalog).
    expect(new Set(s.tracked.unknownItems)).toEqual(new Set(HISTORIES[i].map((e) => e.itemId)));
    expect(s.tracked.notInCatalog).toEqual([]);
    for (const r of [s.home, s.product, s.cart]) {
      expect(r.historyUsed).toBe(0);
      expect(r.items.length).toBeGreaterThan(0);
      for (const it of r.items) {
        expect(byId.has(it.itemId)).toBe(true);
        expect(['popular', 'similar']).not.toContain(it.reason.kind);
      }
      expect(new Set(r.items.map((it) => it.score.toFixed(4))).size, `${r.scene}: scores tell items apart`).toBeGreaterThan(1);
    }
    expect(s.home.items[0].reason.kind).toBe('affinity');
    // The product page of a new item: its own category first.
    expect(byId.get(s.product.items[0].itemId)!.category).toBe('shop-garden');
  }
  const [a, b] = out;
  expect(ids(a.home)).not.toEqual(ids(b.home));
  expect(ids(a.cart)).not.toEqual(ids(b.cart));
  expect(ids(a.product)).not.toEqual(ids(b.product));
  expect(byId.get(a.home.items[0].itemId)!.category).toBe('shop-kitchen');
  expect(byId.get(b.home.items[0].itemId)!.category).toBe('shop-toys');
  expect(a.home.items[0].reason).toMatchObject({ kind: 'affinity', category: 'shop-kitchen' });
  expect(b.home.items[0].reason).toMatchObject({ kind: 'affinity', category: 'shop-toys' });
  // The bought item is not offered again on home.
  expect(ids(b.home)).not.toContain(id('toys', 'east', 7));
  expect(errors.filter((e) => !e.includes('[scenerec]'))).toEqual([]);
});
