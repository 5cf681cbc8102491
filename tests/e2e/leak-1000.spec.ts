/**
 * 1,000 recommend calls in the SDK worker (wasm, fixture model): tf.memory().numTensors and bytes
 * unchanged, and the worker's JS heap (after a GC, read through the DevTools protocol) roughly flat.
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from './helpers';
import { workerHeap } from '../../scripts/worker-heap';

test('1,000 recommend calls: tensors flat, worker heap roughly flat (wasm)', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const { errors } = watchConsole(page);
  await openHarness(page);
  await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'wasm', dbName, debugWorker: true });
    await rec.track([{ type: 'view', itemId: 'item-12' }, { type: 'cart', itemId: 'item-14' }, { type: 'view', itemId: 'item-31' }]);
  }, freshDb('leak-1000'));
  const calls = (n: number) => page.evaluate(async (n) => {
    const rec = window.rec!;
    for (let i = 0; i < n; i++) {
      const round = window.harness.sceneCalls(rec, i);
      await round[i % round.length]();
    }
    return window.harness.workerMemory();
  }, n);
  const warm = await calls(100); // lasting state (compiled code, caches) settles first
  const heapBefore = await workerHeap(browser, 'instrumented.worker');
  const t0 = Date.now();
  const after = await calls(1000);
  const ms = Date.now() - t0;
  const heapAfter = await workerHeap(browser, 'instrumented.worker');
  await page.evaluate(() => window.rec!.dispose());
  console.log(`[leak 1000 wasm] ${ms} ms; numTensors ${warm.numTensors} -> ${after.numTensors}, bytes ${warm.numBytes} -> ${after.numBytes}, ` +
    `worker heap ${(heapBefore / 1048576).toFixed(2)} -> ${(heapAfter / 1048576).toFixed(2)} MB`);
  expect(after.backend).toBe('wasm');
  expect(after.numTensors).toBe(warm.numTensors);
  expect(after.numBytes).toBe(warm.numBytes);
  expect(heapAfter - heapBefore, 'worker heap growth over 1,000 calls').toBeLessThan(1.5 * 1048576);
  expect(errors).toEqual([]);
});
