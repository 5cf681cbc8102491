/**
 * The demo's "Ranking controls" panel: what a shop engineer sets per scene (objective blend,
 * diversity, price awareness) and for every list (shop rules). Turns the state into the request
 * options of the SDK's scene calls, and keeps it in localStorage.
 */
import {
  DEFAULT_DIVERSITY, DEFAULT_OBJECTIVES, DEFAULT_PRICE_WEIGHT,
  type CatalogItem, type CommonRequest, type ObjectiveWeights, type SceneName, type ShopRules,
} from './sdk';

const STORAGE_KEY = 'scenerec-demo-controls';
const SCENE_NAMES: SceneName[] = ['home', 'product', 'cart', 'search'];

export interface SceneSettings {
  objectives: Required<ObjectiveWeights>;
  diversity: number;
  priceWeight: number;
}

export interface RuleSettings {
  includeCategories: string[];
  excludeCategories: string[];
  minPrice: number | null;
  maxPrice: number | null;
  hideUnavailable: boolean;
  excludePurchased: boolean;
  excludeInCart: boolean;
  pinned: string[];
  boostedItems: string[];
  boostCategory: string;
  boostFactor: number;
}

export interface ControlState {
  scenes: Record<SceneName, SceneSettings>;
  rules: RuleSettings;
}

export function defaultState(): ControlState {
  const scenes = {} as Record<SceneName, SceneSettings>;
  for (const s of SCENE_NAMES) {
    scenes[s] = { objectives: { ...DEFAULT_OBJECTIVES[s] }, diversity: DEFAULT_DIVERSITY[s], priceWeight: DEFAULT_PRICE_WEIGHT[s] };
  }
  return {
    scenes,
    rules: {
      includeCategories: [], excludeCategories: [], minPrice: null, maxPrice: null,
      hideUnavailable: true, excludePurchased: true, excludeInCart: true,
      pinned: [], boostedItems: [], boostCategory: '', boostFactor: 2,
    },
  };
}

function loadState(): ControlState {
  const d = defaultState();
  try {
    const raw = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<ControlState> | null;
    if (!raw || typeof raw !== 'object') return d;
    for (const s of SCENE_NAMES) {
      const r = raw.scenes?.[s];
      if (r) d.scenes[s] = { objectives: { ...d.scenes[s].objectives, ...r.objectives }, diversity: r.diversity ?? d.scenes[s].diversity, priceWeight: r.priceWeight ?? d.scenes[s].priceWeight };
    }
    if (raw.rules) d.rules = { ...d.rules, ...raw.rules };
  } catch { /* a broken saved state: start from the defaults */ }
  return d;
}

/** The options a scene call gets from the controls: spread them into the request. */
export function requestOptions(state: ControlState, scene: SceneName): Pick<CommonRequest, 'objectives' | 'diversity' | 'priceWeight' | 'rules'> {
  const s = state.scenes[scene];
  const r = state.rules;
  const rules: ShopRules = {};
  const include: NonNullable<ShopRules['include']> = {};
  if (r.includeCategories.length) include.category = [...r.includeCategories];
  if (r.minPrice !== null) include.minPrice = r.minPrice;
  if (r.maxPrice !== null) include.maxPrice = r.maxPrice;
  if (Object.keys(include).length) rules.include = include;
  if (r.excludeCategories.length) rules.exclude = { category: [...r.excludeCategories] };
  if (!r.hideUnavailable) rules.includeUnavailable = true;
  if (!r.excludePurchased) rules.excludePurchased = false;
  if (!r.excludeInCart) rules.excludeInCart = false;
  if (r.pinned.length) rules.pin = [...r.pinned];
  const boost: NonNullable<ShopRules['boost']> = [];
  if (r.boostedItems.length) boost.push({ filter: { itemIds: [...r.boostedItems] }, factor: r.boostFactor });
  if (r.boostCategory) boost.push({ filter: { category: [r.boostCategory] }, factor: r.boostFactor });
  if (boost.length) rules.boost = boost;
  const out: ReturnType<typeof requestOptions> = { objectives: { ...s.objectives }, diversity: s.diversity, priceWeight: s.priceWeight };
  if (Object.keys(rules).length) out.rules = rules;
  return out;
}

type Child = Node | string | null | undefined | false;
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') e.className = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export interface Controls {
  readonly state: ControlState;
  /** Options for a scene call. */
  options(scene: SceneName): ReturnType<typeof requestOptions>;
  /** Shows a scene's settings (the page being viewed). */
  showScene(scene: SceneName): void;
  isPinned(itemId: string): boolean;
  isBoosted(itemId: string): boolean;
  togglePin(itemId: string): void;
  toggleBoost(itemId: string): void;
}

/**
 * Builds the panel into `root`. `onChange` runs (debounced) after every change, so the page can
 * ask for its lists again.
 */
export function mountControls(root: HTMLElement, catalog: CatalogItem[], onChange: () => void): Controls {
  let state = loadState();
  let scene: SceneName = 'home';
  let timer: ReturnType<typeof setTimeout> | undefined;
  const changed = (rerender = false) => {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    if (rerender) render();
    else showRequest();
    clearTimeout(timer);
    timer = setTimeout(onChange, 150);
  };

  const categories = [...catalog.reduce((m, i) => (i.category ? m.set(i.category, (m.get(i.category) ?? 0) + 1) : m), new Map<string, number>())]
    .sort((a, b) => b[1] - a[1]);
  // The category's name when the catalog has one (the demo catalog's meta.kind), else its id.
  const names = new Map<string, string>();
  for (const i of catalog) if (i.category && !names.has(i.category) && typeof i.meta?.kind === 'string') names.set(i.category, i.meta.kind);
  const catName = (c: string) => names.get(c) ?? c;
  const requestBox = el('pre', { id: 'controls-request', class: 'request' });
  const showRequest = () => { requestBox.textContent = `rec.scene('${scene}') … ${JSON.stringify(requestOptions(state, scene), null, 1)}`; };

  const slider = (id: string, label: string, value: number, set: (v: number) => void, hint = '') => {
    const input = el('input', { type: 'range', id, min: 0, max: 1, step: 0.05, value: String(value), 'aria-label': label });
    const out = el('output', { for: id, id: `${id}-value` }, value.toFixed(2));
    input.addEventListener('input', () => {
      const v = Number(input.value);
      out.textContent = v.toFixed(2);
      set(v);
      changed();
    });
    return el('label', { class: 'slider' }, el('span', {}, label), input, out, hint ? el('small', { class: 'muted' }, hint) : null);
  };
  const checkbox = (id: string, label: string, value: boolean, set: (v: boolean) => void) => {
    const input = el('input', { type: 'checkbox', id, checked: value });
    input.addEventListener('change', () => { set(input.checked); changed(); });
    return el('label', { class: 'check' }, input, ` ${label}`);
  };
  const categorySelect = (id: string, label: string, chosen: string[], set: (v: string[]) => void) => {
    const select = el('select', { id, multiple: true, size: 4, 'aria-label': label },
      ...categories.map(([c, n]) => el('option', { value: c, selected: chosen.includes(c) }, `${catName(c)} (${n})`)));
    select.addEventListener('change', () => { set([...select.selectedOptions].map((o) => o.value)); changed(); });
    return el('label', { class: 'field' }, el('span', {}, label), select);
  };
  const priceInput = (id: string, label: string, value: number | null, set: (v: number | null) => void) => {
    const input = el('input', { type: 'number', id, min: 0, step: 1, value: value === null ? '' : String(value), placeholder: 'any', 'aria-label': label });
    input.addEventListener('change', () => { set(input.value === '' ? null : Math.max(0, Number(input.value))); changed(); });
    return el('label', { class: 'field inline' }, el('span', {}, label), input);
  };
  const idList = (id: string, label: string, ids: string[], set: (v: string[]) => void) => {
    const input = el('input', { type: 'text', id, value: ids.join(', '), placeholder: 'item ids, comma separated', 'aria-label': label });
    input.addEventListener('change', () => { set(input.value.split(/[\s,]+/).filter(Boolean)); changed(); });
    return el('label', { class: 'field' }, el('span', {}, label), input);
  };

  function render(): void {
    const s = state.scenes[scene];
    const r = state.rules;
    const tabs = el('div', { class: 'tabs', role: 'tablist' }, ...SCENE_NAMES.map((n) => {
      const b = el('button', { type: 'button', role: 'tab', 'data-scene': n, 'aria-selected': String(n === scene), class: n === scene ? 'active' : undefined }, n);
      b.addEventListener('click', () => { scene = n; render(); });
      return b;
    }));
    const boostCat = el('select', { id: 'ctl-boost-category', 'aria-label': 'Boost a category' },
      el('option', { value: '' }, 'no category'), ...categories.map(([c]) => el('option', { value: c, selected: c === r.boostCategory }, catName(c))));
    boostCat.addEventListener('change', () => { r.boostCategory = boostCat.value; changed(); });
    const reset = el('button', { type: 'button', id: 'ctl-reset' }, 'Reset to SDK defaults');
    reset.addEventListener('click', () => { state = defaultState(); changed(true); });

    root.replaceChildren(
      el('h3', {}, 'Per scene'),
      tabs,
      el('fieldset', { 'data-scene': scene },
        el('legend', {}, `Objectives (${scene})`),
        slider('ctl-click', 'click', s.objectives.click, (v) => { s.objectives.click = v; }),
        slider('ctl-cart', 'cart', s.objectives.cart, (v) => { s.objectives.cart = v; }),
        slider('ctl-purchase', 'purchase', s.objectives.purchase, (v) => { s.objectives.purchase = v; }),
        slider('ctl-satisfaction', 'satisfaction', s.objectives.satisfaction, (v) => { s.objectives.satisfaction = v; }),
        el('small', { class: 'muted' }, 'Weights of the model\'s heads (satisfaction: its favorite head); a weight of a head the model lacks is ignored, and a single-head model (tianchi-sasrec) ranks by its one score whatever they are.')),
      slider('ctl-diversity', 'diversity', s.diversity, (v) => { s.diversity = v; }, '0 = relevance only, 1 = most varied (embeddings + category)'),
      slider('ctl-price', 'price weight', s.priceWeight, (v) => { s.priceWeight = v; }, '0 = ignore price, 1 = expected revenue'),
      el('h3', {}, 'Shop rules (every scene)'),
      categorySelect('ctl-include', 'Only these categories', r.includeCategories, (v) => { r.includeCategories = v; }),
      categorySelect('ctl-exclude', 'Never these categories', r.excludeCategories, (v) => { r.excludeCategories = v; }),
      el('div', { class: 'row' },
        priceInput('ctl-min-price', 'Min ¥', r.minPrice, (v) => { r.minPrice = v; }),
        priceInput('ctl-max-price', 'Max ¥', r.maxPrice, (v) => { r.maxPrice = v; })),
      checkbox('ctl-hide-unavailable', 'Hide out-of-stock items', r.hideUnavailable, (v) => { r.hideUnavailable = v; }),
      checkbox('ctl-exclude-purchased', 'Leave out bought items (home, product)', r.excludePurchased, (v) => { r.excludePurchased = v; }),
      checkbox('ctl-exclude-in-cart', 'Leave out items in the cart', r.excludeInCart, (v) => { r.excludeInCart = v; }),
      idList('ctl-pinned', 'Pinned (first, in order)', r.pinned, (v) => { r.pinned = v; }),
      idList('ctl-boosted', 'Boosted items', r.boostedItems, (v) => { r.boostedItems = v; }),
      el('div', { class: 'row' }, el('label', { class: 'field inline' }, el('span', {}, 'Boost category'), boostCat)),
      slider('ctl-boost-factor', 'boost ×', (r.boostFactor - 1) / 4, (v) => { r.boostFactor = Math.round((1 + 4 * v) * 100) / 100; }, 'factor 1 … 5'),
      el('div', { class: 'buttons' }, reset),
      el('details', {}, el('summary', {}, 'Request options sent'), requestBox),
    );
    const factorOut = root.querySelector('#ctl-boost-factor-value');
    const factorIn = root.querySelector<HTMLInputElement>('#ctl-boost-factor');
    const showFactor = () => { if (factorOut) factorOut.textContent = `×${state.rules.boostFactor.toFixed(2)}`; };
    factorIn?.addEventListener('input', showFactor);
    showFactor();
    showRequest();
  }

  render();
  const toggle = (list: 'pinned' | 'boostedItems', id: string) => {
    const l = state.rules[list];
    state.rules[list] = l.includes(id) ? l.filter((x) => x !== id) : [...l, id];
    changed(true);
  };
  return {
    get state() { return state; },
    options: (s) => requestOptions(state, s),
    showScene: (s) => { if (s !== scene) { scene = s; render(); } },
    isPinned: (id) => state.rules.pinned.includes(id),
    isBoosted: (id) => state.rules.boostedItems.includes(id),
    togglePin: (id) => toggle('pinned', id),
    toggleBoost: (id) => toggle('boostedItems', id),
  };
}
