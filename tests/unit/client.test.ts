import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as Comlink from 'comlink';
import {
  createRecommender, DisposedError, InvalidEventError, InvalidOptionsError, InvalidRequestError, ModelLoadError,
  UnknownItemError, UnknownSceneError, type LoadProgress, type Recommender,
} from '../../src/index.js';
import { answerPings, createWorkerApi, exposeEngine } from '../../src/engine/host.js';
import { DIRECT, DIRECT_REPLY, PING } from '../../src/contract/protocol.js';
import { registerErrorTransfer } from '../../src/contract/transfer.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

/** A "worker" for Node: the host side of a MessageChannel, as src/worker.ts would set it up. */
function fakeWorker(): { worker: Worker; close: () => void } {
  const { port1, port2 } = new MessageChannel();
  exposeEngine(port1 as unknown as Comlink.Endpoint, { fetch: fileFetch() });
  return { worker: port2 as unknown as Worker, close: () => { port1.close(); port2.close(); } };
}

describe('createRecommender (through Comlink)', () => {
  let rec: Recommender;
  let channel: ReturnType<typeof fakeWorker>;
  const progress: LoadProgress[] = [];

  beforeAll(async () => {
    channel = fakeWorker();
    rec = await createRecommender({
      worker: channel.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName(),
      onProgress: (p) => progress.push(p),
    });
  });
  afterAll(async () => {
    await rec.dispose();
    channel.close();
  });

  it('resolves when ready, with progress and engine info', () => {
    expect(rec.backend).toBe('cpu');
    expect(rec.engineInfo).toMatchObject({ catalogSize: 53, modelVersion: 'tiny-fixture-1' });
    expect(progress.at(-1)?.stage).toBe('ready');
    expect(progress.some((p) => p.stage === 'warmup')).toBe(true);
  });

  it('runs every scene through its handle', async () => {
    await rec.track({ type: 'view', itemId: itemId(23), scene: 'home' });
    const home = await rec.scene('home').recommend({ k: 4 });
    expect(home.items).toHaveLength(4);
    expect(home.scene).toBe('home');
    const pdp = await rec.scene('product').recommend({ itemId: itemId(23), k: 3 });
    expect(pdp.items.map((i) => i.itemId)).not.toContain(itemId(23));
    const cart = await rec.scene('cart').recommend({ cart: [itemId(1)], k: 3 });
    expect(cart.items[0].reason).toEqual({ kind: 'complement', to: [itemId(1)] });
    const search = rec.scene('search');
    const srp = await search.rerank({ query: 'pad', candidates: [itemId(2), itemId(24), 'zzz'], k: 20 });
    expect(srp.items.map((i) => i.itemId).sort()).toEqual([itemId(2), itemId(24), 'zzz']);
    const alias = await search.recommend({ candidates: [itemId(2)], k: 1 });
    expect(alias.items).toHaveLength(1);
    expect(search.name).toBe('search');
    const recent = rec.scene('recentlyViewed');
    expect(recent.name).toBe('recentlyViewed');
    expect((await recent.recommend()).items.map((i) => i.itemId)).toEqual([itemId(23)]);
    await rec.track([{ type: 'purchase', itemId: itemId(5) }, { type: 'purchase', itemId: itemId(5) }]);
    expect((await rec.scene('buyAgain').recommend({ k: 5 })).items.map((i) => i.itemId)).toEqual([itemId(5)]);
  });

  it('throws UnknownSceneError synchronously for a bad scene name', () => {
    expect(() => rec.scene('checkout' as never)).toThrow(UnknownSceneError);
  });

  it('delivers typed errors from the worker', async () => {
    const ev = await rec.track([{ type: 'view', itemId: itemId(1) }, { type: 'teleport' as never, itemId: 'x' }]).catch((e) => e);
    expect(ev).toBeInstanceOf(InvalidEventError);
    expect(ev.code).toBe('INVALID_EVENT');
    await expect(rec.scene('home').recommend({ k: 1000 })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(rec.scene('product').recommend({ itemId: 'nope' })).rejects.toBeInstanceOf(UnknownItemError);
    await expect(rec.recommend('nope' as never, {} as never)).rejects.toBeInstanceOf(UnknownSceneError);
  });

  it('exposes the history API', async () => {
    await rec.clearHistory();
    await rec.track([{ type: 'view', itemId: itemId(5) }, { type: 'view', itemId: itemId(6) }]);
    expect((await rec.listHistory()).map((e) => e.itemId)).toEqual([itemId(6), itemId(5)]);
    expect(await rec.forgetItem(itemId(5))).toBe(1);
    expect((await rec.exportHistory()).events).toHaveLength(1);
    expect((await rec.info()).catalogSize).toBe(53);
    expect((await rec.setCatalog([{ id: itemId(1) }])).catalogSize).toBe(1);
  });
});

/** Messages on both sides of a "worker" channel, by kind, ignoring the pings. */
function countingWorker(direct: boolean) {
  const { port1, port2 } = new MessageChannel();
  const seen = { toWorker: [] as string[], toPage: [] as string[] };
  const kind = (m: Record<string, unknown>) => (m?.[DIRECT] !== undefined ? 'direct' : m?.[DIRECT_REPLY] !== undefined ? 'direct-reply' : m?.id && !m.path ? 'comlink-reply' : m?.type ? String(m.type) : 'other');
  port1.addEventListener('message', (ev) => { if ((ev.data as Record<string, unknown>)?.[PING] === undefined) seen.toWorker.push(kind(ev.data)); });
  const endpoint: Comlink.Endpoint = {
    postMessage: (m: unknown, t?: Transferable[]) => {
      if (!(m as Record<string, unknown>)?.scenerecPong) seen.toPage.push(kind(m as Record<string, unknown>));
      port1.postMessage(m, t ?? []);
    },
    addEventListener: port1.addEventListener.bind(port1) as Comlink.Endpoint['addEventListener'],
    removeEventListener: port1.removeEventListener.bind(port1) as Comlink.Endpoint['removeEventListener'],
    start: () => port1.start(),
  };
  if (direct) exposeEngine(endpoint, { fetch: fileFetch() });
  else {
    // A worker that predates direct calls: Comlink and pings only.
    registerErrorTransfer();
    const api = createWorkerApi({ fetch: fileFetch() });
    answerPings(endpoint);
    Comlink.expose(api, endpoint);
  }
  return { worker: port2 as unknown as Worker, seen, close: () => { port1.close(); port2.close(); } };
}

describe('recommend as a direct message', () => {
  it.each([true, false])('worker serves direct calls: %s — one message each way when it does, Comlink otherwise; errors keep name and code', { timeout: 30_000 }, async (direct) => {
    const w = countingWorker(direct);
    const rec = await createRecommender({ worker: w.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: fixtureCatalog(), dbName: freshDbName() });
    try {
      await rec.track({ type: 'view', itemId: itemId(23) });
      w.seen.toWorker.length = 0;
      w.seen.toPage.length = 0;
      const home = await rec.scene('home').recommend({ k: 4 });
      expect(home.items).toHaveLength(4);
      expect(w.seen).toEqual(direct ? { toWorker: ['direct'], toPage: ['direct-reply'] } : { toWorker: ['APPLY'], toPage: ['comlink-reply'] });
      const err = await rec.scene('home').recommend({ k: 1000 }).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidRequestError);
      expect(err).toMatchObject({ name: 'InvalidRequestError', code: 'INVALID_REQUEST' });
      await expect(rec.scene('product').recommend({ itemId: 'nope' })).rejects.toMatchObject({ name: 'UnknownItemError', code: 'UNKNOWN_ITEM' });
      await expect(rec.recommend('nope' as never, {} as never)).rejects.toBeInstanceOf(UnknownSceneError);
      // The other calls stay on Comlink.
      w.seen.toWorker.length = 0;
      await rec.info();
      expect(w.seen.toWorker).toEqual(['APPLY']);
    } finally {
      await rec.dispose();
      w.close();
    }
  });
});

describe('createRecommender lifecycle', () => {
  it('validates options before any worker is touched', async () => {
    const worker = { postMessage: vi.fn(), addEventListener: vi.fn(), removeEventListener: vi.fn(), terminate: vi.fn() } as unknown as Worker;
    await expect(createRecommender({ worker, backend: 'quantum' as never })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(createRecommender({ worker, modelURL: 'x' } as never)).rejects.toThrow(/Did you mean "modelUrl"/);
    await expect(createRecommender({ worker, onProgress: 'yes' as never })).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(createRecommender({ worker: {} as Worker })).rejects.toBeInstanceOf(InvalidOptionsError);
    expect((worker.postMessage as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(0);
  });

  it('without a Worker global and no worker option, says what to do', async () => {
    await expect(createRecommender({})).rejects.toThrow(/createEngine/);
  });

  it('rejects with the engine error when loading fails, and the worker can be reused', async () => {
    const channel = fakeWorker();
    try {
      const bad = FIXTURE_MODEL_URL.replace('model.json', 'nothing.json');
      const err = await createRecommender({ worker: channel.worker, modelUrl: bad, backend: 'cpu', dbName: freshDbName() }).catch((e) => e);
      expect(err).toBeInstanceOf(ModelLoadError);
      expect(err.message).toContain(bad);
      const rec = await createRecommender({ worker: channel.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() });
      expect(rec.engineInfo.catalogSize).toBe(60);
      await rec.dispose();
    } finally {
      channel.close();
    }
  });

  it('after dispose every call rejects with DisposedError', async () => {
    const channel = fakeWorker();
    try {
      const rec = await createRecommender({ worker: channel.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName() });
      await rec.dispose();
      await rec.dispose();
      await expect(rec.scene('home').recommend()).rejects.toBeInstanceOf(DisposedError);
      await expect(rec.track({ type: 'view', itemId: 'a' })).rejects.toBeInstanceOf(DisposedError);
      await expect(rec.info()).rejects.toBeInstanceOf(DisposedError);
    } finally {
      channel.close();
    }
  });
});
