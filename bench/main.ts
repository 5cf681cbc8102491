/**
 * Benchmark page: runs one case (backend x model x catalog) the way a shop uses the SDK and returns
 * plain figures. Driven by scripts/bench.ts through `window.bench.run()`.
 */
import { createRecommender, type CatalogItem, type EngineInfo, type LoadProgress, type Recommender, type SceneName } from '../src/index';
import { askWorker, instrumentedWorker } from '../tests/support/side-channel';
import { benchCatalogItem, catalogIds } from './catalog';
import { probeFloor } from './floor-probe';
import { createPeer, type Peer } from './peer';
import { comparePeer, type PeerCase, type PeerResult } from './peer-compare';
import { stat, type Stat } from './stat';

export type { Stat } from './stat';

export interface BenchCase {
  label: string;
  backend: 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';
  modelUrl: string;
  /** Catalog: the first `catalogSize` items of the model's vocabulary, with synthetic metadata. */
  catalogSize: number;
  /**
   * True: no `catalog` option (the model's own items are the catalog, as for a shop that passes
   * none), so the cold start does not include sending a million catalog entries to the worker.
   */
  modelCatalog?: boolean;
  warmCalls: number;
  /** Seconds of back-to-back home calls for the throughput figure. */
  throughputSeconds: number;
  embeddingDtype?: 'auto' | 'float32' | 'int8';
  /** Leak check: this many home calls, tensors and heap read before and after. */
  leakCalls?: number;
  /** The onnxruntime-web peer, timed against scenerec's home call (./peer-compare.ts). */
  peer?: PeerCase;
}

export interface BenchResult {
  label: string;
  ok: boolean;
  error?: string;
  info?: EngineInfo;
  /** Whether the page was cross-origin isolated (microsecond timers rather than 100 µs steps). */
  crossOriginIsolated?: boolean;
  /** createRecommender, first visit (empty IndexedDB: no catalog cache). */
  createMs?: number;
  /** createRecommender -> first home result (after tracking the history), first visit. */
  coldFirstResultMs?: number;
  /** The same on a second load with the same database (catalog cache, HTTP cache warm). */
  reloadCreateMs?: number;
  reloadFirstResultMs?: number;
  reloadInfo?: EngineInfo;
  /**
   * Where the cold start goes (first visit, and the reload): ms from createRecommender to the end
   * of each load stage (backend started, weights received, model decoded, catalog matrix built,
   * warm-up done, ready) and to the first list.
   */
  coldPhases?: LoadPhases;
  reloadPhases?: LoadPhases;
  /** The first home call after load (worker time): shows whether warm-up did its job. */
  firstCallWorkerMs?: number;
  /** History positions the home call fed the model (RecommendResult.historyUsed): the cost floor counts these. */
  homeHistoryUsed?: number;
  /** Per scene: the worker's latencyMs, the page's round trip, and their difference call by call (`overhead`). */
  scenes?: Partial<Record<SceneName, { worker: Stat; roundTrip: Stat; overhead?: Stat }>>;
  /** Back-to-back home calls per second (one in flight) and with 8 in flight. */
  throughput?: { sequential: number; concurrent8: number };
  memory?: { numTensors: number; tfBytes: number; workerHeap?: number; pageHeap?: number };
  peak?: { gmacs: number; shape: string; all: Array<{ shape: string; gmacs: number }> };
  /** The peer comparison; `error` when the peer could not run (reported, the case still counts). */
  peer?: PeerResult & { error?: string };
  leak?: { calls: number; tensorsBefore: number; tensorsAfter: number; bytesBefore: number; bytesAfter: number; heapBefore?: number; heapAfter?: number; ms: number };
}

/** `cacheStored`: when the model's copy for the next visit was written (after the first list, in the background). */
export interface LoadPhases { backend?: number; download?: number; model?: number; catalog?: number; warmup?: number; ready?: number; firstResult?: number; prefilterReady?: number; cacheStored?: number }

/** Records the end of each load stage (ms since t0) from createRecommender's onProgress. */
function phaseRecorder(t0: () => number): { phases: LoadPhases; onProgress: (p: LoadProgress) => void } {
  const phases: LoadPhases = {};
  const at = () => Math.round(performance.now() - t0());
  return {
    phases,
    onProgress: (p) => {
      if (p.stage === 'backend' && p.status === 'ready') phases.backend = at();
      else if (p.stage === 'download') phases.download = at();
      else if (p.stage === 'model') phases.model = at();
      else if (p.stage === 'warmup' && p.ms === undefined) phases.catalog = at();
      else if (p.stage === 'warmup') phases.warmup = at();
      else if (p.stage === 'ready') phases.ready = at();
    },
  };
}

const vocabCache = new Map<string, string[]>();
async function catalogFor(modelUrl: string, size: number): Promise<CatalogItem[]> {
  let ids = vocabCache.get(modelUrl);
  if (!ids) {
    const res = await fetch(new URL('vocab.json', new URL(modelUrl, location.href)));
    ids = catalogIds(((await res.json()) as { itemIds: string[] }).itemIds);
    vocabCache.set(modelUrl, ids);
  }
  if (size > ids.length) throw new Error(`${modelUrl} has ${ids.length} items, fewer than ${size}`);
  const out: CatalogItem[] = new Array(size);
  for (let i = 0; i < size; i++) out[i] = benchCatalogItem(i, ids[i]);
  return out;
}

async function memory(w: Worker): Promise<{ numTensors: number; numBytes: number; heapUsed?: number }> {
  const m = await askWorker(w, 'memory', 120_000);
  const heap = window.benchWorkerHeap ? await window.benchWorkerHeap() : null;
  return { numTensors: m.numTensors, numBytes: m.numBytes, heapUsed: heap ?? m.heapUsed };
}

const newWorker = () => instrumentedWorker('scenerec-bench');
const pageHeap = () => (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;

async function run(c: BenchCase, opts: { peak?: boolean } = {}): Promise<BenchResult> {
  const out: BenchResult = { label: c.label, ok: false, crossOriginIsolated: self.crossOriginIsolated };
  const dbName = `bench-${c.label}-${Date.now().toString(36)}`;
  const catalog = await catalogFor(c.modelUrl, c.catalogSize);
  const history = catalog.filter((i) => i.available !== false).slice(100, 120).map((i) => i.id);
  let rec: Recommender | undefined;
  let worker: Worker | undefined;
  let cold: ReturnType<typeof phaseRecorder> | undefined;
  const options = { backend: c.backend, modelUrl: c.modelUrl, catalog: c.modelCatalog ? undefined : catalog, dbName, embeddingDtype: c.embeddingDtype };
  try {
    // First visit: empty database.
    worker = newWorker();
    let t0 = performance.now();
    cold = phaseRecorder(() => t0);
    rec = await createRecommender({ ...options, worker, onProgress: cold.onProgress });
    out.createMs = performance.now() - t0;
    await rec.track(history.map((itemId) => ({ type: 'view' as const, itemId })));
    const first = await rec.scene('home').recommend({ k: 10 });
    out.coldFirstResultMs = performance.now() - t0;
    out.coldPhases = { ...cold.phases, firstResult: Math.round(out.coldFirstResultMs) };
    performance.measure('bench:first-visit', { start: t0, end: t0 + out.coldFirstResultMs }); // for --trace (scripts/trace-profile.ts)
    out.firstCallWorkerMs = first.latencyMs;
    out.homeHistoryUsed = first.historyUsed;
    out.info = rec.engineInfo;
    // The float32 matrix's int8 prefilter is built in the background after ready (top-n takes the
    // full pass until then): the warm calls below measure the engine once it is built.
    for (let waited = 0; (await rec.info()).scoring?.prefilterReady === false && waited < 120_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    if (out.info.scoring?.prefilterReady === false) out.coldPhases.prefilterReady = Math.round(performance.now() - t0);
    // A downloaded model is written into the cache after that background work: the warm calls wait for it too.
    for (let waited = 0; (await rec.info()).modelCache?.storing && waited < 120_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    if (out.info.modelCache?.storing) out.coldPhases.cacheStored = Math.round(performance.now() - t0);

    // Warm calls per scene.
    const scenes: BenchResult['scenes'] = {};
    const cart = history.slice(0, 2);
    const candidates = catalog.slice(0, 200).map((i) => i.id);
    const calls: Record<SceneName, () => Promise<{ latencyMs: number }>> = {
      home: () => rec!.scene('home').recommend({ k: 10 }),
      product: () => rec!.scene('product').recommend({ itemId: history[3], k: 10 }),
      cart: () => rec!.scene('cart').recommend({ cart, k: 10 }),
      search: () => rec!.scene('search').rerank({ query: 'q', candidates, k: 20 }),
      recentlyViewed: () => rec!.scene('recentlyViewed').recommend({ k: 10 }),
      buyAgain: () => rec!.scene('buyAgain').recommend({ k: 10 }),
    };
    for (const scene of Object.keys(calls) as SceneName[]) {
      const worker: number[] = [];
      const roundTrip: number[] = [];
      for (let i = 0; i < 5; i++) await calls[scene](); // JIT and caches settle
      for (let i = 0; i < c.warmCalls; i++) {
        const t = performance.now();
        const r = await calls[scene]();
        roundTrip.push(performance.now() - t);
        worker.push(r.latencyMs);
      }
      scenes[scene] = { worker: stat(worker), roundTrip: stat(roundTrip), overhead: stat(roundTrip.map((t, i) => t - worker[i])) };
    }
    out.scenes = scenes;

    // Throughput: back to back, then 8 in flight.
    let n = 0;
    t0 = performance.now();
    while (performance.now() - t0 < c.throughputSeconds * 1000) { await calls.home(); n++; }
    const sequential = n / ((performance.now() - t0) / 1000);
    performance.measure('bench:home-calls', { start: t0, end: performance.now() }); // warm home calls back to back, for --trace
    n = 0;
    t0 = performance.now();
    while (performance.now() - t0 < c.throughputSeconds * 1000) { await Promise.all(Array.from({ length: 8 }, () => calls.home())); n += 8; }
    out.throughput = { sequential, concurrent8: n / ((performance.now() - t0) / 1000) };

    const mem = await memory(worker);
    out.memory = { numTensors: mem.numTensors, tfBytes: mem.numBytes, workerHeap: mem.heapUsed, pageHeap: pageHeap() };

    if (c.leakCalls) {
      const before = await memory(worker);
      const t = performance.now();
      for (let i = 0; i < c.leakCalls; i++) {
        if (i % 100 === 0) await rec.track({ type: 'view', itemId: history[i % history.length] });
        await (i % 4 === 0 ? calls.home() : i % 4 === 1 ? calls.product() : i % 4 === 2 ? calls.cart() : calls.search());
      }
      const ms = performance.now() - t;
      const after = await memory(worker);
      out.leak = {
        calls: c.leakCalls, tensorsBefore: before.numTensors, tensorsAfter: after.numTensors, bytesBefore: before.numBytes,
        bytesAfter: after.numBytes, heapBefore: before.heapUsed, heapAfter: after.heapUsed, ms,
      };
    }
    if (c.peer) {
      // After the memory figures (the peer's session lives in this page), before the reload.
      let peer: Peer | undefined;
      try {
        peer = await createPeer({ onnxUrl: c.peer.onnxUrl, modelUrl: c.modelUrl });
        const pool = catalog.filter((i) => i.available !== false).slice(100).map((i) => i.id);
        out.peer = { version: peer.version, coldMs: peer.coldMs, runs: await comparePeer(rec, peer, pool, c.peer) };
      } catch (e) {
        out.peer = { version: '?', coldMs: NaN, runs: [], error: `${(e as Error).name}: ${(e as Error).message}` };
      } finally {
        await peer?.dispose().catch(() => undefined);
      }
      await rec.clearHistory();
      await rec.track(history.map((itemId) => ({ type: 'view' as const, itemId }))); // the reload reads the case's own history
    }
    if (opts.peak) out.peak = await askWorker(worker, 'peak', 120_000);

    await rec.dispose();
    worker.terminate();
    rec = undefined;

    // Second visit: same database (history, catalog cache), browser caches warm.
    worker = newWorker();
    t0 = performance.now();
    const reload = phaseRecorder(() => t0);
    rec = await createRecommender({ ...options, worker, onProgress: reload.onProgress });
    out.reloadCreateMs = performance.now() - t0;
    await rec.scene('home').recommend({ k: 10 });
    out.reloadFirstResultMs = performance.now() - t0;
    out.reloadPhases = { ...reload.phases, firstResult: Math.round(out.reloadFirstResultMs) };
    performance.measure('bench:returning-visit', { start: t0, end: t0 + out.reloadFirstResultMs });
    out.reloadInfo = rec.engineInfo;
    await rec.clearHistory();
    out.ok = true;
  } catch (e) {
    const err = e as { name?: string; message?: string };
    out.error = `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
    if (cold && !out.coldPhases) out.error += ` (load stages reached: ${JSON.stringify(cold.phases)})`; // where a failed cold start got to
  } finally {
    await rec?.dispose().catch(() => undefined);
    worker?.terminate();
    indexedDB.deleteDatabase(dbName);
  }
  return out;
}

declare global {
  interface Window {
    bench: { run: typeof run; probeFloor: typeof probeFloor };
    /** Exposed by scripts/bench.ts: the worker's JS heap after a GC, through the DevTools protocol. */
    benchWorkerHeap?: () => Promise<number | null>;
  }
}
window.bench = { run, probeFloor };
document.getElementById('status')!.textContent = 'ready';
