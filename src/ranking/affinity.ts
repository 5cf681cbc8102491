/**
 * Content affinity: the shopper's own history on this device read by category, brand and price
 * band, so a list follows the shopper when the model cannot read the history (items it never saw:
 * a shop whose catalog the model was not trained on). Pure functions over plain data (no TF.js, no
 * model), unit-tested in tests/unit/affinity.test.ts.
 *
 * A profile weighs each interaction by its type (AFFINITY_EVENT_WEIGHTS) and its recency (the
 * weight halves every AFFINITY_HALF_LIFE_EVENTS newer interactions). A candidate's affinity:
 *   W.category * share of the profile's weight on its category
 * + W.brand    * share of the profile's weight on its brand
 * + W.price    * closeness of its price to the profile's (log) price centre,
 * each share over the history items that have that field. Items that share neither category nor
 * brand with the history score at most W.price: the scenes take candidates from the matching
 * categories and brands and leave the rest to fill.
 */
import {
  AFFINITY_EVENT_WEIGHTS, AFFINITY_HALF_LIFE_EVENTS, AFFINITY_PRICE_WIDTH, AFFINITY_WEIGHTS, REASON_ITEMS,
} from '../contract/defaults.js';
import type { CatalogItem, RankReason } from '../contract/protocol.js';

/** The event types a profile reads, and their weights. */
export type AffinityEventType = keyof typeof AFFINITY_EVENT_WEIGHTS;

/** One interaction as the profile reads it (oldest first in a history). */
export interface AffinityEvent {
  itemId: string;
  type: AffinityEventType;
}

/** What affinity reads of an item. */
export type AffinityItem = Pick<CatalogItem, 'category' | 'brand' | 'price'>;

export interface AffinityProfile {
  /** Category -> share of the weight of history items with a category (sums to 1). */
  categories: Map<string, number>;
  /** Brand -> share of the weight of history items with a brand (sums to 1). */
  brands: Map<string, number>;
  /** Weighted mean of ln(price) over history items with a positive price; undefined without any. */
  logPrice?: number;
  /** History item ids per category and per brand, most recent first (for reasons). */
  itemsByCategory: Map<string, string[]>;
  itemsByBrand: Map<string, string[]>;
  /** Interactions that counted (their item has a category, brand or price). */
  events: number;
}

const isPrice = (p: number | undefined): p is number => p !== undefined && Number.isFinite(p) && p > 0;

/**
 * The profile of a history (oldest first). `lookup` gives an item's metadata (undefined: not in
 * the catalog, the event does not count). Events of other types are skipped.
 */
export function affinityProfile(history: readonly AffinityEvent[], lookup: (itemId: string) => AffinityItem | undefined): AffinityProfile {
  const counted: Array<{ itemId: string; item: AffinityItem; weight: number }> = [];
  for (const ev of history) {
    const base = AFFINITY_EVENT_WEIGHTS[ev.type];
    if (base === undefined) continue;
    const item = lookup(ev.itemId);
    if (!item || (item.category === undefined && item.brand === undefined && !isPrice(item.price))) continue;
    counted.push({ itemId: ev.itemId, item, weight: base });
  }
  const n = counted.length;
  const categories = new Map<string, number>();
  const brands = new Map<string, number>();
  const itemsByCategory = new Map<string, string[]>();
  const itemsByBrand = new Map<string, string[]>();
  let catTotal = 0;
  let brandTotal = 0;
  let priceTotal = 0;
  let priceSum = 0;
  const add = (m: Map<string, number>, key: string, w: number) => m.set(key, (m.get(key) ?? 0) + w);
  const note = (m: Map<string, string[]>, key: string, id: string) => {
    const list = m.get(key) ?? [];
    if (!list.includes(id)) list.push(id);
    m.set(key, list);
  };
  // Newest first, so the reason lists name the most recent items.
  for (let j = n - 1; j >= 0; j--) {
    const { itemId, item, weight } = counted[j];
    const w = weight * Math.pow(0.5, (n - 1 - j) / AFFINITY_HALF_LIFE_EVENTS);
    if (item.category !== undefined) { add(categories, item.category, w); catTotal += w; note(itemsByCategory, item.category, itemId); }
    if (item.brand !== undefined) { add(brands, item.brand, w); brandTotal += w; note(itemsByBrand, item.brand, itemId); }
    if (isPrice(item.price)) { priceSum += w * Math.log(item.price); priceTotal += w; }
  }
  for (const [k, v] of categories) categories.set(k, v / catTotal);
  for (const [k, v] of brands) brands.set(k, v / brandTotal);
  const profile: AffinityProfile = { categories, brands, itemsByCategory, itemsByBrand, events: n };
  if (priceTotal > 0) profile.logPrice = priceSum / priceTotal;
  return profile;
}

/**
 * Two profiles as one: shares and price centre weighed `weightA` : 1 - weightA (a profile without
 * a field leaves it to the other), history items of `a` named first. A product page merges the
 * page's own item with the shopper's history, so its neighbours lead and the shopper orders them.
 */
export function mergeProfiles(a: AffinityProfile, b: AffinityProfile, weightA: number): AffinityProfile {
  const mix = (x: Map<string, number>, y: Map<string, number>) => {
    const wx = x.size === 0 ? 0 : y.size === 0 ? 1 : weightA;
    const out = new Map<string, number>();
    for (const [k, v] of x) out.set(k, wx * v);
    for (const [k, v] of y) out.set(k, (out.get(k) ?? 0) + (1 - wx) * v);
    return out;
  };
  const names = (x: Map<string, string[]>, y: Map<string, string[]>) => {
    const out = new Map<string, string[]>();
    for (const m of [x, y]) for (const [k, ids] of m) out.set(k, [...new Set([...(out.get(k) ?? []), ...ids])]);
    return out;
  };
  const out: AffinityProfile = {
    categories: mix(a.categories, b.categories), brands: mix(a.brands, b.brands),
    itemsByCategory: names(a.itemsByCategory, b.itemsByCategory), itemsByBrand: names(a.itemsByBrand, b.itemsByBrand),
    events: a.events + b.events,
  };
  if (a.logPrice !== undefined && b.logPrice !== undefined) out.logPrice = weightA * a.logPrice + (1 - weightA) * b.logPrice;
  else if (a.logPrice !== undefined || b.logPrice !== undefined) out.logPrice = a.logPrice ?? b.logPrice;
  return out;
}

/** True when the profile can tell items apart (some history item with metadata). */
export function hasAffinity(profile: AffinityProfile): boolean {
  return profile.events > 0;
}

/** A candidate's affinity in [0, 1] (see the module comment). */
export function affinityScore(profile: AffinityProfile, item: AffinityItem | undefined): number {
  if (!item) return 0;
  let s = 0;
  if (item.category !== undefined) s += AFFINITY_WEIGHTS.category * (profile.categories.get(item.category) ?? 0);
  if (item.brand !== undefined) s += AFFINITY_WEIGHTS.brand * (profile.brands.get(item.brand) ?? 0);
  if (profile.logPrice !== undefined && isPrice(item.price)) {
    const z = (Math.log(item.price) - profile.logPrice) / AFFINITY_PRICE_WIDTH;
    s += AFFINITY_WEIGHTS.price * Math.exp(-0.5 * z * z);
  }
  return s;
}

/**
 * Why an item is in an affinity list: the category and brand it shares with the history, and the
 * most recent history items that share them. Undefined when it shares neither (price alone is no reason).
 */
export function affinityReason(profile: AffinityProfile, itemId: string, item: AffinityItem | undefined): RankReason | undefined {
  const category = item?.category !== undefined && profile.categories.has(item.category) ? item.category : undefined;
  const brand = item?.brand !== undefined && profile.brands.has(item.brand) ? item.brand : undefined;
  if (category === undefined && brand === undefined) return undefined;
  const becauseOf: string[] = [];
  for (const id of [...(category !== undefined ? profile.itemsByCategory.get(category)! : []), ...(brand !== undefined ? profile.itemsByBrand.get(brand)! : [])]) {
    if (id !== itemId && !becauseOf.includes(id)) becauseOf.push(id);
    if (becauseOf.length >= REASON_ITEMS) break;
  }
  const what = [category !== undefined ? `category "${category}"` : '', brand !== undefined ? `brand "${brand}"` : ''].filter(Boolean).join(' and ');
  const reason: RankReason = { kind: 'affinity', becauseOf, detail: `because you viewed ${what}` };
  if (category !== undefined) reason.category = category;
  if (brand !== undefined) reason.brand = brand;
  return reason;
}

/** The categories and brands of a profile, strongest first: where a scene looks for candidates. */
export function affinityKeys(profile: AffinityProfile): { categories: string[]; brands: string[] } {
  const byShare = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  return { categories: byShare(profile.categories), brands: byShare(profile.brands) };
}

/**
 * The weight of affinity in a list that blends it with the model's relevance: 1 when the model read
 * nothing, the share of unseen items when it read fewer than `blendBelowUsed` events and the history
 * holds more catalog items it never saw than it read; else 0 (the model's list alone).
 */
export function affinityBlendWeight(used: number, unseenInCatalog: number, blendBelowUsed: number): number {
  if (unseenInCatalog <= 0) return 0;
  if (used <= 0) return 1;
  if (used >= blendBelowUsed || unseenInCatalog <= used) return 0;
  return unseenInCatalog / (unseenInCatalog + used);
}
