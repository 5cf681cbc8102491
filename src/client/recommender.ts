/**
 * The page side: `createRecommender` starts the worker, talks to it through Comlink and
 * offers the per-scene API. Everything heavy (model, catalog, IndexedDB) lives in the worker.
 */
import * as Comlink from 'comlink';
import { assertScene, resolveEngineConfig } from '../contract/options.js';
import { DisposedError, InvalidOptionsError, ScenerecError } from '../contract/errors.js';
import { resolveUrl } from '../util/url.js';
import {
  FORWARDED_METHODS, type BackendName, type EngineConfig, type EngineInfo, type ForwardedMethod, type LoadProgress,
  type RecommendResult, type RecommenderApi, type SceneName, type SceneRequestMap, type SearchRequest,
} from '../contract/protocol.js';
import { registerErrorTransfer } from '../contract/transfer.js';
import type { WorkerApi } from '../engine/host.js';

/** Options of `createRecommender`: the engine options plus the page-only ones. */
export interface RecommenderOptions extends EngineConfig {
  /** A worker running `src/worker.ts` that you created; otherwise the SDK spawns (and owns) one. */
  worker?: Worker;
  /** Loading progress: backend tries, download fraction, model size, warm-up, ready. */
  onProgress?: (p: LoadProgress) => void;
}

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
  // Literal `new URL(..., import.meta.url)` so Vite (and other bundlers) bundle the worker.
  return new Worker(new URL('../worker.ts', import.meta.url), { type: 'module', name: 'scenerec' });
}

// The forwarded methods are added in the constructor from FORWARDED_METHODS, typed by this merge.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface RecommenderClient extends Pick<RecommenderApi, ForwardedMethod> {}

/** The page side: every API call goes to the worker through one guard (no calls after dispose). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class RecommenderClient implements Recommender {
  private disposed = false;

  constructor(
    private readonly remote: Comlink.Remote<WorkerApi>,
    private readonly worker: Worker,
    private readonly ownsWorker: boolean,
    readonly engineInfo: EngineInfo,
  ) {
    for (const method of FORWARDED_METHODS) {
      const call = remote[method] as unknown as (...args: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => this.call(() => call(...args));
    }
  }

  get backend(): BackendName {
    return this.engineInfo.backend;
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    // A terminated worker never answers, so calls after dispose must not reach it.
    if (this.disposed) return Promise.reject(new DisposedError('This recommender was disposed; create a new one.'));
    return f();
  }

  scene<S extends SceneName>(name: S): SceneHandle<S> {
    const scene = assertScene(name) as S;
    const recommend = (request?: SceneRequestMap[S]) => this.recommend(scene, (request ?? {}) as SceneRequestMap[S]);
    const handle = scene === 'search'
      ? { name: scene, recommend, rerank: (request: SearchRequest) => this.recommend('search', request) }
      : { name: scene, recommend };
    return Object.freeze(handle) as unknown as SceneHandle<S>;
  }

  /** Disposes the engine in the worker, then terminates the worker if the SDK created it. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.remote.dispose();
    } finally {
      if (this.ownsWorker) {
        this.remote[Comlink.releaseProxy]();
        this.worker.terminate();
      }
    }
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
 * @throws InvalidOptionsError, NoBackendError, ModelLoadError, StorageError, StorageBlockedError
 */
export async function createRecommender(options: RecommenderOptions = {}): Promise<Recommender> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionsError('createRecommender options must be an object.');
  }
  const { worker, onProgress, ...engineConfig } = options;
  if (worker !== undefined && (worker === null || typeof (worker as Partial<Worker>).postMessage !== 'function')) {
    throw new InvalidOptionsError('options.worker must be a Worker running src/worker.ts.', { field: 'options.worker' });
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidOptionsError('options.onProgress must be a function.', { field: 'options.onProgress' });
  }
  const resolved = resolveEngineConfig(engineConfig, ['worker', 'onProgress']);
  // Resolve against the page, not the worker script's location.
  const config: EngineConfig = { ...engineConfig, modelUrl: resolveUrl(resolved.modelUrl, documentBase()) };

  registerErrorTransfer();
  const ownsWorker = worker === undefined;
  const w = worker ?? spawnWorker();
  const remote = Comlink.wrap<WorkerApi>(w as unknown as Comlink.Endpoint);

  let onError: ((ev: Event) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    onError = (ev: Event) => {
      const msg = (ev as ErrorEvent).message;
      reject(new ScenerecError('INTERNAL', `The recommender worker failed to start: ${msg || 'script error (is src/worker.ts bundled and served?)'}`));
    };
    w.addEventListener('error', onError);
  });
  failed.catch(() => undefined);

  try {
    const info = await Promise.race([
      remote.init(config, onProgress ? Comlink.proxy((p: LoadProgress) => onProgress(p)) : undefined),
      failed,
    ]);
    return new RecommenderClient(remote, w, ownsWorker, info);
  } catch (e) {
    if (ownsWorker) w.terminate();
    throw e;
  } finally {
    if (onError) w.removeEventListener('error', onError);
  }
}
