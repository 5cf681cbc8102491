/**
 * What the SDK's self-contained worker (dist/worker.js, scripts/build-lib.ts) gets for
 * `@tensorflow/tfjs`: what that package registers and exports, less layers, converter and data,
 * which the engine never uses. webgpu and wasm are imported lazily by src/engine/backend.ts.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-backend-cpu';
export * from '@tensorflow/tfjs-backend-webgl';
