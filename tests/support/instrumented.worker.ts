/**
 * The SDK's worker (what src/worker.ts does: `exposeEngine()`) plus a side channel that the e2e
 * harness and the benchmark page share, passed to createRecommender as `options.worker`:
 *   { sideChannel: 'memory', id }  -> { id, backend, numTensors, numBytes, numDataBuffers, heapUsed? }
 *   { sideChannel: 'adapter', id } -> { id, backend, hasGpu, adapter: GPUAdapterInfo fields | null }
 *   { sideChannel: 'peak', id }    -> { id, backend, gmacs, shape, ms, all }
 *   { sideChannel: 'fault', id, fault: { kind, at } } -> { id, armed: true }, then the fault (below)
 * Faults (tests/e2e/faults/): `kind` 'close' (self.close()), 'throw' (an uncaught exception),
 * 'hang' (a busy loop that never ends); `at` 'now' (once this message is read), 'commit' (when
 * the next readwrite transaction on the history commits, before the engine answers) or 'write'
 * (when it is created). A worker whose name holds `fault=<kind>@init:<ms>` applies the fault
 * `ms` after its `init` call arrives (a death during createRecommender).
 *   { sideChannel: 'destroyDevice', id, delayMs? } -> { id, backend, destroyed, atMs }: after delayMs (0: at
 *     once), GPUDevice.destroy() on the TF.js webgpu backend's device (a device loss as the SDK meets it)
 * Events, unasked: { sideChannelEvent: 'fallback', fallback } when the engine switched backend after a
 * device loss (EngineHooks.onFallback through exposeEngine's hooks).
 * These messages carry no Comlink fields, so Comlink on both sides ignores them. tf.memory() reads
 * the realm's global TF.js engine, the same one the SDK's engine uses. Page side: ./side-channel.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { exposeEngine } from '../../src/engine/index';
import type { FaultKind, SideChannelQuery } from './side-channel';

// The engine's backend-switch hook, posted to the page as an event (no Comlink fields either).
exposeEngine(self as unknown as Parameters<typeof exposeEngine>[0], {
  onFallback: (fallback) => self.postMessage({ sideChannelEvent: 'fallback', fallback }),
});

function heapUsed(): number | undefined {
  const g = globalThis as { gc?: () => void; performance: Performance & { memory?: { usedJSHeapSize: number } } };
  g.gc?.();
  return g.performance.memory?.usedJSHeapSize;
}

/**
 * Best sustained multiply-add rate of the active backend: matMul at a few shapes, including the
 * scoring shape [1,64]x[64,N], timed with read-back; the best rate counts.
 */
async function peak(): Promise<{ gmacs: number; shape: string; ms: number; all: Array<{ shape: string; gmacs: number }> }> {
  const shapes: Array<[number, number, number]> = [[256, 256, 256], [512, 512, 512], [50, 64, 64], [1, 64, 262_144], [64, 64, 65_536]];
  const all: Array<{ shape: string; gmacs: number; ms: number }> = [];
  for (const [m, k, n] of shapes) {
    const a = tf.randomUniform([m, k]);
    const b = tf.randomUniform([k, n]);
    const run = async () => { const c = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D); await c.data(); c.dispose(); };
    await run();
    await run();
    // Batches of runs long enough for the timer (coarse in workers); the best batch counts.
    let reps = 1;
    for (;;) {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await run();
      if (performance.now() - t > 20 || reps > 4096) break;
      reps *= 2;
    }
    const times: number[] = [];
    for (let b = 0; b < 5; b++) {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await run();
      times.push((performance.now() - t) / reps);
    }
    times.sort((x, y) => x - y);
    const ms = times[0];
    all.push({ shape: `${m}x${k}x${n}`, gmacs: (m * k * n) / (ms * 1e6), ms });
    tf.dispose([a, b]);
  }
  const best = all.reduce((x, y) => (y.gmacs > x.gmacs ? y : x));
  return { gmacs: best.gmacs, shape: best.shape, ms: best.ms, all: all.map(({ shape, gmacs }) => ({ shape, gmacs })) };
}

/** Destroys the active webgpu backend's device; false when the backend is not webgpu. */
async function destroyDevice(delayMs: number): Promise<{ destroyed: boolean; atMs: number }> {
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  let device: GPUDevice | undefined;
  try {
    device = tf.getBackend() === 'webgpu' ? (tf.backend() as unknown as { device?: GPUDevice }).device : undefined;
  } catch {
    // tf.backend() throws while the backend is still initialising: no device to destroy yet.
  }
  device?.destroy();
  return { destroyed: !!device, atMs: performance.now() };
}

async function answer(query: Exclude<SideChannelQuery['sideChannel'], 'fault'>, q: Partial<SideChannelQuery>): Promise<Record<string, unknown>> {
  switch (query) {
    case 'memory': {
      const m = tf.memory();
      return { numTensors: m.numTensors, numBytes: m.numBytes, numDataBuffers: m.numDataBuffers, heapUsed: heapUsed() };
    }
    case 'adapter': {
      const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
      const info = gpu ? (await gpu.requestAdapter())?.info : undefined;
      return { hasGpu: !!gpu, adapter: info ? { vendor: info.vendor, architecture: info.architecture, description: info.description } : null };
    }
    case 'peak':
      return peak();
    case 'destroyDevice':
      return destroyDevice(q.delayMs ?? 0);
  }
}

function applyFault(kind: FaultKind): void {
  switch (kind) {
    case 'close':
      self.close();
      return;
    case 'throw':
      throw new Error('scenerec test: injected uncaught error');
    case 'hang':
      for (;;) { /* a worker that never comes back to its event loop */ }
  }
}

/** Arms `kind` on the next readwrite transaction over the history: when it is created, or when it commits. */
function armOnWrite(kind: FaultKind, at: 'write' | 'commit'): void {
  const proto = IDBDatabase.prototype;
  const original = proto.transaction;
  proto.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
    const tx = original.apply(this, args);
    const stores = typeof args[0] === 'string' ? [args[0]] : [...args[0]];
    if (args[1] === 'readwrite' && stores.includes('events')) {
      proto.transaction = original;
      if (at === 'write') applyFault(kind);
      else tx.addEventListener('complete', () => applyFault(kind));
    }
    return tx;
  } as IDBDatabase['transaction'];
}

const initFault = /fault=(close|throw|hang)@init:(\d+)/.exec(self.name);
if (initFault) {
  const onInit = (ev: MessageEvent) => {
    const d = ev.data as { type?: string; path?: string[] } | null;
    if (d?.type !== 'APPLY' || d.path?.[0] !== 'init') return;
    self.removeEventListener('message', onInit);
    setTimeout(() => applyFault(initFault[1] as FaultKind), Number(initFault[2]));
  };
  self.addEventListener('message', onInit);
}

self.addEventListener('message', (ev: MessageEvent<Partial<SideChannelQuery>>) => {
  const { sideChannel, id, fault } = ev.data ?? {};
  if (!sideChannel) return;
  if (sideChannel === 'fault' && fault) {
    self.postMessage({ id, sideChannel, armed: true });
    if (fault.at === 'now') applyFault(fault.kind);
    else armOnWrite(fault.kind, fault.at);
    return;
  }
  if (sideChannel === 'fault') return;
  void answer(sideChannel, ev.data).then((data) => self.postMessage({ id, sideChannel, backend: tf.getBackend(), ...data }));
});
