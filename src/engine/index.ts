/**
 * The engine entry (`scenerec/engine`): the worker side as a library. `createEngine` runs the
 * engine in the current thread (tests, Node, or a worker you write yourself); `exposeEngine` serves
 * it over Comlink from a worker you write (what `scenerec/worker` does). This entry loads TF.js (a
 * peer dependency, so it is your app's copy); the page entry (`scenerec`) never does.
 */
export { createEngine, RecommenderEngine, type EngineHooks } from './engine.js';
export { exposeEngine, type WorkerApi } from './host.js';
