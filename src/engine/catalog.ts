/**
 * The catalog as the engine holds it (worker side): catalog positions, the model row of each item,
 * popularity, and the embedding matrix that scoring reads. Built at load and on setCatalog; the
 * scenes read it and build ranking candidates from it.
 */
import * as tf from '@tensorflow/tfjs';
import { FULL_SCORE_MAX_ROWS, TOP_CANDIDATES } from '../contract/defaults.js';
import type { CatalogItem, RankReason, ScoringInfo } from '../contract/protocol.js';
import type { ModelHeader, ModelVocab } from '../model/artifacts.js';
import type { ContentIndexer } from '../model/features.js';
import { itemVectors, type WeightMap } from '../model/sasrec.js';
import type { RankCandidate } from '../ranking/rank.js';
import { createCatalogMatrix, resolveEmbeddingDtype, type CatalogMatrix, type ScoreRequest } from '../retrieval/matrix.js';
import type { CatalogCacheRecord } from './store/catalog-cache.js';
import { now } from '../util/clock.js';

/** What the catalog needs from the loaded model. */
export interface CatalogModel {
  header: ModelHeader;
  vocab: ModelVocab;
  weights: WeightMap;
  /** Item id -> model index (1-based). */
  modelIndex: ReadonlyMap<string, number>;
  /** Feature models: shop metadata -> content indices. */
  content?: ContentIndexer;
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
function catalogRowsHash(modelIdx: readonly number[], items: readonly CatalogItem[]): string {
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

/** Item vectors [rows, d]: id embeddings, plus content embeddings for feature models. */
function itemRows(model: CatalogModel, modelIdx: number[], items: CatalogItem[]): tf.Tensor2D {
  const ids = tf.tensor1d(modelIdx, 'int32');
  const content = model.content;
  if (!content) return tf.gather(model.weights.itemEmbedding, ids) as tf.Tensor2D;
  // Items the model knows keep their training-time metadata; new ones use the shop's.
  const idx = modelIdx.map((m, r) => (m > 0 ? content.ofModelItem(m) : content.ofMetadata(items[r])));
  const col = (k: 'category' | 'brand' | 'price') => tf.tensor1d(idx.map((x) => x[k]), 'int32');
  return itemVectors(model.header.config, model.weights, ids, { category: col('category'), brand: col('brand'), price: col('price') }) as tf.Tensor2D;
}

export class Catalog {
  private constructor(
    readonly items: CatalogItem[],
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
  ) {}

  /** Builds the catalog state and its matrix (from the int8 cache when it holds these rows). */
  static async build(catalog: CatalogItem[] | undefined, model: CatalogModel, options: CatalogBuildOptions): Promise<Catalog> {
    const given = catalog !== undefined;
    const items = catalog ?? model.vocab.itemIds.slice(1).map((id) => ({ id }));
    const n = items.length;
    const posById = new Map<string, number>();
    const rowOfPos = new Int32Array(n).fill(-1);
    const modelIdxOfRow: number[] = [];
    const posOfRowList: number[] = [];
    const popScore = new Float32Array(n);
    let maxPop = 0;
    for (const p of model.vocab.popularity) if (p > maxPop) maxPop = p;
    const logMax = Math.log1p(maxPop);
    const withContent = model.content !== undefined;
    items.forEach((item, pos) => {
      posById.set(item.id, pos);
      const known = model.modelIndex.get(item.id);
      // Feature models score every catalog item: unknown ones (index 0) from their content alone.
      const m = known ?? (withContent && given ? 0 : undefined);
      if (m !== undefined) {
        rowOfPos[pos] = modelIdxOfRow.length;
        modelIdxOfRow.push(m);
        posOfRowList.push(pos);
        popScore[pos] = logMax > 0 && m > 0 ? Math.log1p(model.vocab.popularity[m]) / logMax : 0;
      }
    });
    const popularOrder = Int32Array.from(items.keys());
    popularOrder.sort((a, b) => popScore[b] - popScore[a] || a - b);

    let matrix: CatalogMatrix | null = null;
    const t0 = now();
    let fromCache = false;
    if (modelIdxOfRow.length > 0) {
      const d = model.header.config.hiddenDim;
      const rows = modelIdxOfRow.length;
      const rowItems = posOfRowList.map((p) => items[p]);
      const dtype = resolveEmbeddingDtype(options.embeddingDtype, rows);
      // int8 matrices are cached: model version + a hash of what the rows are made of.
      const cacheKey = dtype === 'int8' && options.cache
        ? `${model.header.modelVersion}|${catalogRowsHash(modelIdxOfRow, rowItems)}|int8-row-v1` : undefined;
      const cached = cacheKey ? await options.cache!.get(cacheKey).catch(() => undefined) : undefined;
      if (cached && cached.rows === rows && cached.dim === d) {
        matrix = await createCatalogMatrix(null, rows, d, { dtype }, cached);
        fromCache = true;
      } else {
        const values = tf.tidy(() => itemRows(model, modelIdxOfRow, rowItems));
        try {
          matrix = await createCatalogMatrix((await values.data()) as Float32Array, rows, d, { dtype });
        } finally {
          values.dispose();
        }
        const q = matrix.int8();
        if (cacheKey && q) {
          // A full or blocked storage only costs the next load the quantisation.
          await options.cache!.put({ key: cacheKey, rows, dim: d, data: q.data, scales: q.scales, createdAt: Date.now() }).catch(() => undefined);
        }
      }
    }
    return new Catalog(items, given, posById, rowOfPos, Int32Array.from(posOfRowList), Int32Array.from(modelIdxOfRow),
      matrix, popScore, popularOrder, { ms: now() - t0, fromCache });
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

  /** A ranking candidate for a catalog position: its entry (when the shop gave one) and unit embedding. */
  candidateAt(pos: number, score: number, reason: RankReason): RankCandidate {
    const row = this.rowOfPos[pos];
    const c: RankCandidate = { itemId: this.items[pos].id, score, reason };
    if (this.given) c.item = this.items[pos];
    if (row >= 0) c.embedding = this.matrix!.unitRow(row);
    return c;
  }

  /** Candidates by popularity (all, or the given positions), scored by popularity. */
  *popular(reason: RankReason, positions: Iterable<number> = this.popularOrder): Iterable<RankCandidate> {
    for (const pos of positions) yield this.candidateAt(pos, this.popScore[pos], reason);
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
