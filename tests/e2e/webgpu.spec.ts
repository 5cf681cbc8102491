/**
 * The worker starts, and with backend 'webgpu' really runs on WebGPU (SwiftShader here).
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from './helpers';

test('backend webgpu: the worker runs the model on a WebGPU adapter and recommends', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const dbName = freshDb('webgpu');

  // The adapter exists, read independently of the SDK: on the page and inside a worker.
  const pageAdapter = await page.evaluate(() => window.harness.pageAdapter());
  expect(pageAdapter.hasGpu).toBe(true);
  expect(pageAdapter.adapter).not.toBeNull();
  expect(pageAdapter.adapter!.architecture).toBe('swiftshader');

  const out = await page.evaluate(async (dbName) => {
    const progress: string[] = [];
    const rec = await window.harness.create({
      backend: 'webgpu', dbName, debugWorker: true,
      onProgress: (p) => progress.push(p.stage === 'backend' ? `backend:${p.backend}:${p.status}` : p.stage),
    });
    const workerAdapter = await window.harness.workerAdapter();
    const memory = await window.harness.workerMemory();
    await rec.track({ type: 'view', itemId: 'item-23', scene: 'home' });
    const home = await rec.scene('home').recommend({ k: 5 });
    return { info: rec.engineInfo, backend: rec.backend, progress, workerAdapter, workerBackend: memory.backend, home };
  }, dbName);

  expect(out.backend).toBe('webgpu');
  expect(out.info.backend).toBe('webgpu');
  expect(out.info.adapter, 'EngineInfo.adapter is set on webgpu').toBeTruthy();
  expect(out.info.adapter!.architecture).toBe('swiftshader');
  expect(out.info.rejectedBackends).toEqual([]);
  expect(out.info.loadMs).toBeGreaterThan(0);
  expect(out.info.modelVersion).toBeTruthy();
  // The worker's own TF.js engine is on webgpu, and navigator.gpu works in the worker.
  expect(out.workerBackend).toBe('webgpu');
  expect(out.workerAdapter.hasGpu).toBe(true);
  expect(out.workerAdapter.adapter?.architecture).toBe('swiftshader');
  // Progress: webgpu tried then ready, then download, model, warmup, ready (last).
  expect(out.progress.slice(0, 2)).toEqual(['backend:webgpu:trying', 'backend:webgpu:ready']);
  expect(out.progress).toContain('download');
  expect(out.progress).toContain('model');
  expect(out.progress).toContain('warmup');
  expect(out.progress[out.progress.length - 1]).toBe('ready');

  expect(out.home.backend).toBe('webgpu');
  expect(out.home.items).toHaveLength(5);
  expect(out.home.historyUsed).toBeGreaterThan(0);
  // The fixture model knows one thing: the cluster of the latest item (item-21..item-30) scores highest.
  const top = out.home.items.filter((i) => i.reason.kind === 'personal').map((i) => i.itemId);
  expect(top.length).toBeGreaterThan(0);
  expect(top.filter((id) => /^item-(2[1-9]|30)$/.test(id)).length).toBeGreaterThanOrEqual(3);
  expect(errors).toEqual([]);
});

test("backend 'auto' passes over a software-only WebGPU adapter (SwiftShader) and says why", async ({ page }) => {
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'auto', dbName });
    const home = await rec.scene('home').recommend({ k: 4 });
    await rec.dispose();
    return { info: rec.engineInfo, n: home.items.length, backend: home.backend };
  }, freshDb('auto-sw'));
  // 'auto' measures every backend at load; SwiftShader loses to wasm there. 'webgpu' by name uses it (test above).
  expect(out.info.backend).not.toBe('webgpu');
  expect(out.info.rejectedBackends[0]?.backend).toBe('webgpu');
  expect(out.info.rejectedBackends[0]?.reason).toMatch(/software|swiftshader/i);
  expect(out.backend).toBe(out.info.backend);
  expect(out.n).toBe(4);
});
