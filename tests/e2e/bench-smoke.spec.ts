/**
 * Smoke test of the benchmark page (bench/, driven in full by `npm run bench`): one small case on
 * wasm returns every figure, and 'auto' reports its probe decision.
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness } from './helpers';

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
