import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import * as Comlink from 'comlink';
import { createRecommender, InvalidOptionsError, type CatalogItem } from '../../src/index.js';
import { exposeEngine } from '../../src/engine/host.js';
import { isPackedCatalog, packCatalog, packCatalogInSlices, packedBuffers, unpackCatalog, unpackCatalogInSlices, unpackCheckedCatalog, type CatalogItems, type PackedCatalog } from '../../src/contract/catalog-wire.js';

const itemsOf = (items: CatalogItems): CatalogItem[] => Array.from({ length: items.length }, (_, i) => items.at(i));
import { checkCatalogItems, validateCatalog, validateCatalogInSlices, validatedPositions } from '../../src/contract/options.js';
import { YIELD_EVERY_ITEMS } from '../../src/util/clock.js';
import { FIXTURE_MODEL_URL, fileFetch, fixtureCatalog, freshDbName, itemId } from './helpers.js';

const varied = (): CatalogItem[] => [
  { id: 'a', title: 'Kettle', category: 'kitchen', brand: 'Acme', price: 19.5, available: true },
  { id: 'b' },
  { id: 'ünï-🙂', title: '', category: 'kitchen', price: 0, available: false },
  { id: 'c', brand: 'Acme', meta: { image: '/c.png', rank: 3, new: true } },
  { id: 'd', title: 'Shop field', ...({ sku: 'X-1', tags: ['a', 'b'] } as object) } as CatalogItem,
  { id: 'e', category: '', brand: '', price: -2.25 },
];

describe('the packed catalog wire form', () => {
  it('unpacks to equal items, meta and the shop\'s own keys included', () => {
    const items = varied();
    const packed = packCatalog(items)!;
    expect(isPackedCatalog(packed)).toBe(true);
    expect(packed.categories).toEqual(['kitchen', '']); // a dictionary, not a string per item
    expect(unpackCatalog(structuredClone(packed, { transfer: packedBuffers(packed) }))).toEqual(items);
  });

  it('unpacks every combination of the optional fields to the same keys in the same order as the items had', () => {
    const items: CatalogItem[] = [];
    for (let mask = 0; mask < 64; mask++) {
      const it: CatalogItem = { id: `i${mask}` };
      if (mask & 1) it.title = `T${mask}`;
      if (mask & 2) it.category = `c${mask % 3}`;
      if (mask & 4) it.brand = `b${mask % 5}`;
      if (mask & 8) it.price = mask / 4;
      if (mask & 16) it.available = (mask & 32) !== 0;
      items.push(it);
    }
    const back = unpackCatalog(packCatalog(items)!);
    expect(back).toEqual(items);
    for (const [i, it] of items.entries()) expect(Object.keys(back[i]), it.id).toEqual(Object.keys(it));
    expect(JSON.stringify(back)).toBe(JSON.stringify(items));
  });

  it('unpacks and checks a catalog of several slices as in one go, the event loop running between slices', async () => {
    const n = 2 * YIELD_EVERY_ITEMS + 123;
    const items: CatalogItem[] = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? { id: `s-${i}`, title: `t${i}`, price: i } : { id: `s-${i}`, category: `c${i % 7}`, meta: { i } }));
    const packed = packCatalog(items)!;
    let ticks = 0;
    let ticking = true;
    const tick = () => { ticks++; if (ticking) setTimeout(tick, 0); };
    setTimeout(tick, 0);
    const back = await unpackCatalogInSlices(packed);
    const unpackTicks = ticks;
    const checked = await validateCatalogInSlices(back);
    ticking = false;
    expect(unpackTicks).toBeGreaterThanOrEqual(2);
    expect(ticks - unpackTicks).toBeGreaterThanOrEqual(2);
    expect(back).toEqual(unpackCatalog(packed));
    expect(back).toEqual(items);
    expect(checked).toEqual(items);
    expect(checked).not.toBe(back); // a copy, taken as it is by a second check
    expect(validateCatalog(checked)).toBe(checked);
    // A repeat in a later slice is refused as the one-go check refuses it.
    const dup = [...items, { id: 's-5' }];
    await expect(validateCatalogInSlices(dup, 'options.catalog')).rejects.toThrow(`options.catalog lists the id "s-5" twice (at 5 and ${n})`);
    expect(() => validateCatalog(dup, 'options.catalog')).toThrow(`options.catalog lists the id "s-5" twice (at 5 and ${n})`);
  });

  it('unpacks and checks in one pass: the items read in place, registered as checked, with their id -> position map', async () => {
    const n = 2 * YIELD_EVERY_ITEMS + 77;
    const items: CatalogItem[] = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? { id: `u-${i}`, price: i / 3, meta: { i } } : { id: `u-${i}`, brand: `b${i % 3}`, category: i % 7 === 0 ? undefined : `c${i % 4}` }));
    const back = await unpackCheckedCatalog(packCatalog(items)!, 'options.catalog');
    expect(back.length).toBe(n);
    // Fields read without making the item, then the items themselves (made once, then the same object).
    for (let i = 0; i < n; i++) {
      expect(back.idAt(i)).toBe(items[i].id);
      expect(back.field(i, 'category')).toBe(items[i].category);
      expect(back.field(i, 'brand')).toBe(items[i].brand);
    }
    expect(itemsOf(back)).toEqual(items);
    expect(itemsOf(back)).toEqual(unpackCatalog(packCatalog(items)!));
    expect(back.at(5)).toBe(back.at(5));
    const positions = validatedPositions(back)!;
    expect(positions.size).toBe(n);
    expect(positions.get(`u-${n - 1}`)).toBe(n - 1);
    expect(positions.get('u-5')).toBe(5);
  });

  it('refuses what validateCatalog refuses, with its message, while unpacking', async () => {
    const n = YIELD_EVERY_ITEMS + 10;
    const items: CatalogItem[] = Array.from({ length: n }, (_, i) => ({ id: `s-${i}` }));
    const cases: CatalogItem[][] = [
      [...items, { id: 's-5' }], // a repeat in a later slice
      [...items.slice(0, 3), { id: '' }],
      [{ id: 'x'.repeat(600) }],
      [{ id: 'a' }, { id: 'b', meta: 'text' as never }],
    ];
    for (const bad of cases) {
      const packed = packCatalog(bad);
      expect(packed).not.toBeNull(); // well formed, so it goes packed: the worker's check finds it
      const expected = (() => { try { validateCatalog(bad, 'options.catalog'); } catch (e) { return e as Error; } return undefined; })();
      expect(expected).toBeInstanceOf(InvalidOptionsError);
      const err = await unpackCheckedCatalog(packed!, 'options.catalog').catch((e) => e);
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect(err.message).toBe(expected!.message);
      expect(err.details).toEqual((expected as InvalidOptionsError).details);
    }
    // A hand-made message: a non-finite price, and an extra key that would replace a checked id.
    const p = packCatalog([{ id: 'a', price: 1 }, { id: 'b' }])!;
    const nan: PackedCatalog = { ...p, price: Float64Array.from([Number.NaN, 0]) };
    await expect(unpackCheckedCatalog(nan, 'catalog')).rejects.toThrow('catalog[0].price');
    const sneaky: PackedCatalog = { ...p, extras: [[1, { id: 'a', note: 'n' }]] };
    const back = await unpackCheckedCatalog(sneaky, 'catalog');
    expect(itemsOf(back).map((x) => x.id)).toEqual(['a', 'b']);
    expect(back.idAt(1)).toBe('b');
    expect((back.at(1) as unknown as { note: string }).note).toBe('n');
  });

  it('the page\'s check (checkCatalogItems) refuses bad items as validateCatalog does and leaves repeated ids to the worker', () => {
    const dup = [{ id: 'a' }, { id: 'a' }];
    expect(checkCatalogItems(dup)).toBe(dup);
    for (const bad of [null, [{ id: '' }], [{ id: 'a', price: '3' }], [{ id: 'a' }, null], [{ id: 'a', meta: 1 }]]) {
      const expected = (() => { try { validateCatalog(bad); } catch (e) { return (e as Error).message; } return 'accepted'; })();
      expect(() => checkCatalogItems(bad)).toThrow(expected);
    }
  });

  it('leaves out keys that were undefined, as structured clone of the items would keep them as undefined', () => {
    const back = unpackCatalog(packCatalog([{ id: 'x', title: undefined, price: undefined }])!);
    expect(back).toEqual([{ id: 'x' }]);
    expect(Object.keys(back[0])).toEqual(['id']);
  });

  it('packs in slices as in one go, the event loop running between slices; declines a bad item in a later slice', async () => {
    const n = 2 * YIELD_EVERY_ITEMS + 123;
    const items: CatalogItem[] = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? { id: `s-${i}`, title: `t${i}`, price: i, available: i % 2 === 0 } : { id: `s-${i}`, category: `c${i % 7}`, brand: `b${i % 5}`, meta: { i } }));
    let turns = 0;
    let turning = true;
    const turn = () => { turns++; if (turning) void Promise.resolve(new Promise<void>((r) => { const c = new MessageChannel(); c.port1.onmessage = () => { c.port1.close(); r(); }; c.port2.postMessage(0); })).then(turn); };
    turn();
    const sliced = await packCatalogInSlices(items);
    turning = false;
    expect(turns).toBeGreaterThanOrEqual(3);
    expect(sliced).toEqual(packCatalog(items));
    expect(unpackCatalog(sliced!)).toEqual(items);
    expect(await packCatalogInSlices([...items, { id: 7 }])).toBeNull();
    expect(await packCatalogInSlices('items')).toBeNull();
  });

  it('declines what is not a well-formed catalog, so the worker validates and explains it', () => {
    for (const bad of [null, 'items', [1], [{ id: 7 }], [{ id: 'a', price: Number.NaN }], [{ id: 'a', price: '3' }],
      [{ id: 'a', available: 'yes' }], [{ id: 'a', category: 5 }], [{ id: 'a', title: {} }], [new (class Item { id = 'a'; })()]]) {
      expect(packCatalog(bad)).toBeNull();
    }
  });
});

describe('the packed form between a page and its worker', () => {
  /** A worker on a MessageChannel that records whether a message carried a packed catalog. */
  function recordingWorker() {
    const { port1, port2 } = new MessageChannel();
    let packedMessages = 0;
    port1.addEventListener('message', (ev) => { if (JSON.stringify(ev.data ?? null).includes('"packedCatalog"')) packedMessages++; });
    exposeEngine(port1 as unknown as Comlink.Endpoint, { fetch: fileFetch() });
    return { worker: port2 as unknown as Worker, packed: () => packedMessages, close: () => { port1.close(); port2.close(); } };
  }

  it('loads and replaces the catalog packed, with the same items in the lists', async () => {
    const w = recordingWorker();
    const catalog = fixtureCatalog().map((it, i) => (i === 0 ? { ...it, meta: { image: '/1.png' } } : it));
    const rec = await createRecommender({ worker: w.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog, dbName: freshDbName() });
    try {
      expect(w.packed()).toBe(1);
      expect(rec.engineInfo.catalogSize).toBe(catalog.length);
      const list = await rec.scene('home').recommend({ k: 53 });
      const first = list.items.find((x) => x.itemId === itemId(1));
      expect(first?.item).toEqual(catalog[0]);

      const next = catalog.slice(0, 20).map((it) => ({ ...it, available: it.id !== itemId(2) }));
      const info = await rec.setCatalog(next);
      expect(w.packed()).toBe(2);
      expect(info.catalogSize).toBe(20);
      const ids = (await rec.scene('home').recommend({ k: 20 })).items.map((x) => x.itemId);
      expect(ids).not.toContain(itemId(2));
      expect(ids.every((id) => next.some((it) => it.id === id))).toBe(true);

      // A bad catalog goes unpacked and gets the worker's typed error; the loaded catalog stays.
      const err = await rec.setCatalog([{ id: 'a' }, { id: 'a' }]).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect(err.message).toMatch(/twice/);
      expect(w.packed()).toBe(3); // well formed, so packed; the duplicate is the worker's finding
      expect((await rec.info()).catalogSize).toBe(20);
      await expect(rec.setCatalog([{ id: 'a', price: 'cheap' } as never])).rejects.toBeInstanceOf(InvalidOptionsError);
      expect(w.packed()).toBe(3);
    } finally {
      await rec.dispose();
      w.close();
    }
  });

  it('a load whose catalog repeats an id fails with the InvalidOptionsError of the one check; a bad item fails before a worker starts', async () => {
    const w = recordingWorker();
    const catalog = [...fixtureCatalog(), { id: itemId(3) }];
    try {
      const err = await createRecommender({ worker: w.worker, modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog, dbName: freshDbName() }).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect(err.message).toBe(`options.catalog lists the id "${itemId(3)}" twice (at 2 and ${catalog.length - 1}); ids must be unique.`);
      expect(w.packed()).toBe(1);
    } finally {
      w.close();
    }
    let spawned = 0;
    const bad = createRecommender({ worker: () => { spawned++; return recordingWorker().worker; }, modelUrl: FIXTURE_MODEL_URL, catalog: [{ id: 'a' }, { id: 'b', price: 'cheap' as never }] });
    await expect(bad).rejects.toThrow('options.catalog[1].price');
    expect(spawned).toBe(0);
  });
});

describe('the catalog checked beside the model load', () => {
  it('a bad catalog (plain or packed) ends a load whose weights never arrive with the catalog\'s error, not the timeout; a packed good one loads', async () => {
    const { createEngine } = await import('../../src/engine/index.js');
    const files = fileFetch();
    // The weights never arrive (until the load's signal ends the request).
    const hanging = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!url.endsWith('.bin')) return files(input, init);
      return new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    }) as typeof fetch;
    const n = YIELD_EVERY_ITEMS + 5;
    const bad: CatalogItem[] = [...Array.from({ length: n }, (_, i) => ({ id: `k-${i}` })), { id: 'k-7' }];
    for (const catalog of [bad, packCatalog(bad) as unknown as CatalogItem[]]) {
      const t0 = performance.now();
      const err = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog, dbName: freshDbName(), timeoutMs: 60_000, modelCache: 'off' }, { fetch: hanging }).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidOptionsError);
      expect(err.message).toBe(`options.catalog lists the id "k-7" twice (at 7 and ${n}); ids must be unique.`);
      expect(performance.now() - t0).toBeLessThan(30_000); // not the load's timeout
    }
    const good = fixtureCatalog();
    const engine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', catalog: packCatalog(good) as unknown as CatalogItem[], dbName: freshDbName(), modelCache: 'off' }, { fetch: files });
    try {
      expect((await engine.info()).catalogSize).toBe(good.length);
      const list = await engine.recommend('home', { k: 5 });
      expect(list.items.length).toBe(5);
      expect(list.items[0].item).toEqual(good.find((x) => x.id === list.items[0].itemId));
    } finally {
      await engine.dispose();
    }
  });
});
