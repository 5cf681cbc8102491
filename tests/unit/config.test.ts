import { describe, expect, it } from 'vitest';
import {
  assertScene, resolveBackends, resolveEngineConfig, validateCatalog, validateEvents, validateHistoryQuery, validateRequest,
} from '../../src/contract/options.js';
import {
  DEFAULT_DB_NAME, DEFAULT_DIVERSITY, DEFAULT_K, DEFAULT_MAX_AGE_DAYS, DEFAULT_MAX_EVENTS, DEFAULT_MODEL_URL,
  DEFAULT_PERSONAL_WEIGHT, MAX_K,
} from '../../src/contract/defaults.js';
import {
  InvalidEventError, InvalidOptionsError, InvalidRequestError, ScenerecError, UnknownSceneError,
} from '../../src/contract/errors.js';

/** Runs f, expects a throw of `cls`, returns the error for more checks. */
function thrown<T extends ScenerecError>(f: () => unknown, cls: abstract new (...a: never[]) => T): T {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    return e as T;
  }
  throw new Error('expected a throw');
}

describe('resolveEngineConfig', () => {
  it('fills every default', () => {
    const c = resolveEngineConfig(undefined);
    expect(c).toEqual({
      modelUrl: DEFAULT_MODEL_URL,
      catalog: undefined,
      backends: ['webgpu', 'webgl', 'wasm', 'cpu'],
      autoBackend: true,
      retention: { maxEvents: DEFAULT_MAX_EVENTS, maxAgeDays: DEFAULT_MAX_AGE_DAYS },
      dbName: DEFAULT_DB_NAME,
      excludePurchased: true,
      excludeInCart: true,
      embeddingDtype: 'auto',
      cacheCatalog: true,
      timeoutMs: 60_000,
      stallTimeoutMs: 15_000,
      modelCache: 'cache-first',
    });
    expect(DEFAULT_MODEL_URL).toBe('/models/games-sasrec/model.json');
  });

  it('keeps given values', () => {
    const c = resolveEngineConfig({
      modelUrl: '/m/model.json', backend: ['wasm', 'cpu', 'wasm'], retention: { maxEvents: 5 }, dbName: 'shop2',
      excludePurchased: false, catalog: [{ id: 'a' }],
    });
    expect(c.backends).toEqual(['wasm', 'cpu']);
    expect(c.autoBackend).toBe(false);
    expect(c.retention).toEqual({ maxEvents: 5, maxAgeDays: DEFAULT_MAX_AGE_DAYS });
    expect(c.excludePurchased).toBe(false);
    expect(c.catalog).toEqual([{ id: 'a' }]);
  });

  it('rejects bad options with InvalidOptionsError and a helpful message', () => {
    const typo = thrown(() => resolveEngineConfig({ modelURL: 'x' }), InvalidOptionsError);
    expect(typo.code).toBe('INVALID_OPTIONS');
    expect(typo.message).toContain('Did you mean "modelUrl"');
    expect(thrown(() => resolveEngineConfig({ backend: 'gpu' }), InvalidOptionsError).message).toContain("'auto'");
    expect(() => resolveEngineConfig({ backend: [] })).toThrow(InvalidOptionsError);
    expect(() => resolveEngineConfig({ retention: { maxEvents: 0 } })).toThrow(/maxEvents/);
    expect(() => resolveEngineConfig({ retention: { maxEvents: 1.5 } })).toThrow(InvalidOptionsError);
    expect(() => resolveEngineConfig({ retention: { maxAgeDays: -1 } })).toThrow(/maxAgeDays/);
    expect(() => resolveEngineConfig({ excludeInCart: 'yes' as never })).toThrow(InvalidOptionsError);
    expect(() => resolveEngineConfig({ catalog: [] })).toThrow(/empty/);
    expect(() => resolveEngineConfig('x' as never)).toThrow(InvalidOptionsError);
    expect(() => resolveEngineConfig({ dbName: '' })).toThrow(InvalidOptionsError);
  });

  it('takes wasmPaths as a folder URL or a URL per known wasm file', () => {
    expect(resolveEngineConfig({}).wasmPaths).toBeUndefined();
    expect(resolveEngineConfig({ wasmPaths: '/static/wasm/' }).wasmPaths).toBe('/static/wasm/');
    expect(resolveEngineConfig({ wasmPaths: { 'tfjs-backend-wasm-simd.wasm': '/w/simd.wasm' } }).wasmPaths)
      .toEqual({ 'tfjs-backend-wasm-simd.wasm': '/w/simd.wasm' });
    expect(thrown(() => resolveEngineConfig({ wasmPaths: '/static/wasm' }), InvalidOptionsError).message).toMatch(/ending in '\/'/);
    expect(thrown(() => resolveEngineConfig({ wasmPaths: { 'simd.wasm': '/x' } as never }), InvalidOptionsError).details?.field).toMatch(/wasmPaths/);
    expect(thrown(() => resolveEngineConfig({ wasmPaths: 42 as never }), InvalidOptionsError).details?.field).toBe('options.wasmPaths');
  });

  it('accepts page-only keys only when the caller says so', () => {
    expect(() => resolveEngineConfig({ worker: {} } as never)).toThrow(InvalidOptionsError);
    expect(() => resolveEngineConfig({ worker: {}, onProgress: () => 0 } as never, ['worker', 'onProgress'])).not.toThrow();
  });
});

describe('validateCatalog', () => {
  it('rejects duplicates, missing and numeric ids, bad fields', () => {
    const dup = thrown(() => validateCatalog([{ id: 'a' }, { id: 'b' }, { id: 'a' }]), InvalidOptionsError);
    expect(dup.message).toContain('"a" twice (at 0 and 2)');
    expect(thrown(() => validateCatalog([{ id: 7 }] as never), InvalidOptionsError).message).toContain('String(id)');
    expect(() => validateCatalog([{ title: 'x' }] as never)).toThrow(/catalog\[0\]\.id/);
    expect(() => validateCatalog([{ id: 'a', price: 'cheap' }] as never)).toThrow(/price/);
    expect(() => validateCatalog([{ id: 'a', available: 1 }] as never)).toThrow(/available/);
    // Every rule of the fast check has its message (each item is checked without building one).
    expect(() => validateCatalog([{ id: 'a' }, { id: 'b', meta: 'x' }] as never)).toThrow(/catalog\[1\]\.meta must be an object/);
    expect(() => validateCatalog([{ id: 'a', brand: 3 }] as never)).toThrow(/catalog\[0\]\.brand must be a string/);
    expect(() => validateCatalog([{ id: 'a', price: Infinity }] as never)).toThrow(/price/);
    expect(() => validateCatalog([{ id: 'x'.repeat(100_000) }] as never)).toThrow(/longer than/);
    expect(() => validateCatalog([{ id: 'a' }, null] as never)).toThrow(/catalog\[1\] must be an object/);
    expect(() => validateCatalog({} as never)).toThrow(InvalidOptionsError);
  });

  it('returns a copy of a valid catalog', () => {
    const cat = [{ id: 'a', category: 'x', price: 3, available: false, meta: { img: 'u' } }];
    const out = validateCatalog(cat);
    expect(out).toEqual(cat);
    expect(out).not.toBe(cat);
  });
});

describe('resolveBackends', () => {
  it('parses every form', () => {
    expect(resolveBackends('auto')).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
    expect(resolveBackends('cpu')).toEqual(['cpu']);
    expect(resolveBackends(['wasm', 'cpu'])).toEqual(['wasm', 'cpu']);
    expect(() => resolveBackends(['wasm', 'tpu'])).toThrow(InvalidOptionsError);
  });
});

describe('validateEvents', () => {
  it('fills defaults and keeps fields', () => {
    const [e] = validateEvents({ type: 'view', itemId: 'sku-1' }, 1000);
    expect(e).toEqual({ type: 'view', itemId: 'sku-1', scene: 'home', timestamp: 1000 });
    const [s] = validateEvents({ type: 'search', query: 'headset', scene: 'search', timestamp: 1.7e12 }, 1.7e12 + 1000);
    expect(s).toEqual({ type: 'search', query: 'headset', scene: 'search', timestamp: 1.7e12 });
  });

  it('rejects bad events with InvalidEventError naming the index and field', () => {
    const err = thrown(() => validateEvents([{ type: 'view', itemId: 'a' }, { type: 'view' }]), InvalidEventError);
    expect(err.code).toBe('INVALID_EVENT');
    expect(err.message).toContain('events[1].itemId is required');
    expect(err.details).toMatchObject({ index: 1, field: 'itemId' });
    expect(() => validateEvents({ type: 'like', itemId: 'a' })).toThrow(/type must be one of/);
    expect(() => validateEvents({ type: 'search' })).toThrow(/query/);
    expect(() => validateEvents({ type: 'view', itemId: '' })).toThrow(InvalidEventError);
    expect(() => validateEvents({ type: 'view', itemId: 12 } as never)).toThrow(/String\(id\)/);
    expect(() => validateEvents({ type: 'view', itemId: 'a', scene: 'checkout' } as never)).toThrow(/scene/);
    expect(() => validateEvents({ type: 'view', itemId: 'a', timestamp: Number.NaN })).toThrow(/timestamp/);
    expect(() => validateEvents({ type: 'view', itemId: 'a', timestamp: -1 })).toThrow(/timestamp/);
    expect(() => validateEvents({ type: 'view', itemID: 'a' } as never)).toThrow(/Did you mean "itemId"/);
    expect(() => validateEvents(null)).toThrow(InvalidEventError);
    expect(() => validateEvents(['x'])).toThrow(InvalidEventError);
  });

  it('accepts an empty batch', () => {
    expect(validateEvents([])).toEqual([]);
  });
});

describe('validateRequest', () => {
  it('fills scene defaults', () => {
    const h = validateRequest('home', undefined);
    expect(h.k).toBe(DEFAULT_K);
    expect(h.diversity).toBe(DEFAULT_DIVERSITY.home);
    expect(h.rules).toEqual({});
    const s = validateRequest('search', { candidates: ['a'] });
    expect(s.personalWeight).toBe(DEFAULT_PERSONAL_WEIGHT);
    expect(s.diversity).toBe(DEFAULT_DIVERSITY.search);
    expect(validateRequest('cart', { cart: ['a', 'b', 'a'] }).cart).toEqual(['a', 'b']);
  });

  it('replaces the objective blend when one is given', () => {
    expect(validateRequest('home', { objectives: { purchase: 2 } }).objectives).toEqual({ click: 0, cart: 0, purchase: 2, satisfaction: 0 });
    expect(() => validateRequest('home', { objectives: { click: 0 } })).toThrow(/at least one/);
  });

  it('rejects bad requests with InvalidRequestError', () => {
    const e = thrown(() => validateRequest('home', { k: 0 }), InvalidRequestError);
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toContain(`from 1 to ${MAX_K}`);
    expect(() => validateRequest('home', { k: MAX_K + 1 })).toThrow(InvalidRequestError);
    expect(() => validateRequest('home', { k: 2.5 })).toThrow(InvalidRequestError);
    expect(() => validateRequest('home', { diversity: 2 })).toThrow(/diversity/);
    expect(() => validateRequest('product', {} as never)).toThrow(/itemId/);
    expect(() => validateRequest('search', {} as never)).toThrow(/candidates/);
    expect(() => validateRequest('search', { candidates: 'a,b' } as never)).toThrow(/array of strings/);
    expect(() => validateRequest('search', { candidates: ['a'], personalWeight: 1.5 })).toThrow(/personalWeight/);
    expect(() => validateRequest('home', { limit: 5 } as never)).toThrow(/unknown field "limit"/);
    expect(() => validateRequest('home', { itemId: 'a' } as never)).toThrow(InvalidRequestError);
    expect(() => validateRequest('home', { rules: { exclude: {} } })).toThrow(/no conditions/);
    expect(() => validateRequest('home', { rules: { include: { minPrice: 10, maxPrice: 5 } } })).toThrow(/minPrice/);
    expect(() => validateRequest('home', { rules: { boost: [{ filter: { brand: ['x'] }, factor: 0 }] } })).toThrow(/factor/);
    expect(() => validateRequest('home', { rules: { pin: [1] } } as never)).toThrow(/pin\[0\]/);
    expect(() => validateRequest('home', 'k=3' as never)).toThrow(InvalidRequestError);
  });

  it('rejects unknown scenes with UnknownSceneError', () => {
    const e = thrown(() => validateRequest('checkout' as never, {}), UnknownSceneError);
    expect(e.code).toBe('UNKNOWN_SCENE');
    expect(e.message).toContain('home, product, cart, search');
    expect(() => assertScene(undefined)).toThrow(UnknownSceneError);
    expect(assertScene('cart')).toBe('cart');
  });
});

describe('validateHistoryQuery', () => {
  it('validates limit and order', () => {
    expect(validateHistoryQuery(undefined)).toEqual({ newestFirst: true });
    expect(validateHistoryQuery({ limit: 3, newestFirst: false })).toEqual({ limit: 3, newestFirst: false });
    expect(() => validateHistoryQuery({ limit: -1 })).toThrow(InvalidRequestError);
    expect(() => validateHistoryQuery({ max: 3 })).toThrow(InvalidRequestError);
  });
});
