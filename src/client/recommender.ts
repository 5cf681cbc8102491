/**
 * The page side: `createRecommender` starts the worker, talks to it through Comlink and
 * offers the per-scene API. Everything heavy (model, catalog, IndexedDB) lives in the worker.
 * Liveness of the worker, its restart and the replay of writes: ./supervisor.ts.
 */
import * as Comlink from 'comlink';
import { assertScene, resolveEngineConfig, validateEvents } from '../contract/options.js';
import { LOAD_TIMEOUT_GRACE_MS } from '../contract/defaults.js';
import { AbortError, DisposedError, InvalidEventError, InvalidOptionsError, ModelLoadError, ScenerecError } from '../contract/errors.js';
import { resolveUrl } from '../util/url.js';
import {
  FORWARDED_METHODS, type BackendName, type EngineConfig, type EngineInfo, type EngineWarning, type ForwardedMethod, type LoadProgress,
  type RecommendResult, type RecommenderApi, type SceneName, type SceneRequestMap, type SearchRequest,
} from '../contract/protocol.js';
import { registerErrorTransfer } from '../contract/transfer.js';
import { validateLiveness, WorkerSupervisor, type LivenessOptions, type RecommenderEvent } from './supervisor.js';

/** Options of `createRecommender`: the engine options plus the page-only ones. */
export interface RecommenderOptions extends EngineConfig {
  /**
   * A worker running `scenerec/worker` that you created, or a function that creates one (then the
   * SDK owns and terminates the workers it gets, and can replace a lost one). Default: the SDK
   * spawns (and owns) its own. A Worker instance given here is not restarted when lost (see `onEvent`).
   */
  worker?: Worker | (() => Worker);
  /** Loading progress: backend tries, download bytes, model size, warm-up, ready. */
  onProgress?: (p: LoadProgress) => void;
  /**
   * Warnings of the load (the 'warning' progress stage): e.g. 'low-catalog-coverage', a catalog the
   * model barely knows, with what to do. The same warnings are in `engineInfo.warnings` (and in the
   * info `setCatalog` returns, for a new catalog).
   */
  onWarning?: (w: EngineWarning) => void;
  /**
   * Aborts the load: `createRecommender` rejects with AbortError at once and terminates the worker
   * it spawned (a worker you passed in is yours to terminate). No effect once it has resolved.
   */
  signal?: AbortSignal;
  /**
   * What happened to the worker: 'worker-lost' (with why, and what was rejected or will be
   * replayed), then 'worker-restarted' (with the recovery time) or 'worker-restart-failed'.
   */
  onEvent?: (e: RecommenderEvent) => void;
  /** Liveness and recovery settings; defaults in DEFAULT_LIVENESS (src/contract/defaults.ts). */
  liveness?: Partial<LivenessOptions>;
}

/** The options that stay on the page (not sent to the worker's engine). */
const PAGE_OPTIONS = ['worker', 'onProgress', 'onWarning', 'signal', 'onEvent', 'liveness'] as const;

/** A scene's handle for the home, product and cart pages and the recentlyViewed and buyAgain lists. */
export interface BasicSceneHandle<S extends SceneName> {
  readonly name: S;
  /** Recommends for this scene. */
  recommend(request?: SceneRequestMap[S]): Promise<RecommendResult>;
}

/** The search scene's handle: `rerank` reorders the shop's own results (`recommend` is an alias). */
export interface SearchSceneHandle extends BasicSceneHandle<'search'> {
  /** Reorders `candidates` (the shop search results) for this shopper; returns only candidates. */
  rerank(request: SearchRequest): Promise<RecommendResult>;
}

/** The handle `recommender.scene(name)` returns. */
export type SceneHandle<S extends SceneName> = S extends 'search' ? SearchSceneHandle : BasicSceneHandle<S>;

/** A running recommender. All methods are async and run in the worker. */
export interface Recommender extends RecommenderApi {
  /**
   * The handle of one scene.
   * @throws UnknownSceneError (synchronously) for a name not in SCENES (home, product, cart, search, recentlyViewed, buyAgain).
   */
  scene<S extends SceneName>(name: S): SceneHandle<S>;
  /** The TF.js backend in use, as of creation. */
  readonly backend: BackendName;
  /** Engine details as of creation (call `info()` for current ones). */
  readonly engineInfo: EngineInfo;
}

function documentBase(): string | undefined {
  const g = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return g.document?.baseURI ?? g.location?.href;
}

function spawnWorker(): Worker {
  if (typeof Worker === 'undefined') {
    throw new InvalidOptionsError('Web Workers are not available here. Pass options.worker, or use createEngine() to run the engine in this thread.');
  }
  // Literal `new URL(..., import.meta.url)` so that bundlers (Vite, webpack 5) bundle the worker.
  // npm run build:lib rewrites the path to './worker.js' (dist/, next to the page entry).
  return new Worker(new URL('../worker.ts', import.meta.url), { type: 'module', name: 'scenerec' });
}

/**
 * Checks on the page before a call is posted, per method: what cannot cross to the worker (a
 * function, a symbol, a Proxy) is then a typed error naming the event instead of a raw
 * DataCloneError. The worker validates again (it owns the rules); this only catches early.
 */
const PAGE_CHECKS: Partial<Record<ForwardedMethod, (args: unknown[]) => void>> = {
  track: ([events]) => {
    validateEvents(events);
    try {
      structuredClone(events);
      return;
    } catch { /* find the event that fails */ }
    const list: unknown[] = Array.isArray(events) ? events : [events];
    list.forEach((ev, i) => {
      try {
        structuredClone(ev);
      } catch (e) {
        const at = Array.isArray(events) ? `events[${i}]` : 'event';
        throw new InvalidEventError(`${at} cannot be sent to the recommender's worker (${(e as Error).name}: ${(e as Error).message}); pass plain objects of strings and numbers.`, { index: i });
      }
    });
  },
};

function resolveWasmPaths(paths: NonNullable<EngineConfig['wasmPaths']>, base: string | undefined): NonNullable<EngineConfig['wasmPaths']> {
  if (typeof paths === 'string') return resolveUrl(paths, base);
  return Object.fromEntries(Object.entries(paths).map(([file, url]) => [file, resolveUrl(url, base)]));
}

// The forwarded methods are added in the constructor from FORWARDED_METHODS, typed by this merge.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface RecommenderClient extends Pick<RecommenderApi, ForwardedMethod> {}

/**
 * The page side: every API call goes to the worker through the supervisor (./supervisor.ts:
 * liveness, restart and replay after a lost worker; no calls after dispose).
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class RecommenderClient implements Recommender {
  constructor(
    private readonly supervisor: WorkerSupervisor,
    readonly engineInfo: EngineInfo,
  ) {
    for (const method of FORWARDED_METHODS) {
      const check = PAGE_CHECKS[method];
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        if (check) {
          try { check(args); } catch (e) { return Promise.reject(e); }
        }
        return this.supervisor.call(method, args);
      };
    }
  }

  get backend(): BackendName {
    return this.engineInfo.backend;
  }

  /** One frozen handle per scene, made at its first ask (a shop asks on every call). */
  private readonly handles = new Map<SceneName, SceneHandle<SceneName>>();

  scene<S extends SceneName>(name: S): SceneHandle<S> {
    const known = this.handles.get(name);
    if (known) return known as SceneHandle<S>;
    const scene = assertScene(name) as S;
    const recommend = (request?: SceneRequestMap[S]) => this.recommend(scene, (request ?? {}) as SceneRequestMap[S]);
    const handle = Object.freeze(scene === 'search'
      ? { name: scene, recommend, rerank: (request: SearchRequest) => this.recommend('search', request) }
      : { name: scene, recommend }) as unknown as SceneHandle<S>;
    this.handles.set(scene, handle as SceneHandle<SceneName>);
    return handle;
  }

  /**
   * Disposes the engine in the worker, then terminates the worker if the SDK created it. Safe to
   * call twice. Settles within `liveness.disposeTimeoutMs` even when the worker is lost or hung.
   */
  dispose(): Promise<void> {
    return this.supervisor.dispose();
  }
}

/** The page's bound on a load: the signal at once, the clock `timeoutMs` plus a grace for the worker's own report. */
function loadBound(signal: AbortSignal | undefined, timeoutMs: number, modelUrl: string, progress: () => LoadProgress | undefined) {
  let stop = () => {};
  const ended = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new AbortError('createRecommender was aborted by its signal; the load was stopped.', { url: modelUrl, reason: String(signal?.reason ?? 'aborted') }));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = Number.isFinite(timeoutMs) ? setTimeout(() => {
      const p = progress();
      const bytes = p?.stage === 'download' ? `, ${p.loadedBytes} of ${p.totalBytes} model bytes received` : '';
      reject(new ModelLoadError(
        `The recommender did not load within timeoutMs = ${timeoutMs} ms (last stage: ${p?.stage ?? 'starting the worker'}${bytes}) from ${modelUrl}. Check the connection and the model URL, or raise timeoutMs.`,
        { url: modelUrl, timeoutMs, stage: p?.stage, ...(p?.stage === 'download' ? { receivedBytes: p.loadedBytes, expectedBytes: p.totalBytes } : {}) },
      ));
    }, timeoutMs + LOAD_TIMEOUT_GRACE_MS) : undefined;
    stop = () => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); };
  });
  ended.catch(() => undefined);
  return { ended, stop: () => stop() };
}

function isAbortSignal(v: unknown): v is AbortSignal {
  const s = v as Partial<AbortSignal> | null;
  return typeof s === 'object' && s !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function';
}

/**
 * Starts a recommender: validates the options (before any worker starts; a catalog id listed
 * twice is found by the worker as it loads, with the same InvalidOptionsError), spawns the worker
 * (unless `options.worker` is given), loads and warms up the model, and resolves when ready.
 *
 * ```ts
 * const rec = await createRecommender({ catalog, modelUrl: '/models/games-sasrec/model.json' });
 * await rec.track({ type: 'view', itemId: 'sku-123' });
 * const { items } = await rec.scene('home').recommend({ k: 12 });
 * ```
 * The whole load is bounded: `options.timeoutMs` (default 60 s; the worker reports its own
 * ModelLoadError at that time, the page gives up a second later at most) and `options.signal`
 * (AbortError at once). Either way the worker the SDK spawned is terminated. A worker lost while
 * loading rejects with WorkerLostError; one lost after the load is restarted with these options and
 * the writes in flight are replayed (see `onEvent` and ./supervisor.ts).
 * @throws InvalidOptionsError, NoBackendError, ModelLoadError, StorageError, StorageBlockedError, AbortError, WorkerLostError
 */
export async function createRecommender(options: RecommenderOptions = {}): Promise<Recommender> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionsError('createRecommender options must be an object.');
  }
  const { worker, onProgress, onWarning, onEvent, liveness, signal, ...engineConfig } = options;
  if (worker !== undefined && typeof worker !== 'function' && (worker === null || typeof (worker as Partial<Worker>).postMessage !== 'function')) {
    throw new InvalidOptionsError('options.worker must be a Worker running scenerec/worker (dist/worker.js), or a function that returns a new one.', { field: 'options.worker' });
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidOptionsError('options.onProgress must be a function.', { field: 'options.onProgress' });
  }
  if (onWarning !== undefined && typeof onWarning !== 'function') {
    throw new InvalidOptionsError('options.onWarning must be a function.', { field: 'options.onWarning' });
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw new InvalidOptionsError('options.onEvent must be a function.', { field: 'options.onEvent' });
  }
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new InvalidOptionsError('options.signal must be an AbortSignal (from new AbortController().signal).', { field: 'options.signal' });
  }
  const livenessOptions = validateLiveness(liveness);
  // The items are checked here, before any worker starts; the worker finds a repeated id as it
  // builds its id map (the same InvalidOptionsError), so the ids are put in a map once.
  const resolved = resolveEngineConfig(engineConfig, PAGE_OPTIONS, 'items');
  if (signal?.aborted) throw new AbortError('createRecommender was aborted by its signal before it started.', { reason: String(signal.reason ?? 'aborted') });
  // Resolve against the page, not the worker script's location.
  const base = documentBase();
  const config: EngineConfig = { ...engineConfig, modelUrl: resolveUrl(resolved.modelUrl, base) };
  if (resolved.wasmPaths !== undefined) config.wasmPaths = resolveWasmPaths(resolved.wasmPaths, base);

  registerErrorTransfer();
  const spawn = typeof worker === 'function' ? worker : worker === undefined ? spawnWorker : null;
  const first = spawn ? spawn() : (worker as Worker);
  if (spawn && (first === null || typeof first !== 'object' || typeof (first as Partial<Worker>).postMessage !== 'function')) {
    throw new InvalidOptionsError('options.worker() must return a Worker running scenerec/worker (dist/worker.js).', { field: 'options.worker' });
  }
  const supervisor = new WorkerSupervisor({
    worker: first, spawn, owned: spawn !== null, config, liveness: livenessOptions, onEvent,
  });
  let last: LoadProgress | undefined;
  const bound = loadBound(signal, resolved.timeoutMs, config.modelUrl!, () => last);
  try {
    const info = await Promise.race([
      supervisor.start((p) => {
        last = p;
        onProgress?.(p);
        if (p.stage === 'warning') onWarning?.(p.warning);
      }),
      bound.ended,
    ]);
    return new RecommenderClient(supervisor, info);
  } catch (e) {
    // The deadline or the signal won: stop the load (the worker the SDK spawned is terminated).
    supervisor.abortLoad((e as Error)?.message ?? String(e));
    throw e;
  } finally {
    bound.stop();
  }
}
