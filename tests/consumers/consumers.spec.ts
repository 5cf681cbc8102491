/**
 * The packed package in apps a shop would write (tests/consumers/<app>, set up by ./setup.ts from
 * one `npm pack`): each app gets a valid personalised list in real Chromium, reports the chosen
 * backend, and makes no request other than same-origin GETs of static files.
 */
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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


// The default model cache ('cache-first'): the second visit loads with no model request at all.
test('second visit: the model comes from the cache (no model request)', async ({ page }) => {
  const first = await open(page, state.urls.viteBuild, { backend: 'wasm' });
  expect(first.hasModelCache, 'the package exports clearModelCache').toBe(true);
  const log = logRequests(page);
  const second = await open(page, state.urls.viteBuild, { backend: 'wasm' });
  expectPersonalised(second);
  const model = log.filter((r) => MODEL.test(new URL(r.url).pathname));
  expect(model, 'model requests on the second visit').toEqual([]);
  console.log(`cold load ${first.loadMs.toFixed(0)} ms, second visit ${second.loadMs.toFixed(0)} ms`);
});

test('the installed package runs its `scenerec` command with plain node (no tsx)', () => {
  const store = process.env.SCENEREC_CONSUMER_STORE;
  expect(store, 'set by the global set-up').toBeTruthy();
  const out = execFileSync(join(store!, 'node_modules/.bin/scenerec'), ['--help'], { encoding: 'utf8' });
  expect(out).toMatch(/usage: scenerec <command>/);
  expect(out).toMatch(/scenerec train --data/);
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
