/**
 * Every default of the SDK in one place. Nothing else in src/ hard-codes a default.
 */
import type { BackendName, ObjectiveWeights, SceneName } from './protocol.js';

/**
 * The model used when `modelUrl` is not given. Absolute path on the page's origin:
 * the page client resolves it against `document.baseURI` before handing it to the worker.
 */
export const DEFAULT_MODEL_URL = '/models/games-sasrec/model.json';

/** Order tried for `backend: 'auto'`. */
export const AUTO_BACKENDS: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Default and maximum list length. */
export const DEFAULT_K = 10;
export const MAX_K = 200;

/** At most this many candidates in a search rerank request. */
export const MAX_SEARCH_CANDIDATES = 5000;

/** History retention. */
export const DEFAULT_MAX_EVENTS = 1000;
export const DEFAULT_MAX_AGE_DAYS = 180;
/** Upper bounds accepted for the retention options (history is read per call). */
export const MAX_MAX_EVENTS = 100_000;
export const MAX_MAX_AGE_DAYS = 3650;

/** IndexedDB database name. */
export const DEFAULT_DB_NAME = 'scenerec';
/** How long an upgrade may stay blocked by another tab before the open fails with StorageBlockedError. */
export const DB_BLOCKED_TIMEOUT_MS = 3000;

export const DEFAULT_EXCLUDE_PURCHASED = true;
export const DEFAULT_EXCLUDE_IN_CART = true;

/** Per-scene list variety (0 = pure relevance, 1 = most varied). */
export const DEFAULT_DIVERSITY: Readonly<Record<SceneName, number>> = {
  home: 0.3,
  product: 0.1,
  cart: 0.2,
  search: 0,
};

/** Per-scene objective blend (used once the model has more than one head). */
export const DEFAULT_OBJECTIVES: Readonly<Record<SceneName, Required<ObjectiveWeights>>> = {
  home: { click: 1, cart: 0.5, purchase: 0.5 },
  product: { click: 1, cart: 0.3, purchase: 0.3 },
  cart: { click: 0.3, cart: 1, purchase: 1 },
  search: { click: 1, cart: 0.3, purchase: 0.3 },
};

/** Per-scene price awareness (0 = ignore prices, 1 = rank by expected revenue). */
export const DEFAULT_PRICE_WEIGHT: Readonly<Record<SceneName, number>> = {
  home: 0,
  product: 0,
  cart: 0,
  search: 0,
};

/** Search: 0 = shop order, 1 = personal relevance only. */
export const DEFAULT_PERSONAL_WEIGHT = 0.5;

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
 * Scoring (src/scoring.ts). Catalogs with at most FULL_SCORE_MAX_ROWS scorable rows hand every
 * row to ranking; larger ones hand the top TOP_CANDIDATES rows (at least k * DIVERSITY_POOL_FACTOR).
 * When filtering rules leave such a list to popular fill, the engine looks SHORT_LIST_RETRY_FACTOR
 * times deeper, at most SHORT_LIST_RETRIES times.
 */
export const FULL_SCORE_MAX_ROWS = 4096;
export const TOP_CANDIDATES = 500;
export const SHORT_LIST_RETRY_FACTOR = 8;
export const SHORT_LIST_RETRIES = 2;

/** Catalog embedding storage: 'auto' = float32 below AUTO_INT8_MIN_ROWS rows (src/scoring.ts), int8 from there. */
export const DEFAULT_EMBEDDING_DTYPE: 'auto' | 'float32' | 'int8' = 'auto';

/** Backend probe for 'auto' (src/backend.ts): a backend whose first probe run takes longer is given up. */
export const PROBE_FIRST_RUN_BUDGET_MS = 1500;
/** ... and a GPU backend's first probe run once wasm has a time (see selectByProbe in src/backend.ts). */
export const PROBE_GPU_BUDGET_MS = 400;
/** ... and a software GPU's (WebGPU fallback adapter, SwiftShader / llvmpipe WebGL). */
export const PROBE_SOFTWARE_GPU_BUDGET_MS = 150;
/** A probe decision is reused (IndexedDB) for this long on the same browser, skipping the probe. */
export const PROBE_CACHE_MS = 7 * 86_400_000;
/** Timed probe runs per backend (the median counts). */
export const PROBE_RUNS = 5;
/** Probe shapes (the model is not loaded yet when the backend is chosen): the bundled model's. */
export const PROBE_DIM = 64;
export const PROBE_SEQ_LEN = 50;
/** Scoring rows probed when no catalog is given (the bundled model's vocabulary). */
export const PROBE_ROWS = 23_715;
/** Home lists computed at load (forward, scoring, ranking) so the first real call is warm. */
export const WARMUP_CALLS = 3;
