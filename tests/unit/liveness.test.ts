/**
 * The page side's supervisor (src/client/supervisor.ts) in Node: "workers" are MessageChannels with
 * the engine exposed on one end, as src/worker.ts does, that can die on cue (stop answering,
 * like `terminate()` or `self.close()`: no event). The browser cases are tests/e2e/faults/worker.spec.ts.
 */
import 'fake-indexeddb/auto';
import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRecommender, DisposedError, WorkerLostError, type Recommender, type RecommenderEvent, type TrackEvent,
} from '../../src/index.js';
import { exposeEngine } from '../../src/engine/host.js';
import { DIRECT, DIRECT_REPLY, PONG, SETTLING } from '../../src/contract/protocol.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

type Death = 'now' | 'on-next-answer' | 'on-next-call';

/**
 * A worker on a MessageChannel whose worker side can die: it drops every message in both
 * directions from then on (its engine is not stopped, as a dead worker's IndexedDB commit that was
 * under way is not).
 */
class FakeWorker {
  readonly page: MessagePort;
  private dead = false;
  private dieOn: Death | null = null;
  /** While set, messages both ways wait here (a worker whose thread is held by a long step). */
  private held: Array<() => void> | null = null;
  /** Its pongs say its engine is settling (src/contract/protocol.ts SETTLING). */
  settling = false;
  terminated = false;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.page = port2;
    const listeners = new Map<EventListenerOrEventListenerObject, EventListenerOrEventListenerObject>();
    const endpoint: Comlink.Endpoint = {
      postMessage: (msg: unknown, transfer?: Transferable[]) => {
        if (this.dieOn === 'on-next-answer' && ((msg as { id?: unknown })?.id !== undefined || (msg as Record<string, unknown>)?.[DIRECT_REPLY] !== undefined)) this.die();
        if (this.settling && (msg as Record<string, unknown> | null)?.[PONG] !== undefined) msg = { ...(msg as object), [SETTLING]: true };
        if (this.held) { this.held.push(() => { if (!this.dead) port1.postMessage(msg, transfer ?? []); }); return; }
        if (!this.dead) port1.postMessage(msg, transfer ?? []);
      },
      addEventListener: (type: string, l: EventListenerOrEventListenerObject) => {
        const wrapped = (ev: Event) => {
          const data = (ev as MessageEvent).data as { type?: string } | null;
          if (this.dieOn === 'on-next-call' && (data?.type === 'APPLY' || (data as Record<string, unknown> | null)?.[DIRECT] !== undefined)) this.die();
          if (this.dead) return;
          const handle = () => (typeof l === 'function' ? l : l.handleEvent.bind(l))(ev);
          if (this.held) { this.held.push(handle); return; }
          handle();
        };
        listeners.set(l, wrapped);
        port1.addEventListener(type, wrapped as EventListener);
      },
      removeEventListener: (type: string, l: EventListenerOrEventListenerObject) => {
        port1.removeEventListener(type, (listeners.get(l) ?? l) as EventListener);
      },
      start: () => port1.start(),
    };
    exposeEngine(endpoint, { fetch: fileFetch() });
  }

  /** The "Worker" handed to createRecommender. */
  get worker(): Worker {
    const w = this.page as unknown as Worker & { terminate?: () => void };
    w.terminate = () => { this.terminated = true; this.die(); };
    return w;
  }

  die(): void { this.dead = true; }
  /** Holds every message both ways for `ms`, then delivers them in order. */
  stall(ms: number): void {
    this.held = [];
    setTimeout(() => { const h = this.held ?? []; this.held = null; for (const f of h) f(); }, ms);
  }
  dieWhen(when: Death): void { if (when === 'now') this.die(); else this.dieOn = when; }
}

const FAST = { pingIntervalMs: 25, pingTimeoutMs: 150, loadPingTimeoutMs: 2000, idlePingIntervalMs: 100, disposeTimeoutMs: 500 };
const views = (n: number, from = 0): TrackEvent[] => Array.from({ length: n }, (_, i) => ({ type: 'view', itemId: itemId(1 + ((from + i) % 50)), timestamp: Date.now() - 100_000 + from + i }));

const recs: Recommender[] = [];
afterEach(async () => { for (const r of recs.splice(0)) await r.dispose().catch(() => undefined); });

async function start(opts: { factory?: boolean; events?: RecommenderEvent[]; liveness?: Record<string, unknown>; spawnAfterFirst?: () => FakeWorker } = {}) {
  const workers: FakeWorker[] = [];
  const spawn = () => {
    const f = workers.length > 0 && opts.spawnAfterFirst ? opts.spawnAfterFirst() : new FakeWorker();
    workers.push(f);
    return f.worker;
  };
  const dbName = freshDbName();
  const rec = await createRecommender({
    worker: opts.factory === false ? spawn() : spawn,
    modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName,
    liveness: { ...FAST, ...opts.liveness }, onEvent: (e) => opts.events?.push(e),
  });
  recs.push(rec);
  return { rec, workers };
}

// The first load in a file imports TF.js cold; on a loaded machine that alone can pass vitest's 5 s default.
describe('a lost worker', { timeout: 30_000 }, () => {
  it('a track committed but never answered resolves after the restart with its first answer, stored once', async () => {
    const events: RecommenderEvent[] = [];
    const { rec, workers } = await start({ events });
    await rec.track(views(1));
    workers[0].dieWhen('on-next-answer');
    const t0 = Date.now();
    const result = await rec.track(views(200, 1));
    expect(result).toEqual({ stored: 200, unknownItems: [], notInCatalog: [], pruned: 0, outsideRetention: 0 });
    expect(workers).toHaveLength(2);
    expect(workers[0].terminated).toBe(true);
    const history = await rec.listHistory({ newestFirst: false });
    expect(history).toHaveLength(201);
    expect(new Set(history.map((e) => e.timestamp)).size).toBe(201);
    expect(events.map((e) => e.type)).toEqual(['worker-lost', 'worker-restarted']);
    expect(events[0]).toMatchObject({ rejectedReads: 0, replayWrites: 1, willRestart: true });
    expect(events[1]).toMatchObject({ replayedWrites: 1, restarts: 1 });
    console.log(`[liveness unit] committed-unanswered track settled in ${Date.now() - t0} ms; recovery ${(events[1] as { recoveryMs: number }).recoveryMs.toFixed(0)} ms`);
  });

  it('a track that never reached the worker is applied by the replay; reads in flight reject with WorkerLostError', async () => {
    const { rec, workers } = await start();
    workers[0].dieWhen('on-next-call');
    const t0 = Date.now();
    const [read, write, read2] = await Promise.allSettled([rec.scene('home').recommend({ k: 3 }), rec.track(views(5)), rec.info()]);
    expect(read.status).toBe('rejected');
    const err = (read as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err.code).toBe('WORKER_LOST');
    expect(err.details).toMatchObject({ permanent: false });
    expect((read2 as PromiseRejectedResult).reason).toBeInstanceOf(WorkerLostError);
    expect(write).toEqual({ status: 'fulfilled', value: { stored: 5, unknownItems: [], notInCatalog: [], pruned: 0, outsideRetention: 0 } });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await rec.listHistory()).toHaveLength(5);
    expect((await rec.scene('home').recommend({ k: 3 })).items).toHaveLength(3);
  });

  it('an idle worker that died is replaced before the next call; writes keep their order across the loss', async () => {
    const events: RecommenderEvent[] = [];
    const { rec, workers } = await start({ events });
    await rec.track(views(2));
    workers[0].dieWhen('now');
    await expect.poll(() => events.map((e) => e.type), { timeout: 5000 }).toEqual(['worker-lost', 'worker-restarted']);
    expect(events[0]).toMatchObject({ rejectedReads: 0, replayWrites: 0 });
    // Calls during a second recovery wait for it, in order.
    workers[1].dieWhen('now');
    const a = rec.track({ type: 'cart', itemId: itemId(7) });
    const b = rec.forgetItem(itemId(7));
    const c = rec.track({ type: 'cart', itemId: itemId(8) });
    await Promise.all([a, b, c]);
    expect((await rec.listHistory()).map((e) => e.itemId).sort()).toEqual([itemId(1), itemId(2), itemId(8)]);
  });

  it('dispose settles with a dead worker; pending calls reject', async () => {
    const { rec, workers } = await start({});
    workers[0].dieWhen('now');
    const pending = rec.scene('home').recommend().catch((e) => e);
    const t0 = Date.now();
    await rec.dispose();
    expect(Date.now() - t0).toBeLessThan(1500);
    const e = await pending;
    expect(e instanceof WorkerLostError || e instanceof DisposedError).toBe(true);
    await expect(rec.info()).rejects.toBeInstanceOf(DisposedError);
  });

  it('a Worker instance (no factory) is not restarted: pending writes reject with stored "unknown", later calls too', async () => {
    const events: RecommenderEvent[] = [];
    const { rec, workers } = await start({ factory: false, events });
    workers[0].dieWhen('on-next-call');
    const err = await rec.track(views(3)).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err.details).toMatchObject({ permanent: true, stored: 'unknown' });
    expect(events[0]).toMatchObject({ type: 'worker-lost', willRestart: false });
    const later = await rec.info().catch((e) => e);
    expect(later).toBeInstanceOf(WorkerLostError);
    expect(later.details.permanent).toBe(true);
    await rec.dispose();
  });

  it('replacements that die while loading are tried maxRestarts times, then the write rejects with stored "unknown"', async () => {
    const events: RecommenderEvent[] = [];
    const dying = () => { const f = new FakeWorker(); f.dieWhen('on-next-call'); return f; };
    const { rec, workers } = await start({ events, liveness: { maxRestarts: 2, loadPingTimeoutMs: 300 }, spawnAfterFirst: dying });
    workers[0].dieWhen('on-next-call');
    const t0 = Date.now();
    const err = await rec.track(views(4)).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err.details).toMatchObject({ permanent: true, stored: 'unknown' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(workers).toHaveLength(3); // the first and 2 replacements
    expect(workers.every((w) => w.terminated)).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['worker-lost', 'worker-restart-failed']);
    await expect(rec.scene('home').recommend()).rejects.toMatchObject({ name: 'WorkerLostError', details: { permanent: true } });
    await rec.dispose();
  });

  it('a worker lost while loading rejects createRecommender with WorkerLostError', async () => {
    const f = new FakeWorker();
    f.dieWhen('on-next-call'); // init
    const t0 = Date.now();
    const err = await createRecommender({
      worker: () => f.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), liveness: FAST,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(Date.now() - t0).toBeLessThan(FAST.loadPingTimeoutMs + 1000);
    expect(f.terminated).toBe(true);
  });

  it('a worker that never starts (killed before its script ran) rejects createRecommender after startTimeoutMs', async () => {
    const f = new FakeWorker();
    f.dieWhen('now');
    const t0 = Date.now();
    const err = await createRecommender({
      worker: () => f.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), liveness: { ...FAST, startTimeoutMs: 300 },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerLostError);
    expect(err.message).toMatch(/did not start/);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('a worker held for longer than pingTimeoutMs is lost, unless its pongs said it is settling after its load (then loadPingTimeoutMs)', async () => {
    for (const settling of [true, false]) {
      const events: RecommenderEvent[] = [];
      const { rec, workers } = await start({ events });
      workers[0].settling = settling;
      await rec.info(); // a pong with the flag has been read by now (pings every 25 ms while a call is pending)
      await new Promise((r) => setTimeout(r, 60));
      workers[0].stall(FAST.pingTimeoutMs * 4);
      await new Promise((r) => setTimeout(r, FAST.pingTimeoutMs * 4 + 200));
      expect((await rec.scene('home').recommend({ k: 3 })).items).toHaveLength(3);
      expect(events.map((e) => e.type), `settling ${settling}`).toEqual(settling ? [] : ['worker-lost', 'worker-restarted']);
    }
  });

  it('checks options.liveness', async () => {
    await expect(createRecommender({ worker: () => new FakeWorker().worker, liveness: { pingTimeoutMs: -1 } })).rejects.toThrow(/pingTimeoutMs/);
    await expect(createRecommender({ worker: () => new FakeWorker().worker, liveness: { pingTimeOut: 5 } as never })).rejects.toThrow(/not an option/);
  });
});
