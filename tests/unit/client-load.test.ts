/**
 * createRecommender's bound on the load (page side): `signal` rejects with AbortError at once,
 * `timeoutMs` with ModelLoadError shortly after it, and the worker the SDK spawned is terminated.
 * Node has no Worker: a stand-in that never answers (a worker stuck in its load) is put on
 * globalThis; the real worker is checked in Chromium (tests/e2e/faults/loading.spec.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, createRecommender, InvalidOptionsError, ModelLoadError } from '../../src/index.js';
import { LOAD_TIMEOUT_GRACE_MS } from '../../src/contract/defaults.js';

class SilentWorker extends EventTarget {
  static spawned: SilentWorker[] = [];
  terminated = false;
  constructor() { super(); SilentWorker.spawned.push(this); }
  postMessage(): void { /* a worker stuck in its load never answers */ }
  terminate(): void { this.terminated = true; }
}

const g = globalThis as { Worker?: unknown };
let saved: unknown;
beforeEach(() => { saved = g.Worker; g.Worker = SilentWorker; SilentWorker.spawned = []; });
afterEach(() => { g.Worker = saved; });

describe('createRecommender load bound', () => {
  it('timeoutMs rejects with ModelLoadError naming the model URL, and terminates the worker', async () => {
    const t0 = Date.now();
    const err = await createRecommender({ modelUrl: 'http://shop.test/m/model.json', timeoutMs: 200 }).catch((e) => e);
    const ms = Date.now() - t0;
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain('http://shop.test/m/model.json');
    expect(err.message).toContain('timeoutMs = 200');
    expect(ms).toBeGreaterThanOrEqual(200);
    expect(ms).toBeLessThan(200 + LOAD_TIMEOUT_GRACE_MS + 1000);
    expect(SilentWorker.spawned).toHaveLength(1);
    expect(SilentWorker.spawned[0].terminated).toBe(true);
  });

  it('signal rejects with AbortError at once and terminates the worker; an aborted signal spawns none', async () => {
    const ctrl = new AbortController();
    const p = createRecommender({ modelUrl: 'http://shop.test/m/model.json', signal: ctrl.signal }).catch((e) => e);
    setTimeout(() => ctrl.abort(), 50);
    const t0 = Date.now();
    const err = await p;
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORTED' });
    expect(Date.now() - t0).toBeLessThan(500);
    expect(SilentWorker.spawned[0].terminated).toBe(true);

    const again = await createRecommender({ signal: ctrl.signal }).catch((e) => e);
    expect(again).toBeInstanceOf(AbortError);
    expect(SilentWorker.spawned).toHaveLength(1);
  });

  it('a worker the shop passed is not terminated (it is the shop\'s)', async () => {
    const own = new SilentWorker();
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 20);
    const err = await createRecommender({ worker: own as unknown as Worker, signal: ctrl.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(own.terminated).toBe(false);
  });

  it('rejects a bad signal or timeout before any worker starts', async () => {
    await expect(createRecommender({ signal: {} as AbortSignal })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(createRecommender({ timeoutMs: -1 })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(createRecommender({ modelCache: 'always' as never })).rejects.toBeInstanceOf(InvalidOptionsError);
    expect(SilentWorker.spawned).toHaveLength(0);
  });
});
