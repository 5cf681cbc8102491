/**
 * The public API as page code uses it. Type-checked by `tsc --noEmit` (the function below is the
 * usage from the SDK brief), and the runtime checks pin what index.ts exports.
 */
import { describe, expect, it } from 'vitest';
import * as sdk from '../../src/index.js';
import * as engineEntry from '../../src/engine/index.js';
import type {
  CatalogItem, LoadProgress, Recommender, RecommenderOptions, RecommendResult, SceneHandle,
} from '../../src/index.js';

// Never called: it only has to compile.
export async function usage(catalog: CatalogItem[], ids: string[], onProgress: (p: LoadProgress) => void): Promise<RecommendResult[]> {
  const options: RecommenderOptions = { catalog, onProgress, backend: 'auto', modelUrl: '/models/tianchi-sasrec/model.json' };
  const rec: Recommender = await sdk.createRecommender(options);
  await rec.track({ type: 'view', itemId: 'sku-123', scene: 'home' });
  const home = await rec.scene('home').recommend({ k: 12 });
  const pdp = await rec.scene('product').recommend({ itemId: 'sku-123', k: 8 });
  const cart = await rec.scene('cart').recommend({ cart: ['sku-1', 'sku-9'], k: 6 });
  const search: SceneHandle<'search'> = rec.scene('search');
  const srp = await search.rerank({ query: 'headset', candidates: ids, k: 20 });
  const backend: sdk.BackendName = rec.backend;
  const info: sdk.EngineInfo = rec.engineInfo;
  void backend; void info;
  const engine = await engineEntry.createEngine({ backend: 'cpu' }, { fetch });
  await engine.dispose();
  return [home, pdp, cart, srp];
}

describe('public exports', () => {
  it('exports the entry points, every error class and the protocol constants', () => {
    for (const name of ['createRecommender', 'clearModelCache', 'serializeError', 'deserializeError', 'isScenerecError']) {
      expect(typeof (sdk as Record<string, unknown>)[name]).toBe('function');
    }
    // The engine (TF.js) is its own entry, scenerec/engine: the page entry does not reference it.
    for (const name of ['createEngine', 'exposeEngine']) {
      expect((sdk as Record<string, unknown>)[name]).toBeUndefined();
      expect(typeof (engineEntry as Record<string, unknown>)[name]).toBe('function');
    }
    for (const name of [
      'ScenerecError', 'UnknownSceneError', 'InvalidEventError', 'InvalidRequestError', 'InvalidOptionsError', 'UnknownItemError',
      'ModelLoadError', 'NoBackendError', 'DeviceLostError', 'QuotaExceededError', 'StorageBlockedError', 'StorageError', 'DisposedError',
      'AbortError',
    ]) {
      expect(new (sdk as unknown as Record<string, new (m: string) => Error>)[name]('x')).toBeInstanceOf(sdk.ScenerecError);
    }
    expect(sdk.DEFAULT_MODEL_URL).toBe('/models/games-sasrec/model.json');
    expect(sdk.SCENES).toEqual(['home', 'product', 'cart', 'search', 'recentlyViewed', 'buyAgain']);
    expect(sdk.BACKENDS).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
  });
});
