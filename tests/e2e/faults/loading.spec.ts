/**
 * Faults of the model load in real Chromium: a stalled body, a 404 weights file, NaN weights, the
 * caller's signal and timeoutMs, and the model cache (second load without model requests, offline,
 * clearModelCache). The broken models come from tests/e2e/fault-server.ts (/faults/<variant>/).
 * Every failing case asserts the typed error, that the call settled within its bound, and that no
 * worker is left behind.
 */
import { expect, test, type Page } from '@playwright/test';
import { NAN_ROW, STALL_BYTES } from '../fault-server';
import { freshDb, logRequests, openHarness, watchConsole } from '../helpers';
import type { LoadProgress } from '../../../src/index';

const variant = (name: string) => `/faults/${name}/model.json`;

interface Outcome {
  ok: boolean;
  error?: { name: string; code?: string; message: string; details?: Record<string, unknown> };
  /** ms from the createRecommender call to its settling. */
  ms: number;
  /** ms from the last download progress report to the settling. */
  sinceLastBytes?: number;
  progress: LoadProgress[];
  modelCache?: unknown;
  /** EngineInfo.modelCache.storing as createRecommender resolved: the cache write still to come. */
  storingAtReady?: boolean;
  loadMs?: number;
}

/** Creates a recommender on the page with `options` (plus `abortAfterBytes`: abort once bytes arrived), disposes it on success. */
async function create(page: Page, options: Record<string, unknown> & { abortAfterBytes?: boolean }): Promise<Outcome> {
  return page.evaluate(async ({ abortAfterBytes, ...options }) => {
    const progress: LoadProgress[] = [];
    let lastBytesAt: number | undefined;
    const ctrl = new AbortController();
    const t0 = performance.now();
    try {
      const rec = await window.harness.create({
        ...options,
        signal: ctrl.signal,
        onProgress: (p) => {
          progress.push(p.stage === 'ready' ? { stage: 'ready' } as never : p);
          if (p.stage === 'download') {
            lastBytesAt = performance.now();
            if (abortAfterBytes && p.loadedBytes > 0) ctrl.abort();
          }
        },
      });
      const ms = performance.now() - t0;
      const storingAtReady = rec.engineInfo.modelCache?.storing === true;
      // A downloaded model is written into the cache after the load (modelCache.storing): wait for it.
      let info = await rec.info();
      for (let i = 0; i < 500 && info.modelCache?.storing; i++) { await new Promise((r) => setTimeout(r, 20)); info = await rec.info(); }
      await rec.dispose();
      return { ok: true, ms, progress, modelCache: info.modelCache, storingAtReady, loadMs: info.loadMs };
    } catch (e) {
      const end = performance.now();
      const err = e as Error & { code?: string; details?: Record<string, unknown> };
      return {
        ok: false, ms: end - t0, sinceLastBytes: lastBytesAt === undefined ? undefined : end - lastBytesAt, progress,
        error: { name: err.name, code: err.code, message: err.message, details: err.details },
      };
    }
  }, options);
}

/** The SDK terminated its worker (Chromium reports the close to Playwright a moment later). */
async function expectNoWorker(page: Page): Promise<void> {
  await expect.poll(() => page.workers().length, { timeout: 5000 }).toBe(0);
}

const modelRequests = (log: Array<{ url: string }>, dir: string) =>
  log.map((r) => new URL(r.url).pathname).filter((p) => p.startsWith(dir));

test.describe('model load faults', () => {
  test.beforeEach(async ({ page }) => {
    await openHarness(page);
  });

  test('a 404 weights file is named as HTTP 404 with its URL', async ({ page }) => {
    const out = await create(page, { modelUrl: variant('missing-weights'), backend: 'cpu', dbName: freshDb('f404') });
    expect(out.ok).toBe(false);
    expect(out.error).toMatchObject({ name: 'ModelLoadError', code: 'MODEL_LOAD_FAILED' });
    expect(out.error!.message).toContain('HTTP 404');
    expect(out.error!.message).toContain('/faults/missing-weights/weights.bin');
    expect(out.error!.message).not.toMatch(/multiple of 4/);
    expect(out.ms).toBeLessThan(15_000);
    await expectNoWorker(page);
  });

  test('a stalled body fails after stallTimeoutMs, naming the URL and the bytes received', async ({ page }) => {
    const stallTimeoutMs = 1500;
    const out = await create(page, { modelUrl: variant('stall-weights'), backend: 'cpu', dbName: freshDb('stall'), stallTimeoutMs });
    expect(out.ok).toBe(false);
    expect(out.error).toMatchObject({ name: 'ModelLoadError', code: 'MODEL_LOAD_FAILED' });
    expect(out.error!.message).toContain('/faults/stall-weights/weights.bin');
    expect(out.error!.message).toContain('stalled');
    expect(out.error!.details).toMatchObject({ receivedBytes: STALL_BYTES, stallTimeoutMs });
    // Bound: stallTimeoutMs after the last bytes arrived.
    expect(out.sinceLastBytes).toBeGreaterThanOrEqual(stallTimeoutMs - 50);
    expect(out.sinceLastBytes).toBeLessThan(stallTimeoutMs + 1000);
    await expectNoWorker(page);
  });

  test('timeoutMs ends a stalled load with ModelLoadError naming the URL and bytes, within timeoutMs + 1 s', async ({ page }) => {
    const timeoutMs = 4000;
    const out = await create(page, { modelUrl: variant('stall-weights'), backend: 'cpu', dbName: freshDb('timeout'), timeoutMs, stallTimeoutMs: 60_000 });
    expect(out.ok).toBe(false);
    expect(out.error).toMatchObject({ name: 'ModelLoadError', code: 'MODEL_LOAD_FAILED' });
    expect(out.error!.message).toContain(`timeoutMs = ${timeoutMs}`);
    expect(out.error!.message).toContain('/faults/stall-weights/');
    expect(out.error!.details).toMatchObject({ receivedBytes: STALL_BYTES, timeoutMs });
    expect(out.ms).toBeGreaterThanOrEqual(timeoutMs);
    expect(out.ms).toBeLessThan(timeoutMs + 1000 + 300);
    await expectNoWorker(page);
  });

  test('the signal aborts a load at once with AbortError', async ({ page }) => {
    const out = await create(page, { modelUrl: variant('stall-weights'), backend: 'cpu', dbName: freshDb('abort'), abortAfterBytes: true });
    expect(out.ok).toBe(false);
    expect(out.error).toMatchObject({ name: 'AbortError', code: 'ABORTED' });
    expect(out.sinceLastBytes).toBeLessThan(200);
    await expectNoWorker(page);
    // The page can start again at once; its worker is there while it lives (the check above can fail).
    const alive = await page.evaluate(async (dbName) => { await window.harness.create({ backend: 'cpu', dbName }); return true; }, freshDb('abort2'));
    expect(alive).toBe(true);
    expect(page.workers()).toHaveLength(1);
    await page.evaluate(() => window.rec!.dispose());
    await expectNoWorker(page);
  });

  test('NaN weights are a ModelLoadError naming the tensor and row; all-NaN too, never INTERNAL', async ({ page }) => {
    const row = await create(page, { modelUrl: variant('nan-row'), backend: 'cpu', dbName: freshDb('nanrow') });
    expect(row.error).toMatchObject({ name: 'ModelLoadError', code: 'MODEL_LOAD_FAILED' });
    expect(row.error!.message).toContain('"itemEmbedding"');
    expect(row.error!.message).toContain(`row ${NAN_ROW}`);
    expect(row.error!.details).toMatchObject({ tensor: 'itemEmbedding', row: NAN_ROW, rows: 1 });
    await expectNoWorker(page);

    const all = await create(page, { modelUrl: variant('all-nan'), backend: 'wasm', dbName: freshDb('allnan') });
    expect(all.error).toMatchObject({ name: 'ModelLoadError', code: 'MODEL_LOAD_FAILED' });
    expect(all.error!.message).not.toMatch(/out of bounds/);
    await expectNoWorker(page);
  });
});

/** The model directories in the page origin's private file system, each with its files and sizes. */
function modelFiles(page: Page): Promise<Array<{ dir: string; files: Array<[string, number]> }>> {
  return page.evaluate(async () => {
    type Dir = { entries(): AsyncIterable<[string, FileSystemHandle]> };
    const out: Array<{ dir: string; files: Array<[string, number]> }> = [];
    const root = await navigator.storage.getDirectory();
    for await (const [name, h] of (root as unknown as Dir).entries()) {
      if (h.kind !== 'directory' || !name.startsWith('scenerec-model-')) continue;
      const files: Array<[string, number]> = [];
      for await (const [f, fh] of (h as unknown as Dir).entries()) files.push([f, (await (fh as FileSystemFileHandle).getFile()).size]);
      out.push({ dir: name, files });
    }
    return out;
  });
}

test.describe('model cache', () => {
  const DIR = '/fixtures/tiny-model/';

  test("second load: no request at all (default 'cache-first'), only model.json ('network-first'); clearModelCache", async ({ page }) => {
    const { errors } = watchConsole(page);
    const log = logRequests(page);
    await openHarness(page);
    const dbName = freshDb('cache');
    const first = await create(page, { backend: 'cpu', dbName });
    expect(first.ok).toBe(true);
    expect(first.modelCache).toMatchObject({ mode: 'cache-first', hit: false, stored: true, manifest: 'network' });
    expect(first.storingAtReady, 'the copy for the next visit is written after the load').toBe(true);
    const downloads = first.progress.filter((p) => p.stage === 'download') as Array<{ loadedBytes: number; totalBytes: number }>;
    expect(downloads.at(-1)).toEqual(expect.objectContaining({ loadedBytes: 13568, totalBytes: 13568 }));
    expect(modelRequests(log, DIR).sort()).toEqual([`${DIR}model.json`, `${DIR}vocab.json`, `${DIR}weights.bin`]);
    // The weights' bytes are in the origin-private file system; Cache Storage holds a marker.
    expect(await modelFiles(page)).toEqual([{ dir: expect.stringMatching(/^scenerec-model-[0-9a-f]{64}$/), files: [['file-0.bin', 13568]] }]);
    expect(await page.evaluate(async (url) => {
      const cache = await caches.open((await caches.keys()).find((k) => k.startsWith('scenerec-model:'))!);
      return [(await (await cache.match(`${url}?scenerec-opfs-v1`))!.arrayBuffer()).byteLength, await cache.match(url) === undefined];
    }, new URL(`${DIR}weights.bin`, page.url()).href)).toEqual([0, true]);

    // The next visit: a new page load in the same browser profile. No model request at all.
    log.length = 0;
    await openHarness(page);
    // The cached weights are read by a short-lived helper worker (src/model/file-store.ts), a blob: one.
    const workers: string[] = [];
    page.on('worker', (w) => workers.push(w.url()));
    const second = await create(page, { backend: 'cpu', dbName });
    expect(second.ok).toBe(true);
    expect(second.modelCache).toMatchObject({ hit: true, manifest: 'cache' });
    expect(workers.filter((u) => u.startsWith('blob:')), workers.join(', ')).toHaveLength(1);
    expect(second.storingAtReady).toBe(false);
    expect(modelRequests(log, DIR)).toEqual([]);

    log.length = 0;
    await openHarness(page);
    const third = await create(page, { backend: 'cpu', dbName, modelCache: 'network-first' });
    expect(third.modelCache).toMatchObject({ hit: true, manifest: 'network' });
    expect(modelRequests(log, DIR)).toEqual([`${DIR}model.json`]);

    const cleared = await page.evaluate(async () => {
      const removed = await window.scenerec.clearModelCache();
      return { removed, left: (await caches.keys()).filter((k) => k.startsWith('scenerec-model:')) };
    });
    expect(cleared).toEqual({ removed: 1, left: [] });
    expect(await modelFiles(page)).toEqual([]);
    log.length = 0;
    const fourth = await create(page, { backend: 'cpu', dbName });
    expect(fourth.modelCache).toMatchObject({ hit: false, stored: true });
    expect(modelRequests(log, DIR).sort()).toEqual([`${DIR}model.json`, `${DIR}vocab.json`, `${DIR}weights.bin`]);
    expect(errors).toEqual([]);
  });

  test("a weight file gone from the origin-private file system: the cached copy is refused and fetched again, and the load says so", async ({ page }) => {
    const { errors } = watchConsole(page);
    const log = logRequests(page);
    await openHarness(page);
    const dbName = freshDb('cache-opfs');
    expect((await create(page, { backend: 'cpu', dbName })).modelCache).toMatchObject({ hit: false, stored: true });
    await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      for await (const [name] of (root as unknown as { entries(): AsyncIterable<[string, unknown]> }).entries()) {
        if (name.startsWith('scenerec-model-')) await (await root.getDirectoryHandle(name)).removeEntry('file-0.bin');
      }
    });
    log.length = 0;
    await openHarness(page);
    const again = await create(page, { backend: 'cpu', dbName, modelCache: 'network-first' });
    expect(again.ok).toBe(true);
    expect(again.modelCache).toMatchObject({ hit: false, stored: true });
    expect((again.modelCache as { error?: string }).error).toMatch(/refused and evicted: Could not read the cached copy of \S+weights\.bin: the cached file file-0\.bin is missing from the origin-private file system\.$/);
    expect(modelRequests(log, DIR).sort()).toEqual([`${DIR}model.json`, `${DIR}vocab.json`, `${DIR}weights.bin`]);
    expect(await modelFiles(page)).toEqual([{ dir: expect.any(String), files: [['file-0.bin', 13568]] }]);
    await page.evaluate(() => window.scenerec.clearModelCache());
    expect(errors).toEqual([]);
  });

  test('two workers loading the same cached model at once (two tabs) both read it from the cache', async ({ page }) => {
    const { errors } = watchConsole(page);
    const log = logRequests(page);
    await openHarness(page);
    expect((await create(page, { backend: 'cpu', dbName: freshDb('cache-two-a') })).modelCache).toMatchObject({ stored: true });
    log.length = 0;
    await openHarness(page);
    const [a, b] = await Promise.all([
      create(page, { backend: 'cpu', dbName: freshDb('cache-two-b') }),
      create(page, { backend: 'cpu', dbName: freshDb('cache-two-c') }),
    ]);
    for (const o of [a, b]) {
      expect(o.ok).toBe(true);
      expect(o.modelCache).toMatchObject({ hit: true, manifest: 'cache' });
      expect((o.modelCache as { error?: string }).error).toBeUndefined();
    }
    expect(modelRequests(log, DIR)).toEqual([]);
    await page.evaluate(() => window.scenerec.clearModelCache());
    expect(errors).toEqual([]);
  });

  test('offline second load works from the cache; without a cache it fails typed', async ({ page, context }) => {
    await openHarness(page);
    const dbName = freshDb('offline');
    expect((await create(page, { backend: 'cpu', dbName })).ok).toBe(true);
    // The network is gone for the model (the page and the SDK's scripts are already here).
    await context.route('**/fixtures/**', (route) => route.abort('internetdisconnected'));
    const offline = await create(page, { backend: 'cpu', dbName });
    expect(offline.ok).toBe(true);
    expect(offline.modelCache).toMatchObject({ hit: true, manifest: 'cache' });
    // 'network-first' asks for model.json, fails, and falls back to the cached copy (and says so).
    const offlineNetworkFirst = await create(page, { backend: 'cpu', dbName, modelCache: 'network-first' });
    expect(offlineNetworkFirst.ok).toBe(true);
    expect(offlineNetworkFirst.modelCache).toMatchObject({ hit: true, manifest: 'cache' });
    expect((offlineNetworkFirst.modelCache as { error?: string }).error).toMatch(/model\.json from the cache/);

    await page.evaluate(() => window.scenerec.clearModelCache());
    const none = await create(page, { backend: 'cpu', dbName });
    expect(none.error).toMatchObject({ name: 'ModelLoadError' });
    expect(none.error!.message).toContain('/fixtures/tiny-model/model.json');
    await expectNoWorker(page);
  });

  test('a full origin (quota) does not fail the load: the model comes from the network, the cache error is reported', async ({ page }) => {
    await openHarness(page);
    // Room for the history database, not for the Games weights (3 MB).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin, quotaSize: 1_000_000 });
    const modelUrl = '/models/games-sasrec/model.json';
    const first = await create(page, { modelUrl, backend: 'wasm', dbName: freshDb('quota') });
    expect(first.ok, JSON.stringify(first.error)).toBe(true);
    expect(first.modelCache).toMatchObject({ hit: false, stored: false });
    expect((first.modelCache as { error?: string }).error).toMatch(/Quota/i);
    const left = await page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('scenerec-model:')));
    expect(left, 'no half-written version is left').toEqual([]);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(page.url()).origin });
  });

  test('clearModelCache works with no model ever loaded', async ({ page }) => {
    await openHarness(page);
    expect(await page.evaluate(() => window.scenerec.clearModelCache())).toBe(0);
  });
});

/** Cold vs second-visit load of the bundled Games model; prints the figures (not a pass/fail bound). */
test('measure: Games model cold vs second visit', async ({ page: localPage, browser }, testInfo) => {
  test.setTimeout(300_000);
  type Run = { wallMs: number; loadMs: number; modelMs: number; hit?: boolean };
  const runs: Record<string, Run[]> = {};
  const dbName = freshDb('games');
  let page = localPage;
  const phase = async (label: string, modelCache?: string) => {
    await openHarness(page);
    const out = await page.evaluate(async ({ dbName, modelCache }) => {
      let backendReady = 0; let model = 0;
      const t0 = performance.now();
      const rec = await window.scenerec.createRecommender({
        modelUrl: '/models/games-sasrec/model.json', backend: 'wasm', dbName, ...(modelCache ? { modelCache: modelCache as never } : {}),
        onProgress: (p) => {
          if (p.stage === 'backend' && p.status === 'ready') backendReady = performance.now();
          if (p.stage === 'model') model = performance.now();
        },
      });
      const wallMs = performance.now() - t0;
      let info = await rec.info();
      // The copy for the next visit is written after the load (modelCache.storing).
      for (let i = 0; i < 500 && info.modelCache?.storing; i++) { await new Promise((r) => setTimeout(r, 20)); info = await rec.info(); }
      await rec.dispose();
      // modelMs: model.json, weights, vocabulary and their checks (backend ready -> model decoded).
      return { wallMs, loadMs: info.loadMs, modelMs: model - backendReady, hit: info.modelCache?.hit };
    }, { dbName, modelCache });
    (runs[label] ??= []).push(out);
  };
  await phase('localhost cold');
  // Alternated, so neither gains from the other's warm-up (code cache, JIT).
  for (let i = 0; i < 3; i++) {
    await phase('localhost second visit (default cache-first: no request)');
    await phase('localhost second visit, modelCache off (HTTP cache only)', 'off');
  }
  // A slow link (about 4 Mbit/s, 100 ms round trip) for the page and its worker, in a new profile
  // (empty HTTP cache: this server answers no-cache + ETag, so the HTTP cache revalidates).
  const slow = await browser.newContext();
  page = await slow.newPage();
  const cdp = await slow.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 100, downloadThroughput: 500_000, uploadThroughput: 500_000 });
  await phase('4 Mbit/s cold');
  await phase('4 Mbit/s second visit (default cache-first: no request)');
  await phase('4 Mbit/s second visit, network-first (model.json asked)', 'network-first');
  await phase('4 Mbit/s second visit, modelCache off (HTTP cache only)', 'off');
  await slow.close();
  page = localPage;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const summary = Object.fromEntries(Object.entries(runs).map(([k, rs]) => [k, {
    wallMs: Math.round(median(rs.map((r) => r.wallMs))), loadMs: Math.round(median(rs.map((r) => r.loadMs))),
    modelMs: Math.round(median(rs.map((r) => r.modelMs))), hit: rs.every((r) => r.hit), n: rs.length,
  }]));

  // Why Cache Storage for the small files and OPFS for the weights: the same bytes read back from each, on this page.
  const read = await page.evaluate(async () => {
    const bytes = new Uint8Array(await (await fetch('/models/games-sasrec/weights.bin')).arrayBuffer());
    const c = await caches.open('scenerec-measure');
    await c.put('/measure', new Response(bytes));
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open('scenerec-measure', 1);
      r.onupgradeneeded = () => r.result.createObjectStore('b');
      r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
    });
    await new Promise((res, rej) => { const t = db.transaction('b', 'readwrite'); t.objectStore('b').put(bytes.buffer, 'w'); t.oncomplete = res; t.onerror = rej; });
    const time = async (f: () => Promise<unknown>) => { const ts: number[] = []; for (let i = 0; i < 5; i++) { const t = performance.now(); await f(); ts.push(performance.now() - t); } return ts.sort((a, b) => a - b)[2]; };
    const cacheMs = await time(async () => (await (await c.match('/measure'))!.arrayBuffer()).byteLength);
    const idbMs = await time(() => new Promise((res) => { const g = db.transaction('b').objectStore('b').get('w'); g.onsuccess = () => res(g.result); }));
    db.close();
    await caches.delete('scenerec-measure');
    // Cache Storage against the origin-private file system (where the model cache keeps weight
    // files, read as a File), in a worker as the engine reads them: these weights, and 128 MB (a
    // million-item table).
    const inWorker = await new Promise<Record<string, number>>((resolve, reject) => {
      const code = `(async () => {
        const time = async (f) => { const ts = []; for (let i = 0; i < 5; i++) { const t = performance.now(); await f(); ts.push(performance.now() - t); } return ts.sort((a, b) => a - b)[2]; };
        const big = new Uint8Array(128 << 20);
        for (let i = 0; i < big.length; i += 4096) big[i] = i >>> 12;
        const games = new Uint8Array(await (await fetch(location.origin + '/models/games-sasrec/weights.bin')).arrayBuffer());
        const out = { bigBytes: big.byteLength };
        for (const [label, bytes] of [['worker', games], ['workerBig', big]]) {
          const c = await caches.open('scenerec-measure-' + label);
          await c.put(location.origin + '/measure', new Response(bytes));
          out[label + 'CacheApiMedianMs'] = await time(async () => (await (await c.match(location.origin + '/measure')).arrayBuffer()).byteLength);
          const root = await navigator.storage.getDirectory();
          const w = await (await root.getFileHandle('scenerec-measure.bin', { create: true })).createWritable();
          await w.write(bytes);
          await w.close();
          out[label + 'OpfsFileMedianMs'] = await time(async () => (await (await (await root.getFileHandle('scenerec-measure.bin')).getFile()).arrayBuffer()).byteLength);
          await root.removeEntry('scenerec-measure.bin');
          await caches.delete('scenerec-measure-' + label);
        }
        postMessage(out);
      })().catch((e) => postMessage({ error: String(e) }));`;
      const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
      worker.onmessage = (e) => { worker.terminate(); (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data)); };
    });
    return {
      bytes: bytes.byteLength, cacheApiMedianMs: cacheMs, indexedDbMedianMs: idbMs, ...inWorker,
    };
  });
  const report = JSON.stringify({ summary, read }, null, 1);
  console.log(`[measure] ${report}`);
  testInfo.annotations.push({ type: 'measure', description: report });
  expect(summary['localhost second visit (default cache-first: no request)'].hit).toBe(true);
  expect(summary['4 Mbit/s second visit (default cache-first: no request)'].hit).toBe(true);
});
