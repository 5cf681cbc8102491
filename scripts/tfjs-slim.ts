/**
 * What the SDK's self-contained worker (dist/worker.js, scripts/build-lib.ts) gets for
 * `@tensorflow/tfjs`: the core ops with the cpu and webgl backends, without layers, converter and
 * data, which the engine never uses. webgpu and wasm are imported lazily by src/engine/backend.ts.
 */
export * from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
