/**
 * The packed package in apps a shop would write (tests/consumers/<app>, set up by ./setup.ts from
 * one `npm pack`): each app gets a valid personalised list in real Chromium, reports the chosen
 * backend, and makes no request other than same-origin GETs of static files.
 */
import { expect, test, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsumerUrls } from './env';

interface Result {
  ok: boolean; message?: string; backend: string; loadMs: number; recommendMs: number;
  crossOriginIsolated: boolean; hasModelCache: boolean; history: string[];
  items: Array<{ itemId: string; reason: string }>;
}
interface Req { url: string; method: string; postData: string | null }

const state = JSON.parse(readFileSync(join(import.meta.dirname, '.consumers.json'), 'utf8')) as { urls: ConsumerUrls };

/** Every request of the page and its workers. */
function logRequests(page: Page): Req[] {
  const log: Req[] = [];
  page.context().on('request', (r) => log.push({ url: r.url(), method: r.method(), postData: r.postData() }));
  return log;
}

let dbCounter = 0;
async function open(page: Page, url: string, query: Record<string, string> = {}): Promise<Result> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const q = new URLSearchParams({ db: `consumer-${Date.now().toString(36)}-${++dbCounter}`, ...query });
  await page.goto(`${url}/?${q}`);
  await expect(page.locator('body')).not.toHaveAttribute('data-state', 'loading', { timeout: 90_000 });
  const result = await page.evaluate(() => (window as unknown as { scenerecResult: Result }).scenerecResult);
  expect(result.ok, `${result.message ?? ''} ${errors.join('; ')}`).toBe(true);
  return result;
}

/** The tiny test model recommends from the cluster (ten ids) of the last viewed item: item-21..30 here. */
function expectPersonalised(r: Result): void {
  expect(r.items.length).toBe(8);
  const ids = r.items.map((i) => i.itemId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(id).toMatch(/^item-\d\d$/);
  const cluster = ids.filter((id) => { const n = Number(id.slice(5)); return n >= 21 && n <= 30; });
  expect(cluster.length, `most of ${ids.join(',')} from the history's cluster`).toBeGreaterThanOrEqual(5);
  expect(r.items.some((i) => i.reason === 'personal')).toBe(true);
}

function expectStaticSameOrigin(log: Req[], origin: string, allowed: RegExp[], history: string[]): void {
  expect(log.length).toBeGreaterThan(0);
  for (const r of log) {
    const u = new URL(r.url);
    const what = `${r.method} ${r.url}`;
    if (u.protocol === 'data:' || u.protocol === 'blob:') continue;
    expect(r.method, what).toBe('GET');
    expect(r.postData, what).toBeNull();
    expect(u.origin, what).toBe(origin);
    expect(allowed.some((re) => re.test(u.pathname)), `${what}: not a known static path`).toBe(true);
    for (const id of history) expect(r.url, `${what} carries ${id}`).not.toContain(id);
  }
}

const MODEL = /^\/models\/tiny\/(model\.json|weights\.bin|vocab\.json)$/;
const ASSETS = [/^\/$/, /^\/index\.html$/, MODEL];

const cases: Array<{ name: string; url: keyof ConsumerUrls; allowed: RegExp[]; query?: Record<string, string>; isolated?: boolean }> = [
  { name: 'vite dev server', url: 'viteDev', allowed: [...ASSETS, /^\/(src|@vite|@fs|node_modules)\//, /^\/@vite\/client$/] },
  { name: 'vite build', url: 'viteBuild', allowed: [...ASSETS, /^\/assets\/[\w.-]+\.(js|wasm)$/] },
  { name: 'webpack 5 production build', url: 'webpackProd', allowed: [...ASSETS, /^\/[\w.-]+\.(js|wasm)$/] },
  { name: 'webpack 5 development build', url: 'webpackDev', allowed: [...ASSETS, /^\/[\w.-]+\.(js|wasm)$/] },
  { name: 'static page with an import map', url: 'static', allowed: [...ASSETS, /^\/app\.js$/, /^\/vendor\/(scenerec|comlink)\/[\w.-]+\.(js|mjs|wasm)$/] },
  { name: 'static page, own Worker and wasmPaths', url: 'static', query: { own: '1' }, allowed: [...ASSETS, /^\/app\.js$/, /^\/vendor\/(scenerec|comlink)\/[\w.-]+\.(js|mjs)$/, /^\/wasm\/[\w.-]+\.wasm$/] },
  { name: 'cross-origin-isolated page with a CSP', url: 'isolated', isolated: true, allowed: [...ASSETS, /^\/assets\/[\w.-]+\.(js|wasm)$/] },
];

for (const c of cases) {
  test(`${c.name}: a personalised list, the backend, only static same-origin GETs`, async ({ page }) => {
    const log = logRequests(page);
    const origin = state.urls[c.url];
    const r = await open(page, origin, { backend: 'wasm', ...c.query });
    expectPersonalised(r);
    expect(r.backend).toBe('wasm');
    expect(r.crossOriginIsolated).toBe(c.isolated === true);
    const paths = log.map((x) => new URL(x.url).pathname);
    const wasm = paths.filter((p) => p.endsWith('.wasm'));
    expect(wasm.length, 'a wasm binary was fetched').toBeGreaterThan(0);
    // Single-threaded everywhere, the isolated page included (docs/install.md).
    for (const p of wasm) expect(p).not.toContain('threaded');
    expect(log.some((x) => x.url.startsWith('blob:')), 'no blob: helper workers').toBe(false);
    for (const f of ['model.json', 'weights.bin', 'vocab.json']) expect(paths).toContain(`/models/tiny/${f}`);
    expectStaticSameOrigin(log, origin, c.allowed, r.history);
    console.log(`${c.name}: backend ${r.backend}, load ${r.loadMs.toFixed(0)} ms, recommend ${r.recommendMs.toFixed(2)} ms, wasm ${wasm.map((p) => p.split('/').pop()).join(',')}`);
  });
}

test("vite build, backend 'auto': the measured choice works from the package", async ({ page }) => {
  const r = await open(page, state.urls.viteBuild);
  expectPersonalised(r);
  expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(r.backend);
  console.log(`auto: ${r.backend} (${r.loadMs.toFixed(0)} ms)`);
});


// The default model cache ('cache-first'): the second visit loads with no model request at all. On the
// isolated page its CSP (worker-src 'self') refuses the cache's blob: helper worker: the engine reads the files itself.
for (const url of ['viteBuild', 'isolated'] as const) {
  test(`second visit: the model comes from the cache (no model request), ${url}`, async ({ page }) => {
    const first = await open(page, state.urls[url], { backend: 'wasm' });
    expect(first.hasModelCache, 'the package exports clearModelCache').toBe(true);
    const log = logRequests(page);
    const second = await open(page, state.urls[url], { backend: 'wasm' });
    expectPersonalised(second);
    const model = log.filter((r) => MODEL.test(new URL(r.url).pathname));
    expect(model, 'model requests on the second visit').toEqual([]);
    console.log(`${url}: cold load ${first.loadMs.toFixed(0)} ms, second visit ${second.loadMs.toFixed(0)} ms`);
  });
}

test('the installed package runs its `scenerec` command with plain node (no tsx)', () => {
  const store = process.env.SCENEREC_CONSUMER_STORE;
  expect(store, 'set by the global set-up').toBeTruthy();
  const out = execFileSync(join(store!, 'node_modules/.bin/scenerec'), ['--help'], { encoding: 'utf8' });
  expect(out).toMatch(/usage: scenerec <command>/);
  expect(out).toMatch(/scenerec train --data/);
});

test('a shop\'s TypeScript type-checks against the installed package\'s declarations (page and engine entries)', () => {
  const store = process.env.SCENEREC_CONSUMER_STORE;
  expect(store, 'set by the global set-up').toBeTruthy();
  const dir = join(store!, 'typecheck');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.ts'), [
    "import { createRecommender, WorkerLostError, InvalidOptionsError, type Recommender, type CatalogItem, type RecommendResult, type EngineInfo } from 'scenerec';",
    "import { createEngine, exposeEngine, type RecommenderEngine } from 'scenerec/engine';",
    "const catalog: CatalogItem[] = [{ id: 'a', title: 'Kettle', category: 'kitchen', price: 19.5, available: true }];",
    'export async function start(): Promise<RecommendResult> {',
    "  const rec: Recommender = await createRecommender({ modelUrl: '/models/games-sasrec/model.json', catalog, onEvent: (e) => console.info(e.type) });",
    "  await rec.track({ type: 'view', itemId: 'a', timestamp: Date.now() });",
    '  const info: EngineInfo = await rec.info();',
    '  const known: number = info.coverage.learned;',
    "  const r = await rec.scene('cart').recommend({ k: 10, objectives: { purchase: 1 } });",
    '  const ids: string[] = r.items.map((i) => i.itemId);',
    '  void known; void ids; await rec.dispose();',
    '  return r;',
    '}',
    'export const lost = (e: unknown): boolean => e instanceof WorkerLostError || e instanceof InvalidOptionsError;',
    "export async function local(): Promise<boolean> { const e: RecommenderEngine = await createEngine({ modelUrl: '/m/model.json' }); const s = e.settling; await e.dispose(); return s; }",
    'export const serve = exposeEngine;',
  ].join('\n'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', strict: true, noEmit: true, skipLibCheck: false, lib: ['es2022', 'dom'], types: [] },
    files: ['app.ts'],
  }));
  // skipLibCheck is off so that a declaration the package lacks is an error; TF.js's own declarations have errors
  // of their own under this TypeScript, so only the shop's file and the package's declarations are judged.
  const r = spawnSync(process.execPath, [join(process.cwd(), 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: dir, encoding: 'utf8' });
  const ours = r.stdout.split('\n').filter((l) => /^(app\.ts|\.\.\/node_modules\/scenerec\/)\S*\(\d+,\d+\): error TS/.test(l));
  expect(ours, r.stdout.slice(0, 2000)).toEqual([]);
  expect(r.stdout + r.stderr).not.toMatch(/Cannot find module 'scenerec/);
});

test('the model the package ships loads from where docs/install.md copies it', async ({ page }) => {
  const log = logRequests(page);
  const r = await open(page, state.urls.viteBuild, { backend: 'wasm', model: '/models/games-sasrec/model.json' });
  const info = (r as unknown as { info: { modelVersion: string; coverage?: { learned: number } } }).info;
  expect(info.modelVersion).toMatch(/^games-sasrec-/);
  const paths = log.map((x) => new URL(x.url).pathname);
  for (const f of ['model.json', 'weights.bin', 'vocab.json']) expect(paths).toContain(`/models/games-sasrec/${f}`);
  // The app's catalog is not the Games catalog: a list still comes (by the shopper's own affinity).
  expect(r.items.length).toBe(8);
  console.log(`shipped model ${info.modelVersion}: load ${r.loadMs.toFixed(0)} ms, coverage ${JSON.stringify(info.coverage)}`);
});

/**
 * A shop's own export (ids item-01..50 of the apps' catalog, five categories of ten; each shopper
 * browses one category per session; views and some carts, ISO times over ten days), as CSV files.
 */
function writeShopExport(dir: string): { events: string; items: string } {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const id = (i: number) => `item-${String(i).padStart(2, '0')}`;
  const rows = ['user_id,item_id,event,timestamp'];
  const t0 = Date.parse('2026-03-01T00:00:00Z');
  for (let u = 0; u < 400; u++) {
    let t = t0 + Math.floor(rnd() * 9 * 86400e3);
    for (let s = 0; s < 1 + Math.floor(rnd() * 3); s++) {
      const c = Math.floor(rnd() * 5);
      for (let v = 0; v < 4 + Math.floor(rnd() * 6); v++) {
        t += 30e3 + Math.floor(rnd() * 120e3);
        rows.push(`u${u},${id(c * 10 + 1 + Math.floor(rnd() * 10))},${rnd() < 0.1 ? 'add_to_cart' : 'view'},${new Date(t).toISOString()}`);
      }
      t += 3600e3 * rnd();
    }
  }
  mkdirSync(dir, { recursive: true });
  const events = join(dir, 'events.csv');
  const items = join(dir, 'items.csv');
  writeFileSync(events, rows.join('\n') + '\n');
  writeFileSync(items, ['id,category,price', ...Array.from({ length: 50 }, (_, k) => `${id(k + 1)},cat-${Math.floor(k / 10)},${k + 1}`)].join('\n') + '\n');
  return { events, items };
}

// The README's path for a shop's own data, with the installed package only: `scenerec train` (no
// options: the defaults pick the model) on a CSV export, the model folder served by the app, lists
// that follow each shopper's own history.
test('a model trained by the installed `scenerec train` on a shop CSV serves lists that follow each shopper', async ({ page }) => {
  test.setTimeout(600_000);
  const store = process.env.SCENEREC_CONSUMER_STORE!;
  const { work } = JSON.parse(readFileSync(join(import.meta.dirname, '.consumers.json'), 'utf8')) as { work: string };
  const shop = writeShopExport(join(work, 'own-export'));
  const out = join(work, 'vite/dist/models/own'); // served by the vite build's static server
  const bin = join(store, 'node_modules/.bin/scenerec');
  const t0 = Date.now();
  const train = execFileSync(bin, ['train', '--data', shop.events, '--items', shop.items, '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const trained = JSON.parse(train.trim().split('\n').at(-1)!) as { architecture: string; modelVersion: string };
  const inspect = execFileSync(bin, ['inspect', '--model', out, '--catalog', shop.items], { encoding: 'utf8' });
  const coverage = JSON.parse(inspect.trim().split('\n').at(-1)!) as { items: number; learned: number };
  expect(coverage).toMatchObject({ items: 50, learned: 50 });

  const lists: string[][] = [];
  for (const history of [['item-21', 'item-24', 'item-27'], ['item-41', 'item-44', 'item-47']]) {
    const r = await open(page, state.urls.viteBuild, { backend: 'wasm', model: '/models/own/model.json', history: history.join(',') });
    expect((r as unknown as { info: { modelVersion: string } }).info.modelVersion).toBe(trained.modelVersion);
    expect(r.items).toHaveLength(8);
    expect(r.items.every((i) => i.reason === 'personal'), JSON.stringify(r.items)).toBe(true);
    lists.push(r.items.map((i) => i.itemId));
  }
  // Each list holds more of its own shopper's category (21-30 / 41-50) than of the other's.
  const inRange = (ids: string[], lo: number) => ids.filter((id) => { const n = Number(id.slice(5)); return n >= lo && n < lo + 10; }).length;
  expect(inRange(lists[0], 21), lists[0].join(',')).toBeGreaterThan(inRange(lists[0], 41));
  expect(inRange(lists[1], 41), lists[1].join(',')).toBeGreaterThan(inRange(lists[1], 21));
  console.log(`own model (${trained.architecture}, trained in ${((Date.now() - t0) / 1000).toFixed(0)} s): ${lists.map((l) => l.join(',')).join(' | ')}`);
});

// The sequence model from the installed package: `scenerec train --model sasrec` runs the PyTorch trainer
// shipped in the package (dist/cli/torch/) where a python3 with torch is installed (CI installs it), else
// TF.js; either way the app serves the model.
test('the installed `scenerec train --model sasrec` trains on PyTorch where torch is installed, and the app serves the model', async ({ page }) => {
  test.setTimeout(300_000);
  const store = process.env.SCENEREC_CONSUMER_STORE!;
  const { work } = JSON.parse(readFileSync(join(import.meta.dirname, '.consumers.json'), 'utf8')) as { work: string };
  const shop = writeShopExport(join(work, 'own-export-sasrec'));
  const out = join(work, 'vite/dist/models/own-sasrec');
  const bin = join(store, 'node_modules/.bin/scenerec');
  const hasTorch = ['python3', '/usr/bin/python3'].some((py) => spawnSync(py, ['-c', 'import torch']).status === 0);
  const train = execFileSync(bin, ['train', '--data', shop.events, '--out', out, '--model', 'sasrec', '--epochs', '4'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(train).toContain(hasTorch ? 'trainer: PyTorch' : 'trainer: TF.js');
  const trained = JSON.parse(train.trim().split('\n').at(-1)!) as { architecture: string; modelVersion: string };
  expect(trained.architecture).toBe('sasrec');
  const r = await open(page, state.urls.viteBuild, { backend: 'wasm', model: '/models/own-sasrec/model.json', history: 'item-21,item-24,item-27' });
  expect((r as unknown as { info: { modelVersion: string } }).info.modelVersion).toBe(trained.modelVersion);
  expect(r.items).toHaveLength(8);
  expect(r.items.every((i) => i.reason === 'personal'), JSON.stringify(r.items)).toBe(true);
});
