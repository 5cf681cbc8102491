/**
 * Ranking after scoring: objective blends, search blending, shop rules, diversity and
 * fallback fill. Pure functions over plain arrays (no TF.js), so they can be unit-tested
 * and reused by any model that produces per-item scores.
 *
 * Two entry points: `rankScored` takes a model's scores over catalog rows whole (a candidate
 * source: the heads, how to build a row's candidate, popular fill, pin lookup), blends the
 * objectives and builds only the candidates it can pick; `rankCandidates` ranks a list already built
 * (popular lists, search results). Order of operations in both:
 *   1. de-duplicate (first occurrence wins)
 *   2. pins: resolved first, in the given order. Pins skip the include/exclude filters (a pin is
 *      the more specific instruction) but never show excluded ids (cart, purchased, the product
 *      itself), unavailable items (unless includeUnavailable), or, for a closed list (search),
 *      ids outside the candidates.
 *   3. filters: excluded ids, unavailable items, rules.include, rules.exclude
 *   4. price (priceWeight > 0): score^(1-w) * (purchase relevance * price)^w, rescaled to max 1
 *   5. boosts: score *= factor for every matching boost; then feedback (RankContext.adjust: the
 *      exposure discount, dismissed neighbours, the cart's substitute push-down; ./feedback.ts)
 *   6. sort by score; diversity > 0 picks greedily by MMR over embeddings + category
 *   7. fill: if fewer than k are left and fallbackToPopular is not false, popular items that pass
 *      the same filters (never for a closed list)
 */
import {
  DIVERSITY_EMBEDDING_WEIGHT, DIVERSITY_POOL_FACTOR, DIVERSITY_POOL_MIN, TOP_CANDIDATES,
} from '../contract/defaults.js';
import { kthLargest } from '../retrieval/topk.js';
import { createF32Kernel, type F32Kernel } from '../kernels/f32.js';
import type { CatalogItem, ItemFilter, ObjectiveName, ObjectiveWeights, RankReason, RecommendedItem, ShopRules } from '../contract/protocol.js';

/** An item that may go into a list. */
export interface RankCandidate {
  itemId: string;
  /** Relevance, higher is better; normalised to [0, 1] by the scene before boosts. */
  score: number;
  reason: RankReason;
  /** The catalog entry (category, brand, price, available) when known. */
  item?: CatalogItem;
  /** Unit-length item embedding, used by diversity. */
  embedding?: ArrayLike<number>;
  /**
   * Purchase relevance in [0, 1] (the purchase head, normalised), used by priceWeight. Models
   * without a purchase head leave it out: `score` stands in for it.
   */
  purchaseScore?: number;
  /** The feedback factor applied to `score` (set by the pipeline; see RecommendedItem.discount). */
  discount?: number;
}

/** A multiplicative score adjustment in [0, 1] per candidate (feedback: src/ranking/feedback.ts). */
export interface ScoreAdjust {
  factor(c: RankCandidate): number;
  /** True when it lowers nearly every candidate (long tail): the candidate shortcut cannot help then. */
  readonly everywhere?: boolean;
}

export interface RankContext {
  k: number;
  rules?: ShopRules;
  /** 0 = pure relevance (default), 1 = most varied. */
  diversity?: number;
  /** 0 = ignore prices (default), 1 = order by expected revenue (purchase relevance x price). */
  priceWeight?: number;
  /** Ids that never appear, pins included (in-cart, purchased, the product itself). */
  exclude?: ReadonlySet<string>;
  /** Fallback fill source, most popular first. Called only when the list is short. */
  popular?: () => Iterable<RankCandidate>;
  /** Resolves a pinned id that is not among the candidates (undefined: unknown, skipped). */
  lookup?: (itemId: string) => RankCandidate | undefined;
  /** Only the given candidates may appear (search): no outside pins, no fill. */
  closed?: boolean;
  /** The caller guarantees unique item ids (skips the de-duplication pass on large lists). */
  unique?: boolean;
  /** Feedback factors (never above 1), applied after boosts; pins and popular fill are not adjusted. */
  adjust?: ScoreAdjust;
}

// ---------------------------------------------------------------------------------------------
// score helpers

/**
 * Min-max normalises to [0, 1] over the finite values. A constant (or empty) input maps to all 1s;
 * a non-finite value (NaN, ±Infinity: a broken model) maps to 0, so it never outranks a real score.
 */
export function minMaxNormalize(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = !Number.isFinite(v) ? 0 : span > 0 ? (v - lo) / span : 1;
  }
  return out;
}

/** A score as ranking orders it: a non-finite one counts as 0 (last among the relevant). */
const finite = (score: number): number => (Number.isFinite(score) ? score : 0);

export type { ObjectiveName };
/** Raw scores per objective head, each over the same items. A single-objective model gives only `click`. */
export type ObjectiveScores = Partial<Record<ObjectiveName, ArrayLike<number>>>;

/**
 * Blends per-objective scores into one relevance in [0, 1]: each head is min-max normalised,
 * then averaged with the request's weights over the heads the model has. With one head this
 * is that head, normalised (the weights then only matter for ordering fallbacks).
 */
export function blendObjectives(scores: ObjectiveScores, weights: ObjectiveWeights): Float32Array {
  const heads = (Object.keys(scores) as ObjectiveName[]).filter((h) => scores[h] !== undefined);
  if (heads.length === 0) return new Float32Array(0);
  const n = scores[heads[0]]!.length;
  if (heads.length === 1) return minMaxNormalize(scores[heads[0]]!);
  const out = new Float32Array(n);
  let total = 0;
  for (const h of heads) {
    const w = weights[h] ?? 0;
    if (w <= 0) continue;
    total += w;
    const norm = minMaxNormalize(scores[h]!);
    for (let i = 0; i < n; i++) out[i] += w * norm[i];
  }
  if (total === 0) return minMaxNormalize(scores[heads[0]]!);
  for (let i = 0; i < n; i++) out[i] /= total;
  return out;
}

/**
 * Search blending. `personal[i]` is the model score of the shop's i-th result, or undefined when
 * the model cannot score it. Shop order scores 1 - i/n; personal scores are min-max normalised over
 * the scored results. Unscored results keep their shop score, so they stay where the shop put them
 * relative to the others. Returns score = (1 - w) * shop + w * personal.
 */
export function blendSearch(personal: ReadonlyArray<number | undefined>, personalWeight: number): Float32Array {
  const n = personal.length;
  const known: number[] = [];
  personal.forEach((p) => { if (p !== undefined) known.push(p); });
  const lo = Math.min(...known);
  const hi = Math.max(...known);
  const span = hi - lo;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const shop = 1 - i / n;
    const p = personal[i];
    const pers = p === undefined ? shop : span > 0 ? (p - lo) / span : 0.5;
    out[i] = (1 - personalWeight) * shop + personalWeight * pers;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// rules

const idSets = new WeakMap<readonly string[], Set<string>>();
/** The ids of a filter as a set, built once per list (rules may name many ids). */
function idSet(ids: readonly string[]): Set<string> {
  let set = idSets.get(ids);
  if (!set) idSets.set(ids, set = new Set(ids));
  return set;
}

/** True when the item meets every condition of the filter (conditions are ANDed, lists are ORed). */
export function matchesFilter(itemId: string, item: CatalogItem | undefined, filter: ItemFilter): boolean {
  if (filter.itemIds && !idSet(filter.itemIds).has(itemId)) return false;
  if (filter.category && (item?.category === undefined || !filter.category.includes(item.category))) return false;
  if (filter.brand && (item?.brand === undefined || !filter.brand.includes(item.brand))) return false;
  if (filter.minPrice !== undefined && (item?.price === undefined || item.price < filter.minPrice)) return false;
  if (filter.maxPrice !== undefined && (item?.price === undefined || item.price > filter.maxPrice)) return false;
  return true;
}

/** Availability and the scene's exclusions: the checks that apply to pins too. */
function allowed(c: RankCandidate, rules: ShopRules, exclude: ReadonlySet<string> | undefined): boolean {
  if (exclude?.has(c.itemId)) return false;
  if (!rules.includeUnavailable && c.item?.available === false) return false;
  return true;
}

/** Every rule except pins and boosts: exclusions, availability, include, exclude. */
export function passesRules(c: RankCandidate, rules: ShopRules = {}, exclude?: ReadonlySet<string>): boolean {
  if (!allowed(c, rules, exclude)) return false;
  if (rules.include && !matchesFilter(c.itemId, c.item, rules.include)) return false;
  if (rules.exclude && matchesFilter(c.itemId, c.item, rules.exclude)) return false;
  return true;
}

/** The score after every matching boost. */
export function boostedScore(c: RankCandidate, rules: ShopRules = {}): number {
  return c.score * boostFactor(c, rules);
}

/** Product of every matching boost factor (1 when none matches). */
export function boostFactor(c: RankCandidate, rules: ShopRules = {}): number {
  let f = 1;
  for (const b of rules.boost ?? []) if (matchesFilter(c.itemId, c.item, b.filter)) f *= b.factor;
  return f;
}

/**
 * Price-aware scores: score^(1-w) * (purchase * price / maxPrice)^w, divided by their maximum so the
 * best is 1 (w = 1 orders by expected revenue, purchase relevance x price). Items without a finite
 * price count at the median price of the priced candidates; prices at or below 0 give 0.
 * Returns the new scores, parallel to `candidates` (the input when w <= 0).
 */
export function priceWeighted(candidates: readonly RankCandidate[], w: number): number[] {
  const base = candidates.map((c) => c.score);
  if (!(w > 0) || candidates.length === 0) return base;
  const priced: number[] = [];
  for (const c of candidates) {
    const p = c.item?.price;
    if (p !== undefined && Number.isFinite(p)) priced.push(Math.max(0, p));
  }
  let maxPrice = 0;
  for (const p of priced) if (p > maxPrice) maxPrice = p;
  priced.sort((a, b) => a - b);
  const mid = priced.length >> 1;
  const median = priced.length === 0 ? 1 : priced.length % 2 ? priced[mid] : (priced[mid - 1] + priced[mid]) / 2;
  const scale = maxPrice > 0 ? maxPrice : 1;
  const out = candidates.map((c) => {
    const raw = c.item?.price;
    const price = raw !== undefined && Number.isFinite(raw) ? Math.max(0, raw) : median;
    const rel = Math.max(0, c.score);
    const purchase = Math.max(0, c.purchaseScore ?? c.score);
    const revenue = purchase * (price / scale);
    return Math.pow(rel, 1 - w) * Math.pow(revenue, w);
  });
  let top = 0;
  for (const v of out) if (v > top) top = v;
  return top > 0 ? out.map((v) => v / top) : out;
}

/** De-duplicates by item id; the first occurrence wins. */
export function dedupe<T extends { itemId: string }>(items: Iterable<T>): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const c of items) {
    if (seen.has(c.itemId)) continue;
    seen.add(c.itemId);
    out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// diversity

/** Similarity in [0, 1] used by MMR: positive embedding cosine blended with same-category. */
export function itemSimilarity(a: RankCandidate, b: RankCandidate, embeddingDot?: number): number {
  let s = 0;
  let w = 0;
  if (embeddingDot !== undefined) {
    s += DIVERSITY_EMBEDDING_WEIGHT * Math.max(0, Math.min(1, embeddingDot));
    w += DIVERSITY_EMBEDDING_WEIGHT;
  } else if (a.embedding && b.embedding && a.embedding.length === b.embedding.length) {
    const x = a.embedding;
    const y = b.embedding;
    const n = x.length;
    // Four running sums (MMR calls this pool × k times per list): the same dot product, summed in another order.
    let d0 = 0; let d1 = 0; let d2 = 0; let d3 = 0;
    let i = 0;
    for (; i + 3 < n; i += 4) { d0 += x[i] * y[i]; d1 += x[i + 1] * y[i + 1]; d2 += x[i + 2] * y[i + 2]; d3 += x[i + 3] * y[i + 3]; }
    for (; i < n; i++) d0 += x[i] * y[i];
    const dot = (d0 + d1) + (d2 + d3);
    s += DIVERSITY_EMBEDDING_WEIGHT * Math.max(0, Math.min(1, dot));
    w += DIVERSITY_EMBEDDING_WEIGHT;
  }
  const ca = a.item?.category;
  const cb = b.item?.category;
  if (ca !== undefined && cb !== undefined) {
    s += (1 - DIVERSITY_EMBEDDING_WEIGHT) * (ca === cb ? 1 : 0);
    w += 1 - DIVERSITY_EMBEDDING_WEIGHT;
  }
  return w > 0 ? s / w : 0;
}

/** How many of the best candidates MMR looks at for a list of k. */
export function mmrPoolSize(k: number): number {
  return Math.max(k * DIVERSITY_POOL_FACTOR, DIVERSITY_POOL_MIN);
}

/**
 * The best `n` candidates, best first; ties keep their input order (same result as a stable
 * full sort). Selects with a numeric sort of the scores, then sorts only the winners.
 */
export function topByScore(candidates: RankCandidate[], n: number): RankCandidate[] {
  const byScore = (a: RankCandidate, b: RankCandidate) => b.score - a.score;
  if (n <= 0) return [];
  if (candidates.length <= n) return [...candidates].sort(byScore);
  const scores = new Float64Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) scores[i] = candidates[i].score;
  scores.sort();
  const threshold = scores[candidates.length - n];
  return candidates.filter((c) => c.score >= threshold).sort(byScore).slice(0, n);
}

/**
 * Maximal marginal relevance: repeatedly takes the candidate maximising
 * (1 - λ) * relevance - λ * max similarity to the already chosen ones, where relevance is the
 * score min-max normalised over the pool (so the knob means the same whether the model's scores
 * are peaked or flat: at λ = 0.5 the pool's whole relevance range weighs as much as being a
 * duplicate). `sorted` must be best first; only its top max(k * 5, 50) are considered.
 */
export function mmrSelect(sorted: RankCandidate[], k: number, lambda: number): RankCandidate[] {
  if (lambda <= 0 || sorted.length <= 1) return sorted.slice(0, k);
  const pool = sorted.slice(0, mmrPoolSize(k));
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of pool) { const v = finite(c.score); if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi - lo;
  const rel = pool.map((c) => (span > 0 ? (finite(c.score) - lo) / span : 1));
  const maxSim = new Float64Array(pool.length);
  const taken = new Uint8Array(pool.length);
  const out: RankCandidate[] = [];
  const dots = poolDots(pool);
  while (out.length < k && out.length < pool.length) {
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < pool.length; i++) {
      if (taken[i]) continue;
      const v = (1 - lambda) * rel[i] - lambda * maxSim[i];
      // best < 0: the first one left wins even when v is NaN (a non-finite embedding).
      if (v > bestValue || best < 0) { bestValue = v; best = i; }
    }
    taken[best] = 1;
    const chosen = pool[best];
    out.push(chosen);
    const d = dots?.(best);
    for (let i = 0; i < pool.length; i++) {
      if (!taken[i]) maxSim[i] = Math.max(maxSim[i], itemSimilarity(pool[i], chosen, d ? d[i] : undefined));
    }
  }
  return out;
}

let mmrKernel: F32Kernel | null | undefined;

/**
 * When every pool item has an embedding of one length (a multiple of 4) and WebAssembly SIMD is here:
 * the pool's embeddings copied once into the f32 kernel's memory, and a function giving the dot
 * products of one pool item with all of them (MMR needs pool × k of them; float32 sums). Else null.
 */
function poolDots(pool: RankCandidate[]): ((i: number) => Float32Array) | null {
  const d = pool[0]?.embedding?.length ?? 0;
  if (d === 0 || d % 4 !== 0 || pool.length < 8) return null;
  for (const c of pool) if (c.embedding?.length !== d) return null;
  mmrKernel ??= (() => { const k = createF32Kernel(); return k.simd ? k : null; })();
  const k = mmrKernel;
  if (!k) return null;
  const n = pool.length;
  const base = 0;
  const out = n * d * 4;
  k.reserve(out + n * 4);
  const f = new Float32Array(k.buffer, base, n * d);
  for (let i = 0; i < n; i++) f.set(pool[i].embedding!, i * d);
  const res = new Float32Array(k.buffer, out, n);
  return (i: number) => {
    k.dots(base + i * d * 4, base, d * 4, n, d, 1, out);
    return res;
  };
}

// ---------------------------------------------------------------------------------------------
// the pipeline

function toItem(c: RankCandidate, score: number, rank: number, rules: ShopRules, reason: RankReason = c.reason): RecommendedItem {
  const out: RecommendedItem = { itemId: c.itemId, score, rank, reason };
  const boost = boostFactor(c, rules);
  if (boost !== 1) out.boost = boost;
  if (c.discount !== undefined && c.discount !== 1) out.discount = c.discount;
  if (c.item) out.item = c.item;
  return out;
}

/** Applies rules, diversity and fallback fill; returns at most k items with ranks 0..k-1. */
export function rankCandidates(candidates: Iterable<RankCandidate>, ctx: RankContext): RecommendedItem[] {
  return rankPipeline(candidates, ctx).items;
}

/** A ranked list, and how many of its items came from the popular fill (the rules left the scored candidates short). */
export interface RankedList {
  items: RecommendedItem[];
  filled: number;
}

/** Scores of one model run over catalog rows, as ranking takes them. */
export interface CandidateSource {
  /** Raw scores per objective head, each over the same rows. A single-objective model gives only `click`. */
  heads: ObjectiveScores;
  /** The candidate of row `r` with its blended relevance in [0, 1] (catalog entry, embedding, reason). */
  candidate(r: number, relevance: number): RankCandidate;
  /** Fallback fill, most popular first. */
  popular?: () => Iterable<RankCandidate>;
  /** Resolves a pinned id that is not among the rows. */
  lookup?: (itemId: string) => RankCandidate | undefined;
}

export interface ScoredRankContext extends Omit<RankContext, 'popular' | 'lookup' | 'unique' | 'closed'> {
  objectives: ObjectiveWeights;
  /**
   * Build only the candidates that can be picked (default true). Off: every row becomes a
   * candidate (tests compare both; the lists are the same).
   */
  shortcut?: boolean;
}

/**
 * How many of a large catalog's best rows scoring should hand to ranking for a list of k: enough
 * for diversity's pool.
 */
export function scoringDepth(k: number): number {
  return Math.max(TOP_CANDIDATES, mmrPoolSize(k));
}

/**
 * Ranks a model's scores: blends the heads, then the rules, price, boosts, diversity and fill of
 * `rankCandidates`, building candidates only for the rows that can be picked when that provably
 * gives the same list. `filled` > 0 tells the caller that the rules starved the scored rows (it may
 * score deeper and call again).
 */
export function rankScored(source: CandidateSource, ctx: ScoredRankContext): RankedList {
  const rel = blendObjectives(source.heads, ctx.objectives);
  // The purchase head, normalised, is what priceWeight multiplies by price (expected revenue).
  const purchase = source.heads.purchase ? minMaxNormalize(source.heads.purchase) : undefined;
  const build = (r: number): RankCandidate => {
    const c = source.candidate(r, rel[r]);
    if (purchase) c.purchaseScore = purchase[r];
    return c;
  };
  let candidates = ctx.shortcut === false ? undefined : bestCandidates(rel, ctx, build);
  if (!candidates) {
    candidates = new Array(rel.length);
    for (let r = 0; r < rel.length; r++) candidates[r] = build(r);
  }
  return rankPipeline(candidates, { ...ctx, unique: true, popular: source.popular, lookup: source.lookup });
}

/**
 * The candidates ranking can pick from, without building the others: those scoring at least the
 * M-th best relevance (ties included, in input order), when at least as many of them pass the
 * exclusions as ranking considers (k, or MMR's pool). Ranking then gives exactly the list it gives
 * on every candidate: any candidate left out scores below all of these. With feedback factors (which
 * only lower scores) only candidates left at factor 1 count as passing: a left-out candidate, lowered
 * or not, still scores below them; the threshold is lowered a few times before giving up. Only
 * without pins, boosts and price weighting (which look at other candidates); else undefined.
 */
function bestCandidates(rel: Float32Array, ctx: ScoredRankContext, build: (r: number) => RankCandidate): RankCandidate[] | undefined {
  const rules = ctx.rules ?? {};
  const exclude = ctx.exclude;
  if (rules.pin?.length || rules.boost?.length || (ctx.priceWeight ?? 0) > 0) return undefined;
  const needed = (ctx.diversity ?? 0) > 0 ? mmrPoolSize(ctx.k) : ctx.k;
  const adjust = ctx.adjust;
  if (adjust?.everywhere) return undefined;
  let sorted: Float64Array | undefined;
  for (let m = needed + (exclude?.size ?? 0) + 16; rel.length > 2 * m; m *= 4) {
    const t = kthLargest(sorted ??= Float64Array.from(rel), m);
    const out: RankCandidate[] = [];
    let passing = 0;
    for (let r = 0; r < rel.length; r++) {
      if (!(rel[r] >= t)) continue;
      const c = build(r);
      out.push(c);
      if (passesRules(c, rules, exclude) && (!adjust || adjust.factor(c) >= 1)) passing++;
    }
    if (passing >= needed) return out;
    if (!adjust) return undefined;
  }
  return undefined;
}

function rankPipeline(candidates: Iterable<RankCandidate>, ctx: RankContext): RankedList {
  const rules = ctx.rules ?? {};
  const k = ctx.k;
  const unique = ctx.unique && Array.isArray(candidates) ? candidates : dedupe(candidates);
  const used = new Set<string>();
  const out: RecommendedItem[] = [];

  // 2. pins
  const pins = rules.pin ?? [];
  const byId = pins.length > 0 ? new Map(unique.map((c) => [c.itemId, c])) : undefined;
  for (const id of pins) {
    if (out.length >= k) break;
    if (used.has(id)) continue;
    const c = byId?.get(id) ?? (ctx.closed ? undefined : ctx.lookup?.(id));
    if (!c || !allowed(c, rules, ctx.exclude)) continue;
    used.add(id);
    out.push(toItem(c, finite(boostedScore(c, rules)), out.length, rules, { kind: 'pinned' }));
  }

  // 3.-6. filter, price, boost, sort, diversify
  let passing: RankCandidate[] = [];
  for (const c of unique) {
    if (used.has(c.itemId) || !passesRules(c, rules, ctx.exclude)) continue;
    passing.push(c);
  }
  const priceWeight = ctx.priceWeight ?? 0;
  if (priceWeight > 0) {
    const priced = priceWeighted(passing, priceWeight);
    passing = passing.map((c, i) => (priced[i] === c.score ? c : { ...c, score: priced[i] }));
  }
  const pool: RankCandidate[] = [];
  const adjust = ctx.adjust;
  for (const c of passing) {
    const boosted = finite(boostedScore(c, rules));
    const discount = adjust ? adjust.factor(c) : 1;
    const score = boosted * discount;
    pool.push(score === c.score && discount === 1 ? c : { ...c, score, discount });
  }
  const want = k - out.length;
  const diversity = ctx.diversity ?? 0;
  const best = topByScore(pool, diversity > 0 ? mmrPoolSize(want) : want);
  const chosen = mmrSelect(best, want, diversity);
  let last = Infinity;
  for (const c of chosen) {
    used.add(c.itemId);
    out.push(toItem(c, c.score, out.length, rules));
    last = c.score;
  }

  // 7. fill
  let filled = 0;
  if (out.length < k && !ctx.closed && rules.fallbackToPopular !== false && ctx.popular) {
    for (const c of ctx.popular()) {
      if (out.length >= k) break;
      if (used.has(c.itemId) || !passesRules(c, rules, ctx.exclude)) continue;
      used.add(c.itemId);
      const score = Math.min(finite(boostedScore(c, rules)), last);
      out.push(toItem(c, score, out.length, rules));
      last = score;
      filled++;
    }
  }
  return { items: out, filled };
}
