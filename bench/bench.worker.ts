/**
 * The SDK worker (`exposeEngine()`, as src/worker.ts) plus a side channel for the
 * benchmark: tf.memory(), the worker's JS heap, and a peak-throughput probe of the active backend.
 *   { benchQuery: 'memory', id }  -> { id, numTensors, numBytes, heapUsed?, backend }
 *   { benchQuery: 'peak', id }    -> { id, backend, gmacs, shape, ms }
 * These messages carry no Comlink fields, so Comlink ignores them.
 */
import * as tf from '@tensorflow/tfjs';
import { exposeEngine } from '../src/index';

exposeEngine();

type Query = { benchQuery?: 'memory' | 'peak'; id?: number };

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

self.addEventListener('message', (ev: MessageEvent<Query>) => {
  const { benchQuery, id } = (ev.data ?? {}) as Query;
  if (!benchQuery) return;
  void (async () => {
    if (benchQuery === 'memory') {
      const m = tf.memory();
      self.postMessage({ id, numTensors: m.numTensors, numBytes: m.numBytes, heapUsed: heapUsed(), backend: tf.getBackend() });
    } else {
      self.postMessage({ id, backend: tf.getBackend(), ...(await peak()) });
    }
  })();
});
