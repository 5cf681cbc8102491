/**
 * scenerec: on-device, per-scene product recommendations. The page entry: `createRecommender`
 * (the model runs in a Web Worker), errors, types, `clearModelCache`. It never loads TF.js; the
 * engine itself (`createEngine`, `exposeEngine` for a worker you write) is `scenerec/engine`
 * (src/engine/index.ts), so a page bundle does not even see TF.js.
 */

export { createRecommender } from './client/recommender.js';
export type {
  Recommender, RecommenderOptions, SceneHandle, BasicSceneHandle, SearchSceneHandle,
} from './client/recommender.js';
export type { RecommenderEvent, LivenessOptions } from './client/supervisor.js';
export { DEFAULT_LIVENESS } from './contract/defaults.js';
export {
  DEFAULT_DIVERSITY, DEFAULT_EXPOSURE_DISCOUNT, DEFAULT_MODEL_URL, DEFAULT_OBJECTIVES, DEFAULT_PRICE_WEIGHT, DEFAULT_REQUESTS,
} from './contract/defaults.js';
export { explainReason, timeAgo, type ExplainOptions } from './contract/explain.js';
export { clearModelCache } from './model/cache.js';
export * from './contract/errors.js';
export * from './contract/protocol.js';
