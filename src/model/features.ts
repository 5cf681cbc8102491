/**
 * Side inputs of the multi-task model ('sasrec-mtl'), shared by the trainer (Node) and the
 * engine (browser): event-type and scene codes, and shop metadata -> feature-table indices.
 */
import type { ObjectiveName, SceneName } from '../contract/protocol.js';
import type { VocabFeatures } from './artifacts.js';

/**
 * Head names of the multi-task model, in order. A model holds the first 3 (format version 3 and
 * older: click, cart, purchase) or all 4; `favorite` is the satisfaction head (the shopper saved the item).
 */
export const TASKS = ['click', 'cart', 'purchase', 'favorite'] as const;
export type TaskName = (typeof TASKS)[number];

/**
 * The event type each head is trained and evaluated on: the head learns the next event of this
 * behaviour code (click: every next event in training, the next click in evaluation).
 */
export const TASK_BEHAVIOUR: Readonly<Record<TaskName, number>> = { click: 1, cart: 3, purchase: 4, favorite: 2 };

/** The request objective (ObjectiveWeights) each head serves: the favorite head is the satisfaction objective. */
export const OBJECTIVE_OF_TASK: Readonly<Record<TaskName, ObjectiveName>> = { click: 'click', cart: 'cart', purchase: 'purchase', favorite: 'satisfaction' };

/** The objectives a model's heads serve, in blend order (a single-head model: its one score, `click`). */
export function servedObjectives(tasks: readonly string[] | undefined): ObjectiveName[] {
  if (!tasks) return ['click'];
  return tasks.map((t) => OBJECTIVE_OF_TASK[t as TaskName]);
}

/** Event-type codes of the behaviour embedding (0 = padding). `view` counts as a click. */
export const BEHAVIOUR_CODES = { view: 1, click: 1, favorite: 2, cart: 3, purchase: 4 } as const;
export const NUM_BEHAVIOURS = 4;

/** Scene codes of the scene embeddings (0 = padding / unknown). */
export const SCENE_CODES = { home: 1, product: 2, cart: 3, search: 4 } as const;
export const NUM_SCENES = 4;

/**
 * The model's scene code of a scene. The history lists (recentlyViewed, buyAgain) have no scene
 * embedding of their own (the training data has none): their events count as home, where such lists sit.
 */
export function sceneCode(scene: SceneName | undefined): number {
  return (scene !== undefined ? (SCENE_CODES as Readonly<Record<string, number>>)[scene] : undefined) ?? SCENE_CODES.home;
}

/** Content indices of one item. */
export interface ContentIndices { category: number; brand: number; price: number }

/** Lookup tables from shop metadata to feature indices, built once per vocabulary. */
export class ContentIndexer {
  private readonly categoryIndex = new Map<string, number>();
  private readonly brandIndex = new Map<string, number>();

  constructor(private readonly features: VocabFeatures) {
    features.categoryIds.forEach((id, i) => { if (i > 0) this.categoryIndex.set(id, i); });
    features.brandIds.forEach((id, i) => { if (i > 0) this.brandIndex.set(id, i); });
  }

  /** Indices of a model item (its training-time metadata). */
  ofModelItem(index: number): ContentIndices {
    const f = this.features;
    return { category: f.itemCategory[index] ?? 0, brand: f.itemBrand[index] ?? 0, price: f.itemPrice[index] ?? 0 };
  }

  /** Indices from shop metadata; anything the model has not seen maps to 0 (unknown). */
  ofMetadata(item: { category?: string; brand?: string; price?: number }): ContentIndices {
    return {
      category: item.category !== undefined ? this.categoryIndex.get(item.category) ?? 0 : 0,
      brand: item.brand !== undefined ? this.brandIndex.get(item.brand) ?? 0 : 0,
      price: priceBucket(this.features.priceEdges, item.price),
    };
  }
}

/** Price bucket 1..edges.length+1 (0 = no price). */
export function priceBucket(edges: readonly number[], price: number | undefined): number {
  if (price === undefined || !Number.isFinite(price) || price < 0) return 0;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] <= price) lo = mid + 1; else hi = mid;
  }
  return lo + 1;
}

/** Quantile edges that split `prices` into `buckets` groups of about equal size. */
export function priceEdgesFor(prices: number[], buckets: number): number[] {
  const sorted = prices.filter((p) => Number.isFinite(p) && p >= 0).sort((a, b) => a - b);
  const edges: number[] = [];
  for (let b = 1; b < buckets; b++) edges.push(sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / buckets))] : b);
  return edges;
}

/**
 * Repeat features of a candidate that the shopper has already met, from oldest-first history
 * steps: [seen, recency (REPEAT_DECAY ** events since), carted, purchased]. Shoppers often come
 * back to items they viewed (a third of next clicks and half of next purchases in the Tianchi
 * data), which a dot product with uniform negatives learns poorly; the model weighs these per task
 * (weight `repeatWeights`, [tasks, REPEAT_FEATURES]).
 */
export const REPEAT_FEATURES = 4;
export const REPEAT_DECAY = 0.8;

export function repeatFeatures<K>(history: ReadonlyArray<{ key: K; behaviour: number }>): Map<K, Float32Array> {
  const out = new Map<K, Float32Array>();
  const n = history.length;
  history.forEach((e, j) => {
    let f = out.get(e.key);
    if (!f) { f = new Float32Array(REPEAT_FEATURES); out.set(e.key, f); }
    f[0] = 1;
    f[1] = Math.pow(REPEAT_DECAY, n - 1 - j);
    if (e.behaviour === 3) f[2] = 1;
    if (e.behaviour === 4) f[3] = 1;
  });
  return out;
}
