/**
 * Validation and defaults for everything a caller hands in: engine options, tracked
 * events and scene requests. Every function here is pure and throws a typed error
 * whose message says what is wrong and what to do.
 */
import type { CatalogItems } from './catalog-wire.js';
import {
  AUTO_BACKENDS, DEFAULT_ENGINE_OPTIONS, DEFAULT_REQUESTS, MAX_EVENT_CLOCK_SKEW_MS, MAX_ITEM_ID_LENGTH, MAX_K, MAX_MAX_AGE_DAYS,
  MAX_MAX_EVENTS, MAX_QUERY_LENGTH, MAX_SEARCH_CANDIDATES, MIN_EVENT_TIMESTAMP_MS,
} from './defaults.js';
import {
  InvalidEventError, InvalidOptionsError, InvalidRequestError, UnknownSceneError, type ScenerecError,
} from './errors.js';
import {
  BACKENDS, FEEDBACK_EVENT_TYPES, OBJECTIVES, SCENES, TRACK_EVENT_TYPES, WASM_FILES, type WasmFileName,
  type BackendName, type CatalogItem, type EngineConfig, type EventType, type FeedbackEventType, type ItemFilter, type ModelCacheMode,
  type ObjectiveWeights, type SceneName, type ShopRules, type StoredEvent,
} from './protocol.js';
import { yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';
import { IdIndex } from '../util/id-index.js';

// ---------------------------------------------------------------------------------------------
// helpers

type ErrorClass = new (message: string, details?: Record<string, unknown>) => ScenerecError;

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** Throws for keys not in `allowed`, suggesting the closest allowed key (catches `modelURL`, `limit`...). */
function rejectUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string, Err: ErrorClass): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key) || obj[key] === undefined) continue;
    const close = allowed.find((a) => a.toLowerCase() === key.toLowerCase())
      ?? allowed.find((a) => editDistance(a.toLowerCase(), key.toLowerCase()) <= 2);
    const hint = close ? ` Did you mean "${close}"?` : ` Allowed: ${allowed.join(', ')}.`;
    throw new Err(`${where} has an unknown field "${key}".${hint}`, { field: `${where}.${key}` });
  }
}

function checkString(value: unknown, where: string, Err: ErrorClass, maxLength = MAX_ITEM_ID_LENGTH): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new Err(`${where} must be a non-empty string (got ${describe(value)}).` +
      (typeof value === 'number' ? ' Convert numeric ids with String(id).' : ''), { field: where });
  }
  if (value.length > maxLength) throw new Err(`${where} is longer than ${maxLength} characters.`, { field: where });
  return value;
}

function checkStringList(value: unknown, where: string, Err: ErrorClass, maxItems = Infinity): string[] {
  if (!Array.isArray(value)) throw new Err(`${where} must be an array of strings (got ${describe(value)}).`, { field: where });
  if (value.length > maxItems) throw new Err(`${where} has ${value.length} entries; at most ${maxItems} are allowed.`, { field: where });
  return value.map((v, i) => checkString(v, `${where}[${i}]`, Err));
}

function checkNumber(
  value: unknown, where: string, Err: ErrorClass,
  { min = -Infinity, max = Infinity, integer = false }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value))
    && value >= min && value <= max;
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    const range = min > -Infinity && max < Infinity ? ` from ${min} to ${max}` : min > -Infinity ? ` >= ${min}` : '';
    throw new Err(`${where} must be ${kind}${range} (got ${describe(value)}).`, { field: where });
  }
  return value as number;
}

function checkBoolean(value: unknown, where: string, Err: ErrorClass): boolean {
  if (typeof value !== 'boolean') throw new Err(`${where} must be true or false (got ${describe(value)}).`, { field: where });
  return value;
}

// ---------------------------------------------------------------------------------------------
// scenes

/** Returns the scene name or throws UnknownSceneError. */
export function assertScene(name: unknown): SceneName {
  if (typeof name === 'string' && (SCENES as readonly string[]).includes(name)) return name as SceneName;
  throw new UnknownSceneError(`Unknown scene ${describe(name)}: use one of ${SCENES.join(', ')}.`, { scene: name });
}

// ---------------------------------------------------------------------------------------------
// engine options

/** EngineConfig with every default filled in. */
export interface ResolvedEngineConfig {
  /** As given (or the default); the engine resolves it against its location. */
  modelUrl: string;
  /** As given (an array), or as the worker unpacked it (src/contract/catalog-wire.ts PackedItems). */
  catalog?: CatalogItem[] | CatalogItems;
  /** Backends to try, in order. */
  backends: BackendName[];
  /** True for backend 'auto' (or unset): software-emulated GPU backends are then skipped. */
  autoBackend: boolean;
  retention: { maxEvents: number; maxAgeDays: number };
  dbName: string;
  excludePurchased: boolean;
  excludeInCart: boolean;
  /** Storage of the catalog embedding matrix (src/retrieval/matrix.ts). */
  embeddingDtype: 'auto' | 'float32' | 'int8';
  /** Keep the derived int8 catalog matrix in IndexedDB between loads. */
  cacheCatalog: boolean;
  /** Bound on the whole load, ms (Infinity: none). */
  timeoutMs: number;
  /** A download with no data for this long fails, ms. */
  stallTimeoutMs: number;
  modelCache: ModelCacheMode;
  /** As given: a folder URL or a URL per wasm file (undefined: next to the worker). */
  wasmPaths?: string | Partial<Record<WasmFileName, string>>;
}

/** Every engine option: those with a default, and the catalog. */
const ENGINE_KEYS: readonly string[] = [...Object.keys(DEFAULT_ENGINE_OPTIONS), 'catalog', 'wasmPaths'];
const D = DEFAULT_ENGINE_OPTIONS;
const EMBEDDING_DTYPES = ['auto', 'float32', 'int8'] as const;
const MODEL_CACHE_MODES: readonly ModelCacheMode[] = ['network-first', 'cache-first', 'off'];

function checkModelCache(v: unknown): ModelCacheMode {
  if (typeof v === 'string' && (MODEL_CACHE_MODES as readonly string[]).includes(v)) return v as ModelCacheMode;
  throw new InvalidOptionsError(`options.modelCache must be one of ${MODEL_CACHE_MODES.join(', ')} (got ${describe(v)}).`, { field: 'options.modelCache' });
}

/** A duration in ms: positive, Infinity allowed (no bound). */
function checkDuration(v: unknown, where: string): number {
  if (v === Infinity) return v;
  return checkNumber(v, where, InvalidOptionsError, { min: 1 });
}

function checkEmbeddingDtype(v: unknown): ResolvedEngineConfig['embeddingDtype'] {
  if (typeof v === 'string' && (EMBEDDING_DTYPES as readonly string[]).includes(v)) return v as ResolvedEngineConfig['embeddingDtype'];
  throw new InvalidOptionsError(`options.embeddingDtype must be one of ${EMBEDDING_DTYPES.join(', ')} (got ${describe(v)}).`, { field: 'options.embeddingDtype' });
}

/** A folder URL ending in '/', or an object of known wasm file names to URLs. */
function checkWasmPaths(v: unknown): string | Partial<Record<WasmFileName, string>> {
  const E = InvalidOptionsError;
  if (typeof v === 'string') {
    const s = checkString(v, 'options.wasmPaths', E, 4096);
    if (!s.endsWith('/')) throw new E(`options.wasmPaths must be a folder URL ending in '/' (got ${describe(v)}), or an object of file URLs.`, { field: 'options.wasmPaths' });
    return s;
  }
  if (!isPlainObject(v)) throw new E(`options.wasmPaths must be a folder URL ending in '/' or an object like { 'tfjs-backend-wasm-simd.wasm': '/wasm/simd.wasm' } (got ${describe(v)}).`, { field: 'options.wasmPaths' });
  rejectUnknownKeys(v, WASM_FILES, 'options.wasmPaths', E);
  const out: Partial<Record<WasmFileName, string>> = {};
  for (const [k, url] of Object.entries(v)) out[k as WasmFileName] = checkString(url, `options.wasmPaths['${k}']`, E, 4096);
  return out;
}

/** Parses a BackendPreference into the ordered list of backends to try. */
export function resolveBackends(pref: unknown): BackendName[] {
  const fail = () => new InvalidOptionsError(
    `backend must be 'auto', one of ${BACKENDS.join(', ')}, or a non-empty list of them (got ${describe(pref)}).`,
    { field: 'backend' });
  if (pref === undefined || pref === 'auto') return [...AUTO_BACKENDS];
  if (typeof pref === 'string') {
    if (!(BACKENDS as readonly string[]).includes(pref)) throw fail();
    return [pref as BackendName];
  }
  if (!Array.isArray(pref) || pref.length === 0) throw fail();
  const out: BackendName[] = [];
  for (const b of pref) {
    if (typeof b !== 'string' || !(BACKENDS as readonly string[]).includes(b)) throw fail();
    if (!out.includes(b as BackendName)) out.push(b as BackendName);
  }
  return out;
}

/** The id -> position map validateCatalog built for the copy it returned (the engine's catalog reuses it). */
const positionsOfValidated = new WeakMap<object, ReadonlyMap<string, number>>();

/**
 * Item id -> position of a catalog that `validateCatalog` returned, or undefined for any other
 * array. Building a map of a million ids costs about as much as the rest of the catalog's set-up,
 * so the check's map is kept instead of building a second.
 */
export function validatedPositions(items: object): ReadonlyMap<string, number> | undefined {
  return positionsOfValidated.get(items);
}

/** Checks a catalog: an array of items with unique, non-empty string ids. Returns a shallow copy (see validatedPositions), or `catalog` itself when it is such a copy. */
export function validateCatalog(catalog: unknown, where = 'catalog'): CatalogItem[] {
  if (isValidatedCopy(catalog)) return catalog;
  const check = catalogChecker(catalog, where);
  check(0, (catalog as unknown[]).length);
  return validatedCopy(catalog as CatalogItem[], check.seen);
}

/**
 * `validateCatalog` in slices of YIELD_EVERY_ITEMS items, letting the event loop run between them:
 * checking a million items takes long enough that a worker would miss its liveness pings.
 */
export async function validateCatalogInSlices(catalog: unknown, where = 'catalog'): Promise<CatalogItem[]> {
  if (isValidatedCopy(catalog)) return catalog;
  const check = catalogChecker(catalog, where);
  const n = (catalog as unknown[]).length;
  for (let i = 0; i < n; i += YIELD_EVERY_ITEMS) {
    if (i > 0) await yieldToEventLoop();
    check(i, Math.min(n, i + YIELD_EVERY_ITEMS));
  }
  return validatedCopy(catalog as CatalogItem[], check.seen);
}

const isValidatedCopy = (catalog: unknown): catalog is CatalogItem[] => Array.isArray(catalog) && positionsOfValidated.has(catalog);

function validatedCopy(catalog: CatalogItem[], seen: ReadonlyMap<string, number>): CatalogItem[] {
  const copy = [...catalog];
  positionsOfValidated.set(copy, seen);
  return copy;
}

/** Throws the InvalidOptionsError that says what is wrong with catalog item `i` (one that failed `validCatalogItem`). */
export function explainCatalogItem(item: unknown, i: number, where: string): never {
  const E = InvalidOptionsError;
  const at = `${where}[${i}]`;
  if (!isPlainObject(item)) throw new E(`${at} must be an object with an id (got ${describe(item)}).`, { field: at });
  checkString(item.id, `${at}.id`, E);
  for (const key of ['title', 'category', 'brand'] as const) {
    if (item[key] !== undefined && typeof item[key] !== 'string') throw new E(`${at}.${key} must be a string (got ${describe(item[key])}).`, { field: `${at}.${key}` });
  }
  if (item.price !== undefined) checkNumber(item.price, `${at}.price`, E);
  if (item.available !== undefined) checkBoolean(item.available, `${at}.available`, E);
  throw new E(`${at}.meta must be an object (got ${describe(item.meta)}).`, { field: `${at}.meta` });
}

/** The rules of a catalog item, without building a message per item (`explainCatalogItem` says what failed). */
export function validCatalogItem(item: unknown): item is CatalogItem {
  if (!isPlainObject(item)) return false;
  const { id, price, available, meta } = item;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ITEM_ID_LENGTH) return false;
  if ((item.title !== undefined && typeof item.title !== 'string') || (item.category !== undefined && typeof item.category !== 'string')
    || (item.brand !== undefined && typeof item.brand !== 'string')) return false;
  if (price !== undefined && !(typeof price === 'number' && Number.isFinite(price))) return false;
  if (available !== undefined && typeof available !== 'boolean') return false;
  return meta === undefined || isPlainObject(meta);
}

/** The InvalidOptionsError of an id listed twice in a catalog (at positions `first` and `i`). */
export function duplicateIdError(where: string, id: string, first: number, i: number): InvalidOptionsError {
  return new InvalidOptionsError(`${where} lists the id "${id}" twice (at ${first} and ${i}); ids must be unique.`, { field: `${where}[${i}]`, itemId: id });
}

/**
 * Records `items` as a checked catalog whose id -> position map is `seen`, for a catalog checked
 * item by item with the rules above while it was built (the worker's unpacking of the packed wire
 * form, src/contract/catalog-wire.ts): validateCatalog and the engine's catalog then take it as it is.
 */
export function markCheckedCatalog<T extends object>(items: T, seen: ReadonlyMap<string, number>): T {
  positionsOfValidated.set(items, seen);
  return items;
}

/**
 * Checks every item of a catalog as validateCatalog does except that ids are unique, and returns
 * the catalog itself: the page's check before a worker starts. The worker finds a repeated id
 * while it builds its id -> position map (which it needs anyway) and rejects the load with the
 * same InvalidOptionsError validateCatalog throws, so a million ids are put in a map once, not twice.
 */
export function checkCatalogItems(catalog: unknown, where = 'catalog'): CatalogItem[] {
  if (!Array.isArray(catalog)) catalogChecker(catalog, where); // throws the array message
  const items = catalog as unknown[];
  for (let i = 0; i < items.length; i++) if (!validCatalogItem(items[i])) explainCatalogItem(items[i], i, where);
  return items as CatalogItem[];
}

/** Checks items [from, to) of a catalog (throws on the first bad one), filling `seen` (id -> position). */
function catalogChecker(catalog: unknown, where: string): ((from: number, to: number) => void) & { seen: ReadonlyMap<string, number> } {
  if (!Array.isArray(catalog)) throw new InvalidOptionsError(`${where} must be an array of items like { id: 'sku-1', category: 'audio' } (got ${describe(catalog)}).`, { field: where });
  const ids: string[] = new Array(catalog.length);
  const seen = IdIndex.empty(ids);
  const repeated = (id: string, first: number, i: number): never => { throw duplicateIdError(where, id, first, i); };
  const check = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const item: unknown = catalog[i];
      if (!validCatalogItem(item)) explainCatalogItem(item, i, where);
      ids[i] = (item as CatalogItem).id;
      seen.add(i, i + 1, repeated);
    }
  };
  return Object.assign(check, { seen });
}

/**
 * The one validate-and-merge step for engine options. `extraKeys` lists fields the caller
 * handles itself (the page client's `worker` and `onProgress`), which are accepted and ignored.
 * `catalogCheck` 'items' checks the catalog's items but not that their ids are unique
 * (checkCatalogItems: the page's check, the worker finds a repeated id); 'full' (default) is validateCatalog.
 * @throws InvalidOptionsError
 */
export function resolveEngineConfig(config: unknown, extraKeys: readonly string[] = [], catalogCheck: 'full' | 'items' = 'full'): ResolvedEngineConfig {
  const E = InvalidOptionsError;
  if (config === undefined || config === null) config = {};
  if (!isPlainObject(config)) throw new E(`options must be an object (got ${describe(config)}).`);
  rejectUnknownKeys(config, [...ENGINE_KEYS, ...extraKeys], 'options', E);
  const c = config as EngineConfig;

  const modelUrl = c.modelUrl === undefined ? D.modelUrl
    : checkString(c.modelUrl, 'options.modelUrl', E, 4096);
  const catalog = c.catalog === undefined ? undefined
    : catalogCheck === 'items' ? checkCatalogItems(c.catalog, 'options.catalog') : validateCatalog(c.catalog, 'options.catalog');
  if (catalog && catalog.length === 0) throw new E('options.catalog is empty; leave it out to recommend from the whole model vocabulary.', { field: 'options.catalog' });

  let retention = { ...D.retention };
  if (c.retention !== undefined) {
    if (!isPlainObject(c.retention)) throw new E(`options.retention must be an object like { maxEvents: 1000, maxAgeDays: 180 } (got ${describe(c.retention)}).`);
    rejectUnknownKeys(c.retention, Object.keys(D.retention), 'options.retention', E);
    retention = {
      maxEvents: c.retention.maxEvents === undefined ? D.retention.maxEvents
        : checkNumber(c.retention.maxEvents, 'options.retention.maxEvents', E, { min: 1, max: MAX_MAX_EVENTS, integer: true }),
      maxAgeDays: c.retention.maxAgeDays === undefined ? D.retention.maxAgeDays
        : checkNumber(c.retention.maxAgeDays, 'options.retention.maxAgeDays', E, { min: 0.001, max: MAX_MAX_AGE_DAYS }),
    };
  }
  return {
    modelUrl,
    catalog,
    backends: resolveBackends(c.backend ?? D.backend),
    autoBackend: (c.backend ?? D.backend) === 'auto',
    retention,
    dbName: c.dbName === undefined ? D.dbName : checkString(c.dbName, 'options.dbName', E, 256),
    excludePurchased: c.excludePurchased === undefined ? D.excludePurchased : checkBoolean(c.excludePurchased, 'options.excludePurchased', E),
    excludeInCart: c.excludeInCart === undefined ? D.excludeInCart : checkBoolean(c.excludeInCart, 'options.excludeInCart', E),
    embeddingDtype: c.embeddingDtype === undefined ? D.embeddingDtype : checkEmbeddingDtype(c.embeddingDtype),
    cacheCatalog: c.cacheCatalog === undefined ? D.cacheCatalog : checkBoolean(c.cacheCatalog, 'options.cacheCatalog', E),
    timeoutMs: c.timeoutMs === undefined ? D.timeoutMs : checkDuration(c.timeoutMs, 'options.timeoutMs'),
    stallTimeoutMs: c.stallTimeoutMs === undefined ? D.stallTimeoutMs : checkDuration(c.stallTimeoutMs, 'options.stallTimeoutMs'),
    modelCache: c.modelCache === undefined ? D.modelCache : checkModelCache(c.modelCache),
    wasmPaths: c.wasmPaths === undefined ? undefined : checkWasmPaths(c.wasmPaths),
  };
}

// ---------------------------------------------------------------------------------------------
// events

/** A validated event, ready to store (the store assigns `id`). */
export type NewEvent = Omit<StoredEvent, 'id'>;
/** A validated impression or dismissal (kept in the feedback store, not in the history). */
export interface FeedbackEvent { type: FeedbackEventType; itemId: string; scene: SceneName; timestamp: number }
/** What `validateEvents` returns: history events and feedback events, in the caller's order. */
export type ValidEvent = NewEvent | FeedbackEvent;

/** True for impressions and dismissals. */
export function isFeedbackEvent(ev: ValidEvent): ev is FeedbackEvent {
  return (FEEDBACK_EVENT_TYPES as readonly string[]).includes(ev.type);
}

/** Splits validated events into history events and feedback events (each in the caller's order). */
export function partitionEvents(valid: readonly ValidEvent[]): { history: NewEvent[]; feedback: FeedbackEvent[] } {
  const history: NewEvent[] = [];
  const feedback: FeedbackEvent[] = [];
  for (const ev of valid) {
    if (isFeedbackEvent(ev)) feedback.push(ev);
    else history.push(ev);
  }
  return { history, feedback };
}

const EVENT_KEYS = ['type', 'itemId', 'scene', 'timestamp', 'query'] as const;

/** A timestamp as a date for a message (a year-3000 or 1e20 value included: toISOString throws past year 275760). */
function isoDate(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString();
}

/**
 * Checks an event timestamp (milliseconds since the epoch): a finite number, not in seconds (below
 * MIN_EVENT_TIMESTAMP_MS), at most MAX_EVENT_CLOCK_SKEW_MS ahead of `now`.
 */
function checkTimestamp(value: unknown, at: string, index: number, now: number): number {
  const E = InvalidEventError;
  const where = `${at}.timestamp`;
  const details = { index, field: 'timestamp' };
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new E(`${where} must be milliseconds since the epoch, like Date.now() (got ${describe(value)}).`, details);
  }
  if (value < MIN_EVENT_TIMESTAMP_MS) {
    const seconds = value * 1000 >= MIN_EVENT_TIMESTAMP_MS && value * 1000 <= now + MAX_EVENT_CLOCK_SKEW_MS ? ` If it is seconds since the epoch, pass ${value} * 1000 (${isoDate(value * 1000)}).` : '';
    throw new E(`${where} is ${value}, which in milliseconds is ${isoDate(value)}: timestamps are milliseconds since the epoch (Date.now()), not seconds.${seconds}`, details);
  }
  if (value > now + MAX_EVENT_CLOCK_SKEW_MS) {
    throw new E(`${where} is ${isoDate(value)}, more than a day ahead of this device's clock (${isoDate(now)}). ` +
      'Pass the time the event happened, in milliseconds since the epoch (Date.now()), or leave it out for now.', details);
  }
  return value;
}

/**
 * Validates one event or a batch, all or nothing: if any event is bad, throws
 * InvalidEventError (naming the index and field) and nothing should be stored.
 * Timestamps (default `now`) are milliseconds since the epoch: seconds (a value below
 * MIN_EVENT_TIMESTAMP_MS) and values more than MAX_EVENT_CLOCK_SKEW_MS (a day) after `now` are
 * rejected. A hole in a sparse array is a missing event.
 */
export function validateEvents(input: unknown, now: number = Date.now()): ValidEvent[] {
  const E = InvalidEventError;
  const batch = Array.isArray(input);
  const list: unknown[] = batch ? (input as unknown[]) : [input];
  const out: ValidEvent[] = new Array(list.length);
  // An index loop, not map(): map skips the holes of a sparse array.
  for (let i = 0; i < list.length; i++) {
    const at = batch ? `events[${i}]` : 'event';
    if (!(i in list)) throw new E(`${at} is missing (a hole in a sparse array, as in [ev, , ev]); pass one event object per entry.`, { index: i });
    try {
      out[i] = validateEvent(list[i], at, i, now);
    } catch (e) {
      // Every error names the index (the shared field checks only name the field).
      const details = (e as ScenerecError).details;
      if (e instanceof E && details?.index === undefined) throw new E(e.message, { ...details, index: i });
      throw e;
    }
  }
  return out;
}

function validateEvent(raw: unknown, at: string, i: number, now: number): ValidEvent {
  const E = InvalidEventError;
  if (!isPlainObject(raw)) throw new E(`${at} must be an object like { type: 'view', itemId: 'sku-1' } (got ${describe(raw)}).`, { index: i });
  rejectUnknownKeys(raw, EVENT_KEYS, at, E);
  if (typeof raw.type !== 'string' || !(TRACK_EVENT_TYPES as readonly string[]).includes(raw.type)) {
    throw new E(`${at}.type must be one of ${TRACK_EVENT_TYPES.join(', ')} (got ${describe(raw.type)}).`, { index: i, field: 'type' });
  }
  const type = raw.type as EventType;
  if ((FEEDBACK_EVENT_TYPES as readonly string[]).includes(type) && raw.query !== undefined) {
    throw new E(`${at}.query is not taken by a "${type}" event (it names an item: give itemId and scene).`, { index: i, field: 'query' });
  }
  const ev: NewEvent = { type, scene: 'home', timestamp: now };
  const itemId = (v: unknown) => checkString(v, `${at}.itemId`, E);
  if (type === 'search') {
    if (typeof raw.query !== 'string' || raw.query.trim().length === 0) {
      throw new E(`${at}.query must be a non-empty string for a "search" event.`, { index: i, field: 'query' });
    }
    ev.query = raw.query.slice(0, MAX_QUERY_LENGTH);
    if (raw.itemId !== undefined) ev.itemId = itemId(raw.itemId);
  } else {
    if (raw.itemId === undefined) throw new E(`${at}.itemId is required for a "${type}" event.`, { index: i, field: 'itemId' });
    ev.itemId = itemId(raw.itemId);
    if (raw.query !== undefined) {
      if (typeof raw.query !== 'string') throw new E(`${at}.query must be a string.`, { index: i, field: 'query' });
      ev.query = raw.query.slice(0, MAX_QUERY_LENGTH);
    }
  }
  if (raw.scene !== undefined) {
    if (typeof raw.scene !== 'string' || !(SCENES as readonly string[]).includes(raw.scene)) {
      throw new E(`${at}.scene must be one of ${SCENES.join(', ')} (got ${describe(raw.scene)}).`, { index: i, field: 'scene' });
    }
    ev.scene = raw.scene as SceneName;
  }
  if (raw.timestamp !== undefined) ev.timestamp = checkTimestamp(raw.timestamp, at, i, now);
  return ev as ValidEvent;
}

// ---------------------------------------------------------------------------------------------
// requests

export interface ResolvedCommonRequest {
  k: number;
  diversity: number;
  priceWeight: number;
  exposureDiscount: number;
  tailExposure: number;
  objectives: Required<ObjectiveWeights>;
  rules: ShopRules;
}
export type ResolvedHomeRequest = ResolvedCommonRequest;
export interface ResolvedProductRequest extends ResolvedCommonRequest { itemId: string }
export interface ResolvedCartRequest extends ResolvedCommonRequest { cart?: string[]; substitutePenalty: number }
export interface ResolvedSearchRequest extends ResolvedCommonRequest {
  query?: string;
  candidates: string[];
  personalWeight: number;
}
export interface ResolvedRequestMap {
  home: ResolvedHomeRequest;
  product: ResolvedProductRequest;
  cart: ResolvedCartRequest;
  search: ResolvedSearchRequest;
  recentlyViewed: ResolvedCommonRequest;
  buyAgain: ResolvedCommonRequest;
}

/**
 * What each scene's request adds to the common fields: its own field names (those without a
 * default) and how they are read. One entry per scene (the registry the scene files mirror on the
 * worker side); adding a scene is adding an entry here, its defaults and its file in src/engine/scenes/.
 */
interface SceneRequestSpec<S extends SceneName> {
  /** Fields without a default in DEFAULT_REQUESTS (required, or optional with no default). */
  readonly ownFields: readonly string[];
  readonly read: (request: Record<string, unknown>, common: ResolvedCommonRequest) => ResolvedRequestMap[S];
}

const SCENE_REQUESTS: { readonly [S in SceneName]: SceneRequestSpec<S> } = {
  home: { ownFields: [], read: (_request, common) => common },
  product: {
    ownFields: ['itemId'],
    read: (request, common) => {
      const E = InvalidRequestError;
      if (request.itemId === undefined) throw new E('The product request needs itemId: the item whose page is shown.', { field: 'itemId' });
      return { ...common, itemId: checkString(request.itemId, 'itemId', E) };
    },
  },
  cart: {
    ownFields: ['cart'],
    read: (request, common) => {
      const out: ResolvedCartRequest = {
        ...common,
        substitutePenalty: request.substitutePenalty === undefined ? DEFAULT_REQUESTS.cart.substitutePenalty
          : checkNumber(request.substitutePenalty, 'substitutePenalty', InvalidRequestError, { min: 0, max: 1 }),
      };
      if (request.cart !== undefined) out.cart = [...new Set(checkStringList(request.cart, 'cart', InvalidRequestError, 1000))];
      return out;
    },
  },
  search: {
    ownFields: ['query', 'candidates'],
    read: (request, common) => {
      const E = InvalidRequestError;
      if (request.candidates === undefined) throw new E('The search request needs candidates: the shop search results, best first.', { field: 'candidates' });
      const out: ResolvedSearchRequest = {
        ...common,
        candidates: checkStringList(request.candidates, 'candidates', E, MAX_SEARCH_CANDIDATES),
        personalWeight: request.personalWeight === undefined ? DEFAULT_REQUESTS.search.personalWeight
          : checkNumber(request.personalWeight, 'personalWeight', E, { min: 0, max: 1 }),
      };
      if (request.query !== undefined) {
        if (typeof request.query !== 'string') throw new E(`query must be a string (got ${describe(request.query)}).`, { field: 'query' });
        out.query = request.query;
      }
      return out;
    },
  },
  recentlyViewed: { ownFields: [], read: (_request, common) => common },
  buyAgain: { ownFields: [], read: (_request, common) => common },
};
/** Every field a scene's request accepts: those with a default, and its own. */
const SCENE_KEYS = Object.fromEntries(SCENES.map((s) => [s, [...Object.keys(DEFAULT_REQUESTS[s]), ...SCENE_REQUESTS[s].ownFields]])) as Record<SceneName, string[]>;

function validateFilter(value: unknown, where: string): ItemFilter {
  const E = InvalidRequestError;
  if (!isPlainObject(value)) throw new E(`${where} must be an object like { category: ['audio'] } (got ${describe(value)}).`, { field: where });
  rejectUnknownKeys(value, ['category', 'brand', 'itemIds', 'minPrice', 'maxPrice'], where, E);
  const f: ItemFilter = {};
  if (value.category !== undefined) f.category = checkStringList(value.category, `${where}.category`, E);
  if (value.brand !== undefined) f.brand = checkStringList(value.brand, `${where}.brand`, E);
  if (value.itemIds !== undefined) f.itemIds = checkStringList(value.itemIds, `${where}.itemIds`, E);
  if (value.minPrice !== undefined) f.minPrice = checkNumber(value.minPrice, `${where}.minPrice`, E);
  if (value.maxPrice !== undefined) f.maxPrice = checkNumber(value.maxPrice, `${where}.maxPrice`, E);
  if (f.minPrice !== undefined && f.maxPrice !== undefined && f.minPrice > f.maxPrice) {
    throw new E(`${where}.minPrice (${f.minPrice}) is above maxPrice (${f.maxPrice}).`, { field: where });
  }
  if (Object.keys(f).length === 0) throw new E(`${where} has no conditions; give category, brand, itemIds, minPrice or maxPrice, or leave it out.`, { field: where });
  return f;
}

function validateRules(value: unknown): ShopRules {
  const E = InvalidRequestError;
  if (!isPlainObject(value)) throw new E(`rules must be an object (got ${describe(value)}).`, { field: 'rules' });
  rejectUnknownKeys(value, ['include', 'exclude', 'boost', 'pin', 'includeUnavailable', 'fallbackToPopular', 'excludePurchased', 'excludeInCart'], 'rules', E);
  const r: ShopRules = {};
  if (value.include !== undefined) r.include = validateFilter(value.include, 'rules.include');
  if (value.exclude !== undefined) r.exclude = validateFilter(value.exclude, 'rules.exclude');
  if (value.boost !== undefined) {
    if (!Array.isArray(value.boost)) throw new E('rules.boost must be an array of { filter, factor }.', { field: 'rules.boost' });
    r.boost = value.boost.map((b: unknown, i) => {
      const at = `rules.boost[${i}]`;
      if (!isPlainObject(b)) throw new E(`${at} must be { filter, factor } (got ${describe(b)}).`, { field: at });
      rejectUnknownKeys(b, ['filter', 'factor'], at, E);
      const factor = checkNumber(b.factor, `${at}.factor`, E, { min: 0 });
      if (factor === 0) throw new E(`${at}.factor must be above 0 (use rules.exclude to drop items).`, { field: `${at}.factor` });
      return { filter: validateFilter(b.filter, `${at}.filter`), factor };
    });
  }
  if (value.pin !== undefined) r.pin = checkStringList(value.pin, 'rules.pin', E, MAX_K);
  if (value.includeUnavailable !== undefined) r.includeUnavailable = checkBoolean(value.includeUnavailable, 'rules.includeUnavailable', E);
  if (value.fallbackToPopular !== undefined) r.fallbackToPopular = checkBoolean(value.fallbackToPopular, 'rules.fallbackToPopular', E);
  if (value.excludePurchased !== undefined) r.excludePurchased = checkBoolean(value.excludePurchased, 'rules.excludePurchased', E);
  if (value.excludeInCart !== undefined) r.excludeInCart = checkBoolean(value.excludeInCart, 'rules.excludeInCart', E);
  return r;
}

function validateObjectives(value: unknown, scene: SceneName): Required<ObjectiveWeights> {
  const E = InvalidRequestError;
  if (value === undefined) return { ...DEFAULT_REQUESTS[scene].objectives };
  if (!isPlainObject(value)) throw new E(`objectives must be an object like { click: 1, purchase: 0.5 } (got ${describe(value)}).`, { field: 'objectives' });
  for (const key of Object.keys(value)) {
    if ((OBJECTIVES as readonly string[]).includes(key) || value[key] === undefined) continue;
    // The satisfaction objective is served by the model's favorite head: say so to whoever names the head.
    const hint = /^favou?rites?$/i.test(key) ? ' (the favorite head serves the objective "satisfaction")' : '';
    throw new E(`objectives.${key} is not an objective${hint}: each key must be one of ${OBJECTIVES.join(', ')}.`, { field: `objectives.${key}` });
  }
  const o = Object.fromEntries(OBJECTIVES.map((k) => [k, 0])) as Required<ObjectiveWeights>;
  for (const key of OBJECTIVES) {
    if (value[key] !== undefined) o[key] = checkNumber(value[key], `objectives.${key}`, E, { min: 0 });
  }
  if (OBJECTIVES.every((k) => o[k] === 0)) throw new E('objectives needs at least one weight above 0.', { field: 'objectives' });
  return o;
}

/**
 * Validates a scene request and fills in the scene's defaults.
 * @throws UnknownSceneError for a bad scene, InvalidRequestError for bad fields.
 */
export function validateRequest<S extends SceneName>(sceneArg: S, request: unknown): ResolvedRequestMap[S] {
  const scene = assertScene(sceneArg);
  const E = InvalidRequestError;
  if (request === undefined || request === null) request = {};
  if (!isPlainObject(request)) throw new E(`The ${scene} request must be an object (got ${describe(request)}).`);
  rejectUnknownKeys(request, SCENE_KEYS[scene], `${scene} request`, E);
  const d = DEFAULT_REQUESTS[scene];
  const common: ResolvedCommonRequest = {
    k: request.k === undefined ? d.k : checkNumber(request.k, 'k', E, { min: 1, max: MAX_K, integer: true }),
    diversity: request.diversity === undefined ? d.diversity : checkNumber(request.diversity, 'diversity', E, { min: 0, max: 1 }),
    priceWeight: request.priceWeight === undefined ? d.priceWeight : checkNumber(request.priceWeight, 'priceWeight', E, { min: 0, max: 1 }),
    exposureDiscount: request.exposureDiscount === undefined ? d.exposureDiscount
      : checkNumber(request.exposureDiscount, 'exposureDiscount', E, { min: 0, max: 1 }),
    tailExposure: request.tailExposure === undefined ? d.tailExposure : checkNumber(request.tailExposure, 'tailExposure', E, { min: 0, max: 1 }),
    objectives: validateObjectives(request.objectives, scene),
    rules: request.rules === undefined ? {} : validateRules(request.rules),
  };
  return (SCENE_REQUESTS[scene] as SceneRequestSpec<S>).read(request, common);
}

// ---------------------------------------------------------------------------------------------
// history queries

/** Validates a listHistory query. @throws InvalidRequestError */
export function validateHistoryQuery(query: unknown): { limit?: number; newestFirst: boolean } {
  const E = InvalidRequestError;
  if (query === undefined || query === null) return { newestFirst: true };
  if (!isPlainObject(query)) throw new E(`The history query must be an object like { limit: 20 } (got ${describe(query)}).`);
  rejectUnknownKeys(query, ['limit', 'newestFirst'], 'history query', E);
  const out: { limit?: number; newestFirst: boolean } = {
    newestFirst: query.newestFirst === undefined ? true : checkBoolean(query.newestFirst, 'newestFirst', E),
  };
  if (query.limit !== undefined) out.limit = checkNumber(query.limit, 'limit', E, { min: 0, integer: true });
  return out;
}
