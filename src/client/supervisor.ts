/**
 * The page side's hold on its worker: liveness, and recovery when the worker is lost.
 *
 * Liveness. The worker answers pings from its event loop (src/engine/host.ts `answerPings`). The
 * worker is **lost** when a ping has gone unanswered for `pingTimeoutMs` (`loadPingTimeoutMs` while
 * it loads), when it fires `error` (an uncaught exception: its state is unknown) or `messageerror`,
 * or when posting to it throws. Pings go out every `pingIntervalMs` while a call is pending and every
 * `idlePingIntervalMs` while none is, so a worker that dies idle is replaced before the next call.
 * `worker.terminate()`, `self.close()` and the browser killing a worker fire no event: the ping is
 * what notices them. Before its first answer the worker has `startTimeoutMs` (its script may still
 * be downloading); no deadline runs across a timer that fired late (a frozen or throttled page: it
 * pings afresh).
 *
 * Bound: a call pending when the worker is lost learns it within `pingTimeoutMs + 2 × pingIntervalMs`
 * (1.5 s by default) of the last ping the worker answered; while it loads, while a `setCatalog` (which
 * builds a new catalog matrix) is pending, or while its last pong said the engine is settling (the work
 * after a load or a catalog change: the prefilter's build, the model's cache write, which at a million
 * items can hold the worker's thread past `pingTimeoutMs` on a slow or busy device), within
 * `loadPingTimeoutMs + 2 × pingIntervalMs` (5.5 s).
 * The deadline must be passed on two ticks in a row (an answer may be queued behind the first).
 *
 * Recovery. On a loss, every pending call is settled or handed over:
 * - reads (recommend, info, listHistory, exportHistory) reject with WorkerLostError at once: they are
 *   side-effect free and a page should not wait a model load for them; retrying is safe;
 * - writes (track, forgetItem, clearHistory, setCatalog) are replayed, in call order, on a new worker,
 *   and their promises resolve with its answers. Each history write carries a write id made here;
 *   the store records applied ids in the write's own transaction (src/engine/store/writes.ts), so a
 *   write the dead worker had committed but not answered is not applied again and answers as the
 *   first time. So no event is lost or stored twice, and `await track()` needs no retry code.
 * The new worker is spawned the way the first was (only when the SDK spawned it, or `options.worker`
 * is a factory), initialised with the same options (and the catalog of the last `setCatalog`), and
 * reads the same IndexedDB history. Calls made meanwhile wait for it. A loss while loading, a failed
 * restart, more than `maxRestarts` losses within `restartWindowMs`, or a worker the SDK cannot spawn
 * again: every waiting call rejects with WorkerLostError (`details.permanent: true`), and so does
 * every later call; a write handed over then has `details.stored: 'unknown'`.
 *
 * Calls. The hot calls (src/contract/protocol.ts DIRECT_METHODS: recommend) go as one message each
 * way on the worker's port, beside the pings, once the worker's pongs say it serves them; the others
 * through Comlink. Both kinds are in the same in-flight set, so the guarantees above hold for both.
 *
 * The shop hears of it through `onEvent`: 'worker-lost', then 'worker-restarted' (with the recovery
 * time) or 'worker-restart-failed'.
 */
import * as Comlink from 'comlink';
import { DEFAULT_LIVENESS, type LivenessOptions } from '../contract/defaults.js';
import { deserializeError, DisposedError, InvalidOptionsError, ScenerecError, WorkerLostError } from '../contract/errors.js';
import {
  DIRECT, DIRECT_METHODS, DIRECT_REPLY, DIRECT_VERSION, HISTORY_WRITES, PING, PONG, SETTLING,
  type CatalogItem, type DirectCall, type DirectMethod, type DirectReply, type EngineConfig, type EngineInfo, type ForwardedMethod, type HistoryWrite, type LoadProgress,
} from '../contract/protocol.js';
import { CATALOG_WIRE, CATALOG_WIRE_VERSION, packCatalog, packCatalogInSlices, packedBuffers, type PackedCatalog } from '../contract/catalog-wire.js';
import type { WorkerApi } from '../engine/host.js';
import { now } from '../util/clock.js';

/** What `onEvent` hears about the worker. */
export type RecommenderEvent =
  | {
    type: 'worker-lost';
    /** What was seen: "no answer to a ping for 1000 ms", "an uncaught error in the worker: ...". */
    reason: string;
    /** Reads rejected with WorkerLostError. */
    rejectedReads: number;
    /** Writes that will be replayed on the new worker. */
    replayWrites: number;
    /** False: no restart follows (see WorkerLostError.details.permanent). */
    willRestart: boolean;
  }
  | {
    type: 'worker-restarted';
    /** From the loss being noticed to the new worker taking calls, ms. */
    recoveryMs: number;
    /** Writes replayed on it (the ones the dead worker had applied are not applied twice). */
    replayedWrites: number;
    /** Restarts of this recommender so far. */
    restarts: number;
    info: EngineInfo;
  }
  | { type: 'worker-restart-failed'; error: ScenerecError };

/** Settings of liveness and recovery (`options.liveness`); defaults in DEFAULT_LIVENESS. */
export type { LivenessOptions };

const WRITES = new Set<string>(HISTORY_WRITES);
const DIRECT_SET = new Set<string>(DIRECT_METHODS);
/** Replayed after a loss: the history writes (with their write id) and setCatalog (setting it twice is harmless). */
const REPLAYED = new Set<string>([...HISTORY_WRITES, 'setCatalog']);

interface Call {
  seq: number;
  method: ForwardedMethod;
  args: unknown[];
  writeId?: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** Generation of the worker it was sent to, or -1 while it waits. */
  gen: number;
}

/** Calls that may hold the worker's event loop as long as a load (a new catalog matrix): the load deadline applies. */
const SLOW = new Set<string>(['setCatalog']);

const SESSION = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);

/** What a direct call's answer settles. */
interface DirectSettle { resolve(v: unknown): void; reject(e: unknown): void }

/** One worker and its Comlink proxy, with the heartbeat that watches it. */
class Link {
  readonly remote: Comlink.Remote<WorkerApi>;
  private seqPing = 0;
  private outstanding: { n: number; at: number } | null = null;
  private answered = false;
  private suspect = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dueAt = 0;
  private closed = false;
  loading = true;
  /** The worker's last pong said its engine is settling after a load (src/contract/protocol.ts SETTLING). */
  private settling = false;
  /** Resolves with the reason when the worker is lost (never rejects). */
  readonly lost: Promise<string>;
  private markLost!: (reason: string) => void;
  /** Direct calls sent and not answered: call id -> its promise's settlers. */
  private readonly direct = new Map<number, DirectSettle>();
  private seqDirect = 0;
  /** The worker's pongs say it serves direct calls (src/contract/protocol.ts DIRECT_VERSION). */
  private directOk = false;
  /** The worker's pongs say it reads the packed catalog (src/contract/catalog-wire.ts). */
  private catalogWireOk = false;
  /** Resolves at the worker's first pong (never rejects; a worker that never answers is lost instead). */
  readonly firstPong: Promise<void>;
  private markPonged!: () => void;
  private readonly onMessage = (ev: MessageEvent) => {
    const data = ev.data as Record<string, unknown> | null;
    const r = data?.[DIRECT_REPLY];
    if (typeof r === 'number') {
      const settle = this.direct.get(r);
      if (!settle) return;
      this.direct.delete(r);
      const reply = data as DirectReply;
      if ('error' in reply) settle.reject(deserializeError(reply.error));
      else settle.resolve(reply.value);
      return;
    }
    const n = data?.[PONG];
    if (typeof n !== 'number') return;
    if (data?.[DIRECT] === DIRECT_VERSION) this.directOk = true;
    if (data?.[CATALOG_WIRE] === CATALOG_WIRE_VERSION) this.catalogWireOk = true;
    this.settling = data?.[SETTLING] === true;
    this.answered = true;
    this.markPonged();
    if (this.outstanding && n >= this.outstanding.n) {
      this.outstanding = null;
      this.suspect = false;
    }
  };
  private readonly onError = (ev: Event) => {
    const msg = (ev as ErrorEvent).message;
    this.fail(this.answered ? `an uncaught error in the worker: ${msg || 'no message'}`
      : `its script failed to start: ${msg || 'script error (is src/worker.ts bundled and served?)'}`);
  };
  private readonly onMessageError = () => this.fail('a message from the worker could not be read (messageerror)');

  constructor(
    readonly worker: Worker,
    readonly gen: number,
    readonly owned: boolean,
    private readonly opts: LivenessOptions,
    private readonly busy: () => boolean,
    /** A call that holds the worker's event loop as long as a load does (setCatalog) is pending. */
    private readonly slow: () => boolean,
  ) {
    this.lost = new Promise((resolve) => { this.markLost = resolve; });
    this.firstPong = new Promise((resolve) => { this.markPonged = resolve; });
    this.remote = Comlink.wrap<WorkerApi>(worker as unknown as Comlink.Endpoint);
    worker.addEventListener('message', this.onMessage as EventListener);
    worker.addEventListener('error', this.onError);
    worker.addEventListener('messageerror', this.onMessageError);
    (worker as unknown as { start?: () => void }).start?.(); // a MessagePort given as the worker
    this.tick();
  }

  /**
   * `catalog` as this worker should receive it: packed, with the buffers to transfer, when the
   * worker reads that form and the catalog is well formed; else as it is. (Comlink transfers only
   * for a top-level argument: the caller marks that one with `Comlink.transfer`.) `packed`: the
   * catalog's packed form made beforehand (null: not well formed), sent instead of packing it again.
   */
  catalogForWire(catalog: unknown, packed?: PackedCatalog | null): { catalog: CatalogItem[]; buffers: ArrayBuffer[] } {
    if (!this.catalogWireOk) packed = null;
    else if (packed === undefined) packed = packCatalog(catalog);
    return packed ? { catalog: packed as unknown as CatalogItem[], buffers: packedBuffers(packed) } : { catalog: catalog as CatalogItem[], buffers: [] };
  }

  /** Whether `method` goes as a direct call on this worker (it said it serves them). */
  canDirect(method: string): method is DirectMethod {
    return this.directOk && DIRECT_SET.has(method);
  }

  /**
   * One direct call: a single message, answered by a single message that settles `settle` itself
   * (no promise of its own: one hop fewer on the hot path). Never settles when the worker is lost:
   * the supervisor settles the call then (the answer is dropped). A message that cannot be posted
   * rejects at once.
   */
  callDirect<M extends DirectMethod>(method: M, args: DirectCall<M>['args'], settle: DirectSettle): void {
    const n = ++this.seqDirect;
    this.direct.set(n, settle);
    try {
      this.worker.postMessage({ [DIRECT]: n, method, args } satisfies DirectCall<M>);
    } catch (e) {
      this.direct.delete(n);
      settle.reject(e);
    }
  }

  /** True once the worker answered a ping: before that, an `error` is a script that did not start. */
  get started(): boolean {
    return this.answered;
  }

  /** A call started: ping now if idle pings were spaced out. */
  wake(): void {
    if (this.closed) return;
    if (this.dueAt - now() > this.opts.pingIntervalMs) this.tick();
  }

  private tick(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const t = now();
    const late = this.dueAt > 0 && t - this.dueAt > this.opts.pingTimeoutMs;
    const deadline = this.loading || this.settling || this.slow() ? this.opts.loadPingTimeoutMs : this.opts.pingTimeoutMs;
    if (late) {
      this.outstanding = null; // this page was frozen or throttled: judge by a fresh ping
      this.suspect = false;
    } else if (this.outstanding && t - this.outstanding.at > (this.answered ? deadline : this.opts.startTimeoutMs)) {
      // Twice in a row: an answer may wait in this page's queue behind this timer (a page busy for
      // a while); one interval later it has been read.
      if (this.suspect) {
        this.fail(this.answered ? `no answer to a ping for ${Math.round(t - this.outstanding.at)} ms`
          : `it did not start: no answer to its first ping in ${Math.round(t - this.outstanding.at)} ms`);
        return;
      }
      this.suspect = true;
    }
    if (!this.outstanding) {
      const n = ++this.seqPing;
      try {
        this.worker.postMessage({ [PING]: n });
      } catch (e) {
        this.fail(`posting to the worker failed: ${(e as Error)?.message ?? String(e)}`);
        return;
      }
      this.outstanding = { n, at: t };
    }
    const interval = this.busy() || this.loading || this.suspect || this.opts.idlePingIntervalMs <= 0
      ? this.opts.pingIntervalMs
      : this.opts.idlePingIntervalMs;
    if (!this.busy() && !this.loading && !this.suspect && this.opts.idlePingIntervalMs <= 0) {
      // No idle pings: the next call wakes the heartbeat.
      this.dueAt = Infinity;
      return;
    }
    this.dueAt = t + interval;
    this.timer = setTimeout(() => this.tick(), interval);
    (this.timer as { unref?: () => void }).unref?.(); // Node: do not keep the process alive
  }

  /** Declares the worker lost (once). */
  fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.markLost(reason);
  }

  /** Stops watching; terminates the worker when the SDK owns it. */
  close(terminate = this.owned): void {
    if (this.closed) return;
    this.closed = true;
    this.direct.clear();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.worker.removeEventListener('message', this.onMessage as EventListener);
    this.worker.removeEventListener('error', this.onError);
    this.worker.removeEventListener('messageerror', this.onMessageError);
    if (terminate && typeof this.worker.terminate === 'function') this.worker.terminate();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

export interface SupervisorInit {
  /** The first worker. */
  worker: Worker;
  /** Spawns a replacement, or null when the SDK cannot (a Worker instance given as options.worker). */
  spawn: (() => Worker) | null;
  /** Whether the SDK terminates its workers (it spawned them). */
  owned: boolean;
  config: EngineConfig;
  liveness?: Partial<LivenessOptions>;
  onEvent?: (e: RecommenderEvent) => void;
}

/** Every call of a Recommender goes through here (see the file comment). */
export class WorkerSupervisor {
  private link: Link;
  private gen = 0;
  private seq = 0;
  private writeSeq = 0;
  private readonly inflight = new Set<Call>();
  /** Calls waiting for a worker (during recovery), in call order. */
  private waiting: Call[] = [];
  private state: 'loading' | 'ready' | 'recovering' | 'dead' | 'disposed' = 'loading';
  private deadReason = '';
  private restarts = 0;
  private readonly restartTimes: number[] = [];
  private catalog: CatalogItem[] | undefined;
  private readonly opts: LivenessOptions;
  private disposing: Promise<void> | null = null;

  constructor(private readonly init: SupervisorInit) {
    this.opts = { ...DEFAULT_LIVENESS, ...stripUndefined(init.liveness ?? {}) };
    this.catalog = init.config.catalog;
    this.link = this.connect(init.worker);
  }

  private connect(worker: Worker): Link {
    const link = new Link(worker, ++this.gen, this.init.owned, this.opts, () => this.inflight.size > 0,
      () => [...this.inflight].some((c) => SLOW.has(c.method)));
    void link.lost.then((reason) => this.onLost(link, reason));
    return link;
  }

  /**
   * Loads the engine in the first worker. A loss while loading rejects with WorkerLostError (no
   * restart: the shop decides whether to try again).
   */
  async start(onProgress?: (p: LoadProgress) => void): Promise<EngineInfo> {
    const link = this.link;
    try {
      const info = await this.load(link, this.init.config, onProgress);
      if (this.state === 'loading') this.state = 'ready';
      return info;
    } catch (e) {
      this.state = 'dead';
      this.deadReason = 'it was lost while loading';
      link.close();
      throw e;
    }
  }

  /**
   * Gives up a load in progress (for a caller's own deadline or abort signal): the worker is
   * terminated (when the SDK owns it) and `start()` rejects with WorkerLostError naming `reason`.
   */
  abortLoad(reason: string): void {
    if (this.state === 'loading') this.link.fail(reason);
  }

  /** `init` on a link, raced against its loss. */
  private async load(link: Link, config: EngineConfig, onProgress?: (p: LoadProgress) => void): Promise<EngineInfo> {
    link.loading = true;
    const progress = onProgress ? Comlink.proxy((p: LoadProgress) => onProgress(p)) : undefined;
    const lost: Promise<never> = link.lost.then((reason): never => {
      if (!link.started && reason.startsWith('its script failed')) {
        throw new ScenerecError('INTERNAL', `The recommender worker failed to start: ${reason.replace(/^its script failed to start: /, '')}`);
      }
      throw new WorkerLostError(`The recommender worker was lost while loading (${reason}). Create the recommender again.`, { reason, permanent: true });
    });
    lost.catch(() => undefined); // a loss after the load is onLost's
    try {
      // Packed while the worker's script starts on its own thread (the page waits for its first
      // pong anyway), in slices, so that the page's thread lets the worker start meanwhile; sent
      // packed if that pong says the worker reads the form, else as it is.
      const packing = config.catalog && !link.started ? packCatalogInSlices(config.catalog) : undefined;
      // The first pong says which message forms this worker reads (it is answered before `init` could be).
      await Promise.race([link.firstPong, lost]);
      const packed = packing && await Promise.race([packing, lost]);
      let wired = config;
      if (config.catalog) {
        const { catalog, buffers } = link.catalogForWire(config.catalog, packed);
        wired = Comlink.transfer({ ...config, catalog }, buffers);
      }
      return await Promise.race([link.remote.init(wired, progress), lost]);
    } finally {
      link.loading = false;
    }
  }

  /** A forwarded call: sent now, or queued while a new worker starts. */
  call(method: ForwardedMethod, args: unknown[]): Promise<unknown> {
    if (this.state === 'disposed') return Promise.reject(new DisposedError('This recommender was disposed; create a new one.'));
    if (this.state === 'dead') return Promise.reject(this.deadError());
    return new Promise((resolve, reject) => {
      const c: Call = { seq: ++this.seq, method, args, resolve, reject, gen: -1 };
      if (WRITES.has(method)) c.writeId = `${SESSION}-${++this.writeSeq}`;
      if (method === 'setCatalog') this.catalog = args[0] as CatalogItem[];
      if (this.state === 'ready') this.send(c);
      else this.waiting.push(c);
    });
  }

  private send(c: Call): void {
    const link = this.link;
    c.gen = link.gen;
    this.inflight.add(c);
    link.wake();
    // An answer from a worker given up on is dropped: the call was settled or handed over at the loss.
    const resolve = (v: unknown) => { if (this.inflight.delete(c)) c.resolve(v); };
    const reject = (e: unknown) => { if (this.inflight.delete(c)) c.reject(e); };
    if (c.writeId === undefined && link.canDirect(c.method)) {
      link.callDirect(c.method, c.args as DirectCall['args'], { resolve, reject });
      return;
    }
    let p: Promise<unknown>;
    try {
      p = c.writeId !== undefined
        ? link.remote.applyWrite(c.writeId, c.method as HistoryWrite, c.args)
        : c.method === 'setCatalog'
          ? this.sendCatalog(link, c.args[0])
          : (link.remote[c.method] as unknown as (...a: unknown[]) => Promise<unknown>)(...c.args);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(resolve, reject);
  }

  private sendCatalog(link: Link, given: unknown): Promise<EngineInfo> {
    const { catalog, buffers } = link.catalogForWire(given);
    return link.remote.setCatalog(buffers.length ? Comlink.transfer(catalog, buffers) : catalog);
  }

  private deadError(stored?: 'unknown'): WorkerLostError {
    return new WorkerLostError(`The recommender worker was lost and not restarted (${this.deadReason}). Create a new recommender.`,
      { reason: this.deadReason, permanent: true, ...(stored ? { stored } : {}) });
  }

  private emit(e: RecommenderEvent): void {
    try { this.init.onEvent?.(e); } catch { /* a throwing shop callback must not break recovery */ }
  }

  private onLost(link: Link, reason: string): void {
    if (link !== this.link || this.state === 'disposed') return;
    const t0 = now();
    if (this.state === 'recovering') return; // a restart's own load: restart() handles it
    const mine = [...this.inflight].filter((c) => c.gen === link.gen);
    const replay: Call[] = [];
    let reads = 0;
    for (const c of mine) {
      this.inflight.delete(c);
      if (REPLAYED.has(c.method)) replay.push(c);
      else {
        reads++;
        c.reject(new WorkerLostError(`The recommender worker was lost (${reason}); ${this.canRestart() ? 'it is being restarted, so calling again is safe' : 'create a new recommender'}.`,
          { reason, permanent: !this.canRestart(), method: c.method }));
      }
    }
    if (this.state === 'loading') return; // start() rejects
    const willRestart = this.canRestart();
    this.waiting = [...replay, ...this.waiting].sort((a, b) => a.seq - b.seq);
    this.emit({ type: 'worker-lost', reason, rejectedReads: reads, replayWrites: replay.length, willRestart });
    if (!willRestart) {
      this.die(reason);
      return;
    }
    this.state = 'recovering';
    void this.restart(t0, replay.length, reason);
  }

  private canRestart(): boolean {
    if (!this.opts.restart || !this.init.spawn) return false;
    const t = now();
    const recent = this.restartTimes.filter((x) => t - x < this.opts.restartWindowMs);
    return recent.length < this.opts.maxRestarts;
  }

  private async restart(t0: number, replayed: number, reason: string): Promise<void> {
    for (;;) {
      this.restartTimes.push(now());
      let link: Link | undefined;
      try {
        link = this.connect(this.init.spawn!());
        this.link = link;
        const info = await this.load(link, { ...this.init.config, catalog: this.catalog });
        if (this.state !== 'recovering' || this.link !== link) return; // disposed meanwhile
        this.restarts++;
        this.state = 'ready';
        const queued = this.waiting;
        this.waiting = [];
        for (const c of queued) this.send(c);
        this.emit({ type: 'worker-restarted', recoveryMs: now() - t0, replayedWrites: replayed, restarts: this.restarts, info });
        return;
      } catch (e) {
        if (this.state !== 'recovering') return;
        link?.close();
        // A new worker lost while loading is tried again (within maxRestarts); a load error is final.
        if (e instanceof WorkerLostError && this.canRestart()) continue;
        const error = e instanceof ScenerecError ? e : new WorkerLostError(`Restarting the recommender worker failed: ${(e as Error)?.message ?? String(e)}`);
        this.emit({ type: 'worker-restart-failed', error });
        this.die(`${reason}; the restart failed: ${error.message}`);
        return;
      }
    }
  }

  /** No worker any more: every waiting and later call rejects with WorkerLostError. */
  private die(reason: string): void {
    this.state = 'dead';
    this.deadReason = reason;
    const waiting = this.waiting;
    this.waiting = [];
    // A write sent to a lost worker may have been stored; one that only waited was not.
    for (const c of waiting) c.reject(this.deadError(c.gen !== -1 ? 'unknown' : undefined));
  }

  /**
   * Disposes the engine in the worker and terminates the worker (when the SDK owns it). Settles
   * within `disposeTimeoutMs` even when the worker is lost or hung; a call still pending then
   * rejects with DisposedError, a write waiting for a restart with WorkerLostError (`stored: 'unknown'`).
   */
  dispose(): Promise<void> {
    if (this.disposing) return this.disposing;
    const wasReady = this.state === 'ready';
    this.state = 'disposed';
    const link = this.link;
    const waiting = this.waiting;
    this.waiting = [];
    for (const c of waiting) {
      c.reject(c.gen !== -1
        ? new WorkerLostError('The recommender was disposed while its worker restarted; this write may not be stored.', { permanent: true, stored: 'unknown' })
        : new DisposedError('This recommender was disposed; create a new one.'));
    }
    this.disposing = (async () => {
      let error: unknown;
      if (wasReady && !link.isClosed) {
        link.wake();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const cap = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.opts.disposeTimeoutMs); });
        try {
          this.inflight.add(DISPOSE_MARK); // keeps the heartbeat fast while dispose is pending
          await Promise.race([link.remote.dispose(), link.lost.then(() => undefined), cap]);
        } catch (e) {
          error = e;
        } finally {
          this.inflight.delete(DISPOSE_MARK);
          if (timer !== undefined) clearTimeout(timer);
        }
      }
      for (const c of [...this.inflight]) {
        this.inflight.delete(c);
        c.reject(new DisposedError('This recommender was disposed while this call was pending; create a new one.'));
      }
      if (link.owned) {
        try { link.remote[Comlink.releaseProxy](); } catch { /* already released */ }
      }
      link.close();
      if (error !== undefined) throw error;
    })();
    return this.disposing;
  }
}

/** Stands for a pending dispose in the in-flight set (the heartbeat pings fast while it is there). */
const DISPOSE_MARK: Call = { seq: 0, method: 'info', args: [], resolve: () => undefined, reject: () => undefined, gen: -2 };

const LIVENESS_LIMITS: Record<keyof LivenessOptions, 'ms' | 'count' | 'boolean'> = {
  pingIntervalMs: 'ms', pingTimeoutMs: 'ms', loadPingTimeoutMs: 'ms', startTimeoutMs: 'ms', idlePingIntervalMs: 'ms', disposeTimeoutMs: 'ms',
  restart: 'boolean', maxRestarts: 'count', restartWindowMs: 'ms',
};

/** Checks `options.liveness`. @throws InvalidOptionsError */
export function validateLiveness(value: unknown): Partial<LivenessOptions> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionsError('options.liveness must be an object like { pingTimeoutMs: 1000 }.', { field: 'options.liveness' });
  }
  for (const [key, v] of Object.entries(value)) {
    const kind = LIVENESS_LIMITS[key as keyof LivenessOptions];
    const field = `options.liveness.${key}`;
    if (!kind) throw new InvalidOptionsError(`${field} is not an option; known: ${Object.keys(LIVENESS_LIMITS).join(', ')}.`, { field });
    if (v === undefined) continue;
    if (kind === 'boolean' ? typeof v !== 'boolean'
      : typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (kind === 'count' && !Number.isInteger(v))
        || (key !== 'idlePingIntervalMs' && kind === 'ms' && v === 0)) {
      throw new InvalidOptionsError(`${field} must be ${kind === 'boolean' ? 'true or false' : kind === 'count' ? 'a whole number >= 0' : 'a positive number of ms'} (got ${String(v)}).`, { field });
    }
  }
  return value as Partial<LivenessOptions>;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
