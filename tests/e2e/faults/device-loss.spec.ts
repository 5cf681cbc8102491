/**
 * WebGPU device loss (issue 14, item 4), in real Chromium on SwiftShader WebGPU: the debug worker's
 * side channel calls GPUDevice.destroy() on the TF.js webgpu backend's device while a track is in
 * flight, while a recommend is in flight, and while idle. Every call settles within its bound, with a
 * result or a typed error (never INTERNAL); the stored history is what the page was told; the
 * history controls work; the next recommend runs on the fallback backend without a reload, and
 * EngineInfo reports the switch. backend 'webgpu' by name, so SwiftShader is used ('auto' skips it).
 */
import { expect, test, type Page } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from '../helpers';

/** Bound for any call across the loss: the switch (wasm start, catalog, warm-up) plus the call. */
const SETTLE_MS = 15_000;

async function start(page: Page, label: string): Promise<void> {
  await openHarness(page);
  const info = await page.evaluate(async (dbName) => {
    const rec = await window.harness.create({ backend: 'webgpu', dbName, debugWorker: true });
    return rec.engineInfo;
  }, freshDb(label));
  expect(info.backend).toBe('webgpu');
  expect(info.adapter?.architecture).toBe('swiftshader');
}

/** What every test checks after the loss: the switch is reported, recommend works on it, the history controls work. */
async function expectRecovered(page: Page): Promise<{ fallbackMs: number }> {
  const out = await page.evaluate(async () => {
    const rec = window.rec!;
    const info = await rec.info();
    const home = await rec.scene('home').recommend({ k: 5 });
    const product = await rec.scene('product').recommend({ itemId: 'item-12', k: 3 });
    const before = await rec.listHistory();
    const exported = await rec.exportHistory();
    const forgot = await rec.forgetItem('item-44');
    await rec.track({ type: 'view', itemId: 'item-44' });
    const after = await rec.listHistory();
    return { info, home, product, before: before.length, exported: exported.events.length, forgot, after: after.length };
  });
  expect(out.info.backend).toBe('wasm');
  expect(out.info.fallbacks).toHaveLength(1);
  const f = out.info.fallbacks![0];
  expect(f).toMatchObject({ from: 'webgpu', to: 'wasm' });
  expect(f.error).toBeUndefined();
  expect(f.reason).toMatch(/destroyed/);
  expect(f.ms).toBeGreaterThan(0);
  expect(out.info.adapter).toBeUndefined();
  expect(out.info.forward?.path).toBe('fused');
  expect(out.home.backend).toBe('wasm');
  expect(out.home.items).toHaveLength(5);
  expect(out.product.items).toHaveLength(3);
  expect(out.exported).toBe(out.before);
  expect(out.after).toBe(out.before - out.forgot + 1);
  return { fallbackMs: f.ms! };
}

test('device lost while a track is in flight: stored exactly when resolved, history controls work, recommend continues on wasm', async ({ page }) => {
  const { errors } = watchConsole(page);
  await start(page, 'loss-track');
  const out = await page.evaluate(async (settleMs) => {
    const rec = window.rec!;
    const h = window.harness;
    const told: string[] = [];
    for (const id of ['item-21', 'item-22', 'item-23']) { await rec.track({ type: 'view', itemId: id }); told.push(id); }
    await rec.scene('home').recommend({ k: 4 });
    // A 50-event batch and a single event in flight when the device goes; the page retries what was rejected.
    const batch = Array.from({ length: 50 }, (_, i) => ({ type: 'view' as const, itemId: `item-${String(1 + (i % 50)).padStart(2, '0')}` }));
    const t0 = performance.now();
    const calls = [rec.track(batch), rec.track({ type: 'click', itemId: 'item-24' })];
    const destroyed = h.destroyGpuDevice(0);
    type Settled = { ok: true } | { ok: false; timeout?: true; name?: string; code?: string };
    const settled = await Promise.all(calls.map((c) => Promise.race<Settled>([
      c.then(() => ({ ok: true as const })),
      new Promise<Settled>((resolve) => setTimeout(() => resolve({ ok: false, timeout: true }), settleMs)),
    ]).catch((e): Settled => ({ ok: false, name: e.name, code: e.code }))));
    const elapsed = performance.now() - t0;
    const retried: string[] = [];
    if (settled[0].ok) told.push(...batch.map((e) => e.itemId)); else { await rec.track(batch); told.push(...batch.map((e) => e.itemId)); retried.push('batch'); }
    if (settled[1].ok) told.push('item-24'); else { await rec.track({ type: 'click', itemId: 'item-24' }); told.push('item-24'); retried.push('single'); }
    // Calls during the switch: the history controls answer, recommend waits for it.
    const listed = (await rec.listHistory({ newestFirst: false })).map((e) => e.itemId);
    const rec1 = performance.now();
    const home = await rec.scene('home').recommend({ k: 6 });
    const firstRecommendMs = performance.now() - t0;
    return { destroyed: await destroyed, settled, elapsed, retried, told, listed, home, waitedMs: performance.now() - rec1, firstRecommendMs };
  }, SETTLE_MS);
  expect(out.destroyed.destroyed).toBe(true);
  for (const s of out.settled) {
    expect(s, 'settles within the bound').not.toHaveProperty('timeout');
    if (!s.ok) expect((s as { name: string }).name).toBe('DeviceLostError');
  }
  expect(out.listed, 'stored history = what the page was told, no duplicates').toEqual(out.told);
  expect(out.home.backend).toBe('wasm');
  expect(out.home.items).toHaveLength(6);
  const { fallbackMs } = await expectRecovered(page);
  console.log(`[device-loss] track in flight: settled in ${out.elapsed.toFixed(0)} ms (${out.settled.map((s) => (s.ok ? 'resolved' : 'rejected')).join(', ')}; retried: ${out.retried.join(', ') || 'none'}); switch webgpu -> wasm ${fallbackMs.toFixed(0)} ms; first recommend ${out.firstRecommendMs.toFixed(0)} ms after the loss`);
  expect(errors.filter((e) => /INTERNAL|\[scenerec worker\]/.test(e))).toEqual([]);
});

test('device lost while recommends are in flight: each resolves on the fallback or rejects with DeviceLostError, never INTERNAL', async ({ page }) => {
  const { errors } = watchConsole(page);
  await start(page, 'loss-recommend');
  const out = await page.evaluate(async (settleMs) => {
    const rec = window.rec!;
    const h = window.harness;
    await rec.track([{ type: 'view', itemId: 'item-31' }, { type: 'view', itemId: 'item-32' }]);
    await rec.scene('home').recommend({ k: 4 });
    const t0 = performance.now();
    // Recommends of every scene in flight, the device destroyed a few ms in (mid-forward on SwiftShader), more calls during the switch.
    const inFlight = [...h.sceneCalls(rec, 1), ...h.sceneCalls(rec, 2)].map((f) => f());
    const destroyed = await h.destroyGpuDevice(3);
    const during = [...h.sceneCalls(rec, 3).map((f) => f()), rec.track({ type: 'view', itemId: 'item-33' })];
    const settle = (p: Promise<unknown>) => Promise.race([
      p.then((r) => ({ ok: true as const, backend: (r as { backend?: string } | undefined)?.backend })),
      new Promise<{ ok: false; timeout: true }>((resolve) => setTimeout(() => resolve({ ok: false, timeout: true }), settleMs)),
    ]).catch((e) => ({ ok: false as const, name: e.name as string, code: e.code as string }));
    const results = await Promise.all([...inFlight, ...during].map(settle));
    const ms = performance.now() - t0;
    const history = (await rec.listHistory({ newestFirst: false })).map((e) => e.itemId);
    return { destroyed, results, ms, history };
  }, SETTLE_MS);
  expect(out.destroyed.destroyed).toBe(true);
  for (const r of out.results) {
    expect(r, 'settles within the bound').not.toHaveProperty('timeout');
    if (!r.ok) expect(r).toMatchObject({ name: 'DeviceLostError', code: 'DEVICE_LOST' });
  }
  // The calls made after the destroy resolved, on wasm; sceneCalls' third one (a cold product: its
  // category's popular items, no forward) needs no GPU and may finish before the loss is signalled.
  out.results.slice(10, 15).forEach((r, i) => expect(r).toEqual({ ok: true, backend: i === 2 ? expect.stringMatching(/^(webgpu|wasm)$/) : 'wasm' }));
  expect(out.results[15]).toMatchObject({ ok: true });
  expect(out.history).toEqual(['item-31', 'item-32', 'item-33']);
  const { fallbackMs } = await expectRecovered(page);
  const summary = out.results.slice(0, 10).map((r) => (r.ok ? `ok:${(r as { backend?: string }).backend}` : (r as { name: string }).name));
  console.log(`[device-loss] recommends in flight: ${summary.join(' ')}; all settled in ${out.ms.toFixed(0)} ms; switch ${fallbackMs.toFixed(0)} ms`);
  expect(errors.filter((e) => /INTERNAL|\[scenerec worker\]/.test(e))).toEqual([]);
});

test('device lost while idle: the engine switches by itself and reports it; the history is kept', async ({ page }) => {
  await start(page, 'loss-idle');
  const out = await page.evaluate(async () => {
    const rec = window.rec!;
    await rec.track([{ type: 'view', itemId: 'item-41' }, { type: 'cart', itemId: 'item-42' }]);
    const before = await rec.scene('home').recommend({ k: 5 });
    await window.harness.destroyGpuDevice(0);
    // Nothing called: the switch runs by itself; info() waits for it.
    await new Promise((r) => setTimeout(r, 50));
    const info = await rec.info();
    const after = await rec.scene('home').recommend({ k: 5 });
    const history = (await rec.listHistory({ newestFirst: false })).map((e) => e.itemId);
    const memory = await window.harness.workerMemory();
    return { before, info, after, history, memory, events: window.harness.workerFallbacks };
  });
  expect(out.before.backend).toBe('webgpu');
  expect(out.info.backend).toBe('wasm');
  expect(out.info.fallbacks?.[0]).toMatchObject({ from: 'webgpu', to: 'wasm' });
  expect(out.after.backend).toBe('wasm');
  expect(out.after.historyUsed).toBe(out.before.historyUsed);
  expect(out.history).toEqual(['item-41', 'item-42']);
  expect(out.memory.backend).toBe('wasm');
  // The switch reached the page as an event too (EngineHooks.onFallback, posted by the worker script).
  expect(out.events).toEqual(out.info.fallbacks);
  // Same model, same history: the same personal items (scores from another backend).
  const personal = (r: typeof out.after) => r.items.filter((i) => i.reason.kind === 'personal').map((i) => i.itemId).sort();
  expect(personal(out.after)).toEqual(personal(out.before));
  const { fallbackMs } = await expectRecovered(page);
  console.log(`[device-loss] idle: switch webgpu -> wasm ${fallbackMs.toFixed(0)} ms`);
});

test('device lost during createRecommender: the load switches to wasm and resolves (or rejects typed), without a reload', async ({ page }) => {
  await openHarness(page);
  const out = await page.evaluate(async ({ dbName, settleMs }) => {
    const h = window.harness;
    const t0 = performance.now();
    let settled = false;
    const created = h.create({ backend: 'webgpu', dbName, debugWorker: true })
      .then((rec) => ({ ok: true as const, info: rec.engineInfo }), (e) => ({ ok: false as const, name: e.name as string, code: e.code as string }))
      .finally(() => { settled = true; });
    // Destroys the device as soon as the worker's TF.js backend is webgpu (the load still running).
    let destroyedAt: number | null = null;
    while (!settled && performance.now() - t0 < settleMs) {
      const d = await h.destroyGpuDevice(0);
      if (d.destroyed) { destroyedAt = performance.now() - t0; break; }
      await new Promise((r) => setTimeout(r, 5));
    }
    const result = await Promise.race([created, new Promise<{ ok: false; timeout: true }>((resolve) => setTimeout(() => resolve({ ok: false, timeout: true }), settleMs))]);
    return { result, destroyedAt, loadMs: performance.now() - t0 };
  }, { dbName: freshDb('loss-load'), settleMs: SETTLE_MS * 2 });
  console.log(`[device-loss] during load: device destroyed ${out.destroyedAt?.toFixed(0)} ms into the load; load settled after ${out.loadMs.toFixed(0)} ms: ${JSON.stringify(out.result.ok ? { backend: out.result.info.backend, fallbacks: out.result.info.fallbacks } : out.result)}`);
  expect(out.destroyedAt, 'the device was destroyed before the load ended').not.toBeNull();
  expect(out.result).not.toHaveProperty('timeout');
  if (!out.result.ok) {
    expect(out.result).toMatchObject({ name: 'DeviceLostError' });
    return;
  }
  expect(out.result.info.backend).toBe('wasm');
  expect(out.result.info.fallbacks?.[0]).toMatchObject({ from: 'webgpu', to: 'wasm' });
  await expectRecovered(page);
});
