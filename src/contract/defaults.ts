/**
 * Every default of the SDK in one place: the engine options and the scene requests as two typed
 * objects, then the internal limits and tuning constants. Nothing else in src/ hard-codes a default.
 */
import { SCENES, type BackendName, type ModelCacheMode, type BackendPreference, type HistoryRetention, type ObjectiveWeights, type SceneName, type ShopRules } from './protocol.js';

/** Engine options with every default filled in (catalog has none: the model vocabulary stands in). */
export interface EngineOptionDefaults {
  modelUrl: string;
  backend: BackendPreference;
  retention: Required<HistoryRetention>;
  dbName: string;
  excludePurchased: boolean;
  excludeInCart: boolean;
  embeddingDtype: 'auto' | 'float32' | 'int8';
  cacheCatalog: boolean;
  timeoutMs: number;
  stallTimeoutMs: number;
  modelCache: ModelCacheMode;
}

/**
 * The default of every engine option (`createRecommender` / `createEngine`); the accepted option
 * names derive from its keys (src/contract/options.ts), plus `catalog`.
 */
export const DEFAULT_ENGINE_OPTIONS: Readonly<EngineOptionDefaults> = Object.freeze({
  /**
   * Absolute path on the page's origin: the page client resolves it against `document.baseURI`
   * before handing it to the worker.
   */
  modelUrl: '/models/games-sasrec/model.json',
  /** Measured choice (src/engine/backend.ts). */
  backend: 'auto',
  retention: Object.freeze({ maxEvents: 1000, maxAgeDays: 180 }),
  /** IndexedDB database name. */
  dbName: 'scenerec',
  excludePurchased: true,
  excludeInCart: true,
  /** 'auto' = float32 where its exact int8 prefilter runs (CPU backends), else float32 below AUTO_INT8_MIN_ROWS rows and int8 from there (src/retrieval/matrix.ts). */
  embeddingDtype: 'auto',
  cacheCatalog: true,
  /**
   * The whole load (backend, download, catalog, warm-up). A bound on a stuck load, not a speed
   * goal: the bundled model over a slow mobile link fits well inside it.
   */
  timeoutMs: 60_000,
  /** A model download that receives no byte for this long is given up (a stalled connection). */
  stallTimeoutMs: 15_000,
  /** Manifest from the network (the cache when offline), weights and vocabulary from the cache. */
  modelCache: 'cache-first',
});

/** The fields every scene request takes, with their defaults. */
export interface CommonRequestDefaults {
  k: number;
  diversity: number;
  priceWeight: number;
  exposureDiscount: number;
  tailExposure: number;
  objectives: Required<ObjectiveWeights>;
  rules: ShopRules;
}

/** Per-scene request defaults; a scene's accepted field names derive from these keys plus its required fields. */
export interface SceneRequestDefaults {
  home: CommonRequestDefaults;
  product: CommonRequestDefaults;
  cart: CommonRequestDefaults & { substitutePenalty: number };
  search: CommonRequestDefaults & { personalWeight: number };
  recentlyViewed: CommonRequestDefaults;
  buyAgain: CommonRequestDefaults;
}

const common = (diversity: number, objectives: Required<ObjectiveWeights>, exposureDiscount: number): CommonRequestDefaults =>
  ({ k: 10, diversity, priceWeight: 0, exposureDiscount, tailExposure: 0, objectives: Object.freeze(objectives) as Required<ObjectiveWeights>, rules: Object.freeze({}) });

/**
 * The default of every scene request field. Diversity: 0 = pure relevance, 1 = most varied.
 * Objectives are used once the model has more than one head; satisfaction (the favorite head)
 * weighs in where a shopper browses (home, product), not where they are about to buy (cart) or
 * asked for something (search, the history lists), and only on a model with that head. Price weight: 0 = ignore prices,
 * 1 = rank by expected revenue. Exposure discount: 0 = impressions change nothing. Chosen by the
 * feedback-loop replay on real shopper sequences (docs/feedback.md): the product page discounts
 * what was shown and ignored, weakly, because shoppers come back to items they were shown and a
 * stronger discount there, or any on the home feed, cost hits on what they did next; the cart and buy-again lists
 * (not replayed) take the product page's value; search keeps the shop's results as they are and
 * recently viewed shows what the shopper saw on purpose. Search personal weight:
 * 0 = shop order, 1 = personal relevance only. Cart substitute penalty: see CartRequest.
 */
export const DEFAULT_REQUESTS: { readonly [S in SceneName]: Readonly<SceneRequestDefaults[S]> } = Object.freeze({
  home: common(0.3, { click: 1, cart: 0.5, purchase: 0.5, satisfaction: 0.3 }, 0),
  product: common(0.1, { click: 1, cart: 0.3, purchase: 0.3, satisfaction: 0.2 }, 0.02),
  cart: { ...common(0.2, { click: 0.3, cart: 1, purchase: 1, satisfaction: 0 }, 0.02), substitutePenalty: 0.1 },
  search: { ...common(0, { click: 1, cart: 0.3, purchase: 0.3, satisfaction: 0 }, 0), personalWeight: 0.5 },
  recentlyViewed: common(0, { click: 1, cart: 0.3, purchase: 0.3, satisfaction: 0 }, 0),
  buyAgain: common(0, { click: 0.3, cart: 0.5, purchase: 1, satisfaction: 0 }, 0.02),
});

const perScene = <T>(pick: (d: CommonRequestDefaults) => T): Readonly<Record<SceneName, T>> =>
  Object.freeze(Object.fromEntries(SCENES.map((s) => [s, pick(DEFAULT_REQUESTS[s])])) as Record<SceneName, T>);

// Views of the two objects above, for callers that want one field (declared there, not here).
export const DEFAULT_MODEL_URL = DEFAULT_ENGINE_OPTIONS.modelUrl;
export const DEFAULT_DB_NAME = DEFAULT_ENGINE_OPTIONS.dbName;
export const DEFAULT_MAX_EVENTS = DEFAULT_ENGINE_OPTIONS.retention.maxEvents;
export const DEFAULT_MAX_AGE_DAYS = DEFAULT_ENGINE_OPTIONS.retention.maxAgeDays;
export const DEFAULT_K = DEFAULT_REQUESTS.home.k;
export const DEFAULT_PERSONAL_WEIGHT = DEFAULT_REQUESTS.search.personalWeight;
/** Per-scene list variety. */
export const DEFAULT_DIVERSITY = perScene((d) => d.diversity);
/** Per-scene objective blend. */
export const DEFAULT_OBJECTIVES = perScene((d) => d.objectives);
/** Per-scene price awareness. */
export const DEFAULT_PRICE_WEIGHT = perScene((d) => d.priceWeight);
/** Per-scene exposure discount. */
export const DEFAULT_EXPOSURE_DISCOUNT = perScene((d) => d.exposureDiscount);

/**
 * Feedback (impressions and dismissals; src/ranking/feedback.ts, src/engine/store/feedback.ts).
 * An item's unanswered exposure (impressions since its last interaction) halves every
 * EXPOSURE_HALF_LIFE_MS, so a discounted item recovers when it is no longer shown.
 */
export const EXPOSURE_HALF_LIFE_MS = 2 * 86_400_000;
/** A dismissed item is left out of every list for this long (unless the shopper interacts with it again). */
export const DISMISS_HIDE_MS = 30 * 86_400_000;
/**
 * Close neighbours of a dismissed item (MMR's similarity, embedding cosine and same category, at
 * least DISMISS_NEIGHBOUR_MIN_SIMILARITY) are scored × (1 - weight × closeness), the weight fading to 0
 * over DISMISS_HIDE_MS; closeness is the similarity rescaled from the minimum (0) to 1.
 */
export const DISMISS_NEIGHBOUR_WEIGHT = 0.5;
export const DISMISS_NEIGHBOUR_MIN_SIMILARITY = 0.5;
/** Neighbours are looked up for the most recent dismissals only. */
export const DISMISS_NEIGHBOURS_MAX = 50;
/** Feedback records kept (least recently touched dropped first); records whose exposure decayed below the floor and not dismissed are dropped. */
export const FEEDBACK_MAX_ITEMS = 5000;
export const FEEDBACK_MIN_EXPOSURE = 0.05;

/** Order tried for `backend: 'auto'`. */
export const AUTO_BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Largest list length. */
export const MAX_K = 200;

/** At most this many candidates in a search rerank request. */
export const MAX_SEARCH_CANDIDATES = 5000;

/** Upper bounds accepted for the retention options (history is read per call). */
export const MAX_MAX_EVENTS = 100_000;
export const MAX_MAX_AGE_DAYS = 3650;

/**
 * Event timestamps: at most this far ahead of the device clock (clocks of the page, a server and
 * the device disagree a little; a day covers time zones done wrong, not year 3000 or 1e20).
 */
export const MAX_EVENT_CLOCK_SKEW_MS = 86_400_000;

/**
 * Event timestamps below this (1973-03-03 in milliseconds) are taken for seconds since the epoch
 * (in seconds it is the year 5138) and rejected: `Date.now()` is in milliseconds.
 */
export const MIN_EVENT_TIMESTAMP_MS = 1e11;

/** How long an upgrade may stay blocked by another tab before the open fails with StorageBlockedError. */
export const DB_BLOCKED_TIMEOUT_MS = 3000;

/**
 * The page gives the worker this long past `timeoutMs` to report its own, more precise, timeout
 * (the worker starts its clock after it has started) before it terminates it.
 */
export const LOAD_TIMEOUT_GRACE_MS = 1000;
/** Cache Storage names of model files start with this (one cache per model URL and version). */
export const MODEL_CACHE_PREFIX = 'scenerec-model:';
/** A cached model of another URL not loaded for this long is evicted. */
/**
 * 'cache-first': a cached model.json checked against the network less than this long ago is used
 * without a request; an older one is asked again (so a model replaced at the same URL reaches a
 * returning shopper within this time).
 */
export const MODEL_CACHE_REVALIDATE_MS = 24 * 3_600_000;
/**
 * A newly downloaded model is written into the cache after the load's background work and the first
 * list served (the write then does not share the machine with it), or this long after that
 * background work when no list is asked for.
 */
export const MODEL_CACHE_WRITE_WAIT_MS = 2000;
/**
 * `dispose()` lets a downloaded model's cache write (started, or waiting for the first list) finish
 * for this long at most before it returns; below the page's disposeTimeoutMs default.
 */
export const MODEL_CACHE_DISPOSE_WAIT_MS = 2000;
/**
 * The catalog's check at load starts once the model's files are being read (the cache's steps then
 * do not wait behind its slices), or after this long, however the reads go (a bad catalog's error
 * is not held up by a slow cache).
 */
export const CATALOG_CHECK_WAIT_MS = 500;

/**
 * How long the model cache's file-reading helper worker (src/model/file-store.ts) may take to say it
 * started before its reads are made by the engine's own thread (a policy that blocks it silently).
 */
export const FILE_READER_START_MS = 2000;
export const MODEL_CACHE_UNUSED_DAYS = 30;

/** How many history items a personal reason names. */
export const REASON_ITEMS = 3;

/** MMR: candidates considered are the top max(k * factor, min) by relevance. */
export const DIVERSITY_POOL_FACTOR = 5;
export const DIVERSITY_POOL_MIN = 50;
/** MMR similarity = embedding cosine * weight + same category * (1 - weight). */
export const DIVERSITY_EMBEDDING_WEIGHT = 0.7;

/** Longest item id accepted (ids are shop SKUs, not documents). */
export const MAX_ITEM_ID_LENGTH = 512;
/** Search queries are stored truncated to this many characters. */
export const MAX_QUERY_LENGTH = 500;

/**
 * Scoring (src/retrieval/). Catalogs with at most FULL_SCORE_MAX_ROWS scorable rows hand every
 * row to ranking; larger ones hand the top TOP_CANDIDATES rows (at least k * DIVERSITY_POOL_FACTOR).
 * When filtering rules leave such a list to popular fill, the engine looks SHORT_LIST_RETRY_FACTOR
 * times deeper, at most SHORT_LIST_RETRIES times.
 */
export const FULL_SCORE_MAX_ROWS = 4096;
export const TOP_CANDIDATES = 500;
export const SHORT_LIST_RETRY_FACTOR = 8;
export const SHORT_LIST_RETRIES = 2;

/** Backend probe for 'auto' (src/backend.ts): a backend whose first probe run takes longer is given up. */
export const PROBE_FIRST_RUN_BUDGET_MS = 1500;
/** ... and a GPU backend's first probe run once wasm has a time (see selectByProbe in src/backend.ts). */
export const PROBE_GPU_BUDGET_MS = 400;
/** ... and a software GPU's (WebGPU fallback adapter, SwiftShader / llvmpipe WebGL). */
export const PROBE_SOFTWARE_GPU_BUDGET_MS = 150;
/** A probe decision is reused (IndexedDB) for this long on the same browser, skipping the probe. */
export const PROBE_CACHE_MS = 7 * 86_400_000;
/**
 * After a GPU device loss, 'auto' keeps to the backend that took over for this long on this
 * browser (the verdict is stored like a probe's), then probes again with a fresh device: long
 * enough to cover the session in which the device failed, short enough not to give up a GPU for good.
 */
export const DEVICE_LOST_AVOID_MS = 3_600_000;
/**
 * Device loss (src/engine/engine.ts): how long a call that failed on a GPU backend waits for the
 * device-lost signal before its error is taken as it is, and how long a call waits for the switch
 * to the fallback backend before it rejects with DeviceLostError.
 */
export const DEVICE_LOSS_SETTLE_MS = 500;
export const FALLBACK_WAIT_MS = 30_000;
/** Timed probe runs per backend (the median counts). */
export const PROBE_RUNS = 5;
/** Probe shapes (the model is not loaded yet when the backend is chosen): the bundled model's. */
export const PROBE_DIM = 64;
export const PROBE_SEQ_LEN = 50;
/** Scoring rows probed when no catalog is given (the bundled model's vocabulary). */
export const PROBE_ROWS = 23_715;
/** Home lists computed at load (forward, scoring, ranking) so the first real call is warm. */
export const WARMUP_CALLS = 3;
/**
 * Home lists computed at load for a catalog of at least WARMUP_LARGE_MIN_ROWS rows: there each one
 * scores every row (the matrix's prefilter is built after the load), which dominates the call and
 * needs no warming, and one list already runs the rest of the first call's code.
 */
export const WARMUP_CALLS_LARGE = 1;
/** See WARMUP_CALLS_LARGE. */
export const WARMUP_LARGE_MIN_ROWS = 500_000;

/**
 * Catalog coverage (EngineInfo.coverage): below this share of catalog items with a learned vector,
 * the load (and setCatalog) reports a 'low-catalog-coverage' warning. Half: below it, most lists
 * are about items the model never learned, and a model trained on the shop's own log serves better.
 * The share of the model's items present in the catalog is not checked: a shop may sell a part of
 * the items a model was trained on, and the model still knows every one it sells.
 */
export const CATALOG_COVERAGE_MIN_LEARNED_SHARE = 0.5;
/** What the coverage warning tells the shop to run (the `scenerec` CLI, issue #15). */
export const TRAIN_HINT = 'npx scenerec train --data <your-events.csv> --items <your-catalog.csv> --out <model-dir>';

/**
 * Content affinity (src/ranking/affinity.ts): the shopper's own history on this device read by
 * category, brand and price band, for history items the model never saw.
 * - Event weights: a cart or purchase says more than a view.
 * - Recency: an event's weight halves every AFFINITY_HALF_LIFE_EVENTS newer interactions.
 * - A candidate's affinity = category share * W.category + brand share * W.brand + price closeness * W.price.
 */
export const AFFINITY_EVENT_WEIGHTS = { view: 1, click: 1, favorite: 2, cart: 3, purchase: 3 } as const;
export const AFFINITY_HALF_LIFE_EVENTS = 8;
export const AFFINITY_WEIGHTS = { category: 0.6, brand: 0.3, price: 0.1 } as const;
/** Price closeness: exp(-(ln p - ln centre)^2 / (2 * width^2)), width in natural-log units (about a factor of 2). */
export const AFFINITY_PRICE_WIDTH = 0.7;
/**
 * When the model read fewer than this many history events and the history holds more catalog items
 * the model never saw than it read, the list blends the model's relevance with the shopper's
 * affinity, weighted by the share of unseen items in the history. With 0 events read, affinity alone.
 */
export const AFFINITY_BLEND_BELOW_USED = 3;

/**
 * Worker liveness and recovery on the page (src/client/supervisor.ts). The worker is lost when a
 * ping has gone unanswered for `pingTimeoutMs` (`loadPingTimeoutMs` while it loads, a `setCatalog` is
 * pending or its engine settles after either: src/contract/protocol.ts SETTLING), or on its
 * `error`/`messageerror` event. Pings go out every `pingIntervalMs` while calls are pending and
 * every `idlePingIntervalMs` while none are (0: no idle pings). The first ping has `startTimeoutMs`
 * (the worker's script is downloaded and evaluated first).
 */
export interface LivenessOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
  loadPingTimeoutMs: number;
  startTimeoutMs: number;
  idlePingIntervalMs: number;
  /** `dispose()` waits at most this long for the worker's answer. */
  disposeTimeoutMs: number;
  /** Restart a lost worker and replay the writes in flight (needs a worker the SDK can spawn). */
  restart: boolean;
  /** Restarts allowed within `restartWindowMs`; one more loss in that window is final. */
  maxRestarts: number;
  restartWindowMs: number;
}

export const DEFAULT_LIVENESS: Readonly<LivenessOptions> = Object.freeze({
  pingIntervalMs: 250,
  pingTimeoutMs: 1000,
  /** Longer while loading: evaluating TF.js and compiling shaders hold the worker's event loop. */
  loadPingTimeoutMs: 5000,
  /** The SDK's worker script is a few KB (TF.js comes with `init`): generous for a slow network. */
  startTimeoutMs: 10_000,
  idlePingIntervalMs: 5000,
  disposeTimeoutMs: 3000,
  restart: true,
  maxRestarts: 3,
  restartWindowMs: 60_000,
});

/**
 * Applied write ids kept in IndexedDB (src/engine/store/writes.ts), the newest first: a replay of
 * a write older than the last this many is applied again. Pending writes at a worker loss are far
 * fewer.
 */
export const WRITE_IDS_KEEP = 5000;
