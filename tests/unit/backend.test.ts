import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { createEngine } from '../../src/engine/engine.js';
import { NoBackendError } from '../../src/contract/errors.js';
import type { LoadProgress } from '../../src/contract/protocol.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

describe('selectBackend', () => {
  it('tries backends in order, reports each try, and falls back', async () => {
    const seen: LoadProgress[] = [];
    const sel = await selectBackend(['webgpu', 'webgl', 'cpu'], (p) => seen.push(p));
    expect(sel.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(sel.rejected.map((r) => r.backend)).toEqual(['webgpu', 'webgl']);
    expect(sel.rejected[0].reason).toMatch(/navigator\.gpu/);
    expect(sel.rejected[1].reason).toMatch(/canvas/);
    expect(seen.map((p) => p.stage === 'backend' && `${p.backend}:${p.status}`)).toEqual([
      'webgpu:trying', 'webgpu:failed', 'webgl:trying', 'webgl:failed', 'cpu:trying', 'cpu:ready',
    ]);
    expect(sel.adapter).toBeUndefined();
  });

  it('throws NoBackendError listing why each backend failed', async () => {
    const err = await selectBackend(['webgpu', 'webgl']).catch((e) => e);
    expect(err).toBeInstanceOf(NoBackendError);
    expect(err.code).toBe('NO_BACKEND');
    expect(err.message).toMatch(/webgpu: .*navigator\.gpu.*; webgl: /);
    expect((err.details.rejected as unknown[]).length).toBe(2);
  });

  it('the engine reports rejected backends in its info', async () => {
    const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: ['webgpu', 'cpu'], dbName: freshDbName() }, { fetch: fileFetch() });
    try {
      const info = await e.info();
      expect(info.backend).toBe('cpu');
      expect(info.rejectedBackends.map((r) => r.backend)).toEqual(['webgpu']);
    } finally {
      await e.dispose();
    }
  });
});

describe('wasm backend', () => {
  it('gives the same recommendations as cpu', { timeout: 30_000 }, async () => {
    const run = async (backend: 'cpu' | 'wasm') => {
      const e = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend, catalog: fixtureCatalog(), dbName: freshDbName() }, { fetch: fileFetch() });
      try {
        await e.track([{ type: 'view', itemId: itemId(12) }, { type: 'view', itemId: itemId(37) }]);
        const r = await e.recommend('home', { k: 10, diversity: 0 });
        expect(r.backend).toBe(backend);
        return r.items;
      } finally {
        await e.dispose();
      }
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expect(wasm.map((i) => i.itemId)).toEqual(cpu.map((i) => i.itemId));
    wasm.forEach((w, i) => expect(w.score).toBeCloseTo(cpu[i].score, 4));
  });
});

describe("backend 'auto' probe", () => {
  it('starts what it can, times each backend that started, and keeps the fastest with a reason', { timeout: 30_000 }, async () => {
    const seen: string[] = [];
    const sel = await selectBackend(['webgpu', 'webgl', 'wasm', 'cpu'], (p) => { if (p.stage === 'backend') seen.push(`${p.backend}:${p.status}`); },
      { probe: { dim: 16, seqLen: 8, rows: 500 } });
    expect(sel.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(sel.reason).toMatch(/^wasm: the only backend that finished the load-time probe/);
    const probe = Object.fromEntries(sel.probe!.map((p) => [p.backend, p]));
    expect(probe.wasm.ms).toBeGreaterThan(0);
    expect(probe.webgpu.error).toMatch(/navigator\.gpu/);
    expect(probe.cpu.error).toMatch(/not probed/);
    expect(sel.rejected.map((r) => r.backend)).toEqual(['webgpu', 'webgl']);
    expect(seen[0]).toBe('webgpu:trying');
    expect(seen[seen.length - 1]).toBe('wasm:ready');
  });

  it('the engine remembers the decision and reuses it on the next load', { timeout: 30_000 }, async () => {
    const dbName = freshDbName();
    const open = () => createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'auto', dbName }, { fetch: fileFetch() });
    const e1 = await open();
    const i1 = await e1.info();
    await e1.dispose();
    const e2 = await open();
    const i2 = await e2.info();
    await e2.dispose();
    expect(i1.backendProbe?.length).toBeGreaterThan(0);
    expect(i2.backend).toBe(i1.backend);
    expect(i2.backendReason).toMatch(/reused\)$/);
  });
});
