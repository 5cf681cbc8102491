/**
 * The demo shop: a catalog of Tianchi items (demo/catalog.json) and the SDK used exactly as a
 * shop's frontend would use it. Plain TypeScript + DOM.
 *
 * Routes (hash, so a reload keeps the page): #/ (catalog, ?cat=&page=), #/p/<id> (product),
 * #/cart, #/search?q=. Query params: ?backend=auto|webgpu|webgl|wasm|cpu (or a comma list),
 * ?model=<folder under /models/> (default tianchi-mtl, the multi-task model; tianchi-sasrec is the single-head one).
 *
 * The "Ranking controls" panel (demo/controls.ts) sets what a shop would: per-scene objectives,
 * diversity and price weight, and shop rules; every list is asked again when they change.
 */
import {
  createRecommender, type BackendPreference, type CatalogItem, type EngineInfo, type LoadProgress,
  type RankReason, type Recommender, type RecommendResult, type SceneName, type StoredEvent,
  type TrackEvent,
} from '../src/index';
import catalogUrl from './catalog.json?url';
import { mountControls, type Controls } from './controls';

const DEFAULT_MODEL = 'tianchi-mtl';
const PAGE_SIZE = 24;
const CART_KEY = 'scenerec-demo-cart';
const BACKEND_CHOICES = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from demo/index.html`);
  return el as T;
};

type Child = Node | string | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Record<string, string | number | boolean | undefined | ((ev: Event) => void)> = {}, ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (k.startsWith('data-')) el.setAttribute(k, String(v));
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const fmtMs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
const fmtPrice = (p?: number): string => (p === undefined ? '' : `¥${p.toFixed(2)}`);

/** A stable pastel colour per category, for the product "image" placeholder. */
function swatch(category = ''): string {
  let hash = 0;
  for (let i = 0; i < category.length; i++) hash = (hash * 31 + category.charCodeAt(i)) >>> 0;
  return `hsl(${hash % 360} 55% 82%)`;
}

function showError(e: unknown, where: string): void {
  const err = e as { name?: string; code?: string; message?: string };
  const box = $('error');
  box.hidden = false;
  box.textContent = `${where}: ${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? String(e)}`;
  console.error(where, e);
}

// ---------------------------------------------------------------------------------------------
// state

/** Null when the recommender could not start: the shop still works, without recommendations. */
let rec: Recommender | null = null;
let catalog: CatalogItem[] = [];
const byId = new Map<string, CatalogItem>();
let cart: string[] = loadCart();
let controls: Controls | null = null;
/** Asks the current page's list again (after a controls change); set by each page render. */
let refreshRecs: (() => Promise<void>) | null = null;

/** The scene options from the controls panel, spread into every recommend call. */
const optionsFor = (scene: SceneName) => controls?.options(scene) ?? {};

function loadCart(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(CART_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function saveCart(): void {
  localStorage.setItem(CART_KEY, JSON.stringify(cart));
  $('cart-count').textContent = String(cart.length);
}

/** Short label of an item in reasons. */
const label = (id: string): string => `#${id}`;

/** Longer label of an item for the history list. */
function longLabel(id: string): string {
  const it = byId.get(id);
  return it?.category ? `#${id} · cat. ${it.category}` : `#${id}`;
}

function reasonText(r: RankReason): string {
  switch (r.kind) {
    case 'personal': return r.becauseOf.length ? `Because of ${r.becauseOf.map(label).join(', ')}` : 'Picked for you';
    case 'similar': return `Similar to ${label(r.to)}`;
    case 'complement': return r.to.length === 1 ? `Goes with ${label(r.to[0])}` : `Goes with your cart (${r.to.length} items)`;
    case 'search': return `Shop rank ${r.shopRank + 1}${r.becauseOf.length ? ` · your interest in ${r.becauseOf.slice(0, 2).map(label).join(', ')}` : ''}`;
    case 'popular': return 'Popular in the shop';
    case 'pinned': return 'Pinned by the shop';
    case 'fallback': return r.detail;
    case 'affinity': return r.detail.charAt(0).toUpperCase() + r.detail.slice(1);
  }
}

// ---------------------------------------------------------------------------------------------
// SDK calls, with the engine panel kept current

async function track(events: TrackEvent | TrackEvent[]): Promise<void> {
  if (!rec) return;
  try {
    await rec.track(events);
  } catch (e) {
    showError(e, 'track');
  }
  void refreshHistory();
}

function showLastCall(r: RecommendResult, roundTripMs: number): void {
  $('info-last').textContent = `${r.scene}: ${fmtMs(r.latencyMs)} in the worker, ${fmtMs(roundTripMs)} round trip, ${r.historyUsed} history events used`;
  $('info-last').dataset.latencyMs = r.latencyMs.toFixed(3);
}

type Recs = Pick<ReturnType<typeof recSection>, 'fill' | 'message'>;

/** Runs one recommend call, shows its latency, and fills `recs` if the page is still current. */
async function recommendInto(recs: Recs, id: number, f: (r: Recommender) => Promise<RecommendResult>): Promise<void> {
  refreshRecs = async () => {
    if (!rec || !current(id)) return;
    try {
      await runInto(recs, id, f);
      $('error').hidden = true;
    } catch (e) {
      showError(e, 'recommend');
    }
  };
  await runInto(recs, id, f);
}

async function runInto(recs: Recs, id: number, f: (r: Recommender) => Promise<RecommendResult>): Promise<void> {
  if (!rec) {
    recs.message('Recommendations are unavailable: the recommender could not start.');
    return;
  }
  const t0 = performance.now();
  const r = await f(rec);
  showLastCall(r, performance.now() - t0);
  if (current(id)) recs.fill(r);
}

function showEngineInfo(info: EngineInfo): void {
  $('info-backend').textContent = info.backend;
  $('info-backend').dataset.backend = info.backend;
  const rejected = info.rejectedBackends.map((r) => `${r.backend}: ${r.reason}`).join('\n');
  if (rejected) $('info-backend').title = `Passed over:\n${rejected}`;
  const a = info.adapter;
  $('info-adapter').textContent = a ? [a.vendor, a.architecture, a.isFallbackAdapter ? '(fallback adapter)' : ''].filter(Boolean).join(' ') || 'WebGPU adapter' : '– (not WebGPU)';
  $('info-adapter').dataset.architecture = a?.architecture ?? '';
  $('info-model').textContent = `${info.modelVersion} · ${info.numModelItems.toLocaleString()} items`;
  $('info-catalog').textContent = `${info.catalogSize.toLocaleString()} items, ${info.catalogItemsKnownToModel.toLocaleString()} known to the model`;
  $('info-load').textContent = `${fmtMs(info.loadMs)} (warm-up ${fmtMs(info.warmupMs)})`;
}

async function refreshHistory(): Promise<void> {
  if (!rec) return;
  let events: StoredEvent[];
  try {
    events = await rec.listHistory({ limit: 50 });
  } catch (e) {
    showError(e, 'listHistory');
    return;
  }
  const list = $('history-list');
  list.replaceChildren(...events.map((ev) => {
    const what = ev.itemId
      ? h('a', { href: `#/p/${encodeURIComponent(ev.itemId)}` }, longLabel(ev.itemId))
      : h('span', { class: 'query' }, `“${ev.query ?? ''}”`);
    const forget = ev.itemId
      ? h('button', { type: 'button', class: 'forget', title: `Forget everything about #${ev.itemId}`, 'aria-label': `Forget ${ev.itemId}`, 'data-item-id': ev.itemId, onclick: () => void forgetItem(ev.itemId!) }, '×')
      : null;
    const time = new Date(ev.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return h('li', { 'data-type': ev.type, 'data-item-id': ev.itemId },
      h('span', { class: `tag tag-${ev.type}` }, ev.type), what, h('span', { class: 'muted small' }, `${ev.scene} · ${time}`), forget);
  }));
  $('history-empty').hidden = events.length > 0;
  list.dataset.count = String(events.length);
}

async function forgetItem(id: string): Promise<void> {
  if (!rec) return;
  try {
    await rec.forgetItem(id);
  } catch (e) {
    showError(e, 'forgetItem');
  }
  await refreshHistory();
  void route();
}

async function exportHistory(): Promise<void> {
  if (!rec) return;
  try {
    const data = await rec.exportHistory();
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `scenerec-history-${new Date(data.exportedAt).toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    showError(e, 'exportHistory');
  }
}

// ---------------------------------------------------------------------------------------------
// rendering

function productCard(item: CatalogItem, extra?: { reason?: RankReason; scene?: SceneName; rank?: number; score?: number; boost?: number }): HTMLElement {
  const href = `#/p/${encodeURIComponent(item.id)}`;
  const onclick = extra?.scene
    ? () => { void track({ type: 'click', itemId: item.id, scene: extra.scene }); }
    : undefined;
  const unavailable = item.available === false;
  return h('a', { class: `product${unavailable ? ' unavailable' : ''}`, href, 'data-item-id': item.id, 'data-reason': extra?.reason?.kind, onclick },
    h('div', { class: 'thumb', style: `background:${swatch(item.category)}` },
      h('span', {}, item.category ? `cat. ${item.category}` : ''),
      unavailable ? h('em', { class: 'badge' }, 'Out of stock') : null),
    h('div', { class: 'title' }, item.title ?? item.id),
    h('div', { class: 'meta' }, h('strong', {}, fmtPrice(item.price)), h('span', { class: 'muted' }, `#${item.id}`)),
    extra?.reason ? h('div', { class: `reason reason-${extra.reason.kind}` }, reasonText(extra.reason)) : null,
    extra?.score !== undefined
      ? h('div', { class: 'why muted small', 'data-boost': extra.boost },
        `#${(extra.rank ?? 0) + 1} · score ${extra.score.toFixed(3)}`, extra.boost !== undefined ? h('span', { class: 'boosted' }, ` · boosted ×${+extra.boost.toFixed(2)}`) : null)
      : null,
  );
}

function recSection(title: string, scene: SceneName, subtitle: string): { section: HTMLElement; fill: (r: RecommendResult) => void; message: (text: string) => void } {
  const grid = h('div', { class: 'grid recs', 'data-scene': scene }, h('p', { class: 'muted' }, 'Computing on this device…'));
  const section = h('section', { class: 'block' },
    h('div', { class: 'block-head' }, h('h2', {}, title), h('span', { class: 'muted small' }, subtitle)), grid);
  const fill = (r: RecommendResult) => {
    grid.replaceChildren(...r.items.map((it) => productCard(it.item ?? byId.get(it.itemId) ?? { id: it.itemId }, { reason: it.reason, scene, rank: it.rank, score: it.score, boost: it.boost })));
    if (r.items.length === 0) grid.append(h('p', { class: 'muted' }, 'Nothing to recommend here.'));
    grid.dataset.ready = 'true';
    grid.dataset.count = String(r.items.length);
  };
  const message = (text: string) => grid.replaceChildren(h('p', { class: 'muted' }, text));
  return { section, fill, message };
}

let renderId = 0;
/** True while the render that called it is the latest (the shopper may have navigated on). */
const current = (id: number) => id === renderId;

async function renderHome(params: URLSearchParams, id: number): Promise<void> {
  const cat = params.get('cat') ?? '';
  const page = Math.max(1, Number(params.get('page') ?? 1) || 1);
  const recs = recSection('Recommended for you', 'home', 'home scene');
  const items = cat ? catalog.filter((i) => i.category === cat) : catalog;
  const pages = Math.max(1, Math.ceil(items.length / PAGE_SIZE));
  const shown = items.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);

  const categories = [...catalog.reduce((m, i) => m.set(i.category ?? '', (m.get(i.category ?? '') ?? 0) + 1), new Map<string, number>())]
    .sort((a, b) => b[1] - a[1]);
  const select = h('select', { id: 'category-filter', 'aria-label': 'Category' },
    h('option', { value: '' }, `All categories (${catalog.length})`),
    ...categories.map(([c, n]) => h('option', { value: c }, `Category ${c} (${n})`)));
  select.value = cat;
  select.addEventListener('change', () => { location.hash = `#/?cat=${encodeURIComponent(select.value)}`; });
  const link = (p: number, text: string, disabled: boolean) => disabled
    ? h('span', { class: 'pager-off' }, text)
    : h('a', { href: `#/?${new URLSearchParams({ ...(cat ? { cat } : {}), page: String(p) })}` }, text);

  $('view').replaceChildren(
    recs.section,
    h('section', { class: 'block' },
      h('div', { class: 'block-head' }, h('h2', {}, 'Catalog'), select,
        h('span', { class: 'pager' }, link(page - 1, '‹ Prev', page <= 1), h('span', { id: 'page-info' }, `Page ${page} of ${pages}`), link(page + 1, 'Next ›', page >= pages))),
      h('div', { class: 'grid catalog', id: 'catalog-grid' }, ...shown.map((i) => productCard(i)))),
  );
  controls?.showScene('home');
  await recommendInto(recs, id, (r) => r.scene('home').recommend({ k: 10, ...optionsFor('home') }));
}

async function renderProduct(itemId: string, id: number): Promise<void> {
  const item = byId.get(itemId);
  if (!item) {
    $('view').replaceChildren(h('section', { class: 'block' }, h('h2', {}, 'Not found'), h('p', {}, `No item #${itemId} in this shop.`)));
    return;
  }
  const inCart = cart.includes(itemId);
  const unavailable = item.available === false;
  const button = h('button', { type: 'button', id: 'add-to-cart', class: 'primary', disabled: inCart || unavailable }, unavailable ? 'Out of stock' : inCart ? 'In your cart' : 'Add to cart');
  button.addEventListener('click', () => {
    cart = [...cart, itemId];
    saveCart();
    button.textContent = 'In your cart';
    button.setAttribute('disabled', '');
    void track({ type: 'cart', itemId, scene: 'product' });
  });
  const recs = recSection('Similar items', 'product', 'product scene');
  controls?.showScene('product');
  const shopTools = h('div', { class: 'shop-tools' }, h('span', { class: 'muted small' }, 'Shop tools:'));
  if (controls) {
    const c = controls;
    const pin = h('button', { type: 'button', id: 'pin-item', 'aria-pressed': String(c.isPinned(itemId)) }, c.isPinned(itemId) ? 'Unpin from lists' : 'Pin in every list');
    pin.addEventListener('click', () => {
      c.togglePin(itemId);
      pin.textContent = c.isPinned(itemId) ? 'Unpin from lists' : 'Pin in every list';
      pin.setAttribute('aria-pressed', String(c.isPinned(itemId)));
    });
    const boost = h('button', { type: 'button', id: 'boost-item', 'aria-pressed': String(c.isBoosted(itemId)) }, c.isBoosted(itemId) ? 'Stop boosting' : 'Boost this item');
    boost.addEventListener('click', () => {
      c.toggleBoost(itemId);
      boost.textContent = c.isBoosted(itemId) ? 'Stop boosting' : 'Boost this item';
      boost.setAttribute('aria-pressed', String(c.isBoosted(itemId)));
    });
    shopTools.append(pin, boost);
  }
  $('view').replaceChildren(
    h('section', { class: 'block pdp', 'data-item-id': itemId },
      h('div', { class: 'thumb large', style: `background:${swatch(item.category)}` }, h('span', {}, `cat. ${item.category ?? ''}`)),
      h('div', { class: 'pdp-info' },
        h('h1', {}, item.title ?? item.id),
        h('p', { class: 'price' }, fmtPrice(item.price)),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Item id'), h('dd', {}, item.id),
          h('dt', {}, 'Category'), h('dd', {}, h('a', { href: `#/?cat=${encodeURIComponent(item.category ?? '')}` }, item.category ?? '–')),
          h('dt', {}, 'Brand'), h('dd', {}, item.brand ?? 'No brand'),
          h('dt', {}, 'Availability'), h('dd', {}, unavailable ? 'Out of stock' : 'In stock')),
        button, shopTools)),
    recs.section,
  );
  await track({ type: 'view', itemId, scene: 'product' });
  if (!current(id)) return;
  await recommendInto(recs, id, (r) => r.scene('product').recommend({ itemId, k: 10, ...optionsFor('product') }));
}

async function renderCart(id: number): Promise<void> {
  const checkout = h('button', { type: 'button', id: 'checkout', class: 'primary', disabled: cart.length === 0 }, 'Buy now');
  checkout.addEventListener('click', () => {
    const bought = cart;
    cart = [];
    saveCart();
    void track(bought.map((itemId) => ({ type: 'purchase' as const, itemId, scene: 'cart' as const }))).then(() => route());
  });
  const rows = cart.map((itemId) => {
    const item = byId.get(itemId) ?? { id: itemId };
    const remove = h('button', { type: 'button', class: 'remove', 'data-item-id': itemId }, 'Remove');
    remove.addEventListener('click', () => {
      cart = cart.filter((x) => x !== itemId);
      saveCart();
      void route();
    });
    return h('li', { 'data-item-id': itemId },
      h('span', { class: 'dot', style: `background:${swatch(item.category)}` }),
      h('a', { href: `#/p/${encodeURIComponent(itemId)}` }, item.title ?? itemId),
      h('strong', {}, fmtPrice(item.price)), remove);
  });
  const total = cart.reduce((s, x) => s + (byId.get(x)?.price ?? 0), 0);
  const recs = recSection('Goes well with your cart', 'cart', 'cart scene');
  $('view').replaceChildren(
    h('section', { class: 'block' },
      h('div', { class: 'block-head' }, h('h2', {}, 'Your cart'), h('span', { class: 'muted small' }, `${cart.length} items · ${fmtPrice(total)}`)),
      cart.length ? h('ul', { class: 'cart-list', id: 'cart-list' }, ...rows) : h('p', { class: 'muted' }, 'Your cart is empty.'),
      checkout),
    recs.section,
  );
  controls?.showScene('cart');
  await recommendInto(recs, id, (r) => r.scene('cart').recommend({ cart, k: 5, ...optionsFor('cart') }));
}

/** The shop's own search: a substring match over title, id, category and brand, in catalog order. */
function shopSearch(query: string): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return catalog
    .filter((i) => [i.title, i.id, i.category, i.brand].some((f) => f?.toLowerCase().includes(q)))
    .slice(0, 200)
    .map((i) => i.id);
}

async function renderSearch(params: URLSearchParams, id: number): Promise<void> {
  const query = params.get('q') ?? '';
  ($('search-input') as HTMLInputElement).value = query;
  const candidates = shopSearch(query);
  controls?.showScene('search');
  const recs = recSection(`Results for “${query}”`, 'search', `${candidates.length} matches in the shop, reranked for you`);
  $('view').replaceChildren(recs.section);
  if (!query.trim()) return;
  if (candidates.length === 0) {
    recs.message('No item matches.');
    return;
  }
  await recommendInto(recs, id, (r) => r.scene('search').rerank({ query, candidates, k: 20, ...optionsFor('search') }));
}

async function route(): Promise<void> {
  const id = ++renderId;
  refreshRecs = null;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  document.querySelectorAll('.nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === `#${path}`));
  if (path !== '/search') ($('search-input') as HTMLInputElement).value = '';
  try {
    if (path.startsWith('/p/')) await renderProduct(decodeURIComponent(path.slice(3)), id);
    else if (path === '/cart') await renderCart(id);
    else if (path === '/search') await renderSearch(params, id);
    else await renderHome(params, id);
    window.scrollTo?.({ top: 0 });
  } catch (e) {
    showError(e, 'recommend');
  }
}

// ---------------------------------------------------------------------------------------------
// start

function showProgress(p: LoadProgress): void {
  const fill = $('progress-fill');
  const text = $('progress-text');
  let pct = 0;
  switch (p.stage) {
    case 'backend': pct = 5; text.textContent = `Backend ${p.backend}: ${p.status}${p.detail ? ` (${p.detail})` : ''}`; break;
    case 'download': pct = 10 + 70 * p.loadedFraction; text.textContent = `Downloading the model: ${(p.loadedFraction * 100).toFixed(0)}% (${(p.loadedBytes / 1e6).toFixed(1)} of ${(p.totalBytes / 1e6).toFixed(1)} MB)`; break;
    case 'model': pct = 85; text.textContent = `Model loaded: ${p.numItems.toLocaleString()} items, ${(p.weightBytes / 1e6).toFixed(1)} MB`; break;
    case 'warmup': pct = 92; text.textContent = p.ms === undefined ? 'Warming up…' : `Warmed up in ${fmtMs(p.ms)}`; break;
    case 'ready': pct = 100; text.textContent = `Ready on ${p.info.backend}`; break;
  }
  fill.style.width = `${pct}%`;
  fill.parentElement!.setAttribute('aria-valuenow', pct.toFixed(0));
}

function backendFromUrl(): BackendPreference {
  const raw = new URLSearchParams(location.search).get('backend') ?? 'auto';
  return (raw.includes(',') ? raw.split(',') : raw) as BackendPreference;
}

/** ?model=<folder under /models/>: another model to try the controls on (e.g. a multi-head one). */
function modelFromUrl(): string {
  const name = new URLSearchParams(location.search).get('model') ?? DEFAULT_MODEL;
  return `/models/${/^[a-z0-9][a-z0-9_-]*$/i.test(name) ? name : DEFAULT_MODEL}/model.json`;
}

function renderBackendLinks(active: string): void {
  const chosen = new URLSearchParams(location.search).get('backend') ?? 'auto';
  $('backend-links').replaceChildren(...BACKEND_CHOICES.map((b) =>
    b === chosen
      ? h('strong', { title: `in use: ${active}` }, b)
      : h('a', { href: `?backend=${b}${location.hash}` }, b)));
}

async function main(): Promise<void> {
  saveCart();
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = ($('search-input') as HTMLInputElement).value;
    // The search is tracked when the shopper submits it (not when a search page is reloaded).
    if (q.trim()) void track({ type: 'search', query: q.trim(), scene: 'search' });
    location.hash = `#/search?${new URLSearchParams({ q })}`;
  });
  $('history-clear').addEventListener('click', async () => {
    if (!rec) return;
    try {
      await rec.clearHistory();
    } catch (e) {
      showError(e, 'clearHistory');
    }
    await refreshHistory();
    void route();
  });
  $('history-export').addEventListener('click', () => void exportHistory());

  try {
    const res = await fetch(catalogUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    catalog = await res.json() as CatalogItem[];
    for (const i of catalog) byId.set(i.id, i);
    controls = mountControls($('controls'), catalog, () => void refreshRecs?.());
  } catch (e) {
    document.body.dataset.state = 'error';
    $('progress-text').textContent = 'The catalog could not be loaded.';
    showError(e, 'catalog');
    return;
  }
  window.addEventListener('hashchange', () => void route());
  try {
    rec = await createRecommender({ catalog, modelUrl: modelFromUrl(), backend: backendFromUrl(), onProgress: showProgress });
  } catch (e) {
    // The shop keeps working without recommendations.
    document.body.dataset.state = 'error';
    $('progress-text').textContent = 'The recommender could not start: the shop works without recommendations.';
    showError(e, 'createRecommender');
    renderBackendLinks('none');
    for (const f of ['info-backend', 'info-adapter', 'info-model', 'info-catalog', 'info-load']) $(f).textContent = 'not started';
    $('history-empty').textContent = 'History unavailable: the recommender could not start.';
    for (const b of ['history-export', 'history-clear']) $(b).setAttribute('disabled', '');
    await route();
    return;
  }
  showEngineInfo(rec.engineInfo);
  renderBackendLinks(rec.backend);
  $('loading').classList.add('done');
  document.body.dataset.state = 'ready';
  await Promise.all([refreshHistory(), route()]);
}

void main();
