/**
 * The model load path (src/model/loader.ts, cache.ts, deadline.ts): HTTP errors named, stalls and
 * the deadline, abort, non-finite weights, the per-version model cache and its soft failures,
 * progress in bytes; and that ranking never returns a NaN score.
 */
import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { AbortError, ModelLoadError } from '../../src/index.js';
import { createEngine } from '../../src/engine/index.js';
import { MODEL_CACHE_REVALIDATE_MS, MODEL_CACHE_WRITE_WAIT_MS } from '../../src/contract/defaults.js';
import { clearCachedModels, clearModelCache } from '../../src/model/cache.js';
import { MODEL_FILES_PREFIX, modelFilesDir } from '../../src/model/file-store.js';
import { LoadDeadline } from '../../src/model/deadline.js';
import { loadModel, type LoadModelOptions } from '../../src/model/loader.js';
import { mmrSelect, rankCandidates, type RankCandidate } from '../../src/ranking/rank.js';
import { FIXTURE_MODEL_URL, fileFetch, freshDbName } from './helpers.js';
import { MemoryCacheStorage, MemoryFileStore } from './memory-cache.js';

const WEIGHTS_URL = FIXTURE_MODEL_URL.replace('model.json', 'weights.bin');
const WEIGHT_BYTES = 13568;
const HIDDEN = 16;

/** fileFetch with some URLs answered by `override` (return undefined to pass through). */
function fetchWith(override: (url: string) => Response | Promise<Response | undefined> | undefined, log: string[] = []): typeof fetch {
  const real = fileFetch();
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    log.push(url);
    return (await override(url)) ?? real(input, init);
  }) as typeof fetch;
}

/** The fixture's weights with itemEmbedding rows set to NaN (the first tensor of the manifest). */
function weightsWithNaNRows(rows: number[] | 'all'): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(readFileSync(fileURLToPath(WEIGHTS_URL)).byteLength);
  bytes.set(readFileSync(fileURLToPath(WEIGHTS_URL)));
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (rows === 'all') f.fill(NaN);
  else for (const r of rows) f.fill(NaN, r * HIDDEN, (r + 1) * HIDDEN);
  return bytes;
}

/** A body that sends `first` bytes, then never another (headers sent, body never finishes). */
function stalledResponse(first: number): Response {
  return new Response(new ReadableStream<Uint8Array>({
    start(c) { c.enqueue(new Uint8Array(first)); },
  }), { status: 200 });
}

const load = (o: LoadModelOptions = {}) => loadModel(FIXTURE_MODEL_URL, { caches: null, ...o });
const dispose = (m: { weights: Record<string, tf.Tensor> }) => tf.dispose(Object.values(m.weights));

describe('load errors name the file', () => {
  it('a 404 weights file is "HTTP 404 for <url>", not a byte-length complaint', async () => {
    const err = await load({ fetch: fetchWith((u) => (u.endsWith('weights.bin') ? new Response('nope', { status: 404, statusText: 'Not Found' }) : undefined)) }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain(`HTTP 404 Not Found for ${WEIGHTS_URL}`);
    expect(err.message).not.toMatch(/multiple of 4/);
    expect(err.details).toMatchObject({ url: WEIGHTS_URL, status: 404 });
  });

  it('truncated weights name the bytes received and declared', async () => {
    const err = await load({ fetch: fetchWith((u) => (u.endsWith('weights.bin') ? new Response(new Uint8Array(100)) : undefined)) }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain('hold 100 bytes');
    expect(err.message).toContain(String(WEIGHT_BYTES));
  });

  it('a stalled body fails after stallTimeoutMs, naming the URL and the bytes received', async () => {
    const t0 = Date.now();
    const err = await load({ stallTimeoutMs: 200, fetch: fetchWith((u) => (u.endsWith('weights.bin') ? stalledResponse(1000) : undefined)) }).catch((e) => e);
    const ms = Date.now() - t0;
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain(WEIGHTS_URL);
    expect(err.message).toContain(`1000 of ${WEIGHT_BYTES} bytes received`);
    expect(err.details).toMatchObject({ url: WEIGHTS_URL, receivedBytes: 1000, stallTimeoutMs: 200 });
    expect(ms).toBeLessThan(2000);
  });

  it('a fetch that never answers is a stall too', async () => {
    const err = await load({ stallTimeoutMs: 150, fetch: fetchWith((u) => (u.endsWith('vocab.json') ? new Promise<Response>(() => {}) : undefined)) }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toMatch(/vocab\.json stalled/);
  });

  it('the deadline ends a slow body with ModelLoadError naming the bytes; the signal with AbortError', async () => {
    const stalled = fetchWith((u) => (u.endsWith('weights.bin') ? stalledResponse(512) : undefined));
    const deadline = new LoadDeadline(200);
    const err = await load({ fetch: stalled, deadline, stallTimeoutMs: 60_000 }).catch((e) => e);
    deadline.clear();
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain('timeoutMs = 200');
    expect(err.details).toMatchObject({ url: WEIGHTS_URL, receivedBytes: 512, timeoutMs: 200 });

    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 100);
    const aborted = await load({ fetch: stalled, deadline: new LoadDeadline(Infinity, ctrl.signal) }).catch((e) => e);
    expect(aborted).toBeInstanceOf(AbortError);
    expect(aborted.name).toBe('AbortError');
    expect(aborted.code).toBe('ABORTED');
  });
});

describe('weights are checked at load', () => {
  it('a NaN row is a ModelLoadError naming the tensor and the row, leaking no tensor', async () => {
    const before = tf.memory().numTensors;
    const err = await load({ fetch: fetchWith((u) => (u.endsWith('weights.bin') ? new Response(weightsWithNaNRows([7])) : undefined)) }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain('"itemEmbedding"');
    expect(err.message).toContain('row 7');
    expect(err.details).toMatchObject({ tensor: 'itemEmbedding', row: 7, column: 0, rows: 1 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('all-NaN weights are a ModelLoadError (through the engine too), never INTERNAL', async () => {
    const allNaN = fetchWith((u) => (u.endsWith('weights.bin') ? new Response(weightsWithNaNRows('all')) : undefined));
    const err = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() }, { fetch: allNaN, caches: null }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.details).toMatchObject({ tensor: 'itemEmbedding', row: 0 });
    expect(err.details.rows).toBe(61);
  });

  it('reports download progress in bytes, ending at the declared total', async () => {
    const seen: Array<{ loadedBytes: number; totalBytes: number }> = [];
    const m = await load({ fetch: fileFetch(), onProgress: (p) => seen.push(p) });
    dispose(m);
    expect(seen[0]).toEqual({ loadedBytes: 0, totalBytes: WEIGHT_BYTES });
    expect(seen.at(-1)).toEqual({ loadedBytes: WEIGHT_BYTES, totalBytes: WEIGHT_BYTES });
  });
});

describe('weight decoding', () => {
  it('float16 and float32 weights decode to exactly the values of tf.io.decodeWeights; the item table comes back in JS too', { timeout: 60_000 }, async () => {
    for (const url of [new URL('../../models/games-sasrec/model.json', import.meta.url).href, FIXTURE_MODEL_URL]) {
      const before = tf.memory().numTensors;
      const m = await loadModel(url, { fetch: fileFetch(), cache: 'off' });
      const manifest = JSON.parse(readFileSync(fileURLToPath(url), 'utf8'));
      const bin = readFileSync(fileURLToPath(new URL(manifest.weightsManifest[0].paths[0], url)));
      const ref = tf.io.decodeWeights(new Uint8Array(bin).buffer, manifest.weightsManifest[0].weights);
      /** Values whose bits differ (every float16 is a float32: none may). */
      const differing = (a: Float32Array, b: Float32Array) => {
        if (a.length !== b.length) return Infinity;
        const x = new Uint32Array(a.slice().buffer); const y = new Uint32Array(b.slice().buffer);
        let n = 0;
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
        return n;
      };
      try {
        for (const [name, t] of Object.entries(m.weights)) expect(differing(t.dataSync() as Float32Array, ref[name].dataSync() as Float32Array), name).toBe(0);
        expect(m.itemTable).toBeInstanceOf(Float32Array);
        expect(differing(m.itemTable!, ref.itemEmbedding.dataSync() as Float32Array)).toBe(0);
      } finally {
        tf.dispose(Object.values(ref));
        tf.dispose(Object.values(m.weights));
      }
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});

describe('the model cache', () => {
  it("default 'cache-first': a returning load makes no request while model.json was confirmed within MODEL_CACHE_REVALIDATE_MS, then asks again", async () => {
    const store = new MemoryCacheStorage();
    const first = await load({ fetch: fileFetch(), caches: store.storage });
    dispose(first);
    expect(first.cache).toMatchObject({ mode: 'cache-first', hit: false, stored: true, manifest: 'network' });
    const log2: string[] = [];
    const second = await load({ fetch: fetchWith(() => undefined, log2), caches: store.storage });
    dispose(second);
    expect(second.cache).toMatchObject({ hit: true, manifest: 'cache' });
    expect(log2).toEqual([]);
    // A day later the manifest is asked again (and confirmed: the next load needs no request again).
    const later = Date.now() + MODEL_CACHE_REVALIDATE_MS + 1000;
    const spy = vi.spyOn(Date, 'now').mockReturnValue(later);
    try {
      const log3: string[] = [];
      const third = await load({ fetch: fetchWith(() => undefined, log3), caches: store.storage });
      dispose(third);
      expect(third.cache).toMatchObject({ hit: true, manifest: 'network' });
      expect(log3).toEqual([FIXTURE_MODEL_URL]);
      const log4: string[] = [];
      dispose(await load({ fetch: fetchWith(() => undefined, log4), caches: store.storage }));
      expect(log4).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('stores a version once, then loads without a weights or vocab request; offline from the cached manifest', async () => {
    const store = new MemoryCacheStorage();
    const log1: string[] = [];
    const first = await load({ fetch: fetchWith(() => undefined, log1), caches: store.storage, cache: 'network-first' });
    dispose(first);
    expect(first.cache).toMatchObject({ mode: 'network-first', hit: false, stored: true, manifest: 'network' });
    expect(log1).toHaveLength(3);
    expect(await store.keys()).toEqual([`scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-1`]);

    const log2: string[] = [];
    const second = await load({ fetch: fetchWith(() => undefined, log2), caches: store.storage, cache: 'network-first' });
    dispose(second);
    expect(second.cache).toMatchObject({ hit: true, stored: false, manifest: 'network' });
    expect(log2).toEqual([FIXTURE_MODEL_URL]);

    const offline = fetchWith(() => { throw new TypeError('Failed to fetch'); });
    const third = await load({ fetch: offline, caches: store.storage, cache: 'network-first' });
    dispose(third);
    expect(third.cache).toMatchObject({ hit: true, manifest: 'cache' });
    expect(third.cache.error).toMatch(/Failed to fetch/);

    const log4: string[] = [];
    const fourth = await load({ fetch: fetchWith(() => undefined, log4), caches: store.storage, cache: 'cache-first' });
    dispose(fourth);
    expect(fourth.cache).toMatchObject({ hit: true, manifest: 'cache' });
    expect(log4).toEqual([]);

    expect(await clearModelCache(store.storage)).toBe(1);
    expect(await store.keys()).toEqual([]);
    expect(await clearModelCache(null)).toBe(0);
  });

  it('deferCacheWrite: resolves before the write, which writeCache() does once; the engine writes after ready and the first list', { timeout: 20_000 }, async () => {
    const store = new MemoryCacheStorage();
    const first = await load({ fetch: fileFetch(), caches: store.storage, deferCacheWrite: true });
    dispose(first);
    expect(first.cache).toMatchObject({ hit: false, stored: false, storing: true });
    expect(await store.keys()).toEqual([]);
    const twice = [first.writeCache(), first.writeCache()];
    await Promise.all(twice);
    expect(first.cache).toMatchObject({ hit: false, stored: true });
    expect(first.cache.storing).toBeUndefined();
    expect(await store.keys()).toEqual([`scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-1`]);
    const log: string[] = [];
    const second = await load({ fetch: fetchWith(() => undefined, log), caches: store.storage, deferCacheWrite: true });
    dispose(second);
    expect(second.cache).toMatchObject({ hit: true, stored: false });
    expect(second.cache.storing).toBeUndefined(); // nothing to write
    expect(log).toEqual([]);

    // The engine: ready with the write pending; it starts after the first list (or at dispose, or
    // MODEL_CACHE_WRITE_WAIT_MS after the load's background work); the next load reads the cache.
    const settle = async (storage: MemoryCacheStorage, ms: number) => {
      for (let t = 0; t < ms && storage.caches.size === 0; t += 10) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 20)); // the put's last entries
    };
    for (const how of ['first list', 'dispose', 'no list'] as const) {
      const fresh = new MemoryCacheStorage();
      const stages: string[] = [];
      const t0 = Date.now();
      const engine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() }, {
        fetch: fileFetch(), caches: fresh.storage,
        onProgress: (p) => { if (p.stage === 'ready') stages.push(`ready storing=${String(p.info.modelCache?.storing)} caches=${fresh.caches.size}`); },
      });
      try {
        expect(stages, how).toEqual(['ready storing=true caches=0']);
        await new Promise((r) => setTimeout(r, 50));
        expect(fresh.caches.size, `${how}: nothing written before a list`).toBe(0);
        // Waiting for the first list holds no thread: not settling; the write itself is (below, once written: not).
        expect(engine.settling, how).toBe(false);
        if (how === 'first list') await engine.recommend('home', {});
        if (how === 'dispose') {
          // dispose() lets the write finish: complete (model.json is put last) once it resolves, on a slow disk too.
          fresh.putDelayMs = 30;
          await engine.dispose();
          const name = `scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-1`;
          expect(await (await fresh.open(name)).match(FIXTURE_MODEL_URL), 'written when dispose resolved').toBeDefined();
        }
        await settle(fresh, how === 'no list' ? MODEL_CACHE_WRITE_WAIT_MS + 1000 : 1000);
        if (how === 'no list') expect(Date.now() - t0, how).toBeGreaterThanOrEqual(MODEL_CACHE_WRITE_WAIT_MS);
        if (how !== 'dispose') {
          const info = await engine.info();
          expect(info.modelCache, how).toMatchObject({ hit: false, stored: true });
          expect(info.modelCache?.storing, how).toBeUndefined();
          expect(engine.settling, `${how}: settled once written`).toBe(false);
        }
      } finally {
        await engine.dispose();
      }
      const again = await load({ fetch: fetchWith(() => undefined, []), caches: fresh.storage });
      dispose(again);
      expect(again.cache, how).toMatchObject({ hit: true });
    }
  });

  it('the engine is settling while the copy is written, not while it waits for the first list', async () => {
    const slow = new MemoryCacheStorage();
    slow.putDelayMs = 40;
    const engine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() }, { fetch: fileFetch(), caches: slow.storage });
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(engine.settling).toBe(false);
      await engine.recommend('home', {});
      const seen: boolean[] = [];
      for (let t = 0; t < 3000 && (seen.length === 0 || seen.at(-1)); t += 5) {
        seen.push(engine.settling);
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(seen).toContain(true);
      expect(seen.at(-1)).toBe(false);
      expect((await engine.info()).modelCache).toMatchObject({ stored: true });
    } finally {
      await engine.dispose();
    }
  });

  it('a new version evicts the old one', async () => {
    const store = new MemoryCacheStorage();
    dispose(await load({ fetch: fileFetch(), caches: store.storage }));
    const v2 = fetchWith(async (u) => {
      if (!u.endsWith('model.json')) return undefined;
      const json = JSON.parse(readFileSync(fileURLToPath(u), 'utf8'));
      json.userDefinedMetadata.scenerec.modelVersion = 'tiny-fixture-2';
      return new Response(JSON.stringify(json));
    });
    const m = await load({ fetch: v2, caches: store.storage, cache: 'network-first' });
    dispose(m);
    expect(m.cache.stored).toBe(true);
    expect(await store.keys()).toEqual([`scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-2`]);
  });

  it('a failing cache (quota, none) never fails the load', async () => {
    const full = new MemoryCacheStorage();
    full.failPuts = true;
    const m = await load({ fetch: fileFetch(), caches: full.storage });
    dispose(m);
    expect(m.cache).toMatchObject({ hit: false, stored: false });
    expect(m.cache.error).toMatch(/QuotaExceededError/);
    expect(await full.keys()).toEqual([]); // the half-written version is gone

    const none = await load({ fetch: fileFetch(), caches: null });
    dispose(none);
    expect(none.cache.error).toMatch(/not available/);
  });

  it('a corrupt cached copy is evicted and fetched again', async () => {
    const store = new MemoryCacheStorage();
    dispose(await load({ fetch: fileFetch(), caches: store.storage }));
    const cache = await store.open(`scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-1`);
    await cache.put(WEIGHTS_URL, new Response(weightsWithNaNRows([3])));
    const log: string[] = [];
    const m = await load({ fetch: fetchWith(() => undefined, log), caches: store.storage, cache: 'network-first' });
    dispose(m);
    expect(m.cache.error).toMatch(/refused and evicted.*row 3/);
    expect(log.filter((u) => u.endsWith('weights.bin'))).toHaveLength(1);
    expect(m.cache.stored).toBe(true);
  });
});

describe('the model cache with a file store (OPFS in a browser)', () => {
  const CACHE_NAME = `scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-1`;
  const values = (m: { weights: Record<string, tf.Tensor> }) => Object.fromEntries(Object.entries(m.weights).map(([k, t]) => [k, Array.from(t.dataSync())]));

  it('keeps the weight file in the store (a marker in Cache Storage); a returning load reads it from there; onReadsStarted once every read is in flight (at the first request from the network)', async () => {
    const store = new MemoryCacheStorage();
    const files = new MemoryFileStore();
    const log1: string[] = [];
    const requestsAtSignal: number[] = [];
    const first = await load({ fetch: fetchWith(() => undefined, log1), caches: store.storage, files, onReadsStarted: () => requestsAtSignal.push(log1.length) });
    expect(requestsAtSignal).toEqual([0]); // once, as the first request went out
    const want = values(first);
    dispose(first);
    expect(first.cache).toMatchObject({ hit: false, stored: true });
    const dir = await modelFilesDir(CACHE_NAME);
    expect(dir.startsWith(MODEL_FILES_PREFIX)).toBe(true);
    expect([...files.files.keys()]).toEqual([dir]);
    expect([...files.files.get(dir)!.values()].map((b) => b.byteLength)).toEqual([WEIGHT_BYTES]);
    const marker = await (await store.open(CACHE_NAME)).match(`${WEIGHTS_URL}?scenerec-opfs-v1`);
    expect((await marker!.arrayBuffer()).byteLength).toBe(0);
    // Under a key of its own: an SDK that reads only bodies misses, it does not read an empty weights file.
    expect(await (await store.open(CACHE_NAME)).match(WEIGHTS_URL)).toBeUndefined();

    const log: string[] = [];
    const readsAtSignal: number[] = [];
    const second = await load({ fetch: fetchWith(() => undefined, log), caches: store.storage, files, onReadsStarted: () => readsAtSignal.push(files.reads) });
    try {
      expect(second.cache).toMatchObject({ hit: true, manifest: 'cache' });
      expect(second.cache.error).toBeUndefined();
      expect(log).toEqual([]);
      expect(readsAtSignal).toEqual([1]);
      expect(values(second)).toEqual(want);
    } finally {
      dispose(second);
    }
  });

  it('a cache written without a file store (the bodies in Cache Storage) is still read, with no request', async () => {
    const store = new MemoryCacheStorage();
    dispose(await load({ fetch: fileFetch(), caches: store.storage, files: null }));
    const files = new MemoryFileStore();
    const log: string[] = [];
    const m = await load({ fetch: fetchWith(() => undefined, log), caches: store.storage, files });
    dispose(m);
    expect(m.cache).toMatchObject({ hit: true, manifest: 'cache' });
    expect(log).toEqual([]);
    expect(files.reads).toBe(0);
  });

  it('a missing or short file in the store: the cached copy is refused, evicted with its files, and fetched again', async () => {
    const store = new MemoryCacheStorage();
    const files = new MemoryFileStore();
    dispose(await load({ fetch: fileFetch(), caches: store.storage, files }));
    const dir = await modelFilesDir(CACHE_NAME);
    for (const [breakIt, message] of [
      [() => files.files.get(dir)!.clear(), /refused and evicted: Could not read the cached copy of \S+weights\.bin: the cached file file-0\.bin is missing from the origin-private file system\.$/],
      [() => files.files.get(dir)!.set('file-0.bin', new Uint8Array(100)), /refused and evicted.*holds 100 bytes, not 13568/],
    ] as const) {
      breakIt();
      const log: string[] = [];
      const m = await load({ fetch: fetchWith(() => undefined, log), caches: store.storage, files, cache: 'network-first' });
      dispose(m);
      expect(m.cache.error).toMatch(message);
      expect(log.filter((u) => u.endsWith('weights.bin'))).toHaveLength(1);
      expect(m.cache.stored).toBe(true);
      expect(files.files.get(dir)!.get('file-0.bin')!.byteLength).toBe(WEIGHT_BYTES);
    }
  });

  it('a failing store (quota) leaves no half-written version; eviction and clearModelCache remove the files', async () => {
    const store = new MemoryCacheStorage();
    const files = new MemoryFileStore();
    files.failWrites = true;
    const m = await load({ fetch: fileFetch(), caches: store.storage, files });
    dispose(m);
    expect(m.cache).toMatchObject({ hit: false, stored: false });
    expect(m.cache.error).toMatch(/QuotaExceededError/);
    expect(await store.keys()).toEqual([]);
    expect(files.files.size).toBe(0);

    files.failWrites = false;
    dispose(await load({ fetch: fileFetch(), caches: store.storage, files }));
    await files.write(`${MODEL_FILES_PREFIX}left-by-a-write-that-died`, 'file-0.bin', new Uint8Array(8));
    const v2 = fetchWith(async (u) => {
      if (!u.endsWith('model.json')) return undefined;
      const json = JSON.parse(readFileSync(fileURLToPath(u), 'utf8'));
      json.userDefinedMetadata.scenerec.modelVersion = 'tiny-fixture-2';
      return new Response(JSON.stringify(json));
    });
    dispose(await load({ fetch: v2, caches: store.storage, files, cache: 'network-first' }));
    // The old version's files and the orphan are gone; the new version's are kept.
    expect([...files.files.keys()]).toEqual([await modelFilesDir(`scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-2`)]);
    expect(await clearCachedModels(store.storage, files)).toBe(1);
    expect(files.files.size).toBe(0);
  });
});

describe('the engine load is bounded', () => {
  it('timeoutMs ends a stalled download with ModelLoadError; the signal with AbortError', async () => {
    const stalled = fetchWith((u) => (u.endsWith('weights.bin') ? stalledResponse(256) : undefined));
    const t0 = Date.now();
    const err = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), timeoutMs: 300 }, { fetch: stalled, caches: null }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.details).toMatchObject({ url: WEIGHTS_URL, receivedBytes: 256, timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(3000);

    const ctrl = new AbortController();
    ctrl.abort();
    const early = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() }, { fetch: stalled, signal: ctrl.signal }).catch((e) => e);
    expect(early).toBeInstanceOf(AbortError);
  });
});

describe('ranking never returns a non-finite score', () => {
  const cand = (i: number, score: number, embedding?: number[]): RankCandidate => ({
    itemId: `i${i}`, score, reason: { kind: 'popular' }, item: { id: `i${i}`, category: `c${i % 3}` }, embedding,
  });

  it('MMR over all-NaN scores and embeddings picks k distinct items', () => {
    const pool = Array.from({ length: 20 }, (_, i) => cand(i, NaN, [NaN, NaN, NaN, NaN]));
    const out = mmrSelect(pool, 5, 0.5);
    expect(out).toHaveLength(5);
    expect(new Set(out.map((c) => c.itemId)).size).toBe(5);
  });

  it('rankCandidates puts non-finite scores last, as 0', () => {
    const list = [cand(0, NaN), cand(1, 0.5), cand(2, Infinity), cand(3, 0.9), cand(4, -Infinity)];
    for (const diversity of [0, 0.5]) {
      const out = rankCandidates(list, { k: 5, diversity });
      expect(out.every((r) => Number.isFinite(r.score))).toBe(true);
      expect(out.slice(0, 2).map((r) => r.itemId)).toEqual(['i3', 'i1']);
    }
  });
});
