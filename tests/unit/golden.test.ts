/**
 * Golden lists: the bundled models' lists over fixed histories, recorded once and compared on every
 * run, so that a refactor of the engine, the featuriser, retrieval or ranking cannot change what a
 * shopper sees without a test saying so. Item ids and reasons must match exactly, scores to 1e-4.
 *
 * Re-record (only when a change of lists is intended, and say why in the commit):
 *   UPDATE_GOLDEN=1 npx vitest run tests/unit/golden.test.ts
 */
import 'fake-indexeddb/auto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import type { CatalogItem, RecommendResult, SceneName, TrackEvent } from '../../src/index.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName } from './helpers.js';

const GOLDEN_FILE = resolve(import.meta.dirname, '../fixtures/golden-lists.json');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const modelUrl = (name: string) => pathToFileURL(resolve(import.meta.dirname, `../../models/${name}/model.json`)).href;

/** Deterministic pseudo-random ints. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
}

type Case = { scene: SceneName; request: Record<string, unknown> };
type Recorded = { case: string; items: Array<[string, number, string]>; historyUsed: number };

async function vocabIds(url: string): Promise<string[]> {
  const vocab = JSON.parse(await (await fileFetch()(url.replace('model.json', 'vocab.json'))).text()) as { itemIds: string[] };
  return vocab.itemIds.slice(1);
}

/** Histories mixing views, carts, purchases, favourites, scenes and repeats; every model sees the same recipe. */
function histories(ids: string[], seed: number, count: number): TrackEvent[][] {
  const r = rng(seed);
  const types = ['view', 'view', 'view', 'click', 'favorite', 'cart', 'purchase'] as const;
  const scenes = ['home', 'product', 'cart', 'search'] as const;
  const out: TrackEvent[][] = [[]];
  for (let h = 1; h < count; h++) {
    const len = 1 + r(h % 3 === 0 ? 60 : 20);
    const events: TrackEvent[] = [];
    for (let i = 0; i < len; i++) {
      const itemId = i > 0 && r(5) === 0 ? events[events.length - 1].itemId! : ids[r(ids.length)];
      events.push({ type: types[r(types.length)], itemId, scene: scenes[r(scenes.length)] });
    }
    out.push(events);
  }
  return out;
}

function cases(catalog: CatalogItem[], events: TrackEvent[], r: (n: number) => number): Array<[string, Case]> {
  const some = (n: number) => Array.from({ length: n }, () => catalog[r(catalog.length)].id);
  const category = catalog.find((c) => c.category !== undefined)?.category;
  const cartIds = some(2);
  const product = events.length > 0 ? events[events.length - 1].itemId! : catalog[0].id;
  return [
    ['home default', { scene: 'home', request: {} }],
    ['home k25 no diversity', { scene: 'home', request: { k: 25, diversity: 0 } }],
    ['home diversity 0.8', { scene: 'home', request: { k: 12, diversity: 0.8 } }],
    ['home rules', {
      scene: 'home',
      request: {
        k: 10,
        rules: {
          pin: some(2),
          boost: [{ filter: { brand: [catalog[r(catalog.length)].brand ?? 'none'] }, factor: 2 }],
          exclude: category !== undefined ? { category: [category] } : undefined,
        },
      },
    }],
    ['home include category', { scene: 'home', request: { k: 8, rules: category !== undefined ? { include: { category: [category] } } : {} } }],
    ['home price', { scene: 'home', request: { k: 10, priceWeight: 0.6 } }],
    ['home objectives', { scene: 'home', request: { k: 10, objectives: { click: 0.2, cart: 1, purchase: 2 } } }],
    ['product', { scene: 'product', request: { itemId: product, k: 8 } }],
    ['product other', { scene: 'product', request: { itemId: catalog[r(catalog.length)].id, k: 8, diversity: 0.4 } }],
    ['cart tracked', { scene: 'cart', request: { k: 6 } }],
    ['cart given', { scene: 'cart', request: { k: 6, cart: cartIds } }],
    ['search', { scene: 'search', request: { k: 10, candidates: [...some(30), 'not-in-catalog'], personalWeight: 0.7 } }],
  ];
}

const MODELS: Array<{ name: string; url: string; catalog: () => Promise<CatalogItem[]>; backend: 'wasm' | 'cpu'; histories: number; forward?: 'tfjs' }> = [
  { name: 'tiny fixture', url: FIXTURE_MODEL_URL, catalog: async () => fixtureCatalog(), backend: 'cpu', histories: 5 },
  {
    name: 'games-sasrec',
    url: modelUrl('games-sasrec'),
    catalog: async () => (await vocabIds(modelUrl('games-sasrec'))).map((id, i) => ({ id, category: `c${i % 37}`, brand: `b${i % 101}`, price: 5 + (i % 200), available: i % 50 !== 7 })),
    backend: 'wasm',
    histories: 5,
  },
  {
    name: 'tianchi-mtl',
    url: modelUrl('tianchi-mtl'),
    catalog: async () => JSON.parse(readFileSync(resolve(import.meta.dirname, '../../demo/catalog.json'), 'utf8')) as CatalogItem[],
    backend: 'wasm',
    histories: 5,
  },
  {
    name: 'tianchi-mtl tfjs forward',
    url: modelUrl('tianchi-mtl'),
    catalog: async () => JSON.parse(readFileSync(resolve(import.meta.dirname, '../../demo/catalog.json'), 'utf8')) as CatalogItem[],
    backend: 'wasm',
    histories: 2,
    forward: 'tfjs',
  },
];

const golden: Record<string, Recorded[]> = existsSync(GOLDEN_FILE) ? JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) : {};
const recorded: Record<string, Recorded[]> = {};

describe('golden lists of the bundled models', () => {
  for (const m of MODELS) {
    it(m.name, { timeout: 180_000 }, async () => {
      const catalog = await m.catalog();
      const engine = await createEngine({ modelUrl: m.url, backend: m.backend, catalog, dbName: freshDbName() }, { fetch: fileFetch(), forward: m.forward });
      const out: Recorded[] = [];
      try {
        const r = rng(7);
        const ids = catalog.map((c) => c.id);
        for (const [h, events] of histories(ids, 42, m.histories).entries()) {
          await engine.clearHistory();
          if (events.length > 0) await engine.track(events);
          for (const [label, c] of cases(catalog, events, r)) {
            const res: RecommendResult = await engine.recommend(c.scene, c.request as never);
            out.push({
              case: `h${h} ${label}`,
              items: res.items.map((it) => [it.itemId, Number(it.score.toFixed(5)), JSON.stringify(it.reason)]),
              historyUsed: res.historyUsed,
            });
          }
        }
      } finally {
        await engine.dispose();
      }
      recorded[m.name] = out;
      if (UPDATE) {
        const all = existsSync(GOLDEN_FILE) ? JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) : {};
        all[m.name] = out;
        writeFileSync(GOLDEN_FILE, `${JSON.stringify(all, null, 0).replace(/\],\{"case"/g, '],\n{"case"')}\n`);
        return;
      }
      const want = golden[m.name];
      expect(want, `no golden lists recorded for ${m.name}: run with UPDATE_GOLDEN=1`).toBeDefined();
      expect(out.length).toBe(want.length);
      out.forEach((got, i) => {
        const exp = want[i];
        expect(got.case).toBe(exp.case);
        expect(got.items.map((x) => x[0]), got.case).toEqual(exp.items.map((x) => x[0]));
        expect(got.items.map((x) => x[2]), got.case).toEqual(exp.items.map((x) => x[2]));
        got.items.forEach((x, j) => expect(Math.abs(x[1] - exp.items[j][1]), `${got.case} #${j}`).toBeLessThan(1e-4));
        expect(got.historyUsed, got.case).toBe(exp.historyUsed);
      });
    });
  }
});
