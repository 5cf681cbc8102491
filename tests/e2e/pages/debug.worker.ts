/**
 * The SDK's worker (what src/worker.ts does: `exposeEngine()`) plus a small
 * debug side channel for the e2e tests, passed to createRecommender as `options.worker`:
 *
 *   { scenerecDebug: 'memory', debugId }  -> { debugId, memory: tf.memory(), backend: tf.getBackend() }
 *   { scenerecDebug: 'adapter', debugId } -> { debugId, adapter: GPUAdapterInfo fields | null, hasGpu }
 *
 * These messages carry no Comlink `type`/`id`, so Comlink on both sides ignores them.
 * tf.memory() reads the realm's global TF.js engine, the same one the SDK's engine uses.
 */
import * as tf from '@tensorflow/tfjs';
import { exposeEngine } from '../../../src/index';

exposeEngine();

type DebugRequest = { scenerecDebug?: 'memory' | 'adapter'; debugId?: number };

self.addEventListener('message', (ev: MessageEvent<DebugRequest>) => {
  const { scenerecDebug, debugId } = (ev.data ?? {}) as DebugRequest;
  if (!scenerecDebug) return;
  void (async () => {
    if (scenerecDebug === 'memory') {
      const m = tf.memory();
      self.postMessage({ debugId, memory: { numTensors: m.numTensors, numBytes: m.numBytes, numDataBuffers: m.numDataBuffers }, backend: tf.getBackend() });
    } else if (scenerecDebug === 'adapter') {
      const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
      const adapter = gpu ? await gpu.requestAdapter() : null;
      const info = adapter?.info;
      self.postMessage({
        debugId,
        hasGpu: !!gpu,
        adapter: info ? { vendor: info.vendor, architecture: info.architecture, description: info.description } : null,
      });
    }
  })();
});
