/**
 * scenerec: on-device, per-scene product recommendations.
 *
 * Page code uses `createRecommender` (model in a Web Worker); `createEngine` runs the same
 * engine in the current thread (tests, or when you host the worker yourself).
 * TF.js is only loaded by the worker, or on the first `createEngine` call.
 */
import type { EngineHooks, RecommenderEngine } from './engine/engine.js';
import type { EngineConfig } from './contract/protocol.js';

export { createRecommender } from './client/recommender.js';
export type {
  Recommender, RecommenderOptions, SceneHandle, BasicSceneHandle, SearchSceneHandle,
} from './client/recommender.js';
export type { RecommenderEvent, LivenessOptions } from './client/supervisor.js';
export type { EngineHooks, RecommenderEngine } from './engine/engine.js';
export { DEFAULT_LIVENESS } from './contract/defaults.js';
export { DEFAULT_DIVERSITY, DEFAULT_MODEL_URL, DEFAULT_OBJECTIVES, DEFAULT_PRICE_WEIGHT } from './contract/defaults.js';
export { exposeEngine } from './engine/host.js';
export { clearModelCache } from './model/cache.js';
export type { WorkerApi } from './engine/host.js';
export * from './contract/errors.js';
export * from './contract/protocol.js';

/**
 * Creates the engine in this thread, without a worker (unit tests, or a worker you host
 * yourself). `hooks.fetch` replaces the global fetch for the model files.
 * @throws InvalidOptionsError, StorageError, StorageBlockedError, NoBackendError, ModelLoadError
 */
export async function createEngine(config: EngineConfig, hooks: EngineHooks = {}): Promise<RecommenderEngine> {
  const engine = await import('./engine/engine.js');
  return engine.createEngine(config, hooks);
}
