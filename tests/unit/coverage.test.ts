/**
 * A shop whose catalog the model never saw (issue #15), in the engine without a worker: the tiny
 * fixture model (items item-01..item-60) with a catalog of new ids that have categories, brands and
 * prices. Coverage is reported truthfully, the load warns, track names the unknown items, and the
 * lists follow each shopper's own history by content ('affinity'), never claiming popularity or
 * similarity the model does not have.
 */
import 'fake-indexeddb/auto';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as Comlink from 'comlink';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRecommender, InvalidOptionsError } from '../../src/index.js';
import { exposeEngine } from '../../src/engine/host.js';
import { createEngine, type RecommenderEngine } from '../../src/engine/engine.js';
import { CATALOG_COVERAGE_MIN_LEARNED_SHARE } from '../../src/contract/defaults.js';
import type { CatalogItem, EngineWarning, LoadProgress, RecommendResult, TrackEvent } from '../../src/contract/protocol.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const CATEGORIES = ['shoes', 'bags', 'hats', 'socks', 'belts'];
const BRANDS = ['acme', 'zeta', 'nova', 'orbit'];

/** 5 categories x 4 brands x 6 prices of ids the model never saw. */
function shopCatalog(): CatalogItem[] {
  const items: CatalogItem[] = [];
  CATEGORIES.forEach((category, c) => BRANDS.forEach((brand, b) => {
    for (let p = 0; p < 6; p++) items.push({ id: `sku-${c}${b}${p}`, title: `${category} ${brand} ${p}`, category, brand, price: 5 * 2 ** p });
  }));
  return items;
}

const catalog = shopCatalog();
const byId = new Map(catalog.map((c) => [c.id, c]));
const ids = (r: RecommendResult) => r.items.map((i) => i.itemId);
const kinds = (r: RecommendResult) => new Set(r.items.map((i) => i.reason.kind));
const of = (category: string, brand: string, p: number) => `sku-${CATEGORIES.indexOf(category)}${BRANDS.indexOf(brand)}${p}`;

let engine: RecommenderEngine;
const progress: LoadProgress[] = [];
const warned: EngineWarning[] = [];

beforeAll(async () => {
  engine = await createEngine(
    { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog, dbName: freshDbName() },
    { fetch: fileFetch(), onProgress: (p) => progress.push(p), onWarning: (w) => warned.push(w) },
  );
});
afterAll(async () => { await engine.dispose(); });
beforeEach(async () => { await engine.clearHistory(); });

describe('a catalog the model does not know', () => {
  it('reports its coverage truthfully and warns once at load, saying what to do', async () => {
    const info = await engine.info();
    expect(info.catalogSize).toBe(120);
    expect(info.catalogItemsKnownToModel).toBe(0);
    expect(info.coverage).toEqual({ learned: 0, contentOnly: 0, unscored: 120, learnedShare: 0, modelItemsInCatalog: 0 });
    expect(info.warnings).toHaveLength(1);
    const w = info.warnings![0];
    expect(w.code).toBe('low-catalog-coverage');
    expect(w.details).toEqual({ catalogSize: 120, learned: 0, contentOnly: 0, unscored: 120, threshold: CATALOG_COVERAGE_MIN_LEARNED_SHARE });
    expect(w.message).toContain('npx scenerec train');
    expect(w.message).toContain('0 of the 120');
    expect(warned).toEqual([w]);
    const stages = progress.map((p) => p.stage);
    expect(stages.filter((s) => s === 'warning')).toHaveLength(1);
    expect(stages.indexOf('warning')).toBeLessThan(stages.indexOf('ready'));
    expect(progress.find((p) => p.stage === 'warning')).toEqual({ stage: 'warning', warning: w });
  });

  it('track lists the items the model does not know, and those not in the catalog either', async () => {
    const res = await engine.track([{ type: 'view', itemId: catalog[0].id }, { type: 'view', itemId: catalog[0].id }, { type: 'view', itemId: 'ghost' }, { type: 'view', itemId: itemId(3) }]);
    expect(res.unknownItems).toEqual([catalog[0].id, 'ghost']);
    expect(res.notInCatalog).toEqual(['ghost']);
    expect(res.stored).toBe(4);
  });

  it('without history: no "popular" (there is no popularity data), no constant "similar"', async () => {
    const home = await engine.recommend('home', { k: 8 });
    expect(home.historyUsed).toBe(0);
    expect(kinds(home)).toEqual(new Set(['fallback']));
    expect(home.items[0].reason).toEqual({ kind: 'fallback', detail: 'catalog order: no popularity data for this item' });
    const product = await engine.recommend('product', { itemId: of('hats', 'nova', 2), k: 8 });
    expect(kinds(product).has('similar')).toBe(false);
    expect(kinds(product).has('popular')).toBe(false);
    // The page's own item leads: same category first, its brand and price band before others.
    expect(product.items.slice(0, 5).every((i) => byId.get(i.itemId)!.category === 'hats')).toBe(true);
    expect(byId.get(product.items[0].itemId)!.brand).toBe('nova');
    expect(ids(product)).not.toContain(of('hats', 'nova', 2));
    expect(product.items[0].reason).toMatchObject({ kind: 'affinity', category: 'hats', brand: 'nova' });
  });

  it('two shoppers with different histories get different lists, each about their own categories and brands', async () => {
    const shopper = async (events: TrackEvent[]) => {
      await engine.clearHistory();
      await engine.track(events);
      return {
        home: await engine.recommend('home', { k: 10, diversity: 0 }),
        cart: await engine.recommend('cart', { k: 6 }),
        product: await engine.recommend('product', { itemId: of('belts', 'orbit', 0), k: 6 }),
      };
    };
    const a = await shopper([
      { type: 'view', itemId: of('shoes', 'acme', 1) }, { type: 'view', itemId: of('shoes', 'acme', 2) },
      { type: 'cart', itemId: of('shoes', 'zeta', 1) }, { type: 'view', itemId: of('bags', 'acme', 1) },
    ]);
    const b = await shopper([
      { type: 'view', itemId: of('hats', 'nova', 5) }, { type: 'favorite', itemId: of('socks', 'nova', 4) },
      { type: 'view', itemId: of('hats', 'orbit', 5) }, { type: 'view', itemId: of('hats', 'nova', 4) },
    ]);
    expect(ids(a.home)).not.toEqual(ids(b.home));
    expect(ids(a.cart)).not.toEqual(ids(b.cart));
    expect(ids(a.product)).not.toEqual(ids(b.product));
    for (const r of [a.home, b.home, a.cart, b.cart]) {
      expect(r.historyUsed).toBe(0);
      expect(r.items).toHaveLength(r.scene === 'home' ? 10 : 6);
      expect(kinds(r).has('popular')).toBe(false);
      expect(kinds(r).has('similar')).toBe(false);
      // Truthful scores: not all 1 as a constant model score would be, and best first.
      expect(new Set(r.items.map((i) => i.score.toFixed(4))).size).toBeGreaterThan(1);
    }
    // Without diversity the list is in affinity order.
    for (const r of [a.home, b.home]) r.items.forEach((it, i) => { if (i > 0) expect(it.score).toBeLessThanOrEqual(r.items[i - 1].score); });
    expect(byId.get(a.home.items[0].itemId)!.category).toBe('shoes');
    expect(byId.get(b.home.items[0].itemId)!.category).toBe('hats');
    expect(a.home.items[0].reason).toMatchObject({ kind: 'affinity', category: 'shoes' });
    const reason = b.home.items[0].reason as { kind: 'affinity'; becauseOf: string[]; detail: string };
    expect(reason.detail).toMatch(/^because you viewed category "hats"/);
    expect(reason.becauseOf.every((id) => byId.get(id)!.category === 'hats' || byId.get(id)!.brand === byId.get(b.home.items[0].itemId)!.brand)).toBe(true);
    // The cart never lists what is in it.
    expect(ids(a.cart)).not.toContain(of('shoes', 'zeta', 1));
  });

  it('search: the shop\'s results reordered by each shopper\'s affinity (a closed list)', async () => {
    const candidates = [of('bags', 'zeta', 1), of('shoes', 'acme', 3), of('hats', 'nova', 3), of('socks', 'orbit', 1), of('shoes', 'zeta', 2)];
    const order = async (events: TrackEvent[]) => {
      await engine.clearHistory();
      await engine.track(events);
      return engine.recommend('search', { candidates, k: 5, personalWeight: 1 });
    };
    const none = await engine.recommend('search', { candidates, k: 5, personalWeight: 1 });
    expect(ids(none)).toEqual(candidates); // no history: the shop's order
    const a = await order([{ type: 'view', itemId: of('shoes', 'acme', 1) }, { type: 'view', itemId: of('shoes', 'acme', 2) }]);
    const b = await order([{ type: 'view', itemId: of('hats', 'nova', 4) }, { type: 'cart', itemId: of('hats', 'nova', 2) }]);
    expect(new Set(ids(a))).toEqual(new Set(candidates));
    expect(ids(a)[0]).toBe(of('shoes', 'acme', 3));
    expect(ids(b)[0]).toBe(of('hats', 'nova', 3));
    expect(a.items[0].reason).toMatchObject({ kind: 'affinity', category: 'shoes', brand: 'acme' });
    expect(a.historyUsed).toBe(0);
  });

  it('a dismissed item stays out of the affinity lists (the feedback adjustment applies to them too)', async () => {
    await engine.track([{ type: 'view', itemId: of('shoes', 'acme', 1) }, { type: 'view', itemId: of('shoes', 'acme', 2) }]);
    const before = await engine.recommend('home', { k: 5, diversity: 0 });
    expect(before.items[0].reason.kind).toBe('affinity');
    const top = before.items[0].itemId;
    await engine.track({ type: 'dismiss', itemId: top, scene: 'home' });
    const after = await engine.recommend('home', { k: 5, diversity: 0 });
    expect(ids(after)).not.toContain(top);
    expect(after.items[0].reason.kind).toBe('affinity');
  });

  it('a history of the model\'s own items (not in this catalog) is not shown, and the list stays truthful', async () => {
    await engine.track([{ type: 'view', itemId: itemId(1) }, { type: 'view', itemId: itemId(2) }]);
    const home = await engine.recommend('home', { k: 5 });
    expect(ids(home).every((id) => byId.has(id))).toBe(true);
    expect(kinds(home).has('popular')).toBe(false);
  });
});

describe('coverage and setCatalog', () => {
  it('a catalog the model knows does not warn; switching to one it does not know does', async () => {
    const seen: EngineWarning[] = [];
    const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
      { fetch: fileFetch(), onWarning: (w) => seen.push(w) });
    try {
      expect((await e.info()).warnings).toBeUndefined();
      expect(seen).toEqual([]);
      // Half known, half new: 30 of 60 is at the threshold, no warning; 29 of 60 is below it.
      const mixed = (known: number) => [...Array.from({ length: known }, (_, i) => ({ id: itemId(i + 1) })), ...catalog.slice(0, 60 - known)];
      expect((await e.setCatalog(mixed(30))).warnings).toBeUndefined();
      const info = await e.setCatalog(mixed(29));
      expect(info.coverage).toMatchObject({ learned: 29, unscored: 31 });
      expect(info.warnings?.map((w) => w.code)).toEqual(['low-catalog-coverage']);
      expect(seen).toHaveLength(1);
      expect((await e.setCatalog(fixtureCatalog())).warnings).toBeUndefined();
      expect((await e.info()).warnings).toBeUndefined();
    } finally {
      await e.dispose();
    }
  });

  it('a history that is mostly new items with one the model knows blends affinity into the model list', async () => {
    const shop = [...fixtureCatalog(), ...catalog];
    const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: shop, dbName: freshDbName() }, { fetch: fileFetch() });
    try {
      await e.track([
        { type: 'view', itemId: of('socks', 'orbit', 1) }, { type: 'view', itemId: of('socks', 'orbit', 2) },
        { type: 'view', itemId: of('socks', 'acme', 2) }, { type: 'view', itemId: itemId(25) },
      ]);
      const r = await e.recommend('home', { k: 10, diversity: 0 });
      expect(r.historyUsed).toBe(1);
      expect(kinds(r).has('affinity')).toBe(true);
      expect(r.items.some((i) => byId.get(i.itemId)?.category === 'socks')).toBe(true);
      // Three known items read by the model: the model's list alone.
      await e.track([{ type: 'view', itemId: itemId(26) }, { type: 'view', itemId: itemId(27) }]);
      const m = await e.recommend('home', { k: 10, diversity: 0 });
      expect(m.historyUsed).toBe(3);
      expect(kinds(m).has('affinity')).toBe(false);
    } finally {
      await e.dispose();
    }
  });
});

describe('the multi-task model reads history items it never saw as masked positions', () => {
  const mtlUrl = pathToFileURL(resolve(import.meta.dirname, '../../models/tianchi-mtl/model.json')).href;
  const demo = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../demo/catalog.json'), 'utf8')) as CatalogItem[];
  const vocab = new Set((JSON.parse(readFileSync(resolve(import.meta.dirname, '../../models/tianchi-mtl/vocab.json'), 'utf8')) as { itemIds: string[] }).itemIds);
  const known = demo.filter((c) => vocab.has(c.id) && c.available !== false).map((c) => c.id);
  const unknown = demo.filter((c) => !vocab.has(c.id) && c.available !== false).map((c) => c.id);

  it('fused and TF.js forwards give the same lists; only known items count as read; an all-new history follows affinity', { timeout: 120_000 }, async () => {
    const history: TrackEvent[] = [
      { type: 'view', itemId: known[3] }, { type: 'view', itemId: unknown[0] }, { type: 'cart', itemId: known[7], scene: 'product' },
      { type: 'view', itemId: unknown[1] }, { type: 'view', itemId: known[11] }, { type: 'favorite', itemId: unknown[2] },
    ];
    const lists: Array<Array<[string, string]>> = [];
    for (const forward of ['auto', 'tfjs'] as const) {
      const e = await createEngine({ modelUrl: mtlUrl, backend: 'wasm', catalog: demo, dbName: freshDbName() }, { fetch: fileFetch(), forward });
      try {
        const info = await e.info();
        expect(info.forward?.path).toBe(forward === 'auto' ? 'fused' : 'tfjs');
        expect(info.coverage.learned + info.coverage.contentOnly).toBe(demo.length);
        expect(info.warnings).toBeUndefined();
        await e.track(history);
        const r = await e.recommend('home', { k: 10 });
        expect(r.historyUsed).toBe(3);
        expect(kinds(r).has('affinity')).toBe(false);
        lists.push(r.items.map((i) => [i.itemId, i.score.toFixed(4)]));
        if (forward === 'auto') {
          await e.clearHistory();
          await e.track(history.filter((ev) => !vocab.has(ev.itemId!)));
          const a = await e.recommend('home', { k: 10, diversity: 0 });
          expect(a.historyUsed).toBe(0);
          expect(a.items[0].reason.kind).toBe('affinity');
        }
      } finally {
        await e.dispose();
      }
    }
    expect(lists[0]).toEqual(lists[1]);
  });
});

describe('the page hears the warning (createRecommender through Comlink)', () => {
  it('onWarning is called with the load\'s warning, which is also in engineInfo; a non-function is refused', async () => {
    const bad = { postMessage: vi.fn(), addEventListener: vi.fn(), removeEventListener: vi.fn(), terminate: vi.fn() } as unknown as Worker;
    await expect(createRecommender({ worker: bad, onWarning: 'yes' as never })).rejects.toBeInstanceOf(InvalidOptionsError);
    const { port1, port2 } = new MessageChannel();
    exposeEngine(port1 as unknown as Comlink.Endpoint, { fetch: fileFetch() });
    const heard: EngineWarning[] = [];
    const rec = await createRecommender({
      worker: port2 as unknown as Worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog, dbName: freshDbName(), onWarning: (w) => heard.push(w),
    });
    try {
      expect(heard.map((w) => w.code)).toEqual(['low-catalog-coverage']);
      expect(rec.engineInfo.warnings).toEqual(heard);
      expect(rec.engineInfo.coverage.unscored).toBe(catalog.length);
    } finally {
      await rec.dispose();
      port1.close();
      port2.close();
    }
  });
});
