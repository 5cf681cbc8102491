/**
 * The recommender engine (worker side): the facade that owns the lifecycle and the public API.
 * It runs in whatever realm creates it (the Web Worker in production, Node in unit tests) and
 * implements RecommenderApi from src/contract/protocol.ts.
 *
 * The work is elsewhere: backend choice (./backend-choice.ts), the catalog and its matrix
 * (./catalog.ts), the forward and scoring (./forward.ts), history -> model input
 * (src/model/inputs.ts), the scenes (./scenes/), ranking (src/ranking/). What stays here: the
 * write queue (a read sees every write issued before it), state checks (disposed), load and
 * warm-up, the history controls, and the switch to another backend after a GPU device loss.
 *
 * Device loss: the history never touches the GPU, so track and the history controls work during
 * and after a loss, and a write that reached the store resolves. The model-side state (weights,
 * forward, catalog matrix) is rebuilt on a CPU backend from a host copy of the weights kept at load
 * on backends that can lose their device; recommend and setCatalog wait for the switch (bounded)
 * and a call that failed because of the loss runs again once on the new backend.
 */
import * as tf from '@tensorflow/tfjs';
import { DEVICE_LOSS_SETTLE_MS, FALLBACK_WAIT_MS, WARMUP_CALLS } from '../contract/defaults.js';
import { DeviceLostError, DisposedError, InvalidOptionsError, InvalidRequestError, ScenerecError } from '../contract/errors.js';
import {
  resolveEngineConfig, validateCatalog, validateEvents, validateHistoryQuery, validateRequest, type ResolvedEngineConfig,
} from '../contract/options.js';
import type {
  BackendFallback, BackendName, CatalogItem, EngineConfig, EngineInfo, EngineWarning, HistoryExport, HistoryQuery, LoadProgress, ModelCacheInfo, RecommendResult, RecommenderApi,
  SceneName, SceneRequestMap, StoredEvent, TrackEvent, TrackResult,
} from '../contract/protocol.js';
import type { ModelHeader, ModelVocab } from '../model/artifacts.js';
import { ContentIndexer, SCENE_CODES } from '../model/features.js';
import { historyView, type HistoryView } from '../model/inputs.js';
import { LoadDeadline } from '../model/deadline.js';
import { loadModel, type DownloadProgress } from '../model/loader.js';
import type { WeightMap } from '../model/sasrec.js';
import { now } from '../util/clock.js';
import { resolveUrl } from '../util/url.js';
import { canLoseDevice, dropBackend, selectBackend, type BackendSelection } from './backend.js';
import { chooseBackend, fallbackOrder, rememberDeviceLoss } from './backend-choice.js';
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
}

/** A weight tensor's values in JS memory, to rebuild it on another backend after a device loss. */
type HostWeights = Array<{ name: string; shape: number[]; dtype: tf.DataType; values: tf.TypedArray }>;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const safely = (f: () => void): void => { try { f(); } catch { /* state of a lost device: nothing left to free */ } };

/** The loaded model as the engine's parts read it. */
interface LoadedParts {
  header: ModelHeader;
  vocab: ModelVocab;
  weights: WeightMap;
  modelIndex: Map<string, number>;
  content?: ContentIndexer;
}

/**
 * In-process recommender engine. Create with `createEngine` (or `RecommenderEngine.create`).
 * One engine per realm: TF.js backends are global to the realm.
 */
export class RecommenderEngine implements RecommenderApi {
  private catalog!: Catalog;
  private disposed = false;
  /** Bumped when a device loss starts a switch: work begun before it belongs to the dead backend. */
  private generation = 0;
  /** The switch to another backend after a device loss, while it runs. */
  private switching: Promise<void> | null = null;
  /** Set when no backend could take over after a loss: model calls reject with this. */
  private failed: DeviceLostError | null = null;
  private readonly fallbacks: BackendFallback[] = [];
  /** Weights in JS memory while the backend can lose its device; null otherwise. */
  private hostWeights: HostWeights | null = null;
  private warmupMs = 0;
  private loadMs = 0;
  private modelCache: ModelCacheInfo | undefined;
  /** Warnings of the load or the last setCatalog (EngineInfo.warnings). */
  private warnings: EngineWarning[] = [];
  /** The last history write; reads wait for it, so a recommend sees every track called before it. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  /** The history view of the last recommend, and the history version it was built from. */
  private view: { version: number; view: HistoryView } | null = null;

  private constructor(
    private readonly config: ResolvedEngineConfig,
    private readonly modelUrl: string,
    private selection: BackendSelection,
    private readonly model: LoadedParts,
    private forward: ForwardRunner,
    private readonly storage: ScenerecStorage,
    private readonly hooks: EngineHooks,
  ) {
    this.watch(selection);
  }

  /** The selection with the test hook's device-lost signal, when there is one. */
  private static withLossSignal(sel: BackendSelection, hooks: EngineHooks): BackendSelection {
    return hooks.deviceLost ? { ...sel, deviceLost: hooks.deviceLost(sel.backend) } : sel;
  }

  /** Whether a host copy of the weights is kept for this backend (it can lose its device). */
  private static needsHostWeights(sel: BackendSelection, hooks: EngineHooks): boolean {
    return canLoseDevice(sel.backend) || hooks.deviceLost !== undefined;
  }

  private static async readHostWeights(weights: WeightMap): Promise<HostWeights> {
    return Promise.all(Object.entries(weights).map(async ([name, t]) => ({ name, shape: [...t.shape], dtype: t.dtype, values: await t.data() })));
  }

  /**
   * Validates the config, opens the history, picks a backend, loads and warms up the model, all
   * within `config.timeoutMs` and `hooks.signal` (AbortError / ModelLoadError; nothing is kept).
   */
  static async create(configArg: EngineConfig = {}, hooks: EngineHooks = {}): Promise<RecommenderEngine> {
    const t0 = now();
    const report = (p: LoadProgress) => { try { hooks.onProgress?.(p); } catch { /* a throwing callback must not break loading */ } };
    const config = resolveEngineConfig(configArg);
    const modelUrl = resolveUrl(config.modelUrl);
    const deadline = new LoadDeadline(config.timeoutMs, hooks.signal);
    deadline.check('starting');

    let storage: ScenerecStorage | undefined;
    let weights: WeightMap | undefined;
    let engine: RecommenderEngine | undefined;
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
      const selection = RecommenderEngine.withLossSignal(await deadline.race(chooseBackend(config, {
        get: () => store.meta.get('backend'),
        put: (verdict) => store.meta.set(verdict),
      }, report), 'starting a backend'), hooks);
      let lastBytes = -1;
      const download = ({ loadedBytes, totalBytes }: DownloadProgress) => {
        if (loadedBytes <= lastBytes) return;
        lastBytes = loadedBytes;
        report({ stage: 'download', loadedFraction: totalBytes > 0 ? Math.min(1, loadedBytes / totalBytes) : 1, loadedBytes, totalBytes });
      };
      const loaded = await loadModel(modelUrl, {
        fetch: hooks.fetch, onProgress: download, deadline, stallTimeoutMs: config.stallTimeoutMs,
        cache: config.modelCache, caches: hooks.caches,
      });
      weights = loaded.weights;
      deadline.check('loading the model');
      report({ stage: 'model', numItems: loaded.header.config.numItems, weightBytes: loaded.weightBytes });

      const { header, vocab } = loaded;
      const modelIndex = new Map<string, number>();
      vocab.itemIds.forEach((id, i) => { if (i > 0) modelIndex.set(id, i); });
      const content = header.config.features && vocab.features ? new ContentIndexer(vocab.features) : undefined;
      const model: LoadedParts = { header, vocab, weights, modelIndex, content };
      const hostWeights = RecommenderEngine.needsHostWeights(selection, hooks) ? await RecommenderEngine.readHostWeights(weights) : null;
      const forward = new ForwardRunner(model, selection, hooks);
      engine = new RecommenderEngine(config, modelUrl, selection, model, forward, store, hooks);
      engine.modelCache = loaded.cache;
      engine.hostWeights = hostWeights;
      const built = engine;
      // A device loss during the load switches backend as later on; the switch builds the catalog then.
      await deadline.race(built.onBackend(async () => {
        if (built.catalog) return;
        const generation = built.generation;
        const catalog = await Catalog.build(config.catalog, model, built.catalogOptions());
        if (generation !== built.generation) {
          catalog.dispose();
          throw new DeviceLostError('The GPU device was lost while the catalog was built.');
        }
        built.catalog = catalog;
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
        store.mode === 'read-only' ? 0 : store.history.prune(config.retention),
        store.meta.set({ key: 'model', modelVersion: header.modelVersion, modelUrl, loadedAt: Date.now() }),
      ]), 'finishing the load');
      engine.loadMs = now() - t0;
      report({ stage: 'ready', info: engine.currentInfo() });
      return engine;
    } catch (e) {
      if (engine) await engine.dispose(); // weights, catalog matrix, store
      else {
        if (weights) tf.dispose(Object.values(weights));
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
  // device loss: the switch to another backend

  /** Starts the switch when this selection's device is lost (while it is still the one in use). */
  private watch(sel: BackendSelection): void {
    void sel.deviceLost.then((reason) => {
      if (this.selection === sel && !this.disposed && this.switching === null) this.startFallback(sel, reason);
    });
  }

  private startFallback(lost: BackendSelection, reason: string): void {
    this.generation++;
    const run = this.fallBack(lost, reason).finally(() => { this.switching = null; });
    this.switching = run;
    run.catch(() => undefined);
  }

  /**
   * Releases the lost backend's state, starts the first CPU backend that works (fallbackOrder),
   * rebuilds the weights from the host copy, the forward and the catalog matrix on it, warms it up,
   * and reports the switch (EngineInfo.fallbacks, hooks.onFallback, the 'auto' verdict).
   */
  private async fallBack(lost: BackendSelection, reason: string): Promise<void> {
    const t0 = now();
    const record: BackendFallback = { from: lost.backend, reason, at: Date.now() };
    this.fallbacks.push(record);
    const old = { catalog: this.catalog, weights: this.model.weights, forward: this.forward };
    safely(() => old.catalog?.dispose());
    safely(() => tf.dispose(Object.values(old.weights)));
    old.forward.dispose();
    let built: { sel: BackendSelection; forward: ForwardRunner; catalog: Catalog } | undefined;
    try {
      if (!this.hostWeights) throw new Error('no copy of the weights was kept for this backend');
      const sel = RecommenderEngine.withLossSignal(await selectBackend(fallbackOrder(this.config.backends, lost.backend)), this.hooks);
      // Only once the new backend is the active one: with none active, an op of a call still in
      // flight would make TF.js start a backend of its own choosing.
      if (lost.backend === 'webgpu' || lost.backend === 'webgl') dropBackend(lost.backend);
      const host = this.hostWeights;
      this.model.weights = Object.fromEntries(host.map((w) => [w.name, tf.tensor(w.values, w.shape, w.dtype)])) as WeightMap;
      const forward = new ForwardRunner(this.model, sel, this.hooks);
      // The catalog in use (undefined when the loss came during the load, before it was built).
      const items = old.catalog ? (old.catalog.given ? old.catalog.items : undefined) : this.config.catalog;
      const catalog = await Catalog.build(items, this.model, this.catalogOptions());
      built = { sel, forward, catalog };
      if (this.disposed) return;
      this.selection = sel;
      this.forward = forward;
      this.catalog = catalog;
      if (!RecommenderEngine.needsHostWeights(sel, this.hooks)) this.hostWeights = null;
      // Compiles and JITs the new path, like the load's warm-up; a failure shows on the next call.
      await this.warmUp().catch(() => undefined);
      record.to = sel.backend;
      record.ms = now() - t0;
      this.watch(sel);
      if (this.config.autoBackend) {
        // Soft: a failing write only costs the next load its probe.
        await rememberDeviceLoss({ get: () => this.storage.meta.get('backend'), put: (v) => this.storage.meta.set(v) }, lost.backend, reason, sel.backend);
      }
    } catch (e) {
      if (lost.backend === 'webgpu' || lost.backend === 'webgl') dropBackend(lost.backend);
      record.error = `no backend could take over: ${message(e)}`;
      record.ms = now() - t0;
      this.failed = new DeviceLostError(
        `The GPU device was lost (${reason}) and ${record.error}; the history still works, create a new recommender for recommendations.`,
        { reason, fallbackError: message(e) });
    } finally {
      if (this.disposed && built) {
        built.catalog.dispose();
        tf.dispose(Object.values(this.model.weights));
        built.forward.dispose();
      }
    }
    if (!this.disposed) {
      try { this.hooks.onFallback?.({ ...record }, this.currentInfo()); } catch { /* a throwing callback must not break the engine */ }
    }
  }

  /**
   * Waits for a running switch (at most FALLBACK_WAIT_MS in all); throws if no backend could take
   * over. Yields once first, so a loss signalled just before the call is seen, and waits again for
   * a switch that began meanwhile.
   */
  private async backendReady(): Promise<void> {
    await Promise.resolve();
    const deadline = now() + FALLBACK_WAIT_MS;
    while (this.switching) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - now())); });
      const outcome = await Promise.race([this.switching.then(() => 'done' as const), timedOut]).finally(() => clearTimeout(timer));
      this.assertUsable();
      if (outcome === 'timeout') {
        const f = this.fallbacks[this.fallbacks.length - 1];
        throw new DeviceLostError(`The GPU device was lost (${f.reason}) and the switch to another backend is still running after ${FALLBACK_WAIT_MS} ms; retry later.`, { reason: f.reason });
      }
    }
    this.assertUsable();
    if (this.failed) throw this.failed;
  }

  /**
   * Whether a call begun at `generation` failed because of a device loss: a switch started since,
   * or the device-lost signal follows the error within DEVICE_LOSS_SETTLE_MS (a GPU readback may
   * fail just before the device reports its loss). Typed errors other than DeviceLostError are the
   * call's own (bad request, unknown item) and are taken as they are.
   */
  private async lostSince(generation: number, error: unknown): Promise<boolean> {
    if (this.generation !== generation || this.switching !== null || this.failed !== null) return true;
    if (error instanceof ScenerecError && !(error instanceof DeviceLostError)) return false;
    if (!canLoseDevice(this.selection.backend) && !this.hooks.deviceLost) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = new Promise<void>((resolve) => { timer = setTimeout(resolve, DEVICE_LOSS_SETTLE_MS); });
    await Promise.race([this.selection.deviceLost, settle]).finally(() => clearTimeout(timer));
    // The engine's own listener on the signal ran first (registered at watch()), so a loss shows here.
    return this.generation !== generation || this.switching !== null || this.failed !== null;
  }

  /**
   * Runs model-side work on the current backend; when a device loss breaks it, waits for the
   * switch and runs it once more on the backend that took over. Never INTERNAL for a loss: a call
   * that still cannot finish rejects with DeviceLostError.
   */
  private async onBackend<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.backendReady();
      const generation = this.generation;
      try {
        return await this.guarded(work());
      } catch (e) {
        if (this.disposed || !(await this.lostSince(generation, e))) throw e;
        if (attempt >= 1) {
          throw e instanceof DeviceLostError ? e : new DeviceLostError(`The GPU device was lost again during the retry (${message(e)}); retry the call.`, { cause: message(e) });
        }
      }
    }
  }

  /** The scenes' view of the current state. */
  private sceneContext(history: HistoryView): SceneContext {
    return {
      catalog: this.catalog, history, forward: this.forward, modelIndex: this.model.modelIndex,
      contentModel: this.model.content !== undefined, options: this.config, shortcut: this.hooks.candidateShortcut !== false,
    };
  }

  /** The history as the model reads it; rebuilt only when the stored events changed (the store's version moved). */
  private async historyView(): Promise<HistoryView> {
    const { events, version } = await this.read(() => this.storage.history.snapshot());
    if (this.view?.version !== version) this.view = { version, view: historyView(events, this.model.modelIndex) };
    return this.view.view;
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
    const first = cat.popularOrder.length > 0 ? cat.items[cat.popularOrder[0]].id : undefined;
    const seed = first !== undefined ? this.model.modelIndex.get(first) ?? 1 : 1;
    const history: HistoryView = {
      sequence: [seed], steps: [{ itemId: this.model.vocab.itemIds[seed], m: seed, behaviour: 1, scene: SCENE_CODES.home }],
      purchased: new Set(), cart: [],
    };
    const req = validateRequest('home', {});
    for (let i = 0; i < WARMUP_CALLS; i++) await SCENE_REGISTRY.home.recommend(this.sceneContext(history), req);
    return now() - t0;
  }

  // -------------------------------------------------------------------------------------------
  // public API

  /**
   * Validates and stores events (all or nothing). Unknown item ids are stored but not used for
   * scoring. Needs no GPU: works during and after a device loss; stored means resolved.
   */
  async track(events: TrackEvent | TrackEvent[]): Promise<TrackResult> {
    this.assertUsable();
    const valid = validateEvents(events);
    const { stored, pruned, outsideRetention } = await this.write(() => this.storage.history.add(valid, this.config.retention));
    const unknown = new Set<string>();
    const notInCatalog = new Set<string>();
    for (const ev of valid) {
      if (!ev.itemId || this.model.modelIndex.has(ev.itemId)) continue;
      unknown.add(ev.itemId);
      if (!this.catalog.posById.has(ev.itemId)) notInCatalog.add(ev.itemId);
    }
    return { stored, unknownItems: [...unknown], notInCatalog: [...notInCatalog], pruned, outsideRetention };
  }

  /** Recommends for a scene. See the scene request types for the options. */
  async recommend<S extends SceneName>(scene: S, request: SceneRequestMap[S]): Promise<RecommendResult> {
    this.assertUsable();
    const t0 = now();
    const req = validateRequest(scene, request);
    const { out, backend } = await this.onBackend(async () => {
      const history = await this.historyView();
      const ran = this.selection.backend;
      return { out: await SCENE_REGISTRY[scene].recommend(this.sceneContext(history), req), backend: ran };
    });
    return {
      scene,
      items: out.items,
      backend,
      modelVersion: this.model.header.modelVersion,
      latencyMs: now() - t0,
      historyUsed: out.used,
    };
  }

  /** Replaces the catalog. Returns the new engine info. */
  async setCatalog(catalog: CatalogItem[]): Promise<EngineInfo> {
    this.assertUsable();
    const items = validateCatalog(catalog);
    if (items.length === 0) {
      throw new InvalidOptionsError('catalog is empty; pass at least one item.', { field: 'catalog' });
    }
    await this.onBackend(async () => {
      const generation = this.generation;
      const next = await Catalog.build(items, this.model, this.catalogOptions());
      if (this.disposed || generation !== this.generation) {
        // Built on a backend that was disposed or lost meanwhile.
        next.dispose();
        this.assertUsable();
        throw new DeviceLostError('The GPU device was lost while the catalog was built.');
      }
      const old = this.catalog;
      this.catalog = next;
      old.dispose();
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
      loadMs: this.loadMs,
      warmupMs: this.warmupMs,
      modelCache: this.modelCache,
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
    await this.backendReady().catch((e) => { if (!(e instanceof DeviceLostError)) throw e; });
    return this.currentInfo();
  }

  // The history controls need no GPU: they work during and after a device loss.

  async listHistory(query?: HistoryQuery): Promise<StoredEvent[]> {
    this.assertUsable();
    const q = validateHistoryQuery(query);
    return this.read(() => this.storage.history.list(q));
  }

  async exportHistory(): Promise<HistoryExport> {
    this.assertUsable();
    return this.read(() => this.storage.history.export());
  }

  async forgetItem(itemId: string): Promise<number> {
    this.assertUsable();
    if (typeof itemId !== 'string' || itemId.length === 0) throw new InvalidRequestError('forgetItem needs a non-empty item id.', { field: 'itemId' });
    return this.write(() => this.storage.history.forgetItem(itemId));
  }

  async clearHistory(): Promise<void> {
    this.assertUsable();
    await this.write(() => this.storage.history.clear());
  }

  /** Releases the weights, the catalog matrix and the database connection. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.catalog?.dispose();
    tf.dispose(Object.values(this.model.weights));
    // Plain-JS memory (the fused path's kernel and item table, the cached history): drop the
    // references so an in-page engine frees them too, not only a terminated worker.
    this.forward.dispose();
    this.view = null;
    this.storage.close();
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
