/**
 * Smoke test of the benchmark page (bench/, driven in full by `npm run bench`): one small case on
 * wasm returns every figure, the floor probe and the onnxruntime-web peer's top-10 check run at a
 * tiny size, and 'auto' reports its probe decision.
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { ORT_DIR, peerExcludedRows } from '../../scripts/bench-peer';
import { exportSasrecOnnx } from '../../scripts/onnx/sasrec';
import { freshDb, openHarness } from './helpers';

const GAMES = resolve(import.meta.dirname, '../../models/games-sasrec');

test('benchmark page: one wasm case on 1,000 Games items returns every figure', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('/bench/index.html');
  await expect(page.locator('#status')).toHaveText('ready');
  const r = await page.evaluate(() => window.bench.run({
    label: 'smoke', backend: 'wasm', modelUrl: '/models/games-sasrec/model.json', catalogSize: 1000,
    warmCalls: 3, throughputSeconds: 0.2,
  }));
  expect(r.error).toBeUndefined();
  expect(r.ok).toBe(true);
  expect(r.info!.backend).toBe('wasm');
  expect(r.info!.scoring).toMatchObject({ dtype: 'float32', rows: 1000, dim: 64, mode: 'all' });
  for (const scene of ['home', 'product', 'cart', 'search'] as const) expect(r.scenes![scene]!.worker.median).toBeGreaterThan(0);
  expect(r.coldFirstResultMs).toBeGreaterThan(0);
  expect(r.throughput!.sequential).toBeGreaterThan(0);
  expect(r.memory!.numTensors).toBeGreaterThan(0);
});

test('benchmark page: the floor probe and the onnxruntime-web peer (top-10 identical before timing) on 1,000 Games items', async ({ page }) => {
  test.setTimeout(120_000);
  // What scripts/bench.ts writes into the site folder, served here from node_modules and memory.
  const onnx = Buffer.from(exportSasrecOnnx(GAMES, { excludedRows: peerExcludedRows(GAMES, 1000) }));
  await page.route('**/bench-ort/*', (route) => {
    const name = basename(new URL(route.request().url()).pathname);
    return route.fulfill({ body: readFileSync(join(ORT_DIR, name)), contentType: name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
  });
  await page.route('**/bench-models/peer-1k.onnx', (route) => route.fulfill({ body: onnx, contentType: 'application/octet-stream' }));
  await page.goto('/bench/index.html');
  await expect(page.locator('#status')).toHaveText('ready');

  const floor = await page.evaluate(() => window.bench.probeFloor({ runMs: 20, runs: 3 }));
  expect(floor.variants.map((v) => v.accumulators)).toEqual([4, 8, 12, 14]);
  expect(floor.gmacs).toBe(Math.max(...floor.variants.map((v) => v.gmacs)));
  expect(floor.gmacs).toBeGreaterThan(0.5); // any core here does several GMAC/s; a broken loop does not
  expect(floor.method).toMatch(/register-only wasm SIMD/);

  const r = await page.evaluate(() => window.bench.run({
    label: 'smoke-peer', backend: 'wasm', modelUrl: '/models/games-sasrec/model.json', catalogSize: 1000,
    warmCalls: 3, throughputSeconds: 0.2, peer: { onnxUrl: '/bench-models/peer-1k.onnx', calls: 3, historyLengths: [20, 50] },
  }));
  expect(r.error).toBeUndefined();
  expect(r.peer!.error).toBeUndefined();
  expect(r.peer!.version).toBe('1.30.0');
  expect(r.peer!.runs.map((x) => x.historyLength)).toEqual([20, 50]);
  for (const run of r.peer!.runs) {
    expect(run.historyUsed).toBe(run.historyLength);
    expect(run.peerTop10).toHaveLength(10);
    expect(run.peerTop10).toEqual(run.scenerecTop10);
    expect(run.top10Same).toBe(true);
    expect(run.peer.n).toBe(3);
    expect(run.ratio).toBeGreaterThan(0);
  }
});

test("backend 'auto' probes every backend that starts and keeps the fastest, saying why", async ({ page }) => {
  test.setTimeout(120_000);
  await openHarness(page);
  const info = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'auto', dbName });
    const info = rec.engineInfo;
    await rec.dispose();
    return info;
  }, freshDb('auto-probe'));
  console.log(`[auto] ${info.backendReason}; probe: ${JSON.stringify(info.backendProbe)}`);
  const timed = info.backendProbe!.filter((p) => p.ms !== undefined);
  expect(timed.length).toBeGreaterThan(0);
  const fastest = timed.reduce((a, b) => (b.ms! < a.ms! ? b : a));
  expect(info.backend).toBe(fastest.backend);
  expect(info.backendReason).toMatch(new RegExp(`^${info.backend}: (fastest in the load-time probe|the only backend that finished the load-time probe)`));
  // This browser has a WebGPU adapter, SwiftShader: read and reported, but not initialised once wasm
  // has a probe time (a software adapter: no device, no shader compilation during the load).
  const webgpu = info.backendProbe!.find((p) => p.backend === 'webgpu');
  expect(webgpu).toBeDefined();
  expect(webgpu!.error).toMatch(/^not probed: software adapter \(.*swiftshader/);
  expect(info.backendReason).toMatch(/webgpu \(not probed: software adapter/);
});
