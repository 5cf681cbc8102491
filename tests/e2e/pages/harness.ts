/**
 * Browser side of the e2e tests: imports the SDK exactly as a shop's page would and puts it on
 * `window`, with a few helpers. The specs drive it with page.evaluate().
 */
import * as scenerec from '../../../src/index';
import type { BackendFallback, CatalogItem, Recommender, RecommenderEvent, RecommenderOptions } from '../../../src/index';
import { askWorker, injectFault, instrumentedWorker, type Fault, type WorkerAdapter } from '../../support/side-channel';
import { faultWorkerName, type StorageFault } from '../../support/storage-faults';

/** The tiny random-weights fixture (tests/fixtures/tiny-model), served at /fixtures/. */
export const FIXTURE_MODEL_URL = '/fixtures/tiny-model/model.json';

/** Fixture catalog items the shop marks unavailable. */
export const UNAVAILABLE = ['item-02', 'item-13', 'item-27'];

export interface CreateOptions extends Omit<RecommenderOptions, 'worker'> {
  /**
   * Run the SDK engine in tests/support/instrumented.worker.ts (adds tf.memory() / adapter queries
   * and fault injection). The SDK gets a factory, so it can replace a lost worker with a new one.
   */
  debugWorker?: boolean;
  /** Run it in tests/support/storage-fault.worker.ts with this storage fault (implies debugWorker). */
  storageFault?: StorageFault;
  /** Debug worker only: the first worker applies this fault after its init arrives (e.g. 'close@init:50'). */
  initFault?: string;
}

export interface DebugMemory { numTensors: number; numBytes: number; numDataBuffers: number }
export interface DebugAdapter { vendor: string; architecture: string; description: string }

export interface Harness {
  /** item-01..item-50 (category = the fixture's cluster, cat-0..cat-4), cold-1..cold-3 (unknown to the model); UNAVAILABLE are unavailable. */
  fixtureCatalog(): CatalogItem[];
  unavailable: string[];
  fixtureModelUrl: string;
  /** Creates a recommender (fixture model and catalog unless given) and keeps it as `window.rec`. */
  create(options?: CreateOptions): Promise<Recommender>;
  /** tf.memory() inside the debug worker. */
  workerMemory(): Promise<DebugMemory & { backend: string }>;
  /** navigator.gpu.requestAdapter() inside the debug worker. */
  workerAdapter(): Promise<{ hasGpu: boolean; adapter: DebugAdapter | null }>;
  /**
   * GPUDevice.destroy() on the debug worker's TF.js webgpu device, after `delayMs` (a device loss).
   * Resolves once done, with whether there was a webgpu device to destroy.
   */
  destroyGpuDevice(delayMs?: number): Promise<{ destroyed: boolean; backend: string }>;
  /** The backend switches the debug worker reported as events (EngineHooks.onFallback), oldest first. */
  workerFallbacks: BackendFallback[];
  /** navigator.gpu.requestAdapter() on the page. */
  pageAdapter(): Promise<{ hasGpu: boolean; adapter: DebugAdapter | null }>;
  /**
   * One round of calls over every scene on the fixture catalog (round `i` varies the product),
   * for the specs that drive all scenes repeatedly (leak checks).
   */
  sceneCalls(rec: Recommender, i: number): Array<() => Promise<unknown>>;
  /** Every `onEvent` the last created recommender reported, with `performance.now()` as `t`. */
  events: Array<RecommenderEvent & { t: number }>;
  /** Debug workers spawned by the last `create` (restarts add one each). */
  workersSpawned(): number;
  /**
   * Applies a fault in the current debug worker (tests/support/instrumented.worker.ts); resolves once
   * it is armed (never, maybe, for `at: 'now'`).
   */
  fault(fault: Fault): Promise<void>;
  /** `terminate()` of the current debug worker, from the page. */
  terminateWorker(): void;
  /** Runs `f`, returns the error it throws (or rejects with) as plain data, or null. */
  errorOf(f: () => unknown): Promise<{ name: string; code?: string; message: string; isScenerecError: boolean; instanceOf?: string; details?: Record<string, unknown> } | null>;
}

declare global {
  interface Window {
    scenerec: typeof scenerec;
    harness: Harness;
    rec?: Recommender;
  }
}

const itemId = (i: number): string => `item-${String(i).padStart(2, '0')}`;

function fixtureCatalog(): CatalogItem[] {
  const items: CatalogItem[] = [];
  for (let i = 1; i <= 50; i++) {
    const id = itemId(i);
    items.push({
      id, title: `Item ${i}`, category: `cat-${Math.floor((i - 1) / 10)}`, price: i,
      available: !UNAVAILABLE.includes(id),
    });
  }
  for (let j = 1; j <= 3; j++) items.push({ id: `cold-${j}`, title: `Cold ${j}`, category: 'cat-0', price: 100 + j });
  return items;
}

let debugWorker: Worker | null = null;
let spawned = 0;
const events: Array<RecommenderEvent & { t: number }> = [];

function debug(): Worker {
  if (!debugWorker) throw new Error('create({ debugWorker: true }) first');
  return debugWorker;
}

async function readAdapter(gpu: GPU | undefined): Promise<{ hasGpu: boolean; adapter: DebugAdapter | null }> {
  const adapter = gpu ? await gpu.requestAdapter() : null;
  const info = adapter?.info;
  return { hasGpu: !!gpu, adapter: info ? { vendor: info.vendor, architecture: info.architecture, description: info.description } : null };
}

window.scenerec = scenerec;
window.harness = {
  fixtureCatalog,
  unavailable: UNAVAILABLE,
  fixtureModelUrl: FIXTURE_MODEL_URL,
  async create(options: CreateOptions = {}) {
    const { debugWorker: wantDebug, storageFault, initFault, onEvent, ...rest } = options;
    debugWorker = null;
    spawned = 0;
    events.length = 0;
    const worker = storageFault
      ? () => {
        const w = new Worker(new URL('../../support/storage-fault.worker.ts', import.meta.url), { type: 'module', name: faultWorkerName(storageFault) });
        debugWorker = w;
        return w;
      }
      : wantDebug
      ? () => {
        const fault = spawned === 0 && initFault ? ` fault=${initFault}` : '';
        spawned++;
        const w = instrumentedWorker(`scenerec-debug${fault}`);
        w.addEventListener('message', (ev: MessageEvent) => {
          if (ev.data?.sideChannelEvent === 'fallback') window.harness.workerFallbacks.push(ev.data.fallback as BackendFallback);
        });
        debugWorker = w;
        return w;
      }
      : undefined;
    window.harness.workerFallbacks = [];
    const rec = await scenerec.createRecommender({
      modelUrl: FIXTURE_MODEL_URL,
      catalog: fixtureCatalog(),
      ...rest,
      onEvent: (e) => { events.push({ ...e, t: performance.now() }); onEvent?.(e); },
      ...(worker ? { worker } : {}),
    });
    window.rec = rec;
    return rec;
  },
  workerMemory: async () => {
    const { numTensors, numBytes, numDataBuffers, backend } = await askWorker(debug(), 'memory');
    return { numTensors, numBytes, numDataBuffers, backend };
  },
  workerAdapter: async () => {
    const { hasGpu, adapter } = await askWorker(debug(), 'adapter') as WorkerAdapter;
    return { hasGpu, adapter };
  },
  workerFallbacks: [],
  destroyGpuDevice: async (delayMs = 0) => {
    const { destroyed, backend } = await askWorker(debug(), 'destroyDevice', 10_000 + delayMs, { delayMs });
    return { destroyed, backend };
  },
  sceneCalls: (rec, i) => [
    () => rec.scene('home').recommend({ k: 12 }),
    () => rec.scene('product').recommend({ itemId: itemId(10 + (i % 30)), k: 8 }),
    () => rec.scene('product').recommend({ itemId: 'cold-2', k: 4 }),
    () => rec.scene('cart').recommend({ cart: ['item-03'], k: 6, rules: { include: { category: ['cat-1', 'cat-2'] } } }),
    () => rec.scene('search').rerank({ query: 'q', candidates: ['item-01', 'item-22', 'cold-1', 'item-45'], k: 4 }),
  ],
  events,
  workersSpawned: () => spawned,
  fault: (fault) => injectFault(debug(), fault),
  terminateWorker: () => debug().terminate(),
  pageAdapter: () => readAdapter((navigator as Navigator & { gpu?: GPU }).gpu),
  async errorOf(f) {
    try {
      await f();
      return null;
    } catch (e) {
      const err = e as Error & { code?: string };
      const cls = Object.entries(scenerec).find(([, v]) => typeof v === 'function' && v.prototype instanceof scenerec.ScenerecError && e instanceof (v as unknown as new () => object) && (v as { name: string }).name === err.name);
      return {
        name: err.name, code: err.code, message: err.message,
        isScenerecError: e instanceof scenerec.ScenerecError,
        instanceOf: cls?.[0],
        details: (e as { details?: Record<string, unknown> }).details,
      };
    }
  },
};

document.getElementById('status')!.textContent = 'ready';
