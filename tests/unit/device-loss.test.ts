/**
 * Device loss without a GPU: the engine runs on 'cpu' with the EngineHooks.deviceLost test hook
 * standing in for a WebGPU device's `lost` promise, so the whole switch runs for real (release,
 * wasm start, weights rebuilt from the host copy, catalog and fused forward rebuilt, warm-up).
 * Real WebGPU (SwiftShader, GPUDevice.destroy()) is covered by tests/e2e/faults/device-loss.spec.ts.
 */
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEVICE_LOST_AVOID_MS, PROBE_CACHE_MS } from '../../src/contract/defaults.js';
import { DeviceLostError, NoBackendError, UnknownItemError } from '../../src/contract/errors.js';
import { resolveEngineConfig } from '../../src/contract/options.js';
import type { BackendFallback, BackendName, EngineInfo, TrackEvent } from '../../src/contract/protocol.js';
import { chooseBackend, fallbackOrder, rememberDeviceLoss, type ProbeVerdictStore } from '../../src/engine/backend-choice.js';
import { createEngine, type RecommenderEngine } from '../../src/engine/engine.js';
import { ForwardRunner } from '../../src/engine/forward.js';
import type { BackendMeta } from '../../src/engine/store/meta.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

/** A device-lost signal per backend that the test fires. */
function lossSignals() {
  const fire = new Map<BackendName, (reason: string) => void>();
  const signal = (backend: BackendName) => new Promise<string>((resolve) => { fire.set(backend, resolve); });
  return { signal, lose: (backend: BackendName, reason = 'destroyed: simulated') => fire.get(backend)!(reason) };
}

async function lossEngine() {
  const { signal, lose } = lossSignals();
  const switches: Array<{ fallback: BackendFallback; info: EngineInfo }> = [];
  const engine = await createEngine(
    { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
    { fetch: fileFetch(), deviceLost: signal, onFallback: (fallback, info) => switches.push({ fallback, info }) },
  );
  return { engine, lose, switches };
}

const ev = (i: number, ts: number): TrackEvent => ({ type: 'view', itemId: itemId(i), scene: 'home', timestamp: ts });
const storedIds = async (e: RecommenderEngine) => (await e.listHistory({ newestFirst: false })).map((s) => s.itemId);

/** Set to make the next backend start fail (a fallback with no backend to take over), or wait for a gate (a slow start). */
const backendFault = vi.hoisted(() => ({ failNext: false, gate: undefined as Promise<void> | undefined }));
vi.mock('../../src/engine/backend.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/engine/backend.js')>();
  return {
    ...real,
    selectBackend: async (...args: Parameters<typeof real.selectBackend>) => {
      const gate = backendFault.gate;
      backendFault.gate = undefined;
      if (gate) await gate;
      if (!backendFault.failNext) return real.selectBackend(...args);
      backendFault.failNext = false;
      return Promise.reject(new NoBackendError('No TF.js backend could start (test fault).'));
    },
  };
});

afterEach(() => { vi.restoreAllMocks(); backendFault.failNext = false; backendFault.gate = undefined; });

describe('device loss: the engine switches backend by itself', () => {
  it('a track in flight is stored once and resolves; the history controls work during the switch; recommend waits and runs on wasm', { timeout: 30_000 }, async () => {
    const { engine, lose, switches } = await lossEngine();
    try {
      const t0 = Date.now() - 10_000;
      await engine.track([ev(21, t0), ev(22, t0 + 1)]);
      const before = await engine.recommend('home', { k: 6 });
      expect(before.backend).toBe('cpu');
      const tensorsBefore = tf.memory().numTensors;

      // The new backend's start waits until the history checks below are done, so "during the switch" holds on any machine.
      let open!: () => void;
      backendFault.gate = new Promise<void>((r) => { open = r; });
      const inFlight = engine.track(ev(23, t0 + 2));
      lose('cpu');
      const tracked = await inFlight;
      expect(tracked.stored).toBe(1);
      // The history controls do not wait for the switch (it has not ended yet: no onFallback call).
      expect(await storedIds(engine)).toEqual([itemId(21), itemId(22), itemId(23)]);
      expect((await engine.exportHistory()).events).toHaveLength(3);
      expect(await engine.forgetItem(itemId(22))).toBe(1);
      expect(switches).toHaveLength(0);
      open();

      const during = await engine.recommend('home', { k: 6 });
      expect(during.backend).toBe('wasm');
      expect(switches).toHaveLength(1);
      expect(switches[0].fallback).toMatchObject({ from: 'cpu', to: 'wasm', reason: 'destroyed: simulated' });
      expect(switches[0].fallback.ms).toBeGreaterThan(0);
      expect(switches[0].info.backend).toBe('wasm');

      const info = await engine.info();
      expect(info.backend).toBe('wasm');
      expect(info.forward?.path).toBe('fused');
      expect(info.fallbacks).toEqual([switches[0].fallback]);
      expect(info.catalogSize).toBe(53);

      // The same model on the new backend: the list of the same history is the same.
      await engine.track(ev(22, t0 + 1));
      const after = await engine.recommend('home', { k: 6 });
      expect(after.items.map((i) => i.itemId)).toEqual(await refList(engine));
      // The old backend's weights and matrix were released, the new ones are as many.
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      await engine.clearHistory();
      expect(await engine.listHistory()).toEqual([]);
    } finally {
      await engine.dispose();
    }
  });

  it('a recommend broken by the loss mid-call runs again on the new backend; other errors are not retried', { timeout: 30_000 }, async () => {
    const { engine, lose } = await lossEngine();
    try {
      await engine.track([ev(31, Date.now() - 5000), ev(32, Date.now() - 4000)]);
      const expected = (await engine.recommend('home', { k: 5 })).items.map((i) => i.itemId);
      const run = ForwardRunner.prototype.run;
      let calls = 0;
      vi.spyOn(ForwardRunner.prototype, 'run').mockImplementation(async function (this: ForwardRunner, ...args) {
        if (calls++ === 0) {
          lose('cpu');
          await new Promise((r) => setTimeout(r, 0));
          throw new Error('mapAsync: the device was lost'); // what a GPU readback does
        }
        return run.apply(this, args);
      });
      const r = await engine.recommend('home', { k: 5 });
      expect(r.backend).toBe('wasm');
      expect(r.items.map((i) => i.itemId)).toEqual(expected);
      expect(calls).toBeGreaterThanOrEqual(2);
      vi.restoreAllMocks();

      // A typed error of the call itself is not a loss.
      const err = await engine.recommend('product', { itemId: 'nope' }).catch((e) => e);
      expect(err).toBeInstanceOf(UnknownItemError);
      expect((await engine.info()).fallbacks).toHaveLength(1);
    } finally {
      await engine.dispose();
    }
  });

  it('setCatalog during the switch waits and builds on the new backend', { timeout: 30_000 }, async () => {
    const { engine, lose } = await lossEngine();
    try {
      lose('cpu');
      const info = await engine.setCatalog(fixtureCatalog().slice(0, 20));
      expect(info.backend).toBe('wasm');
      expect(info.catalogSize).toBe(20);
      const r = await engine.recommend('home', { k: 4 });
      expect(r.items.every((i) => Number(i.itemId.slice(5)) <= 20)).toBe(true);
    } finally {
      await engine.dispose();
    }
  });

  it('a loss during the load: createEngine switches too and resolves on wasm', { timeout: 30_000 }, async () => {
    const { signal, lose } = lossSignals();
    for (const stage of ['model', 'warmup'] as const) {
      const engine = await createEngine(
        { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() },
        { fetch: fileFetch(), deviceLost: signal, onProgress: (p) => { if (p.stage === stage && !('ms' in p)) lose('cpu'); } },
      );
      try {
        const info = await engine.info();
        expect(info.backend).toBe('wasm');
        expect(info.fallbacks).toMatchObject([{ from: 'cpu', to: 'wasm' }]);
        expect(info.catalogSize).toBe(53);
        expect((await engine.recommend('home', { k: 3 })).backend).toBe('wasm');
      } finally {
        await engine.dispose();
      }
    }
  });

  it('no backend can take over: model calls reject with DeviceLostError, the history keeps working', { timeout: 30_000 }, async () => {
    const { engine, lose, switches } = await lossEngine();
    try {
      await engine.track(ev(11, Date.now() - 1000));
      backendFault.failNext = true;
      lose('cpu');
      const err = await engine.recommend('home', { k: 3 }).catch((e) => e);
      expect(err).toBeInstanceOf(DeviceLostError);
      expect(err.message).toMatch(/no backend could take over.*test fault.*history still works/);
      expect(await engine.setCatalog(fixtureCatalog()).catch((e) => e.name)).toBe('DeviceLostError');
      const info = await engine.info();
      expect(info.fallbacks).toEqual([expect.objectContaining({ from: 'cpu', error: expect.stringMatching(/^no backend could take over/) })]);
      expect(info.fallbacks![0].to).toBeUndefined();
      expect(switches.map((s) => s.fallback.error)).toEqual([info.fallbacks![0].error]);
      expect((await engine.track(ev(12, Date.now() - 500))).stored).toBe(1);
      expect(await storedIds(engine)).toEqual([itemId(11), itemId(12)]);
      expect(await engine.forgetItem(itemId(11))).toBe(1);
      await engine.clearHistory();
      expect((await engine.exportHistory()).events).toEqual([]);
    } finally {
      await engine.dispose();
    }
  });

  it("'auto': after a loss the next engine on this browser starts on the backend that took over", { timeout: 30_000 }, async () => {
    const dbName = freshDbName();
    const { signal, lose } = lossSignals();
    const first = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'auto', catalog: fixtureCatalog(), dbName }, { fetch: fileFetch(), deviceLost: signal });
    const from = (await first.info()).backend;
    lose(from);
    const switched = await first.info();
    await first.dispose();
    const to = switched.fallbacks![0].to!;
    expect(to).not.toBe(from);
    const next = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'auto', catalog: fixtureCatalog(), dbName }, { fetch: fileFetch() });
    try {
      const info = await next.info();
      expect(info.backend).toBe(to);
      expect(info.backendReason).toMatch(new RegExp(`^${to}: ${from} lost its device .*reused`));
      expect(info.rejectedBackends).toContainEqual({ backend: from, reason: expect.stringMatching(/^device lost: destroyed: simulated/) });
    } finally {
      await next.dispose();
    }
  });

  it('dispose during the switch settles and leaves nothing behind', { timeout: 30_000 }, async () => {
    const baseline = tf.memory().numTensors;
    const { engine, lose } = await lossEngine();
    lose('cpu');
    await engine.dispose();
    // Let the switch finish (it releases what it built once it sees the dispose).
    await new Promise((r) => setTimeout(r, 2000));
    expect(tf.memory().numTensors).toBe(baseline);
    expect(await engine.recommend('home', {}).catch((e) => e.name)).toBe('DisposedError');
  });
});

/** The home list of the engine's current history, computed on cpu by a fresh engine (reference). */
async function refList(engine: RecommenderEngine): Promise<string[]> {
  const history = await engine.exportHistory();
  const ref = await createEngine(
    { modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() }, { fetch: fileFetch() });
  try {
    await ref.track(history.events.map(({ type, itemId: id, scene, timestamp }) => ({ type, itemId: id, scene, timestamp }) as TrackEvent));
    return (await ref.recommend('home', { k: 6 })).items.map((i) => i.itemId);
  } finally {
    await ref.dispose();
  }
}

describe("device loss and backend 'auto'", () => {
  const memoryVerdicts = (): ProbeVerdictStore & { rec?: BackendMeta } => {
    const store: ProbeVerdictStore & { rec?: BackendMeta } = {
      get: async () => store.rec,
      put: async (v) => { store.rec = v; },
    };
    return store;
  };

  it('falls back to the CPU backends only, configured ones first', () => {
    expect(fallbackOrder(['webgpu'], 'webgpu')).toEqual(['wasm', 'cpu']);
    expect(fallbackOrder(['webgpu', 'webgl', 'wasm', 'cpu'], 'webgpu')).toEqual(['wasm', 'cpu']);
    expect(fallbackOrder(['webgpu', 'cpu'], 'webgpu')).toEqual(['cpu', 'wasm']);
  });

  it("after a loss 'auto' starts on the backend that took over, without a probe, for DEVICE_LOST_AVOID_MS only", { timeout: 30_000 }, async () => {
    const verdicts = memoryVerdicts();
    const config = resolveEngineConfig({ backend: 'auto' });
    await rememberDeviceLoss(verdicts, 'webgpu', 'unknown: GPU process crashed', 'wasm');
    expect(verdicts.rec).toMatchObject({ backend: 'wasm' });
    expect(verdicts.rec!.probe[0]).toEqual({ backend: 'webgpu', error: 'device lost: unknown: GPU process crashed' });

    const stages: string[] = [];
    const sel = await chooseBackend(config, verdicts, (p) => { if (p.stage === 'backend') stages.push(`${p.backend}:${p.status}`); });
    expect(sel.backend).toBe('wasm');
    expect(stages).toEqual(['wasm:trying', 'wasm:ready']); // no probe of anything else
    expect(sel.reason).toMatch(/webgpu lost its device.*reused/);
    expect(sel.rejected).toEqual([{ backend: 'webgpu', reason: expect.stringMatching(/^device lost: unknown: GPU process crashed \(at /) }]);

    // Older than DEVICE_LOST_AVOID_MS: probed again (a plain verdict of that age would still be reused).
    const age = DEVICE_LOST_AVOID_MS + 60_000;
    expect(age).toBeLessThan(PROBE_CACHE_MS);
    verdicts.rec = { ...verdicts.rec!, at: Date.now() - age };
    const again = await chooseBackend(config, verdicts, () => undefined);
    expect(again.reason).not.toMatch(/reused/);
    expect(again.probe?.some((p) => p.ms !== undefined)).toBe(true);
    verdicts.rec = { ...verdicts.rec!, at: Date.now() - age };
    expect((await chooseBackend(config, verdicts, () => undefined)).reason).toMatch(/reused/);
  });
});
