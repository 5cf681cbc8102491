/**
 * Runs in the `no-webgpu` project: Chromium without --enable-unsafe-webgpu has no WebGPU adapter.
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, waitForDemo, watchConsole } from './helpers';

test("no WebGPU adapter: backend 'auto' falls back to another backend and still recommends", async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  // Precondition, read without the SDK: this browser really has no adapter.
  const pageAdapter = await page.evaluate(() => window.harness.pageAdapter());
  expect(pageAdapter.adapter).toBeNull();

  const out = await page.evaluate(async (dbName) => {
    const stages: string[] = [];
    const rec = await window.harness.create({
      backend: 'auto', dbName,
      onProgress: (p) => { if (p.stage === 'backend') stages.push(`${p.backend}:${p.status}`); },
    });
    await rec.track([{ type: 'view', itemId: 'item-12' }, { type: 'click', itemId: 'item-14' }]);
    const home = await rec.scene('home').recommend({ k: 6 });
    const pdp = await rec.scene('product').recommend({ itemId: 'item-33', k: 3 });
    await rec.dispose();
    return { info: rec.engineInfo, stages, home, pdp };
  }, freshDb('fallback'));

  console.log(`[fallback] auto picked ${out.info.backend}; passed over: ${out.info.rejectedBackends.map((r) => `${r.backend} (${r.reason})`).join('; ')}`);
  expect(out.info.backend).not.toBe('webgpu');
  expect(['webgl', 'wasm', 'cpu']).toContain(out.info.backend);
  expect(out.info.adapter).toBeUndefined();
  expect(out.info.rejectedBackends[0]?.backend).toBe('webgpu');
  expect(out.info.rejectedBackends[0]?.reason).toBeTruthy();
  expect(out.stages[0]).toBe('webgpu:trying');
  expect(out.stages).toContain('webgpu:failed');
  expect(out.stages[out.stages.length - 1]).toBe(`${out.info.backend}:ready`);
  expect(out.home.backend).toBe(out.info.backend);
  expect(out.home.items).toHaveLength(6);
  expect(out.home.historyUsed).toBe(2);
  expect(out.pdp.items).toHaveLength(3);
  expect(errors).toEqual([]);
});

test("no WebGPU adapter: backend 'webgpu' by name fails with NoBackendError", async ({ page }) => {
  await openHarness(page);
  const err = await page.evaluate((dbName) => window.harness.errorOf(() => window.harness.create({ backend: 'webgpu', dbName })), freshDb('nobackend'));
  expect(err).toMatchObject({ name: 'NoBackendError', code: 'NO_BACKEND', isScenerecError: true, instanceOf: 'NoBackendError' });
  expect(err!.message).toMatch(/webgpu/);
});

test("no WebGPU adapter: the demo shop on backend 'auto' starts on a fallback backend and recommends", async ({ page }) => {
  const { errors } = watchConsole(page);
  await page.goto('/demo/?backend=auto');
  await waitForDemo(page);
  const backend = await page.locator('#info-backend').getAttribute('data-backend');
  expect(['webgl', 'wasm', 'cpu']).toContain(backend);
  await expect(page.locator('#info-backend')).toHaveAttribute('title', /webgpu: /);
  await expect(page.locator('.recs[data-scene=home][data-ready] .product')).toHaveCount(10);
  expect(errors).toEqual([]);
});
