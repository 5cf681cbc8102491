/**
 * The worker side: exposes one object implementing RecommenderEngineApi plus `init` over
 * Comlink. `src/worker.ts` calls `exposeEngine()`; tests can expose it on a
 * MessagePort with a `fetch` hook.
 */
import * as Comlink from 'comlink';
import type { EngineHooks, RecommenderEngine } from './engine.js';
import { ScenerecError } from '../contract/errors.js';
import type {
  CatalogItem, EngineConfig, EngineInfo, HistoryQuery, LoadProgress, RecommenderEngineApi,
  SceneName, SceneRequestMap, TrackEvent,
} from '../contract/protocol.js';
import { registerErrorTransfer } from '../contract/transfer.js';

/** What the worker exposes. */
export interface WorkerApi extends RecommenderEngineApi {
  /** Creates the engine. Resolves with its info once it is ready. */
  init(config: EngineConfig, onProgress?: (p: LoadProgress) => unknown): Promise<EngineInfo>;
}

/** Builds the exposed object (separate from `exposeEngine` so it can be tested directly). */
export function createWorkerApi(hooks: Pick<EngineHooks, 'fetch'> = {}): WorkerApi {
  let engine: RecommenderEngine | null = null;
  let starting = false;

  const need = (): RecommenderEngine => {
    if (!engine) throw new ScenerecError('INTERNAL', 'The recommender worker is not initialised: call init() first (createRecommender does).');
    return engine;
  };
  const run = async <T>(f: (e: RecommenderEngine) => Promise<T>): Promise<T> => {
    try {
      return await f(need());
    } catch (e) {
      if (!(e instanceof ScenerecError)) console.error('[scenerec worker]', e);
      throw e;
    }
  };

  return {
    async init(config, onProgress) {
      if (starting || (engine && !engine.isDisposed)) {
        throw new ScenerecError('INTERNAL', 'The recommender worker is already initialised; dispose() it first or use a new worker.');
      }
      starting = true;
      const delivered: Promise<unknown>[] = [];
      try {
        // Loaded on demand: keeps TF.js out of any page bundle that imports this module.
        const { createEngine } = await import('./engine.js');
        engine = await createEngine(config, {
          fetch: hooks.fetch,
          onProgress: onProgress && ((p) => {
            // A proxied callback returns a promise; a failing page callback must not fail the load.
            delivered.push(Promise.resolve(onProgress(p)).catch(() => undefined));
          }),
        });
        const info = await engine.info();
        // Every progress report (the last is 'ready') reaches the page before init resolves.
        await Promise.all(delivered);
        return info;
      } catch (e) {
        if (!(e instanceof ScenerecError)) console.error('[scenerec worker]', e);
        throw e;
      } finally {
        starting = false;
        const release = (onProgress as Partial<Comlink.ProxyMethods> | undefined)?.[Comlink.releaseProxy];
        if (typeof release === 'function') try { release.call(onProgress); } catch { /* already released */ }
      }
    },
    track: (events: TrackEvent | TrackEvent[]) => run((e) => e.track(events)),
    recommend: <S extends SceneName>(scene: S, request: SceneRequestMap[S]) => run((e) => e.recommend(scene, request)),
    setCatalog: (catalog: CatalogItem[]) => run((e) => e.setCatalog(catalog)),
    info: () => run((e) => e.info()),
    listHistory: (query?: HistoryQuery) => run((e) => e.listHistory(query)),
    exportHistory: () => run((e) => e.exportHistory()),
    forgetItem: (itemId: string) => run((e) => e.forgetItem(itemId)),
    clearHistory: () => run((e) => e.clearHistory()),
    dispose: async () => { await engine?.dispose(); },
  };
}

/**
 * Exposes the engine API on `endpoint` (default: the worker's global scope).
 * Call once, at the top level of the worker module.
 */
export function exposeEngine(endpoint: Comlink.Endpoint = globalThis as unknown as Comlink.Endpoint, hooks: Pick<EngineHooks, 'fetch'> = {}): WorkerApi {
  registerErrorTransfer();
  const api = createWorkerApi(hooks);
  Comlink.expose(api, endpoint);
  return api;
}
