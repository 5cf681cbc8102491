/**
 * Page side of the instrumented worker's side channel (./instrumented.worker.ts), shared by the
 * e2e harness and the benchmark page.
 */
export interface SideChannelQuery {
  sideChannel: 'memory' | 'adapter' | 'peak' | 'destroyDevice' | 'fault';
  id: number;
  /** destroyDevice: wait this long first, ms. */
  delayMs?: number;
  fault?: Fault;
}

/** A fault for the instrumented worker to apply (see ./instrumented.worker.ts). */
export type FaultKind = 'close' | 'throw' | 'hang';
export interface Fault { kind: FaultKind; at: 'now' | 'write' | 'commit' }

export interface WorkerMemory { backend: string; numTensors: number; numBytes: number; numDataBuffers: number; heapUsed?: number }
export interface WorkerAdapter { backend: string; hasGpu: boolean; adapter: { vendor: string; architecture: string; description: string } | null }
export interface WorkerPeak { backend: string; gmacs: number; shape: string; ms: number; all: Array<{ shape: string; gmacs: number }> }
/** destroyDevice: whether a webgpu device was destroyed, and when (the worker's performance.now()). */
export interface WorkerDestroyed { backend: string; destroyed: boolean; atMs: number }
interface Answers { memory: WorkerMemory; adapter: WorkerAdapter; peak: WorkerPeak; destroyDevice: WorkerDestroyed }

let nextId = 1;

/**
 * Asks the worker to apply a fault. Resolves when the worker armed it (a fault `at: 'now'` may leave
 * no answer: do not wait for that one).
 */
export function injectFault(w: Worker, fault: Fault, timeoutMs = 10_000): Promise<void> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { w.removeEventListener('message', on); reject(new Error('the instrumented worker did not arm the fault')); }, timeoutMs);
    const on = (ev: MessageEvent) => {
      if (ev.data?.id !== id || ev.data?.sideChannel !== 'fault') return;
      clearTimeout(timer);
      w.removeEventListener('message', on);
      resolve();
    };
    w.addEventListener('message', on);
    w.postMessage({ sideChannel: 'fault', id, fault } satisfies SideChannelQuery);
  });
}

/** Spawns the SDK's worker with the side channel. */
export function instrumentedWorker(name = 'scenerec-instrumented'): Worker {
  return new Worker(new URL('./instrumented.worker.ts', import.meta.url), { type: 'module', name });
}

/** Asks the worker one side-channel question; rejects after `timeoutMs`. */
export function askWorker<Q extends keyof Answers>(w: Worker, query: Q, timeoutMs = 10_000, extra: Pick<SideChannelQuery, 'delayMs'> = {}): Promise<Answers[Q]> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { w.removeEventListener('message', on); reject(new Error(`the instrumented worker did not answer "${query}"`)); }, timeoutMs);
    const on = (ev: MessageEvent) => {
      if (ev.data?.id !== id || ev.data?.sideChannel !== query) return;
      clearTimeout(timer);
      w.removeEventListener('message', on);
      resolve(ev.data as Answers[Q]);
    };
    w.addEventListener('message', on);
    w.postMessage({ sideChannel: query, id, ...extra } satisfies SideChannelQuery);
  });
}
