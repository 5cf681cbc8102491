/**
 * The catalog as the engine holds it (worker side): catalog positions, the model row of each item,
 * popularity, and the embedding matrix that scoring reads. Built at load and on setCatalog; the
 * scenes read it and build ranking candidates from it.
 */
import * as tf from '@tensorflow/tfjs';
import { CATALOG_COVERAGE_MIN_LEARNED_SHARE, FULL_SCORE_MAX_ROWS, TOP_CANDIDATES, TRAIN_HINT } from '../contract/defaults.js';
import type { CatalogCoverage, CatalogItem, EngineWarning, RankReason, ScoringInfo } from '../contract/protocol.js';
import type { ModelHeader, ModelVocab } from '../model/artifacts.js';
import type { ContentIndexer } from '../model/features.js';
import { ensureItemTensor, type HostItemTable } from '../model/item-table.js';
import { itemVectors, type WeightMap } from '../model/sasrec.js';
import type { RankCandidate } from '../ranking/rank.js';
import { createCatalogMatrix, resolveEmbeddingDtype, type CatalogMatrix, type ScoreRequest } from '../retrieval/matrix.js';
import type { CatalogCacheRecord } from './store/catalog-cache.js';
import { now, yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';
import { validatedPositions } from '../contract/options.js';
import { IdIndex } from '../util/id-index.js';
import { ShiftedIndex } from '../model/vocab-index.js';
import { ListedItems, type CatalogItems } from '../contract/catalog-wire.js';

/** What the catalog needs from the loaded model. */
export interface CatalogModel {
  header: ModelHeader;
  vocab: ModelVocab;
  weights: WeightMap;
  /** Item id -> model index (1-based). */
  modelIndex: ReadonlyMap<string, number>;
  /** Feature models: shop metadata -> content indices. */
  content?: ContentIndexer;
  /**
   * The item embedding's values in JS (the loader's decoded copy), when still held: id-only models
   * then build the matrix from it instead of gathering on the backend and reading the rows back.
   */
  itemTable?: Float32Array;
  /**
   * The item embedding held once in a kernel's memory, in place of `weights.itemEmbedding` (CPU
   * backends' fused path): id-only catalogs read their rows there, and a catalog of the model's
   * items in order is scored in place (src/retrieval/kernel-float32.ts).
   */
  hostItemTable?: HostItemTable;
}

export interface CatalogBuildOptions {
  embeddingDtype: 'auto' | 'float32' | 'int8';
  /** Where int8 matrices are cached between loads (soft: a failing cache only costs the quantisation). */
  cache?: {
    get(key: string): Promise<CatalogCacheRecord | undefined>;
    put(record: CatalogCacheRecord): Promise<void>;
  };
}

/** FNV-1a over what the catalog rows are made of (model rows; shop metadata of content-scored items). */
function catalogRowsHash(modelIdx: Int32Array, items: readonly CatalogItem[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ modelIdx.length;
  const mix = (x: number) => {
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul(h2 ^ (x + 0x9e3779b9), 0x85ebca6b);
  };
  modelIdx.forEach((m, r) => {
    mix(m);
    if (m === 0) {
      const it = items[r];
      for (const ch of `${it.category ?? ''}\u0000${it.brand ?? ''}\u0000${it.price ?? ''}`) mix(ch.charCodeAt(0));
    }
  });
  return `${(h1 >>> 0).toString(16)}${(h2 >>> 0).toString(16)}-${modelIdx.length}`;
}

/**
 * The id-only model's item vectors [rows, d] from the item table in JS: a view when the rows are
 * the table's rows 1..rows in order (the catalog is the model's items), else a gathered copy.
 */
function isIdentity(modelIdx: ArrayLike<number>): boolean {
  let identity = true;
  for (let r = 0; r < modelIdx.length && identity; r++) identity = modelIdx[r] === r + 1;
  return identity;
}

function hostRows(table: Float32Array, modelIdx: ArrayLike<number>, d: number): Float32Array {
  if (isIdentity(modelIdx)) return table.subarray(d, (modelIdx.length + 1) * d);
  const out = new Float32Array(modelIdx.length * d);
  for (let r = 0; r < modelIdx.length; r++) out.set(table.subarray(modelIdx[r] * d, (modelIdx[r] + 1) * d), r * d);
  return out;
}

/**
 * Catalog positions, most popular first, ties in catalog order: a stable radix sort (two counting
 * passes over 16-bit digits) of popularity's float32 bits, descending (popularity is never negative,
 * so its bits order as its values). Linear in the catalog's size, where a comparison sort (of positions or of
 * packed keys) is n log n.
 */
export function byPopularity(popScore: Float32Array): Int32Array {
  const n = popScore.length;
  const bits = new Uint32Array(popScore.buffer, popScore.byteOffset, n);
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = 0x7fffffff - (bits[i] & 0x7fffffff);
  const count = new Int32Array(65537);
  const low = new Int32Array(n);
  for (let i = 0; i < n; i++) count[(keys[i] & 0xffff) + 1]++;
  for (let d = 0; d < 65536; d++) count[d + 1] += count[d];
  for (let i = 0; i < n; i++) low[count[keys[i] & 0xffff]++] = i;
  count.fill(0);
  for (let i = 0; i < n; i++) count[(keys[i] >>> 16) + 1]++;
  for (let d = 0; d < 65536; d++) count[d + 1] += count[d];
  const order = new Int32Array(n);
  for (let j = 0; j < n; j++) { const i = low[j]; order[count[keys[i] >>> 16]++] = i; }
  return order;
}

/** Item vectors [rows, d]: id embeddings, plus content embeddings for feature models. */
function itemRows(model: CatalogModel, modelIdx: Int32Array, items: CatalogItem[]): tf.Tensor2D {
  const ids = tf.tensor1d(modelIdx, 'int32');
  const content = model.content;
  if (!content) return tf.gather(model.weights.itemEmbedding, ids) as tf.Tensor2D;
  // Items the model knows keep their training-time metadata; new ones use the shop's.
  const idx = Array.from(modelIdx, (m, r) => (m > 0 ? content.ofModelItem(m) : content.ofMetadata(items[r])));
  const col = (k: 'category' | 'brand' | 'price') => tf.tensor1d(idx.map((x) => x[k]), 'int32');
  return itemVectors(model.header.config, model.weights, ids, { category: col('category'), brand: col('brand'), price: col('price') }) as tf.Tensor2D;
}

/**
 * The warnings a catalog's coverage calls for: 'low-catalog-coverage' when fewer than
 * CATALOG_COVERAGE_MIN_LEARNED_SHARE of its items have a learned vector. Without a catalog the
 * model's own items stand in for it: nothing to warn about.
 */
export function coverageWarnings(coverage: CatalogCoverage, catalogSize: number, given: boolean): EngineWarning[] {
  if (!given || catalogSize === 0 || coverage.learnedShare >= CATALOG_COVERAGE_MIN_LEARNED_SHARE) return [];
  const pct = (x: number) => `${Math.round((100 * x) / catalogSize)}%`;
  const content = coverage.contentOnly > 0 ? `, ${coverage.contentOnly} (${pct(coverage.contentOnly)}) are scored from their category or brand only` : '';
  return [{
    code: 'low-catalog-coverage',
    message: `The model knows only ${coverage.learned} of the ${catalogSize} catalog items (${pct(coverage.learned)}, below ${CATALOG_COVERAGE_MIN_LEARNED_SHARE * 100}%)${content}, `
      + `and ${coverage.unscored} (${pct(coverage.unscored)}) not at all: lists about them follow only each shopper's own category, brand and price history (reason 'affinity'). `
      + `Train a model on your catalog: ${TRAIN_HINT}, and load it with modelUrl.`,
    details: {
      catalogSize, learned: coverage.learned, contentOnly: coverage.contentOnly, unscored: coverage.unscored, threshold: CATALOG_COVERAGE_MIN_LEARNED_SHARE,
    },
  }];
}

/** The reason of a "popular" item that has no popularity data (a catalog item the model never saw). */
export const NO_POPULARITY_REASON: RankReason = Object.freeze({ kind: 'fallback', detail: 'catalog order: no popularity data for this item' }) as RankReason;

/** The model's own items as the catalog (none given): position p is vocabulary index p + 1. */
class VocabItems implements CatalogItems {
  private readonly made: Array<CatalogItem | undefined>;
  constructor(private readonly itemIds: readonly string[]) { this.made = new Array(Math.max(0, itemIds.length - 1)); }
  get length(): number { return this.made.length; }
  at(pos: number): CatalogItem { return (this.made[pos] ??= { id: this.itemIds[pos + 1] }); }
  idAt(pos: number): string { return this.itemIds[pos + 1]; }
  field(): undefined { return undefined; }
}

export class Catalog {
  /** Catalog positions per category and per brand, most popular first (built on first use). */
  private byField?: { category: Map<string, number[]>; brand: Map<string, number[]> };

  private constructor(
    /** The items by catalog position (read in place when the catalog came packed). */
    readonly items: CatalogItems,
    /** True when the shop gave a catalog (else the vocabulary stands in for it). */
    readonly given: boolean,
    /** Item id -> catalog position. */
    readonly posById: ReadonlyMap<string, number>,
    /** Catalog position -> row in `matrix`, or -1 for items the model cannot score. */
    readonly rowOfPos: Int32Array,
    /** Row -> catalog position. */
    readonly posOfRow: Int32Array,
    /** Model index per row (0: an item the model never saw, scored from its content; feature models only). */
    readonly modelIdxOfRow: Int32Array,
    /** The catalog's embedding rows, ready to score; also gives unit rows for diversity. */
    readonly matrix: CatalogMatrix | null,
    /** Popularity per catalog position, log-scaled to [0, 1]; cold items 0. */
    readonly popScore: Float32Array,
    /** Catalog positions, most popular first (ties in catalog order). */
    readonly popularOrder: Int32Array,
    /** How the matrix was built. */
    readonly build: { ms: number; fromCache: boolean },
    /** How much of the catalog the model can score (EngineInfo.coverage). */
    readonly coverage: CatalogCoverage,
    /** Per catalog position: 1 when a feature model scores the item from a category or brand it knows (coverage.contentOnly). */
    readonly contentKnown: Uint8Array,
  ) {}

  /** Builds the catalog state and its matrix (from the int8 cache when it holds these rows). */
  static async build(catalog: CatalogItem[] | CatalogItems | undefined, model: CatalogModel, options: CatalogBuildOptions): Promise<Catalog> {
    const given = catalog !== undefined;
    const items: CatalogItems = catalog === undefined ? new VocabItems(model.vocab.itemIds) : Array.isArray(catalog) ? new ListedItems(catalog) : catalog;
    const n = items.length;
    // The map the catalog's validation built, when it went through validateCatalog or came packed (a given catalog always does).
    // Otherwise the vocabulary's ids: position = model index - 1 (its own id map, unique: the loader checked them).
    // (A catalog rebuilt after a backend switch comes as the old one's items: its array's map is reused too.)
    const posById = (catalog && validatedPositions(catalog instanceof ListedItems ? catalog.list : catalog))
      ?? (given ? IdIndex.build(Array.from({ length: n }, (_, p) => items.idAt(p))) : new ShiftedIndex(model.modelIndex, -1));
    const rowOfPos = new Int32Array(n).fill(-1);
    // Rows are at most one per position: filled up to `rows`, then trimmed.
    const modelIdxAll = new Int32Array(n);
    const posOfRowAll = new Int32Array(n);
    let rowCount = 0;
    const popScore = new Float32Array(n);
    let maxPop = 0;
    for (const p of model.vocab.popularity) if (p > maxPop) maxPop = p;
    const logMax = Math.log1p(maxPop);
    const withContent = model.content !== undefined;
    let learned = 0;
    let contentOnly = 0;
    const contentKnown = new Uint8Array(n);
    // A catalog often lists the model's items in the vocabulary's order (both exported from one
    // table): the item after the last one found is compared first, and the id map is asked only
    // when that is not it (the same answer: the vocabulary's ids are unique).
    const vocabIds = model.vocab.itemIds;
    let next = 1;
    for (let pos = 0; pos < n; pos++) {
      // A million-item catalog takes seconds here: the worker keeps answering pings meanwhile.
      if (pos > 0 && pos % YIELD_EVERY_ITEMS === 0) await yieldToEventLoop();
      const id = items.idAt(pos);
      // Without a catalog the items are the vocabulary's, in its order.
      const known = given ? (vocabIds[next] === id ? next : model.modelIndex.get(id)) : pos + 1;
      if (known !== undefined) { learned++; next = known + 1; }
      else if (withContent && given) {
        // A category or brand the model knows; a price bucket alone describes no item.
        const c = model.content!.ofMetadata(items.at(pos));
        if (c.category > 0 || c.brand > 0) { contentOnly++; contentKnown[pos] = 1; }
      }
      // Feature models score every catalog item: unknown ones (index 0) from their content alone.
      const m = known ?? (withContent && given ? 0 : undefined);
      if (m !== undefined) {
        rowOfPos[pos] = rowCount;
        modelIdxAll[rowCount] = m;
        posOfRowAll[rowCount++] = pos;
        popScore[pos] = logMax > 0 && m > 0 ? Math.log1p(model.vocab.popularity[m]) / logMax : 0;
      }
    }
    const modelIdxOfRow = rowCount === n ? modelIdxAll : modelIdxAll.slice(0, rowCount);
    const posOfRow = rowCount === n ? posOfRowAll : posOfRowAll.slice(0, rowCount);
    await yieldToEventLoop();
    const popularOrder = byPopularity(popScore);
    await yieldToEventLoop();

    let matrix: CatalogMatrix | null = null;
    const t0 = now();
    let fromCache = false;
    if (modelIdxOfRow.length > 0) {
      const d = model.header.config.hiddenDim;
      const rows = modelIdxOfRow.length;
      // The rows' catalog entries: read only by the int8 cache key and the feature model's item vectors.
      const rowItems = () => Array.from(posOfRow, (p) => items.at(p));
      const dtype = resolveEmbeddingDtype(options.embeddingDtype, rows, d);
      // int8 matrices are cached: model version + a hash of what the rows are made of.
      const cacheKey = dtype === 'int8' && options.cache
        ? `${model.header.modelVersion}|${catalogRowsHash(modelIdxOfRow, rowItems())}|int8-row-v1` : undefined;
      const cached = cacheKey ? await options.cache!.get(cacheKey).catch(() => undefined) : undefined;
      if (cached && cached.rows === rows && cached.dim === d) {
        matrix = await createCatalogMatrix(null, rows, d, { dtype }, cached);
        fromCache = true;
      } else if ((model.hostItemTable || model.itemTable) && !model.content) {
        const host = model.hostItemTable;
        const inPlace = host && isIdentity(modelIdxOfRow) ? { inPlace: host } : {};
        matrix = await createCatalogMatrix(hostRows(host ? host.values : model.itemTable!, modelIdxOfRow, d), rows, d, { dtype, ...inPlace });
      } else {
        ensureItemTensor(model);
        const values = tf.tidy(() => itemRows(model, modelIdxOfRow, rowItems()));
        try {
          matrix = await createCatalogMatrix((await values.data()) as Float32Array, rows, d, { dtype });
        } finally {
          values.dispose();
        }
      }
      if (!fromCache) {
        const q = matrix.int8();
        if (cacheKey && q) {
          // A full or blocked storage only costs the next load the quantisation.
          await options.cache!.put({ key: cacheKey, rows, dim: d, data: q.data, scales: q.scales, createdAt: Date.now() }).catch(() => undefined);
        }
      }
    }
    const coverage: CatalogCoverage = {
      learned, contentOnly, unscored: n - learned - contentOnly, learnedShare: n > 0 ? learned / n : 0, modelItemsInCatalog: learned,
    };
    return new Catalog(items, given, posById, rowOfPos, posOfRow, modelIdxOfRow,
      matrix, popScore, popularOrder, { ms: now() - t0, fromCache }, coverage, contentKnown);
  }

  /** Scorable rows. */
  get rows(): number {
    return this.matrix?.rows ?? 0;
  }

  /** The matrix row of an item, or -1 (not in the catalog, or not scorable). */
  rowOf(itemId: string): number {
    const pos = this.posById.get(itemId);
    return pos === undefined ? -1 : this.rowOfPos[pos];
  }

  /** Every row of a catalog up to FULL_SCORE_MAX_ROWS rows; above, the best `n` rows. */
  scoreRequest(n = TOP_CANDIDATES): ScoreRequest {
    return this.rows <= FULL_SCORE_MAX_ROWS ? { kind: 'all' } : { kind: 'top', n };
  }

  /**
   * The popular list's candidates, most popular first: every position where the model's scores cover
   * every row (FULL_SCORE_MAX_ROWS), else the first `n`, as deep as the model's top rows go (the rest
   * reach ranking as its popular fill).
   */
  popularHead(n = TOP_CANDIDATES): Int32Array {
    return this.rows <= FULL_SCORE_MAX_ROWS ? this.popularOrder : this.popularOrder.subarray(0, n);
  }

  /** A ranking candidate for a catalog position: its entry (when the shop gave one) and unit embedding. */
  candidateAt(pos: number, score: number, reason: RankReason): RankCandidate {
    const row = this.rowOfPos[pos];
    const c: RankCandidate = { itemId: this.items.idAt(pos), score, reason };
    if (this.given) c.item = this.items.at(pos);
    if (row >= 0) c.embedding = this.matrix!.unitRow(row);
    return c;
  }

  /**
   * Candidates by popularity (all, or the given positions), scored by popularity. An item without
   * popularity data (the model never saw it) is not called popular: it comes in catalog order
   * with NO_POPULARITY_REASON.
   */
  *popular(reason: RankReason, positions: Iterable<number> = this.popularOrder): Iterable<RankCandidate> {
    for (const pos of positions) {
      const pop = this.popScore[pos];
      yield this.candidateAt(pos, pop, pop > 0 || reason.kind !== 'popular' ? reason : NO_POPULARITY_REASON);
    }
  }

  /** Catalog positions whose category (or brand) is `value`, most popular first (ties in catalog order). */
  positionsWith(field: 'category' | 'brand', value: string): readonly number[] {
    if (!this.byField) {
      const index = { category: new Map<string, number[]>(), brand: new Map<string, number[]>() };
      for (const pos of this.popularOrder) {
        for (const f of ['category', 'brand'] as const) {
          const v = this.items.field(pos, f);
          if (v === undefined) continue;
          let list = index[f].get(v);
          if (!list) index[f].set(v, list = []);
          list.push(pos);
        }
      }
      this.byField = index;
    }
    return this.byField[field].get(value) ?? [];
  }

  /** A candidate for an id outside the scored set (pins): its catalog entry, or undefined. */
  lookup(itemId: string): RankCandidate | undefined {
    const pos = this.posById.get(itemId);
    return pos === undefined ? undefined : this.candidateAt(pos, this.popScore[pos], { kind: 'pinned' });
  }

  /** The matrix as EngineInfo reports it. */
  info(): ScoringInfo | undefined {
    if (!this.matrix) return undefined;
    const mode = this.scoreRequest().kind === 'all' ? 'all' : 'top';
    return { ...this.matrix.info(), mode, topCandidates: TOP_CANDIDATES, fromCache: this.build.fromCache, buildMs: this.build.ms };
  }

  dispose(): void {
    this.matrix?.dispose();
  }
}
