/**
 * The recommender engine (worker side): the facade that owns the lifecycle and the public API.
 * It runs in whatever realm creates it (the Web Worker in production, Node in unit tests) and
 * implements RecommenderApi from src/contract/protocol.ts.
 *
 * The work is elsewhere: backend choice (./backend-choice.ts), the backend in use and the switch
 * to another after a GPU device loss (./backend-switch.ts), the catalog and its matrix
 * (./catalog.ts), the forward and scoring (./forward.ts), history -> model input
 * (src/model/inputs.ts), the scenes (./scenes/), ranking (src/ranking/). What stays here: the
 * write queue (a read sees every write issued before it), state checks (disposed), load and
 * warm-up, and the history controls.
 */
import * as tf from '@tensorflow/tfjs';
import { CATALOG_CHECK_WAIT_MS, MODEL_CACHE_DISPOSE_WAIT_MS, MODEL_CACHE_WRITE_WAIT_MS, WARMUP_CALLS, WARMUP_CALLS_LARGE, WARMUP_LARGE_MIN_ROWS } from '../contract/defaults.js';
import { DeviceLostError, DisposedError, InvalidOptionsError, InvalidRequestError, ScenerecError } from '../contract/errors.js';
import { isPackedCatalog, PackedItems, unpackCheckedCatalog, type CatalogItems } from '../contract/catalog-wire.js';
import { isCpuBackend } from '../contract/protocol.js';
import {
  partitionEvents, resolveEngineConfig, validateCatalogInSlices, validateEvents, validateHistoryQuery, validateRequest,
  type ResolvedEngineConfig,
} from '../contract/options.js';
import type {
  BackendFallback, BackendName, CatalogItem, EngineConfig, EngineInfo, EngineWarning, HistoryExport, HistoryQuery, HistoryWrite, LoadProgress, ModelCacheInfo, RecommendResult, RecommenderApi,
  SceneName, SceneRequestMap, StoredEvent, TrackEvent, TrackResult,
} from '../contract/protocol.js';
import type { ModelHeader, ModelVocab } from '../model/artifacts.js';
import type { HostItemTable } from '../model/item-table.js';
import { ContentIndexer, SCENE_CODES } from '../model/features.js';
import { historyView, type HistoryView } from '../model/inputs.js';
import { LoadDeadline } from '../model/deadline.js';
import { loadModel, type DownloadProgress } from '../model/loader.js';
import { FeedbackView, lastInteractions } from '../ranking/feedback.js';
import type { WeightMap } from '../model/sasrec.js';
import { now } from '../util/clock.js';
import { resolveUrl } from '../util/url.js';
import type { BackendSelection } from './backend.js';
import { chooseBackend } from './backend-choice.js';
import { BackendSwitch, type HostWeights } from './backend-switch.js';
import { Catalog, coverageWarnings, type CatalogBuildOptions } from './catalog.js';
import { ForwardRunner, type ForwardHooks } from './forward.js';
import { SCENE_REGISTRY, type SceneContext } from './scenes/index.js';
import { openStorage, type ScenerecStorage } from './store/index.js';

export interface EngineHooks extends ForwardHooks {
  /** Loading progress. */
  onProgress?: (p: LoadProgress) => void;
  /** Replaces the global fetch for the model files (Node tests read files through it). */
  fetch?: typeof fetch;
  /** Aborts the load (AbortError); `config.timeoutMs` bounds it too. */
  signal?: AbortSignal;
  /** Replaces the realm's Cache Storage for the model files (null: no cache). */
  caches?: CacheStorage | null;
  /** Tests only: false makes ranking build every scored row's candidate (the lists are the same). */
  candidateShortcut?: boolean;
  /**
   * Called with each warning of the load and of setCatalog (a catalog the model barely knows), as
   * it is found; the same warnings are in EngineInfo.warnings and the load's 'warning' progress stage.
   */
  onWarning?: (warning: EngineWarning) => void;
  /**
   * Called when the engine switched backend after a GPU device loss (or found none to switch to:
   * `fallback.error`), with the engine info as it is now. The same record is in EngineInfo.fallbacks.
   */
  onFallback?: (fallback: BackendFallback, info: EngineInfo) => void;
  /**
   * Tests only: the device-lost signal of each backend the engine runs on (in place of the WebGPU
   * device's `lost` promise), so a loss can be simulated on a backend without a device.
   */
  deviceLost?: (backend: BackendName) => Promise<string>;
  /**
   * Offline replays only: the wall clock (milliseconds since the epoch) the engine reads for the
   * shopper's time: event timestamps left out and their validation, retention, and the decay of
   * impressions and dismissals. Default Date.now. A replay of logged days runs it on the logged time.
   */
  clock?: () => number;
}

/** The loaded model as the engine's parts read it. */
interface LoadedParts {
  header: ModelHeader;
  vocab: ModelVocab;
  weights: WeightMap;
  modelIndex: ReadonlyMap<string, number>;
  content?: ContentIndexer;
  /** The loader's JS copy of the item table, held only until the first catalog is built (catalog.ts). */
  itemTable?: Float32Array;
  /** The item table held once in a kernel's memory, in place of weights.itemEmbedding (CPU backends' fused path; item-table.ts). */
  hostItemTable?: HostItemTable;
}

/** What a recommend reads of the history, rebuilt when the store's change counter moved. */
interface HistoryState {
  version: number;
  view: HistoryView;
  events: readonly StoredEvent[];
  /** Last interaction time per item (answers impressions, lifts dismissals). */
  lastInteraction: ReadonlyMap<string, number>;
}

/** Home lists the load computes to warm up, for a catalog matrix of `rows` rows (WARMUP_CALLS_LARGE). */
export function warmupCalls(rows: number): number {
  return rows >= WARMUP_LARGE_MIN_ROWS ? WARMUP_CALLS_LARGE : WARMUP_CALLS;
}

/**
 * In-process recommender engine. Create with `createEngine` (or `RecommenderEngine.create`).
 * One engine per realm: TF.js backends are global to the realm.
 */
export class RecommenderEngine implements RecommenderApi {
  private catalog!: Catalog;
  private disposed = false;
  /** The backend in use, its forward, and the switch to another after a device loss. */
  private readonly backends: BackendSwitch;
  private warmupMs = 0;
  private loadMs = 0;
  /** The write of a downloaded model's copy for the next visit, until it settles (see `dispose`). */
  private cacheWrite: Promise<void> | undefined;
  /** Work started after the load or a catalog change that is still running (see `settling`). */
  private pendingSettle = 0;
  private modelCache: ModelCacheInfo | undefined;
  /** Warnings of the load or the last setCatalog (EngineInfo.warnings). */
  private warnings: EngineWarning[] = [];
  /** The last history write; reads wait for it, so a recommend sees every track called before it. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  /** The history view of the last recommend, the events and last interactions, and the history version they were built from. */
  private view: HistoryState | null = null;
  /** Settles once the first list after the load was served (or refused), or at dispose. */
  private readonly firstList: Promise<void>;
  private firstListDone!: () => void;

  private constructor(
    private readonly config: ResolvedEngineConfig,
    private readonly modelUrl: string,
    selection: BackendSelection,
    private readonly model: LoadedParts,
    forward: ForwardRunner,
    hostWeights: HostWeights | null,
    private readonly storage: ScenerecStorage,
    private readonly hooks: EngineHooks,
  ) {
    this.firstList = new Promise<void>((resolve) => { this.firstListDone = resolve; });
    this.backends = new BackendSwitch(selection, forward, hostWeights, model, config, {
      get: () => storage.meta.get('backend'),
      put: (v) => storage.meta.set(v),
    }, hooks, {
      disposed: () => this.disposed,
      assertUsable: () => this.assertUsable(),
      guarded: (work) => this.guarded(work),
      catalog: () => this.catalog,
      useCatalog: (catalog) => { this.catalog = catalog; this.settleAfter(catalog.matrix?.startBackgroundWork?.()); },
      catalogOptions: () => this.catalogOptions(),
      warmUp: () => this.warmUp(),
      currentInfo: () => this.currentInfo(),
    });
  }

  /**
   * Validates the config, opens the history, picks a backend, loads and warms up the model, all
   * within `config.timeoutMs` and `hooks.signal` (AbortError / ModelLoadError; nothing is kept).
   */
  static async create(configArg: EngineConfig = {}, hooks: EngineHooks = {}): Promise<RecommenderEngine> {
    const t0 = now();
    const report = (p: LoadProgress) => { try { hooks.onProgress?.(p); } catch { /* a throwing callback must not break loading */ } };
    // A catalog (a plain array, or the packed form a worker received: src/contract/catalog-wire.ts)
    // is checked in slices while the history opens, the backend starts and the model downloads
    // (a worker keeps answering its pings meanwhile); a bad one ends the load with its error.
    const given = (configArg as { catalog?: unknown } | null)?.catalog;
    const later = isPackedCatalog(given) || (Array.isArray(given) && given.length > 0);
    let config = resolveEngineConfig(later ? { ...configArg, catalog: undefined } : configArg);
    const modelUrl = resolveUrl(config.modelUrl);
    const deadline = new LoadDeadline(config.timeoutMs, hooks.signal);
    deadline.check('starting');
    const catalogRows = isPackedCatalog(given) ? given.count : Array.isArray(given) ? given.length : undefined;
    // The check starts once the model's files are being read (see `onReadsStarted`), or after CATALOG_CHECK_WAIT_MS.
    let readsStarted!: () => void;
    const reading = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CATALOG_CHECK_WAIT_MS);
      readsStarted = () => { clearTimeout(timer); resolve(); };
    });
    const checkedCatalog: Promise<CatalogItem[] | CatalogItems | undefined> = !later ? Promise.resolve(config.catalog)
      : reading.then((): Promise<CatalogItem[] | CatalogItems> => (isPackedCatalog(given) ? unpackCheckedCatalog(given, 'options.catalog') : validateCatalogInSlices(given, 'options.catalog'))).then((items) => {
        if (items.length === 0) throw new InvalidOptionsError('options.catalog is empty; leave it out to recommend from the whole model vocabulary.', { field: 'options.catalog' });
        return items;
      });
    checkedCatalog.catch((e) => deadline.fail(e instanceof ScenerecError ? e : new ScenerecError('INTERNAL', String(e))));

    let storage: ScenerecStorage | undefined;
    let weights: WeightMap | undefined;
    let engine: RecommenderEngine | undefined;
    // The model files download while the history opens and the backend starts; the vocabulary is
    // parsed and the weights decoded once the backend is known (see `decodeFor`). Download
    // progress is reported from the backend's 'ready' on, so the stages keep their order.
    let backendKnown!: (hostTable: boolean) => void;
    let backendFailed!: (e: unknown) => void;
    const decodeFor = new Promise<boolean>((resolve, reject) => { backendKnown = resolve; backendFailed = reject; });
    decodeFor.catch(() => undefined);
    let heldDownload: DownloadProgress[] | null = [];
    let lastBytes = -1;
    const download = (p: DownloadProgress) => {
      if (heldDownload) { heldDownload.splice(Math.min(1, heldDownload.length), 1, p); return; } // the first and the latest
      if (p.loadedBytes <= lastBytes) return;
      lastBytes = p.loadedBytes;
      report({ stage: 'download', loadedFraction: p.totalBytes > 0 ? Math.min(1, p.loadedBytes / p.totalBytes) : 1, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes });
    };
    const loading = loadModel(modelUrl, {
      fetch: hooks.fetch, onProgress: download, deadline, stallTimeoutMs: config.stallTimeoutMs,
      cache: config.modelCache, caches: hooks.caches, hostItemTable: decodeFor,
      // A catalog in the vocabulary's order lends the vocabulary its id map (a failed check ends the load).
      indexVocab: (index) => checkedCatalog.then((items) => index.complete(items), () => undefined),
      // The copy for the next visit is written after the load (EngineInfo.modelCache.storing).
      deferCacheWrite: true,
      onReadsStarted: readsStarted,
    });
    loading.catch(() => undefined); // awaited below; a failure before that must not leave it unhandled
    try {
      const opened = openStorage(config.dbName);
      storage = await deadline.race(opened, 'opening the history database').catch((e) => {
        opened.then((s) => s.close(), () => undefined); // opened after the deadline: close it all the same
        throw e;
      });
      const store = storage;
      // Degrades instead of failing (read-only over quota, memory without IndexedDB): recommending needs no writes.
      if (store.mode !== 'indexeddb') {
        report({ stage: 'storage', storage: store.mode, reason: store.reason ?? store.mode });
        console.warn(`[scenerec] history storage is '${store.mode}': ${store.reason}`);
      }
      const selection = BackendSwitch.withLossSignal(await deadline.race(chooseBackend(config, {
        get: () => store.meta.get('backend'),
        put: (verdict) => store.meta.set(verdict),
      }, report, catalogRows), 'starting a backend'), hooks);
      // One copy of the item table on the CPU backends' fused path (no tensor of it; the switch
      // after a device loss needs a tensor, so backends that keep a host copy of the weights do not).
      backendKnown(isCpuBackend(selection.backend) && hooks.forward !== 'tfjs' && !BackendSwitch.needsHostWeights(selection, hooks));
      const held = heldDownload;
      heldDownload = null;
      for (const p of held) download(p);
      const loaded = await loading; // bounded by the deadline itself, with the download's details in its error
      weights = loaded.weights;
      deadline.check('loading the model');
      config = { ...config, catalog: await deadline.race(checkedCatalog, 'checking the catalog') };
      report({ stage: 'model', numItems: loaded.header.config.numItems, weightBytes: loaded.weightBytes });

      const { header, vocab } = loaded;
      const modelIndex = loaded.modelIndex;
      const content = header.config.features && vocab.features ? new ContentIndexer(vocab.features) : undefined;
      const model: LoadedParts = { header, vocab, weights, modelIndex, content, itemTable: loaded.itemTable, hostItemTable: loaded.hostItemTable };
      loaded.itemTable = undefined;
      const hostWeights = BackendSwitch.needsHostWeights(selection, hooks) ? await BackendSwitch.readHostWeights(weights) : null;
      const forward = new ForwardRunner(model, selection, hooks);
      engine = new RecommenderEngine(config, modelUrl, selection, model, forward, hostWeights, store, hooks);
      engine.modelCache = loaded.cache;
      const built = engine;
      // A device loss during the load switches backend as later on; the switch builds the catalog then.
      await deadline.race(built.onBackend(async () => {
        if (built.catalog) return;
        const generation = built.backends.generation;
        const catalog = await Catalog.build(config.catalog, model, built.catalogOptions());
        if (generation !== built.backends.generation) {
          catalog.dispose();
          throw new DeviceLostError('The GPU device was lost while the catalog was built.');
        }
        built.catalog = catalog;
        model.itemTable = undefined; // a later catalog gathers its rows on the backend
      }), 'building the catalog');
      built.warnings = coverageWarnings(built.catalog.coverage, built.catalog.items.length, built.catalog.given);
      for (const warning of built.warnings) {
        report({ stage: 'warning', warning });
        built.warn(warning);
      }
      report({ stage: 'warmup' });
      engine.warmupMs = await deadline.race(built.onBackend(() => built.warmUp()), 'warming up');
      report({ stage: 'warmup', ms: engine.warmupMs });
      await deadline.race(Promise.all([
        // Read-only: pruning would be a write the shop did not ask for, and may fail over the quota.
        store.mode === 'read-only' ? 0 : store.history.prune(config.retention, hooks.clock?.()),
        // Spent feedback only (and nothing in read-only mode): a failure here changes no list.
        store.feedback.prune(hooks.clock?.()).catch(() => 0),
        store.meta.set({ key: 'model', modelVersion: header.modelVersion, modelUrl, loadedAt: Date.now() }),
      ]), 'finishing the load');
      engine.loadMs = now() - t0;
      report({ stage: 'ready', info: engine.currentInfo() });
      // Only a speed-up (the prefilter): built once the engine serves, not on the load's path.
      const background = engine.catalog.matrix?.startBackgroundWork?.() ?? Promise.resolve();
      // For the next visit only: the copy of a downloaded model goes into the cache after the load,
      // that background work and the first list (MODEL_CACHE_WRITE_WAIT_MS when none is asked for).
      // `settling` spans the work itself (the build, the write), not the wait for the first list between them.
      const ready = engine;
      ready.settleAfter(background);
      const writing = background.catch(() => undefined).then(() => new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, MODEL_CACHE_WRITE_WAIT_MS);
        void built.firstList.then(() => { clearTimeout(timer); resolve(); });
      })).then(() => {
        const write = loaded.writeCache();
        ready.settleAfter(write);
        return write;
      });
      if (loaded.cache.storing) ready.cacheWrite = writing;
      return engine;
    } catch (e) {
      // A load that failed beside the download (history, backend) stops it, and decodes nothing.
      deadline.fail(e instanceof ScenerecError ? e : new ScenerecError('INTERNAL', String(e)));
      backendFailed(e);
      if (engine) await engine.dispose(); // weights, catalog matrix, store
      else {
        if (weights) tf.dispose(Object.values(weights));
        else await loading.then((late) => tf.dispose(Object.values(late.weights)), () => undefined);
        storage?.close();
      }
      throw e;
    } finally {
      deadline.clear();
    }
  }

  /** Tells the shop's onWarning hook and the console; a throwing hook must not break the engine. */
  private warn(warning: EngineWarning): void {
    console.warn(`[scenerec] ${warning.message}`);
    try { this.hooks.onWarning?.({ ...warning, details: { ...warning.details } }); } catch { /* the shop's callback */ }
  }

  private catalogOptions(): CatalogBuildOptions {
    return {
      embeddingDtype: this.config.embeddingDtype,
      cache: this.config.cacheCatalog
        ? this.storage.catalogCache
        : undefined,
    };
  }

  // -------------------------------------------------------------------------------------------
  // state checks and the write queue

  private assertUsable(): void {
    if (this.disposed) throw new DisposedError('This recommender was disposed; create a new one.');
  }

  /** After an awaited step: a late result must not hide a disposal. */
  private async guarded<T>(work: Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work;
    } catch (e) {
      this.assertUsable();
      throw e;
    }
    this.assertUsable();
    return result;
  }

  /**
   * Starts a history write now and records it for later reads. A write that reached the store
   * resolves, whatever happened meanwhile (a device loss, a dispose): a rejected write changed nothing.
   */
  private async write<T>(start: () => Promise<T>): Promise<T> {
    const p = start();
    this.lastWrite = p.catch(() => undefined);
    try {
      return await p;
    } catch (e) {
      this.assertUsable();
      throw e;
    }
  }

  /** Reads history after every write issued so far. */
  private async read<T>(start: () => Promise<T>): Promise<T> {
    await this.lastWrite;
    return this.guarded(start());
  }

  // -------------------------------------------------------------------------------------------
  // the backend in use, as the switch holds it (./backend-switch.ts: it changes after a device loss)

  /** The shopper's time now (hooks.clock in a replay). */
  private clock(): number {
    return this.hooks.clock ? this.hooks.clock() : Date.now();
  }

  private get selection(): BackendSelection {
    return this.backends.selection;
  }

  private get forward(): ForwardRunner {
    return this.backends.forward;
  }

  private get fallbacks(): BackendFallback[] {
    return this.backends.info();
  }

  /** Model-side work on the current backend, run once more on the next after a device loss. */
  private onBackend<T>(work: () => Promise<T>): Promise<T> {
    return this.backends.onBackend(work);
  }

  /** The scenes' view of the current state. */
  private sceneContext(history: HistoryView, events: readonly StoredEvent[] = [], feedback: FeedbackView = FeedbackView.EMPTY): SceneContext {
    return {
      catalog: this.catalog, history, events, feedback, forward: this.forward, modelIndex: this.model.modelIndex,
      contentModel: this.model.content !== undefined, options: this.config, shortcut: this.hooks.candidateShortcut !== false,
    };
  }

  /** The history as the model reads it; rebuilt only when the stored events changed (the store's version moved). */
  private async historyState(): Promise<HistoryState> {
    const { events, version } = await this.read(() => this.storage.history.snapshot());
    if (this.view?.version !== version) {
      this.view = { version, view: historyView(events, this.model.modelIndex), events, lastInteraction: lastInteractions(events) };
    }
    return this.view;
  }

  /** Impressions and dismissals as of now, against the history's last interactions. */
  private async feedbackView(history: HistoryState): Promise<FeedbackView> {
    const records = await this.read(() => this.storage.feedback.records());
    if (records.size === 0) return FeedbackView.EMPTY;
    const cat = this.catalog;
    return new FeedbackView({ records: records.values(), lastInteraction: history.lastInteraction, now: this.clock() }, (id) => cat.lookup(id));
  }

  /**
   * The stored history read into memory, then a few home lists on a one-item history (forward,
   * scoring, ranking), so shader compilation, the JIT of the ranking code and the first IndexedDB
   * read do not hit the first real calls. Returns ms.
   */
  private async warmUp(): Promise<number> {
    const t0 = now();
    // Fills the store's in-memory copy (kept up to date by this engine's own writes). A failure is
    // not fatal here: recommend reads again and reports it there.
    await this.read(() => this.storage.history.events()).catch(() => undefined);
    const cat = this.catalog;
    const first = cat.popularOrder.length > 0 ? cat.items.idAt(cat.popularOrder[0]) : undefined;
    const seed = first !== undefined ? this.model.modelIndex.get(first) ?? 1 : 1;
    const history: HistoryView = {
      sequence: [seed], steps: [{ itemId: this.model.vocab.itemIds[seed], m: seed, behaviour: 1, scene: SCENE_CODES.home }],
      purchased: new Set(), cart: [],
    };
    const req = validateRequest('home', {});
    for (let i = 0, calls = warmupCalls(cat.rows); i < calls; i++) await SCENE_REGISTRY.home.recommend(this.sceneContext(history), req);
    return now() - t0;
  }

  // -------------------------------------------------------------------------------------------
  // public API

  /**
   * Validates and stores events (all or nothing at validation). Unknown item ids are stored but not
   * used for scoring. Impressions and dismissals go to the feedback store, the others to the history,
   * in one transaction: a rejected call stored neither, so it can be retried as it is.
   * Needs no GPU: works during and after a device loss; stored means resolved.
   */
  async track(events: TrackEvent | TrackEvent[]): Promise<TrackResult> {
    return this.trackOnce(events, undefined);
  }

  /**
   * A history write with the page's write id (the page's replay after a lost worker): a write id the
   * store applied before is not applied again and answers as the first time (src/engine/store/writes.ts).
   */
  applyWrite<M extends HistoryWrite>(writeId: string, method: M, args: Parameters<RecommenderApi[M]>): ReturnType<RecommenderApi[M]>;
  async applyWrite(writeId: string, method: HistoryWrite, args: unknown[]): Promise<unknown> {
    if (typeof writeId !== 'string' || writeId.length === 0) throw new InvalidRequestError('applyWrite needs a non-empty write id.', { field: 'writeId' });
    switch (method) {
      case 'track': return this.trackOnce(args[0] as TrackEvent | TrackEvent[], writeId);
      case 'forgetItem': return this.forgetItemOnce(args[0] as string, writeId);
      case 'clearHistory': return this.clearHistoryOnce(writeId);
      default: throw new InvalidRequestError(`applyWrite: "${String(method)}" is not a history write.`, { field: 'method' });
    }
  }

  private async trackOnce(events: TrackEvent | TrackEvent[], writeId: string | undefined): Promise<TrackResult> {
    this.assertUsable();
    const valid = validateEvents(events, this.clock());
    const { history, feedback } = partitionEvents(valid);
    const { stored, pruned, outsideRetention } = await this.write(async () => {
      const now = this.clock();
      if (feedback.length === 0) return this.storage.history.add(history, this.config.retention, now, writeId);
      await this.lastWrite; // the writes issued before (a click that answers these impressions)
      const lastInteraction = await this.lastInteractionWith(history);
      if (history.length === 0) {
        await this.storage.feedback.apply(feedback, lastInteraction, now, writeId);
        return { stored: 0, pruned: 0, outsideRetention: 0 };
      }
      // Both kinds in one call: stored together or not at all (one transaction in IndexedDB).
      return this.storage.track({ events: history, feedback, retention: this.config.retention, now, lastInteraction, writeId });
    });
    const unknown = new Set<string>();
    const notInCatalog = new Set<string>();
    for (const ev of valid) {
      if (!ev.itemId || this.model.modelIndex.has(ev.itemId)) continue;
      unknown.add(ev.itemId);
      if (!this.catalog.posById.has(ev.itemId)) notInCatalog.add(ev.itemId);
    }
    const result: TrackResult = { stored: stored + feedback.length, unknownItems: [...unknown], notInCatalog: [...notInCatalog], pruned, outsideRetention };
    if (feedback.length > 0) result.feedback = feedback.length;
    return result;
  }

  /** An item's last interaction: the stored history's or this batch's, whichever is later. */
  private async lastInteractionWith(batch: Parameters<typeof lastInteractions>[0]): Promise<(itemId: string) => number | undefined> {
    const { events } = await this.storage.history.snapshot();
    const stored = lastInteractions(events);
    const inBatch = lastInteractions(batch);
    return (id) => {
      const a = stored.get(id);
      const b = inBatch.get(id);
      return a === undefined ? b : b === undefined ? a : Math.max(a, b);
    };
  }

  /** Recommends for a scene. See the scene request types for the options. */
  async recommend<S extends SceneName>(scene: S, request: SceneRequestMap[S]): Promise<RecommendResult> {
    this.assertUsable();
    const t0 = now();
    const req = validateRequest(scene, request);
    const { out, backend } = await this.onBackend(async () => {
      const history = await this.historyState();
      const feedback = await this.feedbackView(history);
      const ran = this.selection.backend;
      return { out: await SCENE_REGISTRY[scene].recommend(this.sceneContext(history.view, history.events, feedback), req), backend: ran };
    }).finally(this.firstListDone);
    return {
      scene,
      items: out.items,
      backend,
      modelVersion: this.model.header.modelVersion,
      latencyMs: now() - t0,
      historyUsed: out.used,
    };
  }

  /**
   * Replaces the catalog (an array of items, or the form a worker unpacked from the page's packed
   * one: src/contract/catalog-wire.ts, already checked). Returns the new engine info.
   */
  async setCatalog(catalog: CatalogItem[] | PackedItems): Promise<EngineInfo> {
    this.assertUsable();
    const items = catalog instanceof PackedItems ? catalog : await validateCatalogInSlices(catalog);
    if (items.length === 0) {
      throw new InvalidOptionsError('catalog is empty; pass at least one item.', { field: 'catalog' });
    }
    await this.onBackend(async () => {
      const generation = this.backends.generation;
      const next = await Catalog.build(items, this.model, this.catalogOptions());
      if (this.disposed || generation !== this.backends.generation) {
        // Built on a backend that was disposed or lost meanwhile.
        next.dispose();
        this.assertUsable();
        throw new DeviceLostError('The GPU device was lost while the catalog was built.');
      }
      const old = this.catalog;
      this.catalog = next;
      old.dispose();
      this.settleAfter(next.matrix?.startBackgroundWork?.());
    });
    this.warnings = coverageWarnings(this.catalog.coverage, this.catalog.items.length, this.catalog.given);
    for (const w of this.warnings) this.warn(w);
    // Warms the new shapes.
    const steps = [{ itemId: this.model.vocab.itemIds[1], m: 1, behaviour: 1, scene: SCENE_CODES.home }];
    await this.forward.run({ sequence: [1], steps }, this.catalog, 'home').catch(() => undefined);
    return this.currentInfo();
  }

  private currentInfo(): EngineInfo {
    const cat = this.catalog;
    const info: EngineInfo = {
      backend: this.selection.backend,
      storage: this.storage.mode,
      rejectedBackends: [...this.selection.rejected],
      modelUrl: this.modelUrl,
      modelVersion: this.model.header.modelVersion,
      numModelItems: this.model.header.config.numItems,
      catalogSize: cat.items.length,
      catalogItemsKnownToModel: cat.coverage.learned,
      coverage: { ...cat.coverage },
      objectives: [...this.forward.objectives],
      loadMs: this.loadMs,
      warmupMs: this.warmupMs,
      modelCache: this.modelCache && { ...this.modelCache },
      backendReason: this.selection.reason,
      forward: this.forward.info,
    };
    if (this.storage.reason !== undefined) info.storageReason = this.storage.reason;
    if (this.selection.probe) info.backendProbe = this.selection.probe.map((p) => ({ ...p }));
    const scoring = cat.info();
    if (scoring) info.scoring = scoring;
    if (this.selection.adapter) info.adapter = { ...this.selection.adapter };
    if (this.fallbacks.length > 0) info.fallbacks = this.fallbacks.map((f) => ({ ...f }));
    if (this.warnings.length > 0) info.warnings = this.warnings.map((w) => ({ ...w, details: { ...w.details } }));
    return info;
  }

  /** The engine's state; during a switch after a device loss, as of its end (bounded wait). */
  async info(): Promise<EngineInfo> {
    await this.backends.ready().catch((e) => { if (!(e instanceof DeviceLostError)) throw e; });
    return this.currentInfo();
  }

  // The history controls need no GPU: they work during and after a device loss.

  async listHistory(query?: HistoryQuery): Promise<StoredEvent[]> {
    this.assertUsable();
    const q = validateHistoryQuery(query);
    return this.read(() => this.storage.history.list(q));
  }

  /** The stored history and the feedback kept per item. */
  async exportHistory(): Promise<HistoryExport> {
    this.assertUsable();
    return this.read(async () => {
      const out = await this.storage.history.export();
      return { ...out, feedback: [...(await this.storage.feedback.records()).values()].map((r) => ({ ...r })) };
    });
  }

  /** Removes every event about this item and its feedback (impressions, dismissal). Returns how many history events were removed. */
  async forgetItem(itemId: string): Promise<number> {
    return this.forgetItemOnce(itemId, undefined);
  }

  private async forgetItemOnce(itemId: string, writeId: string | undefined): Promise<number> {
    this.assertUsable();
    if (typeof itemId !== 'string' || itemId.length === 0) throw new InvalidRequestError('forgetItem needs a non-empty item id.', { field: 'itemId' });
    return this.write(async () => {
      await this.storage.feedback.forgetItem(itemId);
      return this.storage.history.forgetItem(itemId, writeId);
    });
  }

  /** Removes every history event and all feedback. */
  async clearHistory(): Promise<void> {
    return this.clearHistoryOnce(undefined);
  }

  private async clearHistoryOnce(writeId: string | undefined): Promise<void> {
    this.assertUsable();
    await this.write(async () => {
      await this.storage.feedback.clear();
      await this.storage.history.clear(writeId);
    });
  }

  /** Releases the weights, the catalog matrix and the database connection. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.firstListDone(); // a model's cache write still waiting for a list starts now
    this.catalog?.dispose();
    tf.dispose(Object.values(this.model.weights));
    // Plain-JS memory (the fused path's kernel and item table, the cached history): drop the
    // references so an in-page engine frees them too, not only a terminated worker.
    this.backends.dispose();
    this.view = null;
    // A downloaded model's copy for the next visit is let finish (it holds only the files' bytes),
    // for MODEL_CACHE_DISPOSE_WAIT_MS at most: a shop that disposes right after its first lists
    // would otherwise download the model again on the next visit.
    if (this.cacheWrite) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.cacheWrite, new Promise<void>((resolve) => { timer = setTimeout(resolve, MODEL_CACHE_DISPOSE_WAIT_MS); })]);
      clearTimeout(timer);
    }
    this.storage.close();
  }

  /**
   * True while work that follows the load or a catalog change still runs in this thread (the
   * prefilter's build, the model's cache write): it can hold the thread for longer than a call does,
   * so the page's liveness check gives the worker its loading deadline meanwhile (src/client/supervisor.ts).
   */
  get settling(): boolean {
    return this.pendingSettle > 0 && !this.disposed;
  }

  /** Counts `work` in `settling` until it settles (failures are the work's own to report). */
  private settleAfter(work: Promise<unknown> | undefined): void {
    if (!work) return;
    this.pendingSettle++;
    void work.catch(() => undefined).finally(() => { this.pendingSettle--; });
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
