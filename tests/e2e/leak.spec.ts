/**
 * Tensor-leak check in the browser: repeated calls leave the worker's tf.memory().numTensors unchanged.
 * The SDK exposes no tensor count, so the engine runs in tests/support/instrumented.worker.ts: the SDK
 * worker (`exposeEngine()`) plus a side channel that answers with tf.memory() from that worker.
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from './helpers';

for (const backend of ['webgpu', 'wasm'] as const) {
  test(`no tensors leak over repeated calls (${backend})`, async ({ page }) => {
    const { errors } = watchConsole(page);
    await openHarness(page);
    const out = await page.evaluate(async ({ dbName, backend }) => {
      const h = window.harness;
      const rec = await h.create({ backend, dbName, debugWorker: true });
      const round = async (i: number) => {
        await rec.track({ type: 'view', itemId: `item-${String(10 + (i % 30)).padStart(2, '0')}` });
        for (const call of h.sceneCalls(rec, i)) await call();
        await h.errorOf(() => rec.scene('home').recommend({ k: -1 }));
      };
      await round(0); // first calls may create lasting state (compiled programs, caches)
      const before = await h.workerMemory();
      for (let i = 1; i <= 10; i++) await round(i);
      const after = await h.workerMemory();
      await rec.dispose();
      return { before, after };
    }, { dbName: freshDb(`leak-${backend}`), backend });
    console.log(`[leak ${backend}] numTensors ${out.before.numTensors} -> ${out.after.numTensors}, bytes ${out.before.numBytes} -> ${out.after.numBytes}`);
    expect(out.before.backend).toBe(backend);
    expect(out.before.numTensors, 'the model weights and catalog matrix are resident').toBeGreaterThan(0);
    expect(out.after.numTensors).toBe(out.before.numTensors);
    expect(out.after.numBytes).toBe(out.before.numBytes);
    expect(errors).toEqual([]);
  });
}

// The same check on the real trained model (2 blocks, 11k items) with the demo's catalog, on WebGPU.
test('no tensors leak over repeated calls on the trained Tianchi model (webgpu)', async ({ page }) => {
  const fs = await import('node:fs');
  const catalog = JSON.parse(fs.readFileSync(new URL('../../demo/catalog.json', import.meta.url), 'utf8')) as Array<{ id: string; available?: boolean }>;
  const ids = catalog.filter((c) => c.available !== false).map((c) => c.id);
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async ({ dbName, catalog, ids }) => {
    const h = window.harness;
    const rec = await h.create({ backend: 'webgpu', dbName, debugWorker: true, modelUrl: '/models/tianchi-sasrec/model.json', catalog });
    const round = async (i: number) => {
      await rec.track({ type: 'view', itemId: ids[(i * 7) % ids.length] });
      await rec.scene('home').recommend({ k: 12 });
      await rec.scene('product').recommend({ itemId: ids[i % ids.length], k: 8 });
      await rec.scene('cart').recommend({ cart: [ids[(i + 3) % ids.length]], k: 6 });
      await rec.scene('search').rerank({ query: 'q', candidates: ids.slice(i, i + 20), k: 10 });
    };
    await round(0);
    const before = await h.workerMemory();
    for (let i = 1; i <= 10; i++) await round(i);
    const after = await h.workerMemory();
    const modelVersion = rec.engineInfo.modelVersion;
    await rec.dispose();
    return { before, after, modelVersion };
  }, { dbName: freshDb('leak-tianchi'), catalog, ids });
  console.log(`[leak tianchi webgpu] numTensors ${out.before.numTensors} -> ${out.after.numTensors}, bytes ${out.before.numBytes} -> ${out.after.numBytes}`);
  expect(out.modelVersion).toMatch(/^tianchi-sasrec-/);
  expect(out.before.backend).toBe('webgpu');
  expect(out.after.numTensors).toBe(out.before.numTensors);
  expect(out.after.numBytes).toBe(out.before.numBytes);
  expect(errors).toEqual([]);
});
