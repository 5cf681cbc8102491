/**
 * The wire contract: every type that crosses the page <-> worker boundary.
 * Everything here is plain, structured-clonable data (no classes, no functions
 * except the progress callback, which is passed with Comlink.proxy).
 */

/**
 * The lists a shop asks for: the four pages (home, product, cart, search) and two lists read from
 * the shopper's own history without the model (recentlyViewed, buyAgain).
 */
export type SceneName = 'home' | 'product' | 'cart' | 'search' | 'recentlyViewed' | 'buyAgain';
export const SCENES: readonly SceneName[] = ['home', 'product', 'cart', 'search', 'recentlyViewed', 'buyAgain'];

/** What a shopper did. `view` and `click` both count as a click-level signal for the model. */
export type EventType = 'view' | 'click' | 'favorite' | 'cart' | 'purchase' | 'search';
export const EVENT_TYPES: readonly EventType[] = ['view', 'click', 'favorite', 'cart', 'purchase', 'search'];

/**
 * Feedback on lists, kept apart from the history (own IndexedDB store and retention, never read by
 * the model as history): `impression` (the item was shown to the shopper in `scene`) and `dismiss`
 * (the shopper said "not interested"). See docs/feedback.md.
 */
export type FeedbackEventType = 'impression' | 'dismiss';
export const FEEDBACK_EVENT_TYPES: readonly FeedbackEventType[] = ['impression', 'dismiss'];
/** Every type `track` accepts. */
export type TrackEventType = EventType | FeedbackEventType;
export const TRACK_EVENT_TYPES: readonly TrackEventType[] = [...EVENT_TYPES, ...FEEDBACK_EVENT_TYPES];

/** An event as the page reports it. */
export interface TrackEvent {
  /**
   * What happened. `impression` and `dismiss` need `itemId`; they are stored as feedback (counts
   * per item), not as history events, and `listHistory`/`exportHistory().events` never show them.
   */
  type: TrackEventType;
  /** Shop item id. Required for every type except `search`. */
  itemId?: string;
  /** Scene the event happened in. Defaults to 'home'. */
  scene?: SceneName;
  /** Milliseconds since the epoch. Defaults to now. */
  timestamp?: number;
  /** The query text, for `search` events. */
  query?: string;
}

/** An event as stored in IndexedDB and returned by history calls. */
export interface StoredEvent {
  /** Auto-increment key, in insertion order. */
  id: number;
  type: EventType;
  itemId?: string;
  scene: SceneName;
  timestamp: number;
  query?: string;
}

export interface TrackResult {
  /** Events of this call that are stored: history events kept by the retention policy, and feedback events. */
  stored: number;
  /** Of `stored`, the impressions and dismissals (kept as feedback, not as history). */
  feedback?: number;
  /**
   * Item ids of this call the model does not know (not in its vocabulary), each once: stored, and
   * read only through their catalog entry (content features of a feature model, the shopper's
   * category / brand / price affinity), never as a learned item.
   */
  unknownItems: string[];
  /** Item ids of this call that are not in the catalog either (each once): stored, but no list can use them. */
  notInCatalog: string[];
  /** Events stored before this call that the retention policy dropped during it. */
  pruned: number;
  /**
   * Events of this call that the retention policy did not keep, so they are not stored: older
   * than `retention.maxAgeDays`, or beyond the newest `retention.maxEvents` (a replay of old logs
   * learns here how many were left out).
   */
  outsideRetention: number;
}

/** One product of the shop's catalog. Only `id` is required. */
export interface CatalogItem {
  id: string;
  title?: string;
  category?: string;
  brand?: string;
  price?: number;
  /** False hides the item from every list (out of stock). Default true. */
  available?: boolean;
  /** Free-form data the SDK carries along (image URL, ...). */
  meta?: Record<string, string | number | boolean>;
}

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
/** Backends that run on the CPU (the fused forward and the f32 scoring kernel serve them). */
export const CPU_BACKENDS: ReadonlySet<BackendName> = new Set<BackendName>(['wasm', 'cpu']);
/** True for wasm and cpu. */
export function isCpuBackend(backend: string): boolean {
  return CPU_BACKENDS.has(backend as BackendName);
}
/** 'auto' tries webgpu, then webgl, wasm, cpu. A list is tried in its order. */
export type BackendPreference = 'auto' | BackendName | readonly BackendName[];

export interface HistoryRetention {
  /** Keep at most this many events (oldest dropped first). */
  maxEvents?: number;
  /** Drop events older than this many days. */
  maxAgeDays?: number;
}

/** What the worker needs to start (the page-only options, worker and onProgress, are not here). */
export interface EngineConfig {
  /** URL of model.json. Defaults to the bundled model. */
  modelUrl?: string;
  catalog?: CatalogItem[];
  backend?: BackendPreference;
  retention?: HistoryRetention;
  /** IndexedDB database name; lets two shops on one origin keep separate histories. */
  dbName?: string;
  /** Items the shopper bought are left out of home/product lists (default true). */
  excludePurchased?: boolean;
  /** Items in the cart are left out of every list (default true). */
  excludeInCart?: boolean;
  /**
   * Storage of the catalog embedding matrix used for scoring: 'float32', or 'int8' (a quarter of the
   * memory, scored by a WebAssembly SIMD kernel; approximate lists, measured quality loss in
   * docs/benchmarks.md). Default 'auto': float32 (exact lists) on the CPU backends at any size, where
   * an int8 prefilter keeps its top-n scoring exact and faster than int8 alone (more memory: float32
   * rows plus the int8 copy); on GPU backends float32 below 200,000 scorable items, int8 from there.
   */
  embeddingDtype?: 'auto' | 'float32' | 'int8';
  /**
   * Keep the derived int8 catalog matrix in IndexedDB (keyed by model version and a hash of the
   * catalog), so the next load skips computing it. Default true; only int8 matrices are cached.
   */
  cacheCatalog?: boolean;
  /**
   * Where the TF.js wasm binaries are served, when not next to the SDK's worker (where your bundler
   * emits them): a folder URL ending in '/' (e.g. '/static/scenerec/'), or a URL per file name
   * ('tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'). The wasm backend always runs its
   * single-threaded build, also on cross-origin-isolated pages (docs/install.md).
   * Relative URLs are resolved against the page.
   */
  wasmPaths?: string | Partial<Record<WasmFileName, string>>;
  /**
   * Bound on the whole load, ms (default 60,000): past it the load fails with a ModelLoadError
   * naming the URL and the bytes received, and `createRecommender` terminates its worker. `Infinity`: no bound.
   */
  timeoutMs?: number;
  /** A model download that receives no data for this long fails with ModelLoadError (default 15,000 ms). */
  stallTimeoutMs?: number;
  /**
   * Model files kept in Cache Storage, one copy per model version (see ModelCacheMode). Default
   * 'cache-first'. A cache that fails (quota, private mode) never fails the load.
   */
  modelCache?: ModelCacheMode;
}

/**
 * How model files are cached between visits (Cache Storage, one cache per model URL and version;
 * other versions of the URL are evicted when a new one is stored):
 * - 'cache-first' (default): a returning visit loads the cached version with no request at all
 *   (it works offline) while model.json was confirmed by the network less than a day ago
 *   (MODEL_CACHE_REVALIDATE_MS); after that, model.json is asked again, and a new version is
 *   downloaded. A model replaced at the same URL so reaches returning shoppers within a day; put the
 *   version in `modelUrl` (or call `clearModelCache()`) to switch at once.
 * - 'network-first': model.json is asked from the network each load (it names the version); the
 *   weights and vocabulary of a cached version are read from the cache without a request. When
 *   model.json cannot be fetched (offline), the cached copy is used.
 * - 'off': every file from the network (the HTTP cache still applies).
 */
export type ModelCacheMode = 'network-first' | 'cache-first' | 'off';

/** What the model cache did for this load (`EngineInfo.modelCache`). */
export interface ModelCacheInfo {
  mode: ModelCacheMode;
  /** True when the weights and vocabulary were read from the cache. */
  hit: boolean;
  /** Where model.json came from. */
  manifest: 'network' | 'cache';
  /** True when this load stored the model in the cache. */
  stored: boolean;
  /**
   * True while the copy of a newly downloaded model is still being written into the cache: the
   * write starts once the engine is ready, its background work done and the first list served (it is for the next visit), and `stored` and `error` say
   * how it went once this is gone (read `info()` again).
   */
  storing?: boolean;
  /** Why the cache was not used (unavailable, quota, ...); the load went on from the network. */
  error?: string;
}

/**
 * How the shopper's history is kept: 'indexeddb' (persisted); 'read-only' (the stored history is
 * read and recommended from, but the storage quota was exceeded at load, so `track` rejects with
 * QuotaExceededError and stores nothing); 'memory' (IndexedDB is missing or failed to open: the
 * history lives in the worker's memory for this session only).
 */
export type StorageMode = 'indexeddb' | 'read-only' | 'memory';

/** The TF.js wasm binaries the SDK uses (shipped next to dist/worker.js); the threaded build is never used. */
export const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'] as const;
export type WasmFileName = typeof WASM_FILES[number];

/**
 * Loading progress, reported through the onProgress callback. 'storage' comes first, and only when
 * the history storage is degraded ('read-only' or 'memory'): the warning, with why.
 */
export type LoadProgress =
  | { stage: 'storage'; storage: Exclude<StorageMode, 'indexeddb'>; reason: string }
  /** Model files received so far (bytes of the weights and vocabulary, from the network or the cache). */
  | { stage: 'download'; loadedFraction: number; loadedBytes: number; totalBytes: number }
  | { stage: 'backend'; backend: BackendName; status: 'trying' | 'ready' | 'failed'; detail?: string }
  | { stage: 'model'; numItems: number; weightBytes: number }
  | { stage: 'warmup'; ms?: number }
  /** Something the shop should act on (a catalog the model barely knows); also in EngineInfo.warnings. */
  | { stage: 'warning'; warning: EngineWarning }
  | { stage: 'ready'; info: EngineInfo };

/**
 * How much of the catalog the model can score (EngineInfo.coverage). Every catalog item is in
 * exactly one of `learned`, `contentOnly`, `unscored`.
 */
export interface CatalogCoverage {
  /** Catalog items with a learned vector (in the model's vocabulary). */
  learned: number;
  /**
   * Catalog items the model never saw but scores from their content: feature models only, items
   * whose category or brand the model knows (a price bucket alone does not count: every priced item has one).
   */
  contentOnly: number;
  /**
   * Catalog items the model can score neither way. Lists reach them through the shopper's own
   * category / brand / price affinity (reason 'affinity'), the product page's category, or fill.
   */
  unscored: number;
  /** learned / catalog size. */
  learnedShare: number;
  /** Model items that are in the catalog (a catalog may well be a part of the model's items). */
  modelItemsInCatalog: number;
}

/** A typed warning of the load or of setCatalog (EngineInfo.warnings, the 'warning' progress stage, EngineHooks.onWarning). */
export interface EngineWarning {
  /**
   * 'low-catalog-coverage': fewer than CATALOG_COVERAGE_MIN_LEARNED_SHARE of the catalog items have a
   * learned vector; lists for those items follow only the shopper's own category / brand / price history.
   */
  code: 'low-catalog-coverage';
  /** What happened and what to do. */
  message: string;
  details: { catalogSize: number; learned: number; contentOnly: number; unscored: number; threshold: number };
}

export interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** One backend's result in the load-time probe of `backend: 'auto'`. */
export interface BackendProbe {
  backend: BackendName;
  /** Median time of one probe run (a forward-shaped op chain plus the scoring matMul, read back), ms. */
  ms?: number;
  /** First probe run (includes shader compilation on GPU backends), ms. */
  firstMs?: number;
  /** Why this backend has no time (did not start, gave up, failed). */
  error?: string;
}

/**
 * The transformer forward of a recommend call: 'fused' (CPU backends: weights read once, typed-array
 * loops plus a WebAssembly SIMD dense kernel, only what the last position needs) or 'tfjs' (the
 * TF.js ops of src/model/sasrec.ts: GPU backends, or when the fused path is unavailable or failed
 * its load-time comparison with TF.js).
 */
export interface ForwardInfo {
  path: 'fused' | 'tfjs';
  /** Fused path: 'wasm-simd' or 'js' (no WebAssembly SIMD here). */
  kernel?: 'wasm-simd' | 'js';
  /** Why this path, e.g. "fused: self-check against TF.js at load, max abs diff 2.4e-7". */
  reason: string;
  /** Largest absolute difference from the TF.js forward in the load-time self-check. */
  selfCheckMaxAbsDiff?: number;
}

/** The catalog embedding matrix as the engine holds it. */
export interface ScoringInfo {
  dtype: 'float32' | 'int8';
  /** Scorable rows (catalog items the model has a vector for). */
  rows: number;
  dim: number;
  /** Bytes held for the matrix (device tensor and JS copies). */
  bytes: number;
  /**
   * True when the matrix's float32 rows are the model's item table itself, scored in place (CPU
   * backends, a catalog of the model's items in order): `bytes` counts them, and no other copy of the
   * item table is held (the fused forward reads the same memory; no TF.js tensor of it).
   */
  rowsShared?: boolean;
  /** Rows per scoring chunk. */
  chunkRows: number;
  /** int8: whether the WebAssembly SIMD kernel runs (false: plain JS). */
  simd?: boolean;
  /** float32: scored by TF.js matMul ('tfjs', GPU backends) or the blocked float32 kernel (CPU backends). */
  kernel?: 'tfjs' | 'f32-simd' | 'f32-simd+i8-prefilter' | 'f32-simd+u4-prefilter' | 'f32-js';
  /**
   * 'f32-simd+i8-prefilter', 'f32-simd+u4-prefilter': whether its int8 / 4-bit prefilter is built yet (it is built in the background
   * after the engine is ready; until then top-n requests take the full float32 pass, same lists).
   */
  prefilterReady?: boolean;
  /** Every row goes to ranking ('all'), or the top `topCandidates` rows ('top'). */
  mode: 'all' | 'top';
  topCandidates: number;
  /** The int8 matrix came from the IndexedDB cache. */
  fromCache: boolean;
  /** Time to build (or read from the cache) the matrix at load, ms. */
  buildMs: number;
}

/**
 * A switch of backend after the GPU device was lost (EngineInfo.fallbacks). The history is kept;
 * the model and catalog are rebuilt on `to`.
 */
export interface BackendFallback {
  /** The backend whose device was lost. */
  from: BackendName;
  /** The backend that took over; absent while the switch runs and when none could start (`error`). */
  to?: BackendName;
  /** The device-lost reason and message the browser gave. */
  reason: string;
  /** When the loss was noticed, epoch ms. */
  at: number;
  /** Time from the loss until `to` served calls (or the switch failed), ms. */
  ms?: number;
  /** Why no backend could take over; recommend and setCatalog then reject with DeviceLostError. */
  error?: string;
}

export interface EngineInfo {
  /** The backend serving calls now (after a device loss: the one that took over, see `fallbacks`). */
  backend: BackendName;
  /** Backend switches after GPU device losses, oldest first; absent when none happened. */
  fallbacks?: BackendFallback[];
  /** How the history is kept (see StorageMode). Anything but 'indexeddb' is degraded: see `storageReason`. */
  storage: StorageMode;
  /** Why `storage` is not 'indexeddb'. */
  storageReason?: string;
  /**
   * Why this backend: for 'auto', the probe's verdict (e.g. "wasm: fastest in the probe, 1.9 ms vs
   * webgpu 41 ms (software adapter)"); else "chosen by name" / "first of the list that started".
   */
  backendReason?: string;
  /** 'auto' only: the probe's timing per backend that started. */
  backendProbe?: BackendProbe[];
  /** The catalog embedding matrix. */
  scoring?: ScoringInfo;
  /** How the transformer forward runs (src/model/fused.ts). */
  forward?: ForwardInfo;
  /** WebGPU adapter, when the backend is webgpu. */
  adapter?: AdapterInfo;
  /** Backends tried before the chosen one, with why they failed. */
  rejectedBackends: Array<{ backend: BackendName; reason: string }>;
  modelUrl: string;
  modelVersion: string;
  numModelItems: number;
  catalogSize: number;
  /**
   * Catalog items the model has a learned vector for (in its vocabulary); items scored from their
   * content only are in `coverage.contentOnly`, not here.
   */
  catalogItemsKnownToModel: number;
  /** How much of the catalog the model can score, item by item. */
  coverage: CatalogCoverage;
  /**
   * The objectives this model has a head for, in blend order: the weights of `ObjectiveWeights`
   * that count. A request's weight for any other objective is ignored (never an error): a 3-head
   * multi-task model lists click, cart, purchase and ignores `satisfaction`; a single-objective model
   * lists only click and ranks by its one score whatever the weights.
   */
  objectives: ObjectiveName[];
  /** Warnings of the load or the last setCatalog (a catalog the model barely knows); absent when none. */
  warnings?: EngineWarning[];
  loadMs: number;
  warmupMs: number;
  /** What the model cache did for this load. */
  modelCache?: ModelCacheInfo;
}

/**
 * Relative weight of each objective in a scene's blend (each head min-max normalised, then averaged
 * with these weights). A weight counts only where the model has the objective's head
 * (`EngineInfo.objectives`); the weights of objectives it lacks are ignored, and when no weight is
 * left the list ranks by the click head. Single-objective models use the blend only for ordering fallbacks.
 */
export interface ObjectiveWeights {
  /** The next click (or view). */
  click?: number;
  /** The next add-to-cart. */
  cart?: number;
  /** The next purchase (also what `priceWeight` multiplies by price). */
  purchase?: number;
  /**
   * Satisfaction: the shopper would save the item (the model's `favorite` head, trained on favourite
   * events). Only multi-task models trained with that head serve it (format version 2); on a model
   * without it this weight is ignored, never an error, and `EngineInfo.objectives` lacks it.
   */
  satisfaction?: number;
}

/** Every objective a request may weigh, in blend order. */
export type ObjectiveName = keyof ObjectiveWeights;
export const OBJECTIVES: readonly ObjectiveName[] = ['click', 'cart', 'purchase', 'satisfaction'];

/** A condition on item metadata. */
export interface ItemFilter {
  category?: string[];
  brand?: string[];
  itemIds?: string[];
  minPrice?: number;
  maxPrice?: number;
}

/** Shop rules applied after scoring. */
export interface ShopRules {
  /** Keep only items matching this. */
  include?: ItemFilter;
  /** Drop items matching this. */
  exclude?: ItemFilter;
  /** Multiply the score of matching items (applied to the normalised score, >1 raises). */
  boost?: Array<{ filter: ItemFilter; factor: number }>;
  /** Put these items at the top, in this order (if available). */
  pin?: string[];
  /** Show unavailable items too (default false). */
  includeUnavailable?: boolean;
  /** When the rules leave fewer than k items, fill with popular items that pass the rules (default true). */
  fallbackToPopular?: boolean;
  /**
   * Leave out items the shopper bought, for this request. Default: the engine option
   * `excludePurchased` (true), which applies to home and product lists; `true` here applies to any scene.
   */
  excludePurchased?: boolean;
  /** Leave out items in the shopper's cart, for this request. Default: the engine option `excludeInCart` (true). */
  excludeInCart?: boolean;
}

/** Options every scene accepts. */
export interface CommonRequest {
  /** How many items to return. Default 10, at most 200. */
  k?: number;
  objectives?: ObjectiveWeights;
  /**
   * 0 = pure relevance, 1 = most varied. Default per scene. Variety counts both the model's item
   * embeddings (items the model sees as alike) and the catalog category.
   */
  diversity?: number;
  /**
   * Price awareness, 0..1. 0 (default) ignores prices; 1 ranks by expected revenue: purchase relevance
   * × price. In between: relevance^(1-w) × (purchase relevance × price)^w. Items without a price count
   * at the median price of the list.
   */
  priceWeight?: number;
  /**
   * Exposure discount, 0..1 (default per scene: DEFAULT_REQUESTS). An item reported by
   * `track({ type: 'impression' })` again and again without an interaction (view, click, favourite,
   * cart or purchase of it after the impression resets the count) loses score:
   * score × 1 / (1 + exposureDiscount × unanswered impressions), the count halving every
   * EXPOSURE_HALF_LIFE_MS. 0 = impressions change nothing.
   */
  exposureDiscount?: number;
  /**
   * Long-tail exposure, 0..1 (default 0): scores × (1 - tailExposure × popularity), popularity the
   * catalog's log-scaled interaction count in [0, 1], so less popular items gain ground. Measured
   * trade-off (NDCG@10 against tail share and coverage): docs/feedback.md.
   */
  tailExposure?: number;
  rules?: ShopRules;
}

export interface HomeRequest extends CommonRequest {}
export interface ProductRequest extends CommonRequest {
  /** The item whose page is shown. */
  itemId: string;
}
export interface CartRequest extends CommonRequest {
  /** Item ids in the cart. Defaults to the cart built from tracked cart/purchase events. */
  cart?: string[];
  /**
   * Substitute push-down, 0..1 (default DEFAULT_REQUESTS.cart.substitutePenalty): items of a category
   * already in the cart are scored × (1 - substitutePenalty), so the list shows what goes with the
   * cart rather than more of what it holds. 0 = off; 1 = such items only fill the list when nothing
   * else is left. Measured in docs/feedback.md.
   */
  substitutePenalty?: number;
}
/**
 * The shopper's recently viewed items (view and click events), distinct, newest first, read from
 * the history (no model). Rules, exclusions and dismissals apply; no popular fill (the list may be
 * shorter than k).
 */
export interface RecentlyViewedRequest extends CommonRequest {}
/**
 * Items the shopper bought that are worth buying again: items bought more than once, and items bought
 * once in a category the shopper buys repeatedly (evidence from the shopper's own history: the model
 * artifacts carry no repeat-purchase statistics). Not every past purchase. Ordered by how often, then
 * how recently; rules, exclusions and dismissals apply; no popular fill (may be shorter than k).
 */
export interface BuyAgainRequest extends CommonRequest {}
export interface SearchRequest extends CommonRequest {
  query?: string;
  /**
   * The shop search's results, best first. The list is closed: the answer is a subset of these,
   * reordered, and never anything else (no popular fill, no pins from outside). A candidate that
   * is not in the catalog is kept at its shop position (reason 'fallback'; the shop's search may be
   * newer than the catalog it gave the SDK), unless a rule needs metadata it lacks (include by
   * category, brand or price drops it).
   */
  candidates: string[];
  /** 0 = keep the shop's order, 1 = order by personal relevance alone. Default 0.5. */
  personalWeight?: number;
}

export interface SceneRequestMap {
  home: HomeRequest;
  product: ProductRequest;
  cart: CartRequest;
  search: SearchRequest;
  recentlyViewed: RecentlyViewedRequest;
  buyAgain: BuyAgainRequest;
}
export type AnySceneRequest = SceneRequestMap[SceneName];

/** Why an item is in the list. */
export type RankReason =
  | { kind: 'personal'; becauseOf: string[] }
  | { kind: 'similar'; to: string }
  | { kind: 'complement'; to: string[] }
  | { kind: 'search'; shopRank: number; becauseOf: string[] }
  | { kind: 'popular' }
  /**
   * The shopper's own history on this device, by content: items of the categories, brands and price
   * band the shopper viewed (recent events weigh more). Used when the model cannot read the
   * history (items it never saw). `becauseOf`: the history items that share what matched.
   */
  | { kind: 'affinity'; category?: string; brand?: string; becauseOf: string[]; detail: string }
  | { kind: 'pinned' }
  /** recentlyViewed: last viewed at `at` (ms since the epoch), `views` view/click events in the history. */
  | { kind: 'viewed'; at: number; views: number }
  /**
   * buyAgain: bought `times` times, last at `lastAt`; `categoryTimes`: purchases in its category
   * (when the item qualifies by its category's repeat purchases).
   */
  | { kind: 'boughtBefore'; times: number; lastAt: number; category?: string; categoryTimes?: number }
  | { kind: 'fallback'; detail: string };

export interface RecommendedItem {
  itemId: string;
  score: number;
  /** 0-based position in the list. */
  rank: number;
  reason: RankReason;
  /** Product of the shop's boost factors that matched this item, when it is not 1. */
  boost?: number;
  /**
   * The factor feedback applied to this item's score, when it is not 1: the exposure discount
   * (shown without an interaction), a dismissed close neighbour, the cart's substitute push-down.
   */
  discount?: number;
  /** The catalog entry, when the item is in the catalog. */
  item?: CatalogItem;
}

export interface RecommendResult {
  scene: SceneName;
  items: RecommendedItem[];
  backend: BackendName;
  modelVersion: string;
  /** Time spent inside the engine for this call. */
  latencyMs: number;
  /** History events the model read for this call (recentlyViewed, buyAgain: the history items the list was read from). */
  historyUsed: number;
}

export interface HistoryQuery {
  limit?: number;
  /** Newest first when true (default). */
  newestFirst?: boolean;
}

/** What the SDK keeps about one item's feedback (impressions and dismissal), in the `feedback` store. */
export interface FeedbackRecord {
  itemId: string;
  /** Impressions since the last interaction with the item, decayed, as of `shownAt`. */
  exposure: number;
  /** Impressions reported in all (for the shopper's export; not used for ranking). */
  impressions: number;
  /** Last impression (ms since the epoch), 0 when none. */
  shownAt: number;
  /** Last dismissal, when dismissed. */
  dismissedAt?: number;
  /** Latest of shownAt and dismissedAt: retention drops the least recently touched first. */
  touchedAt: number;
}

export interface HistoryExport {
  format: 'scenerec-history';
  version: 1;
  exportedAt: number;
  events: StoredEvent[];
  /** The feedback kept per item (impressions, dismissals). */
  feedback?: FeedbackRecord[];
}

/**
 * The recommender's API: what the engine implements, the worker exposes and the page's
 * `Recommender` offers (typed from this interface through Comlink.Remote; see src/client/).
 */
export interface RecommenderApi {
  track(events: TrackEvent | TrackEvent[]): Promise<TrackResult>;
  recommend<S extends SceneName>(scene: S, request: SceneRequestMap[S]): Promise<RecommendResult>;
  setCatalog(catalog: CatalogItem[]): Promise<EngineInfo>;
  info(): Promise<EngineInfo>;
  listHistory(query?: HistoryQuery): Promise<StoredEvent[]>;
  exportHistory(): Promise<HistoryExport>;
  /** Removes every event about this item. Returns how many were removed. */
  forgetItem(itemId: string): Promise<number>;
  clearHistory(): Promise<void>;
  /** Releases tensors, the backend and the database connection. */
  dispose(): Promise<void>;
}

/**
 * The methods the worker forwards to the engine and the page forwards to the worker unchanged
 * (every method but `dispose`, which each side ends in its own way). Checked against
 * RecommenderApi at compile time, so a method added there must be added here.
 */
export const FORWARDED_METHODS = [
  'track', 'recommend', 'setCatalog', 'info', 'listHistory', 'exportHistory', 'forgetItem', 'clearHistory',
] as const satisfies ReadonlyArray<keyof RecommenderApi>;
export type ForwardedMethod = (typeof FORWARDED_METHODS)[number];
// Compile-time exhaustiveness: every method of RecommenderApi is forwarded or is dispose.
const forwardedCoversApi: Exclude<keyof RecommenderApi, ForwardedMethod | 'dispose'> extends never ? true : never = true;
void forwardedCoversApi;

/**
 * The forwarded methods that change the stored history. The page sends each with a write id
 * (`WorkerApi.applyWrite`), and the store records the ids it applied in the write's own
 * transaction, so the page can replay a write whose answer a lost worker never sent.
 */
export const HISTORY_WRITES = ['track', 'forgetItem', 'clearHistory'] as const satisfies ReadonlyArray<ForwardedMethod>;
export type HistoryWrite = (typeof HISTORY_WRITES)[number];

/** A serialised error, as it crosses the worker boundary. */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Messages outside Comlink, on the worker's own port: liveness pings and the direct hot calls.
// None carries Comlink's `id` or `type` fields, so Comlink on either side ignores them.

/**
 * The liveness ping (src/client/supervisor.ts): the page posts `{ [PING]: n }`, the worker answers
 * `{ [PONG]: n, [DIRECT]: DIRECT_VERSION }` from its event loop; the `DIRECT` field says it serves
 * direct calls (below), so the page uses them only with a worker that answers them.
 */
export const PING = 'scenerecPing';
export const PONG = 'scenerecPong';
/**
 * Set (true) in a pong while the engine finishes work that follows its load or a catalog change
 * (the prefilter's build, the model's cache write: RecommenderEngine.settling); the page then gives
 * the worker the loading ping deadline, as such work may hold the worker's thread for a while.
 */
export const SETTLING = 'scenerecSettling';
export const DIRECT = 'scenerecDirect';
/** Version of the direct-call messages; a page uses them only when the worker's pong names this one. */
export const DIRECT_VERSION = 1;

/**
 * The hot calls, sent as one structured-clone message each way instead of Comlink's proxy
 * messages: `{ [DIRECT]: n, method, args }` -> `{ [DIRECT_REPLY]: n, value }` or
 * `{ [DIRECT_REPLY]: n, error }`, `n` the page's call id. Every other method goes through Comlink.
 */
export const DIRECT_METHODS = ['recommend'] as const satisfies ReadonlyArray<ForwardedMethod>;
export type DirectMethod = (typeof DIRECT_METHODS)[number];
export const DIRECT_REPLY = 'scenerecDirectReply';

/** A direct call, page -> worker. */
export interface DirectCall<M extends DirectMethod = DirectMethod> {
  [DIRECT]: number;
  method: M;
  args: Parameters<RecommenderApi[M]>;
}

/** Its answer, worker -> page: the method's resolved value, or its error as SerializedError (name and code kept). */
export type DirectReply<M extends DirectMethod = DirectMethod> =
  | { [DIRECT_REPLY]: number; value: Awaited<ReturnType<RecommenderApi[M]>> }
  | { [DIRECT_REPLY]: number; error: SerializedError };
