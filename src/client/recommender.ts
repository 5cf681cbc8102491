/**
 * The page side: `createRecommender` starts the worker, talks to it through Comlink and
 * offers the per-scene API. Everything heavy (model, catalog, IndexedDB) lives in the worker.
 * Liveness of the worker, its restart and the replay of writes: ./supervisor.ts.
 */
import { assertScene, resolveEngineConfig } from '../contract/options.js';
import { InvalidOptionsError } from '../contract/errors.js';
import { resolveUrl } from '../util/url.js';
import {
  FORWARDED_METHODS, type BackendName, type EngineConfig, type EngineInfo, type ForwardedMethod, type LoadProgress,
  type RecommendResult, type RecommenderApi, type SceneName, type SceneRequestMap, type SearchRequest,
} from '../contract/protocol.js';
import { registerErrorTransfer } from '../contract/transfer.js';
import { validateLiveness, WorkerSupervisor, type LivenessOptions, type RecommenderEvent } from './supervisor.js';

/** Options of `createRecommender`: the engine options plus the page-only ones. */
export interface RecommenderOptions extends EngineConfig {
  /**
   * A worker running `src/worker.ts` that you created, or a function that creates one (then the SDK
   * owns and terminates the workers it gets, and can replace a lost one). Default: the SDK spawns
   * (and owns) its own. A Worker instance given here is not restarted when lost (see `onEvent`).
   */
  worker?: Worker | (() => Worker);
  /** Loading progress: backend tries, download fraction, model size, warm-up, ready. */
  onProgress?: (p: LoadProgress) => void;
  /**
   * What happened to the worker: 'worker-lost' (with why, and what was rejected or will be
   * replayed), then 'worker-restarted' (with the recovery time) or 'worker-restart-failed'.
   */
  onEvent?: (e: RecommenderEvent) => void;
  /** Liveness and recovery settings; defaults in DEFAULT_LIVENESS (src/contract/defaults.ts). */
  liveness?: Partial<LivenessOptions>;
}

/** The options that stay on the page (not sent to the worker's engine). */
const PAGE_OPTIONS = ['worker', 'onProgress', 'onEvent', 'liveness'] as const;

/** A scene's handle for home, product and cart pages. */
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
   * @throws UnknownSceneError (synchronously) for a name other than home, product, cart, search.
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
  // Literal `new URL(..., import.meta.url)` so Vite (and other bundlers) bundle the worker.
  return new Worker(new URL('../worker.ts', import.meta.url), { type: 'module', name: 'scenerec' });
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
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => this.supervisor.call(method, args);
    }
  }

  get backend(): BackendName {
    return this.engineInfo.backend;
  }

  scene<S extends SceneName>(name: S): SceneHandle<S> {
    const scene = assertScene(name) as S;
    const recommend = (request?: SceneRequestMap[S]) => this.recommend(scene, (request ?? {}) as SceneRequestMap[S]);
    const handle = scene === 'search'
      ? { name: scene, recommend, rerank: (request: SearchRequest) => this.recommend('search', request) }
      : { name: scene, recommend };
    return Object.freeze(handle) as unknown as SceneHandle<S>;
  }

  /**
   * Disposes the engine in the worker, then terminates the worker if the SDK created it. Safe to
   * call twice. Settles within `liveness.disposeTimeoutMs` even when the worker is lost or hung.
   */
  dispose(): Promise<void> {
    return this.supervisor.dispose();
  }
}

/**
 * Starts a recommender: validates the options (before any worker starts), spawns the worker
 * (unless `options.worker` is given), loads and warms up the model, and resolves when ready.
 *
 * ```ts
 * const rec = await createRecommender({ catalog, modelUrl: '/models/games-sasrec/model.json' });
 * await rec.track({ type: 'view', itemId: 'sku-123' });
 * const { items } = await rec.scene('home').recommend({ k: 12 });
 * ```
 * A worker lost after the load is restarted with these options and the writes in flight are replayed
 * (see `onEvent` and ./supervisor.ts); a worker lost while loading rejects with WorkerLostError.
 * @throws InvalidOptionsError, NoBackendError, ModelLoadError, StorageError, StorageBlockedError, WorkerLostError
 */
export async function createRecommender(options: RecommenderOptions = {}): Promise<Recommender> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionsError('createRecommender options must be an object.');
  }
  const { worker, onProgress, onEvent, liveness, ...engineConfig } = options;
  if (worker !== undefined && typeof worker !== 'function' && (worker === null || typeof (worker as Partial<Worker>).postMessage !== 'function')) {
    throw new InvalidOptionsError('options.worker must be a Worker running src/worker.ts, or a function that returns a new one.', { field: 'options.worker' });
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidOptionsError('options.onProgress must be a function.', { field: 'options.onProgress' });
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw new InvalidOptionsError('options.onEvent must be a function.', { field: 'options.onEvent' });
  }
  const livenessOptions = validateLiveness(liveness);
  const resolved = resolveEngineConfig(engineConfig, PAGE_OPTIONS);
  // Resolve against the page, not the worker script's location.
  const config: EngineConfig = { ...engineConfig, modelUrl: resolveUrl(resolved.modelUrl, documentBase()) };

  registerErrorTransfer();
  const spawn = typeof worker === 'function' ? worker : worker === undefined ? spawnWorker : null;
  const first = spawn ? spawn() : (worker as Worker);
  if (spawn && (first === null || typeof first !== 'object' || typeof (first as Partial<Worker>).postMessage !== 'function')) {
    throw new InvalidOptionsError('options.worker() must return a Worker running src/worker.ts.', { field: 'options.worker' });
  }
  const supervisor = new WorkerSupervisor({
    worker: first, spawn, owned: spawn !== null, config, liveness: livenessOptions, onEvent,
  });
  const info = await supervisor.start(onProgress);
  return new RecommenderClient(supervisor, info);
}
