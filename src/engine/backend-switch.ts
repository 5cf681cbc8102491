/**
 * The backend the engine runs on and the switch to another after a GPU device loss (worker side):
 * the current BackendSelection and its ForwardRunner, the generation counter, the switch itself and
 * what it reports (EngineInfo.fallbacks, EngineHooks.onFallback, the 'auto' verdict). The engine
 * (./engine.ts) runs its model-side work through `onBackend`, waits with `ready()` before it reports
 * its state, reads the switches with `info()`, and calls `dispose()` when it is disposed.
 *
 * Device loss: the history never touches the GPU, so track and the history controls work during
 * and after a loss, and a write that reached the store resolves. The model-side state (weights,
 * forward, catalog matrix) is rebuilt on a CPU backend from a host copy of the weights kept at load
 * on backends that can lose their device; recommend and setCatalog wait for the switch (bounded)
 * and a call that failed because of the loss runs again once on the new backend.
 */
import * as tf from '@tensorflow/tfjs';
import { DEVICE_LOSS_SETTLE_MS, FALLBACK_WAIT_MS } from '../contract/defaults.js';
import { DeviceLostError, ScenerecError } from '../contract/errors.js';
import type { ResolvedEngineConfig } from '../contract/options.js';
import type { BackendFallback, BackendName, EngineInfo } from '../contract/protocol.js';
import type { WeightMap } from '../model/sasrec.js';
import { now } from '../util/clock.js';
import { canLoseDevice, dropBackend, selectBackend, type BackendSelection } from './backend.js';
import { fallbackOrder, rememberDeviceLoss, type ProbeVerdictStore } from './backend-choice.js';
import { Catalog, type CatalogBuildOptions, type CatalogModel } from './catalog.js';
import { ForwardRunner, type ForwardHooks, type ForwardModel } from './forward.js';

/** A weight tensor's values in JS memory, to rebuild it on another backend after a device loss. */
export type HostWeights = Array<{ name: string; shape: number[]; dtype: tf.DataType; values: tf.TypedArray }>;

/** The loaded model the switch rebuilds: its weights are replaced on the new backend. */
export type SwitchModel = ForwardModel & CatalogModel;

/** The engine hooks the switch reads (EngineHooks has them). */
export interface SwitchHooks extends ForwardHooks {
  onFallback?: (fallback: BackendFallback, info: EngineInfo) => void;
  deviceLost?: (backend: BackendName) => Promise<string>;
}

/** What the switch needs of the engine that owns it. */
export interface SwitchHost {
  /** True once the engine was disposed. */
  disposed(): boolean;
  /** Throws DisposedError once the engine was disposed. */
  assertUsable(): void;
  /** After an awaited step: a late result must not hide a disposal. */
  guarded<T>(work: Promise<T>): Promise<T>;
  /** The catalog in use (undefined while the load has not built it). */
  catalog(): Catalog | undefined;
  /** Puts the catalog rebuilt on the new backend in use. */
  useCatalog(catalog: Catalog): void;
  catalogOptions(): CatalogBuildOptions;
  /** The load's warm-up, on the backend now in use. Returns ms. */
  warmUp(): Promise<number>;
  /** The engine info as it is now (for hooks.onFallback). */
  currentInfo(): EngineInfo;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const safely = (f: () => void): void => { try { f(); } catch { /* state of a lost device: nothing left to free */ } };

export class BackendSwitch {
  /** Bumped when a device loss starts a switch: work begun before it belongs to the dead backend. */
  generation = 0;
  /** The switch to another backend after a device loss, while it runs. */
  private switching: Promise<void> | null = null;
  /** Set when no backend could take over after a loss: model calls reject with this. */
  private failed: DeviceLostError | null = null;
  private readonly fallbacks: BackendFallback[] = [];

  /**
   * `selection` and `forward` are the backend in use and its forward (the engine reads them; only
   * the switch replaces them). `hostWeights`: the weights in JS memory while the backend can lose
   * its device; null otherwise.
   */
  constructor(
    public selection: BackendSelection,
    public forward: ForwardRunner,
    private hostWeights: HostWeights | null,
    private readonly model: SwitchModel,
    private readonly config: Pick<ResolvedEngineConfig, 'backends' | 'autoBackend' | 'catalog'>,
    private readonly verdicts: ProbeVerdictStore,
    private readonly hooks: SwitchHooks,
    private readonly host: SwitchHost,
  ) {
    this.watch(selection);
  }

  /** The selection with the test hook's device-lost signal, when there is one. */
  static withLossSignal(sel: BackendSelection, hooks: SwitchHooks): BackendSelection {
    return hooks.deviceLost ? { ...sel, deviceLost: hooks.deviceLost(sel.backend) } : sel;
  }

  /** Whether a host copy of the weights is kept for this backend (it can lose its device). */
  static needsHostWeights(sel: BackendSelection, hooks: SwitchHooks): boolean {
    return canLoseDevice(sel.backend) || hooks.deviceLost !== undefined;
  }

  static async readHostWeights(weights: WeightMap): Promise<HostWeights> {
    return Promise.all(Object.entries(weights).map(async ([name, t]) => ({ name, shape: [...t.shape], dtype: t.dtype, values: await t.data() })));
  }

  /** The switches so far, oldest first (copies). */
  info(): BackendFallback[] {
    return this.fallbacks.map((f) => ({ ...f }));
  }

  /** Releases the forward's plain-JS memory (the fused path's kernel and item table). */
  dispose(): void {
    this.forward.dispose();
  }

  /** Starts the switch when this selection's device is lost (while it is still the one in use). */
  private watch(sel: BackendSelection): void {
    void sel.deviceLost.then((reason) => {
      if (this.selection === sel && !this.host.disposed() && this.switching === null) this.startFallback(sel, reason);
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
    const old = { catalog: this.host.catalog(), weights: this.model.weights, forward: this.forward };
    safely(() => old.catalog?.dispose());
    safely(() => tf.dispose(Object.values(old.weights)));
    old.forward.dispose();
    let built: { sel: BackendSelection; forward: ForwardRunner; catalog: Catalog } | undefined;
    try {
      if (!this.hostWeights) throw new Error('no copy of the weights was kept for this backend');
      const sel = BackendSwitch.withLossSignal(await selectBackend(fallbackOrder(this.config.backends, lost.backend)), this.hooks);
      // Only once the new backend is the active one: with none active, an op of a call still in
      // flight would make TF.js start a backend of its own choosing.
      if (lost.backend === 'webgpu' || lost.backend === 'webgl') dropBackend(lost.backend);
      const host = this.hostWeights;
      this.model.weights = Object.fromEntries(host.map((w) => [w.name, tf.tensor(w.values, w.shape, w.dtype)])) as WeightMap;
      const forward = new ForwardRunner(this.model, sel, this.hooks);
      // The catalog in use (undefined when the loss came during the load, before it was built).
      const items = old.catalog ? (old.catalog.given ? old.catalog.items : undefined) : this.config.catalog;
      const catalog = await Catalog.build(items, this.model, this.host.catalogOptions());
      built = { sel, forward, catalog };
      if (this.host.disposed()) return;
      this.selection = sel;
      this.forward = forward;
      this.host.useCatalog(catalog);
      if (!BackendSwitch.needsHostWeights(sel, this.hooks)) this.hostWeights = null;
      // Compiles and JITs the new path, like the load's warm-up; a failure shows on the next call.
      await this.host.warmUp().catch(() => undefined);
      record.to = sel.backend;
      record.ms = now() - t0;
      this.watch(sel);
      if (this.config.autoBackend) {
        // Soft: a failing write only costs the next load its probe.
        await rememberDeviceLoss(this.verdicts, lost.backend, reason, sel.backend);
      }
    } catch (e) {
      if (lost.backend === 'webgpu' || lost.backend === 'webgl') dropBackend(lost.backend);
      record.error = `no backend could take over: ${message(e)}`;
      record.ms = now() - t0;
      this.failed = new DeviceLostError(
        `The GPU device was lost (${reason}) and ${record.error}; the history still works, create a new recommender for recommendations.`,
        { reason, fallbackError: message(e) });
    } finally {
      if (this.host.disposed() && built) {
        built.catalog.dispose();
        tf.dispose(Object.values(this.model.weights));
        built.forward.dispose();
      }
    }
    if (!this.host.disposed()) {
      try { this.hooks.onFallback?.({ ...record }, this.host.currentInfo()); } catch { /* a throwing callback must not break the engine */ }
    }
  }

  /**
   * Waits for a running switch (at most FALLBACK_WAIT_MS in all); throws if no backend could take
   * over. Yields once first, so a loss signalled just before the call is seen, and waits again for
   * a switch that began meanwhile.
   */
  async ready(): Promise<void> {
    await Promise.resolve();
    const deadline = now() + FALLBACK_WAIT_MS;
    while (this.switching) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - now())); });
      const outcome = await Promise.race([this.switching.then(() => 'done' as const), timedOut]).finally(() => clearTimeout(timer));
      this.host.assertUsable();
      if (outcome === 'timeout') {
        const f = this.fallbacks[this.fallbacks.length - 1];
        throw new DeviceLostError(`The GPU device was lost (${f.reason}) and the switch to another backend is still running after ${FALLBACK_WAIT_MS} ms; retry later.`, { reason: f.reason });
      }
    }
    this.host.assertUsable();
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
    // The switch's own listener on the signal ran first (registered at watch()), so a loss shows here.
    return this.generation !== generation || this.switching !== null || this.failed !== null;
  }

  /**
   * Runs model-side work on the current backend; when a device loss breaks it, waits for the
   * switch and runs it once more on the backend that took over. Never INTERNAL for a loss: a call
   * that still cannot finish rejects with DeviceLostError.
   */
  async onBackend<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.ready();
      const generation = this.generation;
      try {
        return await this.host.guarded(work());
      } catch (e) {
        if (this.host.disposed() || !(await this.lostSince(generation, e))) throw e;
        if (attempt >= 1) {
          throw e instanceof DeviceLostError ? e : new DeviceLostError(`The GPU device was lost again during the retry (${message(e)}); retry the call.`, { cause: message(e) });
        }
      }
    }
  }
}
