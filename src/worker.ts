/**
 * The scenerec Web Worker: hosts the model, the catalog and the history store.
 * Spawned by createRecommender (module worker); the page talks to it through Comlink.
 */
import { exposeEngine } from './engine/host.js';

exposeEngine();
