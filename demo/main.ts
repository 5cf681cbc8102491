/**
 * The demo shop: a catalog of Tianchi items (demo/catalog.json) and the SDK used exactly as a
 * shop's frontend would use it. Plain TypeScript + DOM; the SDK is imported in one place (demo/sdk.ts).
 *
 * Routes (hash, so a reload keeps the page): #/ (catalog, ?cat=&page=), #/p/<id> (product),
 * #/cart, #/search?q=. Query params: ?backend=auto|webgpu|webgl|wasm|cpu (or a comma list),
 * ?model=<folder under /models/> (default tianchi-mtl, the multi-task model; tianchi-sasrec is the single-head one).
 *
 * Every list says why it holds what it holds (the SDK's rank reason on each card, "Why these?" for
 * the list). The feedback loop: cards report an impression when they are half in view
 * (IntersectionObserver, batched), "Not interested" reports a dismissal; "Recently viewed" and
 * "Buy again" are the SDK's history scenes. demo/sdk.ts detects an SDK without them and the page
 * hides what is missing. The "Settings" drawer (demo/controls.ts) sets what a shop would;
 * "Your data" shows the shopper's history with Export and Clear (Clear also empties the cart).
 */
import {
  createRecommender, recommendOptional, trackFeedback,
  type AnyReason, type BackendPreference, type CatalogItem, type EngineInfo, type FeedbackEvent, type ListItem,
  type LoadProgress, type OptionalScene, type Recommender, type RecommendResult, type SceneName, type StoredEvent,
  type TrackEvent,
} from './sdk';
import catalogUrl from './catalog.json?url';
import { mountControls, type Controls } from './controls';
import { productArt } from './synthetic';

const DEFAULT_MODEL = 'tianchi-mtl';
const PAGE_SIZE = 24;
const CART_KEY = 'scenerec-demo-cart';
const BACKEND_CHOICES = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
/** The scenes the ranking controls cover (the history scenes take no ranking options here). */
const RANKED_SCENES: readonly string[] = ['home', 'product', 'cart', 'search'];
/** Impressions wait this long for more before they are sent as one `track` call. */
const IMPRESSION_BATCH_MS = 800;
/** Share of a card that must be in view for it to count as shown. */
const IMPRESSION_THRESHOLD = 0.5;

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

/** The item's generated picture (demo/synthetic.ts): a stand-in for a catalog's image URL. */
function art(item: CatalogItem, cls = 'thumb'): HTMLElement {
  const el = h('div', { class: cls });
  el.innerHTML = productArt(item); // our own generated markup, no shop or shopper text in it
  return el;
}

function showError(e: unknown, where: string): void {
  const err = e as { name?: string; code?: string; message?: string };
  const box = $('error');
  box.hidden = false;
  box.textContent = `${where}: ${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? String(e)}`;
  console.error(where, e);
}

function notice(text: string): void {
  const box = $('notice');
  box.hidden = false;
  box.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// state

/** Null when the recommender could not start: the shop still works, without recommendations. */
let rec: Recommender | null = null;
let catalog: CatalogItem[] = [];
const byId = new Map<string, CatalogItem>();
let cart: string[] = loadCart();
let controls: Controls | null = null;
/** Asks the current page's lists again (after a controls change); set by each page render. */
let refreshRecs: Array<() => Promise<void>> = [];
/** What the SDK in use supports of the feedback loop: unknown until the first feedback call answers. */
let feedback: 'unknown' | 'on' | 'unsupported' = 'unknown';

/** The options a scene call gets: the controls' for the ranked scenes, none for the history scenes. */
const optionsFor = (scene: SceneName) => (controls && RANKED_SCENES.includes(scene) ? controls.options(scene) : {});

function loadCart(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(CART_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Keeps the cart in localStorage; an empty cart leaves nothing there. */
function saveCart(): void {
  if (cart.length) localStorage.setItem(CART_KEY, JSON.stringify(cart));
  else localStorage.removeItem(CART_KEY);
  $('cart-count').textContent = String(cart.length);
  $('cart-link').setAttribute('aria-label', `Cart, ${cart.length} item${cart.length === 1 ? '' : 's'}`);
}

const itemName = (id: string): string => byId.get(id)?.title ?? `item ${id}`;
const kindOf = (item?: CatalogItem): string | undefined => (typeof item?.meta?.kind === 'string' ? item.meta.kind : undefined);
const brandOf = (item?: CatalogItem): string | undefined => (typeof item?.meta?.brandName === 'string' ? item.meta.brandName : undefined);

/** "A" or "A (+2 more)": the first item names the reason, the "Why these?" panel lists all. */
function firstName(ids: string[]): string {
  return ids.length > 1 ? `${itemName(ids[0])} (+${ids.length - 1} more)` : itemName(ids[0] ?? '');
}

/** Every item of a reason, for the "Why these?" panel. */
const allNames = (ids: string[]): string => ids.map(itemName).join('; ');


/** "today", "yesterday", "3 days ago". */
function ago(at: number): string {
  const days = Math.floor(Math.max(0, Date.now() - at) / 86_400_000);
  return days === 0 ? 'today' : days === 1 ? 'yesterday' : `${days} days ago`;
}

/** The reason of one list item, in words (the SDK gives it structured). */
function reasonText(r: AnyReason, every = false): string {
  const names = every ? allNames : firstName;
  switch (r.kind) {
    case 'personal': return r.becauseOf.length ? `Because you viewed ${names(r.becauseOf)}` : 'Picked for you';
    case 'similar': return `Similar to ${itemName(r.to)}`;
    case 'complement': return r.to.length === 1 ? `Goes with ${itemName(r.to[0])}` : `Goes with ${names(r.to)}`;
    case 'search': return r.becauseOf.length
      ? `Shop result ${r.shopRank + 1}, moved for your interest in ${names(r.becauseOf)}`
      : `Shop result ${r.shopRank + 1}`;
    case 'popular': return 'Popular in the shop';
    case 'pinned': return 'Pinned by the shop';
    case 'fallback': return r.detail;
    case 'viewed': return `Viewed ${ago(r.at)}${r.views > 1 ? `, ${r.views} times` : ''}`;
    case 'boughtBefore': return r.times > 1
      ? `You bought this ${r.times} times, last ${ago(r.lastAt)}`
      : `Bought ${ago(r.lastAt)}; you often buy ${r.category ? categoryLabel(r.category).toLowerCase() : 'this kind'}`;
    case 'affinity': return r.category !== undefined ? `Because you viewed ${categoryLabel(r.category).toLowerCase()}` : r.detail.charAt(0).toUpperCase() + r.detail.slice(1);
  }
}

/** What a list is, in a sentence, for its "Why these?" panel. */
const SCENE_EXPLAINED: Record<string, string> = {
  home: 'Ranked on this device by the model from what you viewed, carted and bought here; popular items when there is no history yet.',
  product: 'Items the model places next to this one (learned from shoppers who viewed it), then ranked for you.',
  cart: 'What shoppers add after items like those in your cart, with more of the same kind pushed down when the SDK does that.',
  search: 'The shop\'s own text matches, reordered for you by the model; the shop\'s rank stays visible.',
  recentlyViewed: 'Read from your history in this browser, newest first; no model involved.',
  buyAgain: 'Items you bought more than once, or from a kind you buy repeatedly (your history only).',
};

/** Per-item factors besides the reason: the shop's boost, the feedback discount. */
function factors(it: ListItem): string[] {
  const out: string[] = [];
  if (it.boost !== undefined) out.push(`boosted by the shop ×${+it.boost.toFixed(2)}`);
  if (it.discount !== undefined && it.discount < 1) out.push(`shown before without a click, or like a dismissed item: ×${it.discount.toFixed(2)}`);
  return out;
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

function setFeedback(state: 'on' | 'unsupported'): void {
  if (feedback === state) return;
  feedback = state;
  document.body.dataset.feedback = state;
  $('info-feedback').textContent = state === 'on'
    ? 'impressions and "not interested" reported'
    : 'this SDK takes no impression/dismiss events: not reported';
  if (state === 'unsupported') {
    document.querySelectorAll('.product .dismiss').forEach((b) => b.remove());
    console.info('scenerec demo: the SDK refused impression/dismiss events (InvalidEventError): the feedback loop is off.');
  }
}

/** Sends feedback; records whether the SDK takes it. False when it does not. */
async function sendFeedback(events: FeedbackEvent[]): Promise<boolean> {
  if (!rec || feedback === 'unsupported' || events.length === 0) return false;
  try {
    const ok = await trackFeedback(rec, events);
    setFeedback(ok ? 'on' : 'unsupported');
    return ok;
  } catch (e) {
    showError(e, 'track');
    return false;
  }
}

// Impressions: a card counts as shown once per page view when half of it is in view; the shown
// cards are batched into one `track` call.
const pendingImpressions = new Map<string, FeedbackEvent>();
const reported = new Set<string>();
let impressionTimer: ReturnType<typeof setTimeout> | undefined;

function flushImpressions(): void {
  clearTimeout(impressionTimer);
  const events = [...pendingImpressions.values()];
  pendingImpressions.clear();
  if (events.length) void sendFeedback(events).then(() => { $('info-feedback').dataset.impressions = String(Number($('info-feedback').dataset.impressions ?? 0) + events.length); });
}

const impressionObserver = typeof IntersectionObserver === 'undefined' ? null : new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    const el = e.target as HTMLElement;
    impressionObserver!.unobserve(el);
    const { itemId, scene } = el.dataset;
    const key = `${renderId}:${scene}:${itemId}`;
    if (!itemId || !scene || reported.has(key) || feedback === 'unsupported') continue;
    reported.add(key);
    pendingImpressions.set(key, { type: 'impression', itemId, scene: scene as SceneName });
  }
  if (pendingImpressions.size) {
    clearTimeout(impressionTimer);
    impressionTimer = setTimeout(flushImpressions, IMPRESSION_BATCH_MS);
  }
}, { threshold: IMPRESSION_THRESHOLD });

function showLastCall(r: RecommendResult, roundTripMs: number): void {
  $('info-last').textContent = `${r.scene}: ${fmtMs(r.latencyMs)} in the worker, ${fmtMs(roundTripMs)} round trip, ${r.historyUsed} history events used`;
  $('info-last').dataset.latencyMs = r.latencyMs.toFixed(3);
}

type Shelf = ReturnType<typeof shelf>;

/** Runs one recommend call into `list` and keeps it for a refresh after a controls change. */
async function recommendInto(list: Shelf, id: number, f: (r: Recommender) => Promise<RecommendResult | null>): Promise<void> {
  const run = async () => {
    if (!rec) {
      list.message('Recommendations are unavailable: the recommender could not start.');
      return;
    }
    const t0 = performance.now();
    const r = await f(rec);
    if (!current(id)) return;
    if (r === null) {
      list.unsupported();
      return;
    }
    showLastCall(r, performance.now() - t0);
    list.fill(r);
  };
  refreshRecs.push(async () => {
    if (!rec || !current(id)) return;
    try {
      await run();
      $('error').hidden = true;
    } catch (e) {
      showError(e, 'recommend');
    }
  });
  await run();
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
      ? h('a', { href: `#/p/${encodeURIComponent(ev.itemId)}`, onclick: () => closeDrawers() }, itemName(ev.itemId))
      : h('span', { class: 'query' }, `“${ev.query ?? ''}”`);
    const forget = ev.itemId
      ? h('button', { type: 'button', class: 'forget', title: `Forget everything about ${itemName(ev.itemId)}`, 'aria-label': `Forget ${itemName(ev.itemId)}`, 'data-item-id': ev.itemId, onclick: () => void forgetItem(ev.itemId!) }, '×')
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
  // Forgetting an item forgets it in the shop's own state too.
  if (cart.includes(id)) {
    cart = cart.filter((x) => x !== id);
    saveCart();
  }
  await refreshHistory();
  void route();
}

/** "Clear": the SDK's history and feedback, and the demo's own cart. */
async function clearEverything(): Promise<void> {
  cart = [];
  saveCart();
  reported.clear();
  pendingImpressions.clear();
  if (rec) {
    try {
      await rec.clearHistory();
    } catch (e) {
      showError(e, 'clearHistory');
    }
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
// drawers

function closeDrawers(): void {
  for (const d of document.querySelectorAll<HTMLDialogElement>('dialog.drawer[open]')) d.close();
}

function mountDrawer(toggleId: string, drawerId: string): void {
  const drawer = $<HTMLDialogElement>(drawerId);
  const toggle = $(toggleId);
  toggle.setAttribute('aria-expanded', 'false');
  toggle.addEventListener('click', () => {
    closeDrawers();
    drawer.showModal();
    toggle.setAttribute('aria-expanded', 'true');
  });
  drawer.addEventListener('close', () => toggle.setAttribute('aria-expanded', 'false'));
  drawer.querySelector('.drawer-close')?.addEventListener('click', () => drawer.close());
  // A click on the backdrop (the dialog box itself, outside its content) closes it.
  drawer.addEventListener('click', (ev) => {
    const r = drawer.getBoundingClientRect();
    const e = ev as MouseEvent;
    if (ev.target === drawer && (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom)) drawer.close();
  });
}

// ---------------------------------------------------------------------------------------------
// rendering

interface CardOptions { scene?: SceneName | OptionalScene; reason?: AnyReason; dismissable?: boolean; onDismiss?: (id: string) => void }

function productCard(item: CatalogItem, o: CardOptions = {}): HTMLElement {
  const href = `#/p/${encodeURIComponent(item.id)}`;
  const unavailable = item.available === false;
  const onclick = o.scene && RANKED_SCENES.includes(o.scene)
    ? () => { void track({ type: 'click', itemId: item.id, scene: o.scene as SceneName }); }
    : undefined;
  const brand = brandOf(item);
  const card = h('div', { class: `product${unavailable ? ' unavailable' : ''}`, 'data-item-id': item.id, 'data-scene': o.scene, 'data-reason': o.reason?.kind },
    h('a', { class: 'product-link', href, onclick },
      art(item),
      unavailable ? h('em', { class: 'badge' }, 'Out of stock') : null,
      h('span', { class: 'title' }, item.title ?? item.id),
      h('span', { class: 'meta' }, h('strong', { class: 'card-price' }, fmtPrice(item.price)), brand ? h('span', { class: 'muted' }, brand) : null)),
    o.reason ? h('div', { class: `reason reason-${o.reason.kind}`, title: reasonText(o.reason) }, h('span', {}, reasonText(o.reason))) : null,
  );
  if (o.dismissable && o.scene && feedback !== 'unsupported') {
    card.append(h('button', {
      type: 'button', class: 'dismiss', title: 'Not interested', 'aria-label': `Not interested in ${item.title ?? item.id}`,
      'data-item-id': item.id, onclick: () => o.onDismiss?.(item.id),
    }, '✕'));
  }
  if (o.scene && RANKED_SCENES.includes(o.scene)) impressionObserver?.observe(card);
  return card;
}

/**
 * A shelf: a titled row of recommended cards with a "Why these?" panel (the scene in a sentence and
 * each item's reason and factors). Hidden altogether when its scene is missing from the SDK.
 */
function shelf(title: string, scene: SceneName | OptionalScene, id: number, hideEmpty = false) {
  const grid = h('div', { class: 'shelf-row recs', 'data-scene': scene }, h('p', { class: 'muted' }, 'Computing on this device…'));
  const explain = h('div', { class: 'explain', id: `why-${scene}`, hidden: true });
  const why = h('button', { type: 'button', class: 'why-toggle', 'aria-expanded': 'false', 'aria-controls': `why-${scene}` }, 'Why these?');
  why.addEventListener('click', () => {
    explain.hidden = !explain.hidden;
    why.setAttribute('aria-expanded', String(!explain.hidden));
  });
  const section = h('section', { class: 'block shelf', 'data-shelf': scene },
    h('div', { class: 'block-head' }, h('h2', {}, title), why), explain, grid);

  const dismiss = async (itemId: string) => {
    const card = grid.querySelector<HTMLElement>(`.product[data-item-id="${CSS.escape(itemId)}"]`);
    card?.classList.add('dismissed');
    const ok = await sendFeedback([{ type: 'dismiss', itemId, scene }]);
    if (!ok) {
      card?.classList.remove('dismissed');
      grid.querySelectorAll('.dismiss').forEach((b) => b.remove());
      notice('"Not interested" needs an SDK with dismiss events; this one has none, so nothing was hidden.');
      return;
    }
    card?.remove();
    grid.dataset.dismissed = `${grid.dataset.dismissed ? `${grid.dataset.dismissed},` : ''}${itemId}`;
    if (!grid.querySelector('.product')) grid.replaceChildren(h('p', { class: 'muted' }, 'Nothing left here.'));
  };

  const fill = (r: RecommendResult) => {
    const items = r.items as ListItem[];
    grid.replaceChildren(...items.map((it) => productCard(it.item ?? byId.get(it.itemId) ?? { id: it.itemId }, {
      reason: it.reason, scene, dismissable: true, onDismiss: (x) => void dismiss(x),
    })));
    if (items.length === 0) grid.append(h('p', { class: 'muted' }, 'Nothing to recommend here.'));
    explain.replaceChildren(
      h('p', {}, SCENE_EXPLAINED[scene] ?? ''),
      h('ol', { class: 'why-list' }, ...items.map((it) => h('li', { class: 'why', 'data-item-id': it.itemId },
        h('strong', {}, itemName(it.itemId)), ': ', reasonText(it.reason, true),
        ...factors(it).map((f) => h('span', { class: 'factor' }, ` · ${f}`))))),
      h('p', { class: 'muted small' }, 'The order is the SDK\'s: relevance blended with the shop\'s objectives, diversity and rules (Settings).'),
    );
    grid.dataset.ready = 'true';
    grid.dataset.count = String(items.length);
    section.hidden = hideEmpty && items.length === 0;
  };
  const message = (text: string) => grid.replaceChildren(h('p', { class: 'muted' }, text));
  /** The SDK has no such scene: the shelf goes, the page stays. */
  const unsupported = () => {
    section.hidden = true;
    section.dataset.unsupported = 'true';
  };
  return { section, fill, message, unsupported };
}

/** A history shelf (recentlyViewed, buyAgain): shown only when the SDK has the scene and it has items. */
function historyShelf(title: string, scene: OptionalScene, id: number, k: number): HTMLElement {
  const s = shelf(title, scene, id, true);
  s.section.hidden = true;
  void recommendInto(s, id, (r) => recommendOptional(r, scene, { k })).catch((e) => showError(e, scene));
  return s.section;
}

let renderId = 0;
/** True while the render that called it is the latest (the shopper may have navigated on). */
const current = (id: number) => id === renderId;

function categoryLabel(cat: string): string {
  const item = catalog.find((i) => i.category === cat);
  return kindOf(item) ?? `Category ${cat}`;
}

async function renderHome(params: URLSearchParams, id: number): Promise<void> {
  const cat = params.get('cat') ?? '';
  const page = Math.max(1, Number(params.get('page') ?? 1) || 1);
  const recs = shelf('Recommended for you', 'home', id);
  const items = cat ? catalog.filter((i) => i.category === cat) : catalog;
  const pages = Math.max(1, Math.ceil(items.length / PAGE_SIZE));
  const shown = items.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);

  const categories = [...catalog.reduce((m, i) => m.set(i.category ?? '', (m.get(i.category ?? '') ?? 0) + 1), new Map<string, number>())]
    .map(([c, n]) => [c, n, categoryLabel(c)] as const)
    .sort((a, b) => a[2].localeCompare(b[2]));
  const select = h('select', { id: 'category-filter', 'aria-label': 'Category' },
    h('option', { value: '' }, `All products (${catalog.length})`),
    ...categories.map(([c, n, name]) => h('option', { value: c }, `${name} (${n})`)));
  select.value = cat;
  select.addEventListener('change', () => { location.hash = `#/?cat=${encodeURIComponent(select.value)}`; });
  const link = (p: number, text: string, disabled: boolean) => disabled
    ? h('span', { class: 'pager-off' }, text)
    : h('a', { href: `#/?${new URLSearchParams({ ...(cat ? { cat } : {}), page: String(p) })}` }, text);

  $('view').replaceChildren(
    recs.section,
    historyShelf('Recently viewed', 'recentlyViewed', id, 10),
    historyShelf('Buy again', 'buyAgain', id, 10),
    h('section', { class: 'block' },
      h('div', { class: 'block-head' }, h('h2', {}, cat ? categoryLabel(cat) : 'All products'), select,
        h('span', { class: 'pager' }, link(page - 1, '‹ Prev', page <= 1), h('span', { id: 'page-info' }, `Page ${page} of ${pages}`), link(page + 1, 'Next ›', page >= pages))),
      h('div', { class: 'grid catalog', id: 'catalog-grid' }, ...shown.map((i) => productCard(i)))),
  );
  controls?.showScene('home');
  await recommendInto(recs, id, (r) => r.scene('home').recommend({ k: 10, ...optionsFor('home') }));
}

async function renderProduct(itemId: string, id: number): Promise<void> {
  const item = byId.get(itemId);
  if (!item) {
    $('view').replaceChildren(h('section', { class: 'block' }, h('h2', {}, 'Not found'), h('p', {}, `No item ${itemId} in this shop.`)));
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
  const recs = shelf('Similar items', 'product', id);
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
  const brand = brandOf(item);
  $('view').replaceChildren(
    h('section', { class: 'block pdp', 'data-item-id': itemId },
      art(item, 'thumb large'),
      h('div', { class: 'pdp-info' },
        h('h1', {}, item.title ?? item.id),
        h('p', { class: 'price' }, fmtPrice(item.price)),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Kind'), h('dd', {}, h('a', { href: `#/?cat=${encodeURIComponent(item.category ?? '')}` }, kindOf(item) ?? item.category ?? '–')),
          h('dt', {}, 'Brand'), h('dd', {}, brand ?? 'No brand'),
          h('dt', {}, 'Availability'), h('dd', {}, unavailable ? 'Out of stock' : 'In stock'),
          h('dt', {}, 'Item id'), h('dd', { class: 'muted' }, `${item.id} (Tianchi category ${item.category ?? '–'})`)),
        button,
        h('p', { class: 'muted small' }, 'Name and picture are made up from the item\'s category, brand and id: the data has neither.'),
        shopTools)),
    recs.section,
    historyShelf('Recently viewed', 'recentlyViewed', id, 10),
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
      art(item, 'thumb mini'),
      h('a', { href: `#/p/${encodeURIComponent(itemId)}` }, item.title ?? itemId),
      h('strong', {}, fmtPrice(item.price)), remove);
  });
  const total = cart.reduce((s, x) => s + (byId.get(x)?.price ?? 0), 0);
  const recs = shelf('Goes well with your cart', 'cart', id);
  $('view').replaceChildren(
    h('section', { class: 'block' },
      h('div', { class: 'block-head' }, h('h2', {}, 'Your cart'), h('span', { class: 'muted small' }, `${cart.length} item${cart.length === 1 ? '' : 's'} · ${fmtPrice(total)}`)),
      cart.length ? h('ul', { class: 'cart-list', id: 'cart-list' }, ...rows) : h('p', { class: 'muted' }, 'Your cart is empty.'),
      checkout),
    recs.section,
    historyShelf('Buy again', 'buyAgain', id, 10),
  );
  controls?.showScene('cart');
  await recommendInto(recs, id, (r) => r.scene('cart').recommend({ cart, k: 5, ...optionsFor('cart') }));
}

/** The shop's own search: a substring match over title, id, category and brand, in catalog order. */
function shopSearch(query: string): string[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return catalog
    .filter((i) => [i.title, i.id, i.category, i.brand, kindOf(i), brandOf(i)].some((f) => f?.toLowerCase().includes(q)))
    .slice(0, 200)
    .map((i) => i.id);
}

async function renderSearch(params: URLSearchParams, id: number): Promise<void> {
  const query = params.get('q') ?? '';
  ($('search-input') as HTMLInputElement).value = query;
  const candidates = shopSearch(query);
  controls?.showScene('search');
  const recs = shelf(`${candidates.length} result${candidates.length === 1 ? '' : 's'} for “${query}”`, 'search', id);
  $('view').replaceChildren(recs.section);
  if (!query.trim()) return;
  if (candidates.length === 0) {
    recs.message('No item matches. Try a kind of product, e.g. “notebook”, “mug” or “sneakers”.');
    return;
  }
  await recommendInto(recs, id, (r) => r.scene('search').rerank({ query, candidates, k: 20, ...optionsFor('search') }));
}

async function route(): Promise<void> {
  flushImpressions();
  const id = ++renderId;
  refreshRecs = [];
  $('notice').hidden = true;
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
  $('history-clear').addEventListener('click', () => void clearEverything());
  mountDrawer('settings-toggle', 'settings-drawer');
  mountDrawer('data-toggle', 'data-drawer');
  // Impressions still waiting when the shopper leaves are sent then.
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flushImpressions(); });
  $('history-export').addEventListener('click', () => void exportHistory());

  try {
    const res = await fetch(catalogUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    catalog = await res.json() as CatalogItem[];
    for (const i of catalog) byId.set(i.id, i);
    controls = mountControls($('controls'), catalog, () => void Promise.all(refreshRecs.map((f) => f())));
  } catch (e) {
    document.body.dataset.state = 'error';
    $('progress-text').textContent = 'The catalog could not be loaded.';
    showError(e, 'catalog');
    return;
  }
  // Going to another page closes an open drawer (the page it was about is gone).
  window.addEventListener('hashchange', () => { closeDrawers(); void route(); });
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
    $('history-export').setAttribute('disabled', '');
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
