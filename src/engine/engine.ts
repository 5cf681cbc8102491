/**
 * The recommender engine: model + catalog + history store in one object, running in
 * whatever realm creates it (the Web Worker in production, Node in unit tests).
 * Implements RecommenderEngineApi from protocol.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendSelection } from './backend.js';
import {
  resolveEngineConfig, validateCatalog, validateEvents, validateHistoryQuery, validateRequest,
  type ResolvedEngineConfig, type ResolvedRequestMap,
} from '../contract/options.js';
import { DIVERSITY_POOL_FACTOR, FULL_SCORE_MAX_ROWS, PROBE_CACHE_MS, PROBE_DIM, PROBE_ROWS, PROBE_SEQ_LEN, REASON_ITEMS, SHORT_LIST_RETRIES, SHORT_LIST_RETRY_FACTOR, TOP_CANDIDATES, WARMUP_CALLS } from '../contract/defaults.js';
import {
  DeviceLostError, DisposedError, InvalidOptionsError, InvalidRequestError, UnknownItemError,
} from '../contract/errors.js';
import type { ModelHeader, ModelVocab } from '../model/artifacts.js';
import { itemVectors, lastHidden, padHistory, taskQueries, type SasRecConfig, type WeightMap } from '../model/sasrec.js';
import { BEHAVIOUR_CODES, ContentIndexer, REPEAT_FEATURES, repeatFeatures, SCENE_CODES, TASKS } from '../model/features.js';
import { FusedForward, type FusedTokens } from '../model/fused.js';
import { loadModel } from '../model/loader.js';
import { resolveUrl } from '../util/url.js';
import type {
  CatalogItem, EngineConfig, EngineInfo, ForwardInfo, HistoryExport, HistoryQuery, LoadProgress, ObjectiveWeights, RankReason,
  RecommendResult, RecommenderEngineApi, SceneName, SceneRequestMap, ShopRules, StoredEvent, TrackEvent, TrackResult,
} from '../contract/protocol.js';
import { blendObjectives, blendSearch, minMaxNormalize, mmrPoolSize, passesRules, rankCandidates, type RankCandidate } from '../ranking/rank.js';
import { CatalogMatrix, kthLargest, resolveEmbeddingDtype, type ScoreRequest } from '../retrieval/matrix.js';
import { HistoryStore } from './store/history.js';

export interface EngineHooks {
  /** Loading progress. */
  onProgress?: (p: LoadProgress) => void;
  /** Replaces the global fetch for the model files (Node tests read files through it). */
  fetch?: typeof fetch;
  /** The forward path: 'auto' (fused on CPU backends when its self-check passes; default) or 'tfjs'. */
  forward?: 'auto' | 'tfjs';
  /** Tests only: sees (and may alter) the fused path before its load-time self-check. */
  fusedTamper?: (f: FusedForward) => void;
}

/** Largest difference from the TF.js forward the load-time self-check accepts (the unit tests demand 1e-4). */
const FUSED_SELF_CHECK_TOLERANCE = 1e-3;
const CPU_BACKENDS = new Set(['wasm', 'cpu']);

/** Event types that count as an interaction for the model (search events do not). */
const INTERACTIONS = new Set(['view', 'click', 'favorite', 'cart', 'purchase']);

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** The catalog as the engine sees it: positions, model rows, the transposed embedding matrix. */
interface CatalogState {
  items: CatalogItem[];
  /** True when the shop gave a catalog (else the vocabulary stands in for it). */
  given: boolean;
  /** Item id -> catalog position. */
  posById: Map<string, number>;
  /** Catalog position -> row in `matrix` / `scores`, or -1 for items the model does not know (cold). */
  rowOfPos: Int32Array;
  /** Row -> catalog position. */
  posOfRow: Int32Array;
  /** The catalog's embedding rows, ready to score (src/scoring.ts); also gives unit rows for diversity. */
  matrix: CatalogMatrix | null;
  /** How the matrix was built at load. */
  build: { ms: number; fromCache: boolean };
  /** Model index per row (0: an item the model never saw, scored from its content; feature models only). */
  modelIdxOfRow: Int32Array;
  /** Popularity per catalog position, log-scaled to [0, 1]; cold items 0. */
  popScore: Float32Array;
  /** Catalog positions, most popular first (ties in catalog order). */
  popularOrder: Int32Array;
}

/** What a recommend call reads from the history. */
interface HistoryView {
  /** Model indices of interactions, oldest first, consecutive repeats collapsed. */
  sequence: number[];
  /**
   * Interactions with their event type and scene, oldest first, consecutive repeats of the same
   * item and type collapsed (feature models read these). `m` is the model index, 0 if unknown.
   */
  steps: HistoryStep[];
  purchased: Set<string>;
  /** Items with a cart event not followed by a purchase, in the order added. */
  cart: string[];
}

interface HistoryStep { itemId: string; m: number; behaviour: number; scene: number }

interface ModelRun {
  /** The catalog rows `scores` refer to (the top candidates of a large catalog), or undefined for every row. */
  rows?: Int32Array;
  /** Raw score per catalog row (or per entry of `rows`): the click head (the only head of a single-objective model). */
  scores: Float32Array;
  /** Feature models: raw score per catalog row for each head. */
  heads?: { click: Float32Array; cart: Float32Array; purchase: Float32Array };
  /** History item ids the last position attends to most. */
  becauseOf: string[];
  /** Model input length used. */
  used: number;
}

/** Appends a step unless it repeats the last one (same item and event type). */
function withStep(steps: HistoryStep[], step: HistoryStep): HistoryStep[] {
  const last = steps[steps.length - 1];
  return last && last.itemId === step.itemId && last.behaviour === step.behaviour ? steps : [...steps, step];
}

/** FNV-1a over what the catalog rows are made of (model rows; shop metadata of content-scored items). */
function catalogRowsHash(modelIdx: number[], items: CatalogItem[]): string {
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

function collapseRepeats(ids: number[]): number[] {
  const out: number[] = [];
  for (const id of ids) if (out[out.length - 1] !== id) out.push(id);
  return out;
}

/**
 * In-process recommender engine. Create with `createEngine` (or `RecommenderEngine.create`).
 * Not thread-safe across realms: one engine per worker; TF.js backends are global to the realm.
 */
export class RecommenderEngine implements RecommenderEngineApi {
  private catalog!: CatalogState;
  private disposed = false;
  private lost: string | null = null;
  private warmupMs = 0;
  private loadMs = 0;
  /** The last history write; reads wait for it, so a recommend sees every track called before it. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  private readonly modelIndex = new Map<string, number>();
  /** Feature models: shop metadata -> feature indices, and the per-task repeat-feature weights. */
  private readonly content?: ContentIndexer;
  private readonly repeatWeights?: Float32Array;
  /** The fused forward (CPU backends), or null: TF.js ops. */
  private fused: FusedForward | null = null;
  private forwardInfo: ForwardInfo = { path: 'tfjs', reason: 'not set up yet' };
  /** bestCandidates on (tests turn it off to compare). */
  private candidateShortcut = true;
  /** The last history read and its view (recommend calls reuse them while the history is unchanged). */
  private lastEvents: readonly StoredEvent[] | null = null;
  private lastView: HistoryView | null = null;

  private constructor(
    private readonly config: ResolvedEngineConfig,
    private readonly modelUrl: string,
    private readonly selection: BackendSelection,
    private readonly header: ModelHeader,
    private readonly vocab: ModelVocab,
    private readonly weights: WeightMap,
    private readonly store: HistoryStore,
  ) {
    vocab.itemIds.forEach((id, i) => { if (i > 0) this.modelIndex.set(id, i); });
    if (header.config.features && vocab.features) {
      this.content = new ContentIndexer(vocab.features);
      this.repeatWeights = weights.repeatWeights.dataSync() as Float32Array;
    }
    selection.deviceLost.then((reason) => { this.lost = reason; });
  }

  /** Validates the config, opens the history, picks a backend, loads and warms up the model. */
  static async create(configArg: EngineConfig = {}, hooks: EngineHooks = {}): Promise<RecommenderEngine> {
    const t0 = now();
    const report = (p: LoadProgress) => { try { hooks.onProgress?.(p); } catch { /* a throwing callback must not break loading */ } };
    const config = resolveEngineConfig(configArg);
    const modelUrl = resolveUrl(config.modelUrl);

    const store = await HistoryStore.open(config.dbName);
    let weights: WeightMap | undefined;
    let engine: RecommenderEngine | undefined;
    try {
      const selection = await RecommenderEngine.chooseBackend(config, store, report);
      let lastFraction = -1;
      const download = (f: number) => {
        if (f <= lastFraction) return;
        lastFraction = f;
        report({ stage: 'download', loadedFraction: f });
      };
      download(0);
      const model = await loadModel(modelUrl, { fetch: hooks.fetch, onProgress: download });
      weights = model.weights;
      download(1);
      report({ stage: 'model', numItems: model.header.config.numItems, weightBytes: model.weightBytes });

      engine = new RecommenderEngine(config, modelUrl, selection, model.header, model.vocab, model.weights, store);
      engine.setUpForward(hooks);
      engine.catalog = await engine.buildCatalog(config.catalog);
      report({ stage: 'warmup' });
      engine.warmupMs = await engine.warmUp();
      report({ stage: 'warmup', ms: engine.warmupMs });
      await Promise.all([
        store.prune(config.retention),
        store.setMeta({ key: 'model', modelVersion: model.header.modelVersion, modelUrl, loadedAt: Date.now() }),
      ]);
      engine.loadMs = now() - t0;
      report({ stage: 'ready', info: engine.currentInfo() });
      return engine;
    } catch (e) {
      if (engine) await engine.dispose(); // weights, catalog matrix, store
      else {
        if (weights) tf.dispose(Object.values(weights));
        store.close();
      }
      throw e;
    }
  }

  /**
   * 'auto': a measured probe picks the backend (shapes: PROBE_* defaults, the catalog's size); the
   * decision is kept in IndexedDB and reused on this browser for PROBE_CACHE_MS (the probe of the
   * software GPU backends costs seconds here). A list or a name: the first that starts.
   */
  private static async chooseBackend(config: ResolvedEngineConfig, store: HistoryStore, report: (p: LoadProgress) => void): Promise<BackendSelection> {
    if (!config.autoBackend) return selectBackend(config.backends, report);
    const nav = (globalThis as { navigator?: { userAgent?: string; hardwareConcurrency?: number } }).navigator;
    const env = `${nav?.userAgent ?? 'unknown'}|${nav?.hardwareConcurrency ?? 0}|probe-v1`;
    const cached = await store.getMeta('backend').catch(() => undefined);
    if (cached && cached.env === env && Date.now() - cached.at < PROBE_CACHE_MS && config.backends.includes(cached.backend)) {
      try {
        const sel = await selectBackend([cached.backend], report);
        const rejected = cached.probe.filter((p) => p.backend !== cached.backend && p.ms !== undefined)
          .map((p) => ({ backend: p.backend, reason: `slower in the probe of ${new Date(cached.at).toISOString()}: ${p.ms!.toFixed(2)} ms` }));
        return { ...sel, rejected, reason: `${cached.reason} (probe of ${new Date(cached.at).toISOString()}, reused)`, probe: cached.probe };
      } catch {
        // The remembered backend no longer starts: probe again.
      }
    }
    const probe = { dim: PROBE_DIM, seqLen: PROBE_SEQ_LEN, rows: config.catalog?.length ?? PROBE_ROWS };
    const sel = await selectBackend(config.backends, report, { probe });
    await store.setMeta({ key: 'backend', env, backend: sel.backend, reason: sel.reason, probe: sel.probe ?? [], at: Date.now() }).catch(() => undefined);
    return sel;
  }

  // -------------------------------------------------------------------------------------------
  // state checks

  private assertUsable(): void {
    if (this.disposed) throw new DisposedError('This recommender was disposed; create a new one.');
    if (this.lost !== null) {
      throw new DeviceLostError(`The GPU device was lost (${this.lost}); create a new recommender (it may pick another backend).`, { reason: this.lost });
    }
  }

  /** Runs an async step; afterwards re-checks disposal/device loss so a late result never hides them. */
  private async guarded<T>(work: Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work;
    } catch (e) {
      if (this.disposed || this.lost !== null) this.assertUsable();
      throw e;
    }
    this.assertUsable();
    return result;
  }

  /** Starts a history write now and records it for later reads. */
  private write<T>(start: () => Promise<T>): Promise<T> {
    const p = start();
    this.lastWrite = p.catch(() => undefined);
    return this.guarded(p);
  }

  /** Reads history after every write issued so far. */
  private async read<T>(start: () => Promise<T>): Promise<T> {
    await this.lastWrite;
    return this.guarded(start());
  }

  // -------------------------------------------------------------------------------------------
  // catalog

  private async buildCatalog(catalog: CatalogItem[] | undefined): Promise<CatalogState> {
    const given = catalog !== undefined;
    const items = catalog ?? this.vocab.itemIds.slice(1).map((id) => ({ id }));
    const n = items.length;
    const posById = new Map<string, number>();
    const rowOfPos = new Int32Array(n).fill(-1);
    const modelIdxOfRow: number[] = [];
    const posOfRowList: number[] = [];
    const popScore = new Float32Array(n);
    let maxPop = 0;
    for (const p of this.vocab.popularity) if (p > maxPop) maxPop = p;
    const logMax = Math.log1p(maxPop);
    const withContent = this.content !== undefined;
    items.forEach((item, pos) => {
      posById.set(item.id, pos);
      const known = this.modelIndex.get(item.id);
      // Feature models score every catalog item: unknown ones (index 0) from their content alone.
      const m = known ?? (withContent && given ? 0 : undefined);
      if (m !== undefined) {
        rowOfPos[pos] = modelIdxOfRow.length;
        modelIdxOfRow.push(m);
        posOfRowList.push(pos);
        popScore[pos] = logMax > 0 && m > 0 ? Math.log1p(this.vocab.popularity[m]) / logMax : 0;
      }
    });
    const popularOrder = Int32Array.from(items.keys());
    popularOrder.sort((a, b) => popScore[b] - popScore[a] || a - b);

    let matrix: CatalogMatrix | null = null;
    const t0 = now();
    let fromCache = false;
    if (modelIdxOfRow.length > 0) {
      const d = this.header.config.hiddenDim;
      const n = modelIdxOfRow.length;
      const dtype = resolveEmbeddingDtype(this.config.embeddingDtype, n);
      // int8 matrices are cached in IndexedDB: model version + a hash of what the rows are made of.
      const cacheKey = dtype === 'int8' && this.config.cacheCatalog
        ? `${this.header.modelVersion}|${catalogRowsHash(modelIdxOfRow, posOfRowList.map((p) => items[p]))}|int8-row-v1` : undefined;
      const cached = cacheKey ? await this.store.getCatalogMatrix(cacheKey).catch(() => undefined) : undefined;
      if (cached && cached.rows === n && cached.dim === d) {
        matrix = await CatalogMatrix.create(null, n, d, { dtype }, cached);
        fromCache = true;
      } else {
        const rows = tf.tidy(() => this.itemRows(modelIdxOfRow, posOfRowList.map((p) => items[p])));
        try {
          matrix = await CatalogMatrix.create((await rows.data()) as Float32Array, n, d, { dtype });
        } finally {
          rows.dispose();
        }
        const q = matrix.int8();
        if (cacheKey && q) {
          // A full or blocked storage only costs the next load the quantisation.
          await this.store.putCatalogMatrix({ key: cacheKey, rows: n, dim: d, data: q.data, scales: q.scales, createdAt: Date.now() }).catch(() => undefined);
        }
      }
    }
    return {
      items, given, posById, rowOfPos, posOfRow: Int32Array.from(posOfRowList), modelIdxOfRow: Int32Array.from(modelIdxOfRow),
      matrix, popScore, popularOrder, build: { ms: now() - t0, fromCache },
    };
  }

  /** Item vectors [rows, d]: id embeddings, plus content embeddings for feature models. */
  private itemRows(modelIdx: number[], items: CatalogItem[]): tf.Tensor2D {
    const cfg = this.header.config;
    const ids = tf.tensor1d(modelIdx, 'int32');
    if (!this.content) return tf.gather(this.weights.itemEmbedding, ids) as tf.Tensor2D;
    // Items the model knows keep their training-time metadata; new ones use the shop's.
    const idx = modelIdx.map((m, r) => (m > 0 ? this.content!.ofModelItem(m) : this.content!.ofMetadata(items[r])));
    const col = (k: 'category' | 'brand' | 'price') => tf.tensor1d(idx.map((x) => x[k]), 'int32');
    return itemVectors(cfg, this.weights, ids, { category: col('category'), brand: col('brand'), price: col('price') }) as tf.Tensor2D;
  }

  /**
   * The stored history read into memory, then a few home lists on a one-item history (forward, scoring,
   * ranking), so shader compilation, the JIT of the ranking code and the first IndexedDB read do not hit
   * the first real calls. Returns ms.
   */
  private async warmUp(): Promise<number> {
    const t0 = now();
    // Read the history once: it fills the store's in-memory copy (kept up to date by this engine's own
    // writes), so the first recommend does not pay an IndexedDB read. A failure here is not fatal:
    // recommend reads again and reports it there.
    await this.read(() => this.store.events()).catch(() => undefined);
    const first = this.catalog.popularOrder.length > 0 ? this.catalog.items[this.catalog.popularOrder[0]].id : undefined;
    const seed = first !== undefined ? this.modelIndex.get(first) ?? 1 : 1;
    const steps = [{ itemId: this.vocab.itemIds[seed], m: seed, behaviour: 1, scene: SCENE_CODES.home }];
    const req = validateRequest('home', {}) as ResolvedRequestMap['home'];
    for (let i = 0; i < WARMUP_CALLS; i++) {
      await this.personalList(this.catalog, [seed], req, new Set(), (becauseOf) => ({ kind: 'personal', becauseOf }), 'home', steps);
    }
    return now() - t0;
  }

  // -------------------------------------------------------------------------------------------
  // model

  /**
   * CPU backends: the fused forward (src/model/fused.ts), used only if it reproduces the TF.js
   * forward on two check histories (full length and short; feature models with side inputs) within
   * FUSED_SELF_CHECK_TOLERANCE. Otherwise, and on GPU backends, the TF.js ops; EngineInfo.forward says which and why.
   */
  private setUpForward(hooks: EngineHooks): void {
    const backend = this.selection.backend;
    if (!CPU_BACKENDS.has(backend)) {
      this.forwardInfo = { path: 'tfjs', reason: `${backend}: GPU backends run the TF.js forward` };
      return;
    }
    if (hooks.forward === 'tfjs') {
      this.forwardInfo = { path: 'tfjs', reason: 'tfjs forward asked for (EngineHooks.forward)' };
      return;
    }
    const cfg = this.header.config;
    let fused: FusedForward;
    try {
      fused = FusedForward.create(cfg, this.weights);
      hooks.fusedTamper?.(fused);
    } catch (e) {
      this.forwardInfo = { path: 'tfjs', reason: `fused forward unavailable: ${e instanceof Error ? e.message : String(e)}` };
      return;
    }
    const L = cfg.maxLen;
    const n = Math.min(cfg.numItems, L);
    const full = new Int32Array(L);
    for (let i = 0; i < n; i++) full[L - n + i] = 1 + ((i * 7919) % cfg.numItems);
    const short = new Int32Array(L);
    for (let i = 0; i < Math.min(3, n); i++) short[L - 1 - i] = 1 + ((i * 104_729 + 11) % cfg.numItems);
    let diff = 0;
    try {
      for (const ids of [full, short]) {
        let tokens: Record<keyof FusedTokens, Int32Array> | undefined;
        if (this.content && cfg.features) {
          const c = this.content;
          const col = (pick: (m: number, j: number) => number) => Int32Array.from(ids, (m, j) => (m === 0 ? 0 : pick(m, j)));
          tokens = {
            category: col((m) => c.ofModelItem(m).category), brand: col((m) => c.ofModelItem(m).brand), price: col((m) => c.ofModelItem(m).price),
            behaviour: col((_, j) => 1 + (j % cfg.features!.numBehaviours)), scene: col((_, j) => 1 + (j % cfg.features!.numScenes)),
          };
        }
        diff = Math.max(diff, fused.compareWithTfjs(ids, tokens, cfg.features ? SCENE_CODES.cart : undefined));
      }
    } catch (e) {
      this.forwardInfo = { path: 'tfjs', reason: `fused forward self-check failed: ${e instanceof Error ? e.message : String(e)}` };
      return;
    }
    if (!(diff <= FUSED_SELF_CHECK_TOLERANCE)) {
      this.forwardInfo = { path: 'tfjs', reason: `fused forward self-check failed: max abs diff ${diff.toExponential(2)} from the TF.js forward (tolerance ${FUSED_SELF_CHECK_TOLERANCE})`, selfCheckMaxAbsDiff: diff };
      return;
    }
    this.fused = fused;
    this.forwardInfo = {
      path: 'fused', kernel: fused.kernel, selfCheckMaxAbsDiff: diff,
      reason: `fused (${fused.kernel}): self-check against the TF.js forward at load, max abs diff ${diff.toExponential(2)}`,
    };
  }

  /**
   * Scores every known catalog item for a history (model indices, oldest first). Feature models read
   * `steps` (event types, scenes) instead and score each head for the request `scene`.
   * Leaves no tensors behind.
   */
  private async runModel(
    sequence: number[], cat: CatalogState, scene: SceneName = 'home', steps?: HistoryStep[], request: ScoreRequest = this.scoreRequest(cat),
  ): Promise<ModelRun> {
    if (this.content && steps) return this.runFeatureModel(steps, cat, scene);
    const cfg: SasRecConfig = this.header.config;
    const seq = sequence.slice(-cfg.maxLen);
    if (!cat.matrix || seq.length === 0) return { scores: new Float32Array(0), becauseOf: [], used: 0 };
    const row = padHistory(seq, cfg.maxLen);
    if (this.fused) {
      const out = this.fused.run(row);
      const scored = await this.guarded(cat.matrix.score(out.hidden, request));
      const run: ModelRun = { scores: scored.scores[0], becauseOf: this.attributions(seq, out.attention), used: seq.length };
      if (scored.rows) run.rows = scored.rows;
      return run;
    }
    const ids = tf.tensor2d(row, [1, cfg.maxLen], 'int32');
    let hiddenT: tf.Tensor | undefined;
    let attnT: tf.Tensor | undefined;
    try {
      const { hidden, attention } = lastHidden(cfg, this.weights, ids, { returnAttention: true });
      hiddenT = hidden;
      try {
        attnT = tf.tidy(() => (attention ? attention.mean(1).reshape([-1]) : tf.zeros([cfg.maxLen])));
      } finally {
        attention?.dispose();
      }
    } catch (e) {
      hiddenT?.dispose();
      throw e;
    } finally {
      ids.dispose();
    }
    try {
      const [scored, attn] = await this.guarded(this.raceDeviceLoss(Promise.all([cat.matrix.score(hiddenT, request), attnT!.data()])));
      const out: ModelRun = { scores: scored.scores[0], becauseOf: this.attributions(seq, attn as Float32Array), used: seq.length };
      if (scored.rows) out.rows = scored.rows;
      return out;
    } finally {
      hiddenT.dispose();
      attnT!.dispose();
    }
  }

  /** Every row of a catalog up to FULL_SCORE_MAX_ROWS rows; above, the top `n` rows. */
  private scoreRequest(cat: CatalogState, n = TOP_CANDIDATES): ScoreRequest {
    return (cat.matrix?.rows ?? 0) <= FULL_SCORE_MAX_ROWS ? { kind: 'all' } : { kind: 'top', n };
  }

  /** The multi-task model: one score vector per head (click, cart, purchase). */
  private async runFeatureModel(allSteps: HistoryStep[], cat: CatalogState, scene: SceneName): Promise<ModelRun> {
    const cfg: SasRecConfig = this.header.config;
    const known = allSteps.filter((s) => s.m > 0).slice(-cfg.maxLen);
    if (!cat.matrix || known.length === 0) return { scores: new Float32Array(0), becauseOf: [], used: 0 };
    const L = cfg.maxLen;
    const row = (pick: (s: HistoryStep) => number) => tf.tensor2d(padHistory(known.map(pick), L), [1, L], 'int32');
    const content = this.content!;
    let scoresT: tf.Tensor | undefined;
    let attnT: tf.Tensor | undefined;
    if (this.fused) {
      const idx = known.map((s) => content.ofModelItem(s.m));
      const pad = (xs: number[]) => padHistory(xs, L);
      const out = this.fused.run(pad(known.map((s) => s.m)), {
        category: pad(idx.map((x) => x.category)), brand: pad(idx.map((x) => x.brand)), price: pad(idx.map((x) => x.price)),
        behaviour: pad(known.map((s) => s.behaviour)), scene: pad(known.map((s) => s.scene)),
      }, SCENE_CODES[scene]);
      const scored = await this.guarded(cat.matrix.score(out.queries, { kind: 'all' }));
      return this.featureRun(scored.scores, allSteps, cat, known, out.attention);
    }
    try {
      [scoresT, attnT] = tf.tidy(() => {
        const idx = new Map(known.map((s) => [s, content.ofModelItem(s.m)]));
        const tokens = {
          category: row((s) => idx.get(s)!.category), brand: row((s) => idx.get(s)!.brand),
          price: row((s) => idx.get(s)!.price), behaviour: row((s) => s.behaviour), scene: row((s) => s.scene),
        };
        const { hidden, attention } = lastHidden(cfg, this.weights, row((s) => s.m), { returnAttention: true, tokens });
        const q = taskQueries(cfg, this.weights, hidden, tf.tensor1d([SCENE_CODES[scene]], 'int32'));
        const scores = q.reshape([TASKS.length, cfg.hiddenDim]);
        const attn = attention ? attention.mean(1).reshape([-1]) : tf.zeros([L]);
        attention?.dispose(); // forward() keeps it, so this tidy would not release it
        return [scores, attn];
      });
    } catch (e) {
      scoresT?.dispose();
      throw e;
    }
    try {
      const [scored, attn] = await this.guarded(this.raceDeviceLoss(Promise.all([cat.matrix.score(scoresT, { kind: 'all' }), attnT!.data()])));
      return this.featureRun(scored.scores, allSteps, cat, known, attn as Float32Array);
    } finally {
      scoresT.dispose();
      attnT!.dispose();
    }
  }

  /** Per-head scores plus the learned repeat terms of items the shopper met before (seen, recency, carted, purchased). */
  private featureRun(heads: Float32Array[], allSteps: HistoryStep[], cat: CatalogState, known: HistoryStep[], attn: Float32Array): ModelRun {
    const w = this.repeatWeights!;
    for (const [itemId, f] of repeatFeatures(allSteps.map((s) => ({ key: s.itemId, behaviour: s.behaviour })))) {
      const pos = cat.posById.get(itemId);
      const r = pos === undefined ? -1 : cat.rowOfPos[pos];
      if (r < 0) continue;
      heads.forEach((h, t) => { for (let k = 0; k < REPEAT_FEATURES; k++) h[r] += w[t * REPEAT_FEATURES + k] * f[k]; });
    }
    const [click, cart, purchase] = heads;
    return { scores: click, heads: { click, cart, purchase }, becauseOf: this.attributions(known.map((s) => s.m), attn), used: known.length };
  }

  private raceDeviceLoss<T>(p: Promise<T>): Promise<T> {
    if (this.selection.backend !== 'webgpu') return p;
    const lost = this.selection.deviceLost.then((reason): never => {
      throw new DeviceLostError(`The GPU device was lost (${reason}); create a new recommender.`, { reason });
    });
    return Promise.race([p, lost]);
  }

  /** History items the last position attends to most (summed over repeats), best first. */
  private attributions(seq: number[], attn: Float32Array): string[] {
    const maxLen = this.header.config.maxLen;
    const offset = maxLen - seq.length;
    const weightById = new Map<string, number>();
    seq.forEach((m, j) => {
      const id = this.vocab.itemIds[m];
      weightById.set(id, (weightById.get(id) ?? 0) + (attn[offset + j] ?? 0));
    });
    return [...weightById.entries()].sort((a, b) => b[1] - a[1]).slice(0, REASON_ITEMS).map(([id]) => id);
  }

  // -------------------------------------------------------------------------------------------
  // history

  private view(events: readonly StoredEvent[]): HistoryView {
    const seq: number[] = [];
    const steps: HistoryStep[] = [];
    const purchased = new Set<string>();
    const cart = new Map<string, true>();
    for (const ev of events) {
      if (!ev.itemId) continue;
      if (ev.type === 'purchase') { purchased.add(ev.itemId); cart.delete(ev.itemId); }
      if (ev.type === 'cart') { cart.delete(ev.itemId); cart.set(ev.itemId, true); }
      if (INTERACTIONS.has(ev.type)) {
        const m = this.modelIndex.get(ev.itemId);
        if (m !== undefined) seq.push(m);
        const behaviour = BEHAVIOUR_CODES[ev.type as keyof typeof BEHAVIOUR_CODES];
        const last = steps[steps.length - 1];
        if (!last || last.itemId !== ev.itemId || last.behaviour !== behaviour) {
          steps.push({ itemId: ev.itemId, m: m ?? 0, behaviour, scene: SCENE_CODES[ev.scene] ?? SCENE_CODES.home });
        }
      }
    }
    const sequence = collapseRepeats(seq);
    return { sequence, steps, purchased, cart: [...cart.keys()] };
  }

  // -------------------------------------------------------------------------------------------
  // candidates

  private candidateAt(cat: CatalogState, pos: number, score: number, reason: RankReason): RankCandidate {
    const row = cat.rowOfPos[pos];
    const c: RankCandidate = { itemId: cat.items[pos].id, score, reason };
    if (cat.given) c.item = cat.items[pos];
    if (row >= 0) c.embedding = cat.matrix!.unitRow(row);
    return c;
  }

  /** Every scored catalog item with its relevance in [0, 1]. */
  private modelCandidates(
    cat: CatalogState, run: ModelRun, objectives: Required<ObjectiveWeights>, reason: RankReason,
    shortcut?: { req: ResolvedRequestMap['home']; exclude: Set<string> },
  ): RankCandidate[] {
    const rel = blendObjectives(run.heads ?? { click: run.scores }, objectives);
    // The purchase head, normalised, is what priceWeight multiplies by price (expected revenue).
    const purchase = run.heads ? minMaxNormalize(run.heads.purchase) : undefined;
    const build = (r: number): RankCandidate => {
      const c = this.candidateAt(cat, cat.posOfRow[run.rows ? run.rows[r] : r], rel[r], reason);
      if (purchase) c.purchaseScore = purchase[r];
      return c;
    };
    const top = shortcut && this.candidateShortcut && this.bestCandidates(rel, shortcut.req, shortcut.exclude, build);
    if (top) return top;
    const out: RankCandidate[] = new Array(rel.length);
    for (let r = 0; r < rel.length; r++) out[r] = build(r);
    return out;
  }

  /**
   * The candidates ranking can pick from, without building the other few hundred: those scoring at
   * least the M-th best relevance (ties included, in input order), when at least as many of them
   * pass the exclusions as ranking considers (k, or MMR's pool). Ranking then gives exactly the list
   * it gives on every candidate: any candidate left out scores below all of these. Only without
   * pins, boosts and price weighting (which look at other candidates); else undefined.
   */
  private bestCandidates(rel: Float32Array, req: ResolvedRequestMap['home'], exclude: Set<string>, build: (r: number) => RankCandidate): RankCandidate[] | undefined {
    const rules = req.rules;
    if (rules.pin?.length || rules.boost?.length || req.priceWeight > 0) return undefined;
    const needed = req.diversity > 0 ? mmrPoolSize(req.k) : req.k;
    const m = needed + exclude.size + 16;
    if (rel.length <= 2 * m) return undefined;
    const sorted = Float64Array.from(rel);
    const t = kthLargest(sorted, m);
    const out: RankCandidate[] = [];
    let passing = 0;
    for (let r = 0; r < rel.length; r++) {
      if (!(rel[r] >= t)) continue;
      const c = build(r);
      out.push(c);
      if (passesRules(c, rules, exclude)) passing++;
    }
    return passing >= needed ? out : undefined;
  }

  private *popular(cat: CatalogState, reason: RankReason, positions: Iterable<number> = cat.popularOrder): Iterable<RankCandidate> {
    for (const pos of positions) yield this.candidateAt(cat, pos, cat.popScore[pos], reason);
  }

  /** A candidate for an id outside the scored set (pins): catalog entry or, with no catalog, a model item. */
  private lookup(cat: CatalogState, itemId: string): RankCandidate | undefined {
    const pos = cat.posById.get(itemId);
    return pos === undefined ? undefined : this.candidateAt(cat, pos, cat.popScore[pos], { kind: 'pinned' });
  }

  /** Ids a list never shows. Per-request rules.excludeInCart / excludePurchased override the engine options. */
  private exclusions(hist: HistoryView, scene: SceneName, rules: ShopRules, extra: Iterable<string> = []): Set<string> {
    const out = new Set<string>(extra);
    if (rules.excludeInCart ?? this.config.excludeInCart) for (const id of hist.cart) out.add(id);
    const purchased = rules.excludePurchased ?? (this.config.excludePurchased && (scene === 'home' || scene === 'product'));
    if (purchased) for (const id of hist.purchased) out.add(id);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // public API

  /** Validates and stores events (all or nothing). Unknown item ids are stored but not used for scoring. */
  async track(events: TrackEvent | TrackEvent[]): Promise<TrackResult> {
    this.assertUsable();
    const valid = validateEvents(events);
    const { stored, pruned } = await this.write(() => this.store.add(valid, this.config.retention));
    const cat = this.catalog;
    const unknown = new Set<string>();
    for (const ev of valid) {
      if (ev.itemId && !this.modelIndex.has(ev.itemId) && !cat.posById.has(ev.itemId)) unknown.add(ev.itemId);
    }
    return { stored, unknownItems: [...unknown], pruned };
  }

  /** Recommends for a scene. See the scene request types for the options. */
  async recommend<S extends SceneName>(scene: S, request: SceneRequestMap[S]): Promise<RecommendResult> {
    this.assertUsable();
    const t0 = now();
    const req = validateRequest(scene, request);
    const events = await this.read(() => this.store.events());
    // The history view is rebuilt only when the store hands a different array (it changed).
    if (events !== this.lastEvents) { this.lastView = this.view(events); this.lastEvents = events; }
    const hist = this.lastView!;
    const cat = this.catalog;
    let out: { items: RecommendResult['items']; used: number };
    switch (scene) {
      case 'home': out = await this.home(cat, hist, req as ResolvedRequestMap['home']); break;
      case 'product': out = await this.product(cat, hist, req as ResolvedRequestMap['product']); break;
      case 'cart': out = await this.cartScene(cat, hist, req as ResolvedRequestMap['cart']); break;
      default: out = await this.search(cat, hist, req as ResolvedRequestMap['search']); break;
    }
    return {
      scene,
      items: out.items,
      backend: this.selection.backend,
      modelVersion: this.header.modelVersion,
      latencyMs: now() - t0,
      historyUsed: out.used,
    };
  }

  private async personalList(
    cat: CatalogState, sequence: number[], req: ResolvedRequestMap['home'], exclude: Set<string>,
    reasonFor: (becauseOf: string[]) => RankReason, scene: SceneName, steps: HistoryStep[],
  ): Promise<{ items: RecommendResult['items']; used: number }> {
    // Large catalogs: ranking gets the top candidates only (enough for diversity's pool).
    let n = Math.max(TOP_CANDIDATES, req.k * DIVERSITY_POOL_FACTOR);
    let retries = SHORT_LIST_RETRIES;
    for (;;) {
      const run = await this.runModel(sequence, cat, scene, steps, this.scoreRequest(cat, n));
      if (run.used === 0) {
        return { items: rankCandidates(this.popular(cat, { kind: 'popular' }), { ...req, exclude }), used: 0 };
      }
      const candidates = this.modelCandidates(cat, run, req.objectives, reasonFor(run.becauseOf), { req, exclude });
      const items = rankCandidates(candidates, {
        ...req, exclude, unique: true,
        popular: () => this.popular(cat, { kind: 'popular' }),
        lookup: (id) => this.lookup(cat, id),
      });
      // Filtering rules left the list to popular fill although unscored rows remain: look deeper once or more.
      const filled = items.some((it) => it.reason.kind === 'popular');
      if (!run.rows || !filled || retries-- === 0 || n >= cat.matrix!.rows) return { items, used: run.used };
      n = Math.min(n * SHORT_LIST_RETRY_FACTOR, cat.matrix!.rows);
    }
  }

  private home(cat: CatalogState, hist: HistoryView, req: ResolvedRequestMap['home']) {
    return this.personalList(cat, hist.sequence, req, this.exclusions(hist, 'home', req.rules),
      (becauseOf) => ({ kind: 'personal', becauseOf }), 'home', hist.steps);
  }

  private async product(cat: CatalogState, hist: HistoryView, req: ResolvedRequestMap['product']) {
    const id = req.itemId;
    const m = this.modelIndex.get(id);
    const pos = cat.posById.get(id);
    if (m === undefined && pos === undefined) {
      throw new UnknownItemError(`Unknown product "${id}": it is neither in the catalog nor known to the model. Check the id, or add the item to the catalog.`, { itemId: id });
    }
    const exclude = this.exclusions(hist, 'product', req.rules, [id]);
    const newRow = m === undefined ? cat.rowOfPos[pos!] : -1;
    if (m === undefined && this.content && cat.matrix && newRow >= 0) {
      // A feature model has a content vector for a new item: the items whose vectors are closest to it.
      const scored = await this.guarded(cat.matrix.score(cat.matrix.unitRow(newRow), this.scoreRequest(cat)));
      const run: ModelRun = { scores: scored.scores[0], becauseOf: [], used: 0 };
      if (scored.rows) run.rows = scored.rows;
      const candidates = this.modelCandidates(cat, run, req.objectives, { kind: 'similar', to: id });
      return {
        items: rankCandidates(candidates, {
          ...req, exclude, unique: true,
          popular: () => this.popular(cat, { kind: 'popular' }),
          lookup: (x) => this.lookup(cat, x),
        }),
        used: 0,
      };
    }
    if (m === undefined) {
      // In the catalog but new to the model: popular items of its category, then popular overall.
      const category = cat.items[pos!].category;
      const reason: RankReason = { kind: 'fallback', detail: `"${id}" is new to the model: popular items${category !== undefined ? ' in its category' : ''}` };
      const inCategory = category === undefined ? cat.popularOrder
        : cat.popularOrder.filter((p) => cat.items[p].category === category);
      return {
        items: rankCandidates(this.popular(cat, reason, inCategory), {
          ...req, exclude,
          popular: () => this.popular(cat, { kind: 'popular' }),
          lookup: (x) => this.lookup(cat, x),
        }),
        used: 0,
      };
    }
    const sequence = collapseRepeats([...hist.sequence, m]);
    const steps = withStep(hist.steps, { itemId: id, m, behaviour: BEHAVIOUR_CODES.view, scene: SCENE_CODES.product });
    return this.personalList(cat, sequence, req, exclude, (becauseOf) =>
      becauseOf.length === 0 || becauseOf[0] === id ? { kind: 'similar', to: id } : { kind: 'personal', becauseOf }, 'product', steps);
  }

  private cartScene(cat: CatalogState, hist: HistoryView, req: ResolvedRequestMap['cart']) {
    const cart = req.cart ?? hist.cart;
    const cartIdx = cart.map((id) => this.modelIndex.get(id)).filter((m): m is number => m !== undefined);
    const sequence = collapseRepeats([...hist.sequence, ...cartIdx]);
    let steps = hist.steps;
    for (const itemId of req.cart ?? []) {
      steps = withStep(steps, { itemId, m: this.modelIndex.get(itemId) ?? 0, behaviour: BEHAVIOUR_CODES.cart, scene: SCENE_CODES.cart });
    }
    return this.personalList(cat, sequence, req, this.exclusions(hist, 'cart', req.rules, cart), (becauseOf) =>
      cart.length > 0 ? { kind: 'complement', to: [...cart] } : { kind: 'personal', becauseOf }, 'cart', steps);
  }

  private async search(cat: CatalogState, hist: HistoryView, req: ResolvedRequestMap['search']) {
    const ids = [...new Set(req.candidates)];
    const rows = ids.map((id) => {
      const pos = cat.posById.get(id);
      return pos === undefined ? -1 : cat.rowOfPos[pos];
    });
    const anyKnown = rows.some((r) => r >= 0);
    const known = Int32Array.from(rows.filter((r) => r >= 0));
    const run: ModelRun = anyKnown
      ? await this.runModel(hist.sequence, cat, 'search', hist.steps, { kind: 'rows', rows: known })
      : { scores: new Float32Array(0), becauseOf: [], used: 0 };
    const personalScores = run.heads ? blendObjectives(run.heads, req.objectives) : run.scores;
    // Scores come for `run.rows` (the known candidates) or, from feature models, for every row.
    const slot = new Map<number, number>();
    if (run.rows) run.rows.forEach((r, j) => slot.set(r, j));
    const personal = rows.map((r) => (r >= 0 && run.used > 0 ? personalScores[run.rows ? slot.get(r)! : r] : undefined));
    const blended = blendSearch(personal, req.personalWeight);
    const candidates: RankCandidate[] = ids.map((id, i) => {
      const pos = cat.posById.get(id);
      const reason: RankReason = rows[i] >= 0
        ? { kind: 'search', shopRank: i, becauseOf: run.becauseOf }
        : { kind: 'fallback', detail: 'not known to the model: kept at the shop position' };
      const c: RankCandidate = pos === undefined ? { itemId: id, score: blended[i], reason }
        : this.candidateAt(cat, pos, blended[i], reason);
      return c;
    });
    return {
      items: rankCandidates(candidates, { ...req, exclude: this.exclusions(hist, 'search', req.rules), closed: true }),
      used: run.used,
    };
  }

  /** Replaces the catalog. Returns the new engine info. */
  async setCatalog(catalog: CatalogItem[]): Promise<EngineInfo> {
    this.assertUsable();
    const items = validateCatalog(catalog);
    if (items.length === 0) {
      throw new InvalidOptionsError('catalog is empty; pass at least one item.', { field: 'catalog' });
    }
    const next = await this.buildCatalog(items);
    if (this.disposed || this.lost !== null) {
      next.matrix?.dispose();
      this.assertUsable();
    }
    const old = this.catalog;
    this.catalog = next;
    old.matrix?.dispose();
    await this.runModel([1], next, 'home', [{ itemId: this.vocab.itemIds[1], m: 1, behaviour: 1, scene: SCENE_CODES.home }]).catch(() => undefined); // warm the new shapes
    return this.currentInfo();
  }

  private currentInfo(): EngineInfo {
    const cat = this.catalog;
    const info: EngineInfo = {
      backend: this.selection.backend,
      rejectedBackends: [...this.selection.rejected],
      modelUrl: this.modelUrl,
      modelVersion: this.header.modelVersion,
      numModelItems: this.header.config.numItems,
      catalogSize: cat.items.length,
      catalogItemsKnownToModel: cat.posOfRow.length,
      loadMs: this.loadMs,
      warmupMs: this.warmupMs,
      backendReason: this.selection.reason,
      forward: { ...this.forwardInfo },
    };
    if (this.selection.probe) info.backendProbe = this.selection.probe.map((p) => ({ ...p }));
    if (cat.matrix) {
      const m = cat.matrix.info();
      const mode = this.scoreRequest(cat).kind === 'all' ? 'all' : 'top';
      info.scoring = { ...m, mode, topCandidates: TOP_CANDIDATES, fromCache: cat.build.fromCache, buildMs: cat.build.ms };
    }
    if (this.selection.adapter) info.adapter = { ...this.selection.adapter };
    return info;
  }

  async info(): Promise<EngineInfo> {
    this.assertUsable();
    return this.currentInfo();
  }

  async listHistory(query?: HistoryQuery): Promise<StoredEvent[]> {
    this.assertUsable();
    const q = validateHistoryQuery(query);
    return this.read(() => this.store.list(q));
  }

  async exportHistory(): Promise<HistoryExport> {
    this.assertUsable();
    return this.read(() => this.store.export());
  }

  async forgetItem(itemId: string): Promise<number> {
    this.assertUsable();
    if (typeof itemId !== 'string' || itemId.length === 0) throw new InvalidRequestError('forgetItem needs a non-empty item id.', { field: 'itemId' });
    return this.write(() => this.store.forgetItem(itemId));
  }

  async clearHistory(): Promise<void> {
    this.assertUsable();
    await this.write(() => this.store.clear());
  }

  /** Releases the weights, the catalog matrix and the database connection. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.catalog?.matrix?.dispose();
    tf.dispose(Object.values(this.weights));
    // The fused path's kernel memory and item-table copy (~6 MB for Games) and the cached history are
    // plain JS: drop the references so an in-page engine frees them too, not only a terminated worker.
    this.fused = null;
    this.lastEvents = null;
    this.lastView = null;
    this.store.close();
  }

  /** True once dispose() ran. */
  get isDisposed(): boolean {
    return this.disposed;
  }
}

/**
 * Creates an engine in this realm (no worker). Used by the worker and by unit tests.
 * @throws InvalidOptionsError, StorageError, StorageBlockedError, NoBackendError, ModelLoadError
 */
export function createEngine(config: EngineConfig, hooks: EngineHooks = {}): Promise<RecommenderEngine> {
  return RecommenderEngine.create(config, hooks);
}
