/**
 * A worker that dies, in real Chromium: `worker.terminate()` from the page, `self.close()` inside it,
 * an uncaught throw, a busy loop (a hung worker), each during a 200-event track in flight and while
 * idle, and during createRecommender. Faults go through the instrumented worker's side channel
 * (tests/support/instrumented.worker.ts). Every case asserts: each call settles within its bound,
 * the errors are typed (WorkerLostError), the stored history is exactly what the page was told was
 * stored (count and content, no duplicates), and the next call works without a reload.
 * Bounds (src/client/supervisor.ts): a read learns of the loss within pingTimeoutMs + 2 × pingIntervalMs
 * (1.5 s) of the death; a write settles once the new worker is up (detection + a model load).
 */
import { expect, test, type Page } from '@playwright/test';
import { freshDb, openHarness } from '../helpers';
import type { Fault, FaultKind } from '../../support/side-channel';

/** A read pending at the death rejects within this (1.5 s detection, slack for this 2-core machine). */
const READ_BOUND_MS = 3000;
/** A write pending at the death settles within this (detection + restart with the fixture model). */
const WRITE_BOUND_MS = 20_000;
/** createRecommender rejects within this when its worker dies while loading (5 s load deadline). */
const LOAD_BOUND_MS = 9000;
/** ... or before its script answered a first ping (10 s start deadline). */
const START_BOUND_MS = 14_000;

interface Settled { ok: boolean; ms: number; value?: unknown; error?: { name: string; code?: string; details?: Record<string, unknown> } }

type Injection = { via: 'terminate'; delayMs: number } | { via: 'fault'; fault: Fault };

const KINDS: FaultKind[] = ['close', 'throw', 'hang'];

const TRACK_CASES: Array<{ title: string; inject: Injection }> = [
  { title: 'page worker.terminate() at once', inject: { via: 'terminate', delayMs: 0 } },
  { title: 'page worker.terminate() 15 ms in', inject: { via: 'terminate', delayMs: 15 } },
  ...KINDS.flatMap((kind) => [
    { title: `${kind} as the message arrives`, inject: { via: 'fault' as const, fault: { kind, at: 'now' as const } } },
    { title: `${kind} after the commit, before the answer`, inject: { via: 'fault' as const, fault: { kind, at: 'commit' as const } } },
  ]),
  { title: 'close when the write starts', inject: { via: 'fault', fault: { kind: 'close', at: 'write' } } },
];

/** In the page: seed 1 event, start a 200-event track and a recommend, inject, then retry until a call works. */
async function trackDuringFault(page: Page, dbName: string, inject: Injection) {
  return page.evaluate(async ({ dbName, inject }) => {
    const h = window.harness;
    const rec = await h.create({ backend: 'wasm', dbName, debugWorker: true, retention: { maxEvents: 5000 } });
    const base = Date.now() - 3_600_000;
    const ev = (i: number) => ({ type: 'view' as const, itemId: `item-${String(1 + (i % 50)).padStart(2, '0')}`, timestamp: base + i });
    await rec.track(ev(0));
    // A fault on the next write is armed before the track (the track's transaction starts at once).
    if (inject.via === 'fault' && inject.fault.at !== 'now') await h.fault(inject.fault);
    const settle = (p: Promise<unknown>, t0: number): Promise<Settled> => p.then(
      (value) => ({ ok: true, ms: performance.now() - t0, value }),
      (e: Error & { code?: string; details?: Record<string, unknown> }) => ({ ok: false, ms: performance.now() - t0, error: { name: e.name, code: e.code, details: e.details } }),
    );
    const t0 = performance.now();
    const track = settle(rec.track(Array.from({ length: 200 }, (_, i) => ev(i + 1))), t0);
    const read = settle(rec.scene('home').recommend({ k: 5 }), t0);
    if (inject.via === 'terminate') {
      if (inject.delayMs === 0) h.terminateWorker();
      else setTimeout(() => h.terminateWorker(), inject.delayMs);
    } else if (inject.fault.at === 'now') {
      void h.fault(inject.fault).catch(() => undefined);
    }
    const [trackR, readR] = await Promise.all([track, read]);
    // The next call works without a reload (retried while the restart runs, each try settling in bound).
    const tries: Settled[] = [];
    for (;;) {
      const r = await settle(rec.scene('home').recommend({ k: 5 }), performance.now());
      tries.push(r);
      if (r.ok || tries.length > 50) break;
    }
    const recoveredMs = performance.now() - t0;
    const history = await rec.listHistory({ newestFirst: false, limit: 10_000 });
    const tStop = performance.now();
    await rec.dispose();
    return {
      track: trackR, read: readR, tries, recoveredMs, disposeMs: performance.now() - tStop,
      history: history.map((e) => `${e.itemId}@${e.timestamp - base}`),
      events: h.events.map((e) => ({ ...e, info: undefined, t: e.t - t0 })), spawned: h.workersSpawned(),
    };
  }, { dbName, inject });
}

function expectedHistory(told: number): string[] {
  return Array.from({ length: told }, (_, i) => `item-${String(1 + (i % 50)).padStart(2, '0')}@${i}`);
}

for (const { title, inject } of TRACK_CASES) {
  test(`worker lost during a 200-event track: ${title}`, async ({ page }) => {
    test.setTimeout(90_000);
    await openHarness(page);
    const r = await trackDuringFault(page, freshDb('fault-track'), inject);
    const lost = r.events.find((e) => e.type === 'worker-lost');
    const restarted = r.events.find((e) => e.type === 'worker-restarted') as { recoveryMs: number; t: number } | undefined;
    console.log(`[fault ${title}] track ${r.track.ok ? 'stored' : r.track.error?.name} in ${r.track.ms.toFixed(0)} ms; ` +
      `read ${r.read.ok ? 'ok' : r.read.error?.name} in ${r.read.ms.toFixed(0)} ms; next call works ${r.recoveredMs.toFixed(0)} ms after the fault ` +
      `(restart ${restarted?.recoveryMs.toFixed(0)} ms; ${lost ? (lost as { reason: string }).reason : 'no loss'}); dispose ${r.disposeMs.toFixed(0)} ms`);

    // The fault hit: one loss, one restart, two workers.
    expect(lost, JSON.stringify(r.events)).toBeDefined();
    expect(restarted).toBeDefined();
    expect(r.spawned).toBe(2);
    // The write was replayed: it resolves, stored once (the store's write ids), within its bound.
    expect(r.track.ok, JSON.stringify(r.track)).toBe(true);
    expect(r.track.value).toEqual({ stored: 200, unknownItems: [], notInCatalog: [], pruned: 0, outsideRetention: 0 });
    expect(r.track.ms).toBeLessThan(WRITE_BOUND_MS);
    // The read in flight: answered before the death, or a typed WorkerLostError within the bound.
    if (!r.read.ok) {
      expect(r.read.error).toMatchObject({ name: 'WorkerLostError', code: 'WORKER_LOST' });
      expect(r.read.ms).toBeLessThan(READ_BOUND_MS);
    }
    for (const t of r.tries.slice(0, -1)) expect(t.error).toMatchObject({ name: 'WorkerLostError', code: 'WORKER_LOST' });
    expect(r.tries.at(-1)!.ok).toBe(true);
    // What the page was told was stored, exactly: the seed and the 200, once each, in order.
    const told = 1 + (r.track.ok ? 200 : 0);
    expect(r.history).toEqual(expectedHistory(told));
    expect(new Set(r.history).size).toBe(told);
    expect(r.disposeMs).toBeLessThan(READ_BOUND_MS);
  });
}

const IDLE_CASES: Array<{ title: string; inject: Injection }> = [
  { title: 'page worker.terminate()', inject: { via: 'terminate', delayMs: 0 } },
  ...KINDS.map((kind) => ({ title: kind, inject: { via: 'fault' as const, fault: { kind, at: 'now' as const } } })),
];

for (const { title, inject } of IDLE_CASES) {
  test(`worker lost while idle: ${title}`, async ({ page }) => {
    test.setTimeout(90_000);
    await openHarness(page);
    const r = await page.evaluate(async ({ dbName, inject }) => {
      const h = window.harness;
      const rec = await h.create({ backend: 'wasm', dbName, debugWorker: true });
      await rec.track({ type: 'view', itemId: 'item-07', timestamp: Date.now() - 1000 });
      await rec.scene('home').recommend({ k: 3 });
      const t0 = performance.now();
      if (inject.via === 'terminate') h.terminateWorker();
      else void h.fault(inject.fault).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const tries: Array<{ ok: boolean; ms: number; name?: string; code?: string }> = [];
      for (;;) {
        const t = performance.now();
        try {
          await rec.scene('home').recommend({ k: 3 });
          tries.push({ ok: true, ms: performance.now() - t });
          break;
        } catch (e) {
          const err = e as Error & { code?: string };
          tries.push({ ok: false, ms: performance.now() - t, name: err.name, code: err.code });
          if (tries.length > 50) break;
        }
      }
      const recoveredMs = performance.now() - t0;
      const stored = await rec.track({ type: 'cart', itemId: 'item-08', timestamp: Date.now() - 500 });
      const history = await rec.listHistory({ newestFirst: false });
      await rec.dispose();
      return { tries, recoveredMs, stored, history: history.map((e) => `${e.type}:${e.itemId}`), events: h.events.map((e) => e.type), spawned: h.workersSpawned() };
    }, { dbName: freshDb('fault-idle'), inject });
    console.log(`[fault idle ${title}] next call works ${r.recoveredMs.toFixed(0)} ms after the fault; tries ${r.tries.map((t) => `${t.ok ? 'ok' : t.name} ${t.ms.toFixed(0)} ms`).join(', ')}`);
    expect(r.events).toEqual(['worker-lost', 'worker-restarted']);
    expect(r.spawned).toBe(2);
    for (const t of r.tries.slice(0, -1)) {
      expect(t).toMatchObject({ name: 'WorkerLostError', code: 'WORKER_LOST' });
      expect(t.ms).toBeLessThan(READ_BOUND_MS);
    }
    expect(r.tries.at(-1)!.ok).toBe(true);
    expect(r.stored).toMatchObject({ stored: 1 });
    expect(r.history).toEqual(['view:item-07', 'cart:item-08']);
  });
}

const LOAD_CASES: Array<{ title: string; initFault?: string; terminateAfterMs?: number; terminateOnProgress?: boolean; bound?: number }> = [
  // At once: before the worker's script ran (only the start deadline can tell).
  { title: 'page worker.terminate() at once', terminateAfterMs: 0, bound: START_BOUND_MS },
  // Mid-load: when the model's progress report arrives (weights downloaded, catalog and warm-up to come).
  { title: 'page worker.terminate() mid-load', terminateOnProgress: true },
  ...KINDS.map((kind) => ({ title: kind, initFault: `${kind}@init:30` })),
];

for (const { title, initFault, terminateAfterMs, terminateOnProgress, bound } of LOAD_CASES) {
  test(`worker lost during createRecommender: ${title}`, async ({ page }) => {
    test.setTimeout(90_000);
    await openHarness(page);
    const r = await page.evaluate(async ({ dbName, initFault, terminateAfterMs, terminateOnProgress }) => {
      const h = window.harness;
      const first = await h.create({ backend: 'wasm', dbName, debugWorker: true });
      await first.track([{ type: 'view', itemId: 'item-03' }, { type: 'view', itemId: 'item-04' }]);
      await first.dispose();
      const t0 = performance.now();
      const onProgress = terminateOnProgress ? (p: { stage: string }) => { if (p.stage === 'model') h.terminateWorker(); } : undefined;
      const p = h.create({ backend: 'wasm', dbName, debugWorker: true, initFault, onProgress });
      if (terminateAfterMs === 0) h.terminateWorker();
      else if (terminateAfterMs !== undefined) setTimeout(() => h.terminateWorker(), terminateAfterMs);
      const err = await h.errorOf(() => p);
      const ms = performance.now() - t0;
      // Creating again works and keeps the stored history.
      const again = await h.create({ backend: 'wasm', dbName, debugWorker: true });
      const history = await again.listHistory({ newestFirst: false });
      const list = await again.scene('home').recommend({ k: 4 });
      await again.dispose();
      return { err, ms, history: history.map((e) => e.itemId), items: list.items.length };
    }, { dbName: freshDb('fault-load'), initFault, terminateAfterMs, terminateOnProgress });
    console.log(`[fault load ${title}] createRecommender rejected with ${r.err?.name} in ${r.ms.toFixed(0)} ms: ${r.err?.message}`);
    expect(r.err).toMatchObject({ name: 'WorkerLostError', code: 'WORKER_LOST', instanceOf: 'WorkerLostError' });
    expect(r.ms).toBeLessThan(bound ?? LOAD_BOUND_MS);
    expect(r.history).toEqual(['item-03', 'item-04']);
    expect(r.items).toBe(4);
  });
}
