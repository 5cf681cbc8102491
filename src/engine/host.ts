/**
 * The worker side of the page <-> worker boundary: exposes the engine over Comlink as a
 * `WorkerApi` (RecommenderApi plus `init`), and serves the hot calls as direct messages
 * (src/contract/protocol.ts DIRECT_METHODS) and the liveness pings beside it. `src/worker.ts` calls `exposeEngine()`; tests expose
 * it on a MessagePort with a `fetch` hook.
 */
import * as Comlink from 'comlink';
import { ScenerecError, serializeError } from '../contract/errors.js';
import {
  DIRECT, DIRECT_METHODS, DIRECT_REPLY, DIRECT_VERSION, FORWARDED_METHODS, PING, PONG, SETTLING,
  type CatalogItem, type DirectCall, type DirectMethod, type DirectReply, type EngineConfig, type HistoryWrite, type EngineInfo, type LoadProgress, type RecommenderApi,
} from '../contract/protocol.js';
import { CATALOG_WIRE, CATALOG_WIRE_VERSION, isPackedCatalog, unpackCheckedCatalog, type PackedItems } from '../contract/catalog-wire.js';
import { registerErrorTransfer } from '../contract/transfer.js';
import type { EngineHooks, RecommenderEngine } from './engine.js';

/** What the worker exposes: the recommender's API, plus `init`, which creates the engine. */
export interface WorkerApi extends RecommenderApi {
  /** Creates the engine. Resolves with its info once it is ready. */
  init(config: EngineConfig, onProgress?: (p: LoadProgress) => unknown): Promise<EngineInfo>;
  /** A history write with the page's write id: applied at most once (see RecommenderEngine.applyWrite). */
  applyWrite(writeId: string, method: HistoryWrite, args: unknown[]): Promise<unknown>;
}

export { PING, PONG };

/**
 * Answers the page's liveness pings on `endpoint` (src/contract/protocol.ts PING). With `direct`,
 * each answer says that this worker serves direct calls and reads the packed catalog
 * (src/contract/catalog-wire.ts); `settling` adds the SETTLING field while it returns true.
 */
export function answerPings(endpoint: Comlink.Endpoint, direct = false, settling: () => boolean = () => false): void {
  endpoint.addEventListener('message', (ev) => {
    const n = ((ev as MessageEvent).data as Record<string, unknown> | null)?.[PING];
    if (typeof n === 'number') {
      const pong: Record<string, unknown> = direct ? { [PONG]: n, [DIRECT]: DIRECT_VERSION, [CATALOG_WIRE]: CATALOG_WIRE_VERSION } : { [PONG]: n };
      if (settling()) pong[SETTLING] = true;
      endpoint.postMessage(pong);
    }
  });
}

/**
 * A catalog as the page sent it: the packed form unpacked and checked in one pass (the engine
 * takes it as checked; `where` names it in the errors), anything else as it is (the engine validates it).
 */
async function catalogFromWire(catalog: CatalogItem[], where: string): Promise<CatalogItem[] | PackedItems> {
  return isPackedCatalog(catalog) ? unpackCheckedCatalog(catalog, where) : catalog;
}

const DIRECT_SET = new Set<string>(DIRECT_METHODS);

/**
 * Serves the direct calls (src/contract/protocol.ts DIRECT_METHODS) on `endpoint`: one message in,
 * one out, the error serialised with its name and code as Comlink's path does.
 */
export function answerDirectCalls(endpoint: Comlink.Endpoint, api: WorkerApi): void {
  endpoint.addEventListener('message', (ev) => {
    const msg = (ev as MessageEvent).data as Partial<DirectCall> | null;
    const n = msg?.[DIRECT];
    if (typeof n !== 'number') return;
    const reply = (r: DirectReply) => {
      try {
        endpoint.postMessage(r);
      } catch (e) {
        // A value that cannot be cloned: the caller still gets an answer.
        endpoint.postMessage({ [DIRECT_REPLY]: n, error: serializeError(e) } satisfies DirectReply);
      }
    };
    const method = msg!.method as DirectMethod;
    let p: Promise<unknown>;
    try {
      if (!DIRECT_SET.has(method) || !Array.isArray(msg!.args)) throw new ScenerecError('INTERNAL', `"${String(method)}" is not a direct call of this worker.`);
      p = (api[method] as (...a: unknown[]) => Promise<unknown>)(...msg!.args);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (value) => reply({ [DIRECT_REPLY]: n, value } as DirectReply),
      (e) => reply({ [DIRECT_REPLY]: n, error: serializeError(e) }),
    );
  });
}

/** The engine hooks a worker script may pass: `fetch`, and `onFallback` to hear of a backend switch after a device loss. */
export type WorkerHooks = Pick<EngineHooks, 'fetch' | 'onFallback'>;

/**
 * Builds the exposed object (separate from `exposeEngine` so it can be tested directly);
 * `settling` (set on the returned function's side) reads the current engine's `settling`.
 */
export function createWorkerApi(hooks: WorkerHooks = {}, state: { settling?: () => boolean } = {}): WorkerApi {
  let engine: RecommenderEngine | null = null;
  let starting = false;
  state.settling = () => engine?.settling ?? false;

  const run = async <T>(f: (e: RecommenderEngine) => Promise<T>): Promise<T> => {
    try {
      if (!engine) throw new ScenerecError('INTERNAL', 'The recommender worker is not initialised: call init() first (createRecommender does).');
      return await f(engine);
    } catch (e) {
      if (!(e instanceof ScenerecError)) console.error('[scenerec worker]', e);
      throw e;
    }
  };

  const api = {
    async init(config: EngineConfig, onProgress?: (p: LoadProgress) => unknown): Promise<EngineInfo> {
      if (starting || (engine && !engine.isDisposed)) {
        throw new ScenerecError('INTERNAL', 'The recommender worker is already initialised; dispose() it first or use a new worker.');
      }
      starting = true;
      const delivered: Promise<unknown>[] = [];
      try {
        // Loaded on demand: keeps TF.js out of any page bundle that imports this module.
        const { createEngine } = await import('./engine.js');
        // A packed catalog goes to the engine as it came: it is unpacked and checked there while the model loads.
        engine = await createEngine(config, {
          fetch: hooks.fetch,
          onFallback: hooks.onFallback,
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
    dispose: async () => { await engine?.dispose(); },
    setCatalog: (catalog: CatalogItem[]) => run(async (e) => e.setCatalog(await catalogFromWire(catalog, 'catalog'))),
    applyWrite: (writeId: string, method: HistoryWrite, args: unknown[]) =>
      run((e) => (e.applyWrite as (id: string, m: HistoryWrite, a: unknown[]) => Promise<unknown>).call(e, writeId, method, args)),
  } as WorkerApi;
  for (const method of FORWARDED_METHODS) {
    if (method in api) continue;
    (api as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
      run((e) => (e[method] as (...a: unknown[]) => Promise<unknown>).apply(e, args));
  }
  return api;
}

/**
 * Exposes the engine API on `endpoint` (default: the worker's global scope).
 * Call once, at the top level of the worker module.
 */
export function exposeEngine(endpoint: Comlink.Endpoint = globalThis as unknown as Comlink.Endpoint, hooks: WorkerHooks = {}): WorkerApi {
  registerErrorTransfer();
  const state: { settling?: () => boolean } = {};
  const api = createWorkerApi(hooks, state);
  answerDirectCalls(endpoint, api);
  answerPings(endpoint, true, () => state.settling?.() ?? false);
  Comlink.expose(api, endpoint);
  return api;
}
