/**
 * The vocabulary's id index (src/model/vocab-index.ts): a checked catalog in the vocabulary's order
 * lends its id map, any other catalog (or none) has the vocabulary indexed; the answers are the
 * same either way; an id listed twice in vocab.json still fails the load with ModelLoadError.
 */
import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/index.js';
import { createEngine } from '../../src/engine/index.js';
import { validateCatalog } from '../../src/contract/options.js';
import { loadModel } from '../../src/model/loader.js';
import { ShiftedIndex, VocabIndex } from '../../src/model/vocab-index.js';
import { FIXTURE_MODEL_URL, fileFetch, freshDbName } from './helpers.js';

const VOCAB = ['', ...Array.from({ length: 3000 }, (_, i) => (i % 2 ? `sku-${i}` : `${i}-ü`))];
const asMap = (ids: string[]) => new Map(ids.slice(1).map((id, i) => [id, i + 1]));

function expectSameAs(index: ReadonlyMap<string, number>, map: Map<string, number>): void {
  expect(index.size).toBe(map.size);
  for (const [id, m] of map) expect(index.get(id)).toBe(m);
  for (const other of ['', 'x', 'sku-0', 'sku-3001']) {
    expect(index.get(other)).toBeUndefined();
    expect(index.has(other)).toBe(false);
  }
  expect(index.has(VOCAB[7])).toBe(true);
  expect([...index]).toEqual([...map]);
  expect([...index.keys()]).toEqual([...map.keys()]);
  expect([...index.values()]).toEqual([...map.values()]);
  const seen: Array<[string, number]> = [];
  index.forEach((m, id) => seen.push([id, m]));
  expect(seen).toEqual([...map]);
}

describe('VocabIndex', () => {
  it('takes a checked catalog\'s id map when the catalog lists the vocabulary\'s items in order', async () => {
    const index = new VocabIndex(VOCAB);
    expect(index.source).toBe('pending');
    await index.complete(validateCatalog(VOCAB.slice(1).map((id) => ({ id }))));
    expect(index.source).toBe('catalog');
    expectSameAs(index, asMap(VOCAB));
  });

  it('indexes the vocabulary for a catalog in another order, a partial one, an unchecked one, or none', async () => {
    const swapped = VOCAB.slice(1);
    [swapped[10], swapped[11]] = [swapped[11], swapped[10]];
    const catalogs = [
      validateCatalog(swapped.map((id) => ({ id }))),
      validateCatalog(VOCAB.slice(1, -1).map((id) => ({ id }))), // one item short
      validateCatalog([...VOCAB.slice(1), 'new'].map((id) => ({ id }))), // one more
      VOCAB.slice(1).map((id) => ({ id })), // in order but not checked: no id map to lend
      undefined,
    ];
    for (const catalog of catalogs) {
      const index = new VocabIndex(VOCAB);
      await index.complete(catalog);
      expect(index.source).toBe('vocabulary');
      expectSameAs(index, asMap(VOCAB));
    }
  });

  it('completes once; a lookup before that indexes the vocabulary at once', async () => {
    const index = new VocabIndex(VOCAB);
    expect(index.get(VOCAB[5])).toBe(5);
    expect(index.source).toBe('vocabulary');
    await index.complete(validateCatalog(VOCAB.slice(1).map((id) => ({ id }))));
    expect(index.source).toBe('vocabulary');
    const other = new VocabIndex(VOCAB);
    const a = other.index();
    expect(other.complete()).toBe(a);
    await a;
    expectSameAs(other, asMap(VOCAB));
  });

  it('an id listed twice in the vocabulary is a ModelLoadError naming it, however it is indexed', async () => {
    const ids = ['', 'a', 'b', 'c', 'b'];
    const err = await new VocabIndex(ids, 'https://shop.example/m/vocab.json').index().catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toBe('https://shop.example/m/vocab.json is not a valid vocabulary for this model: vocab.json lists the item id "b" twice.');
    expect(() => new VocabIndex(ids).get('a')).toThrow(ModelLoadError);
  });

  it('ShiftedIndex answers with the other map\'s values plus the shift', () => {
    const map = new Map([['x', 0], ['y', 1]]);
    const s = new ShiftedIndex(map, 1);
    expectSameAs(new ShiftedIndex(new Map([...asMap(VOCAB)].map(([id, m]) => [id, m - 1])), 1), asMap(VOCAB));
    expect([...s.entries()]).toEqual([['x', 1], ['y', 2]]);
  });
});

describe('the load', () => {
  it('loadModel refuses a vocab.json that lists an id twice, as before', async () => {
    const real = fileFetch();
    const vocab = JSON.parse(readFileSync(fileURLToPath(FIXTURE_MODEL_URL.replace('model.json', 'vocab.json')), 'utf8'));
    vocab.itemIds[9] = vocab.itemIds[3];
    const fetchDup = (async (input: RequestInfo | URL, init?: RequestInit) =>
      (String(input).endsWith('vocab.json') ? new Response(JSON.stringify(vocab)) : real(input, init))) as typeof fetch;
    const err = await loadModel(FIXTURE_MODEL_URL, { caches: null, fetch: fetchDup }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain(`lists the item id "${vocab.itemIds[3]}" twice`);
    const viaEngine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), catalog: vocab.itemIds.slice(1, 9).map((id: string) => ({ id })) },
      { fetch: fetchDup, caches: null }).catch((e) => e);
    expect(viaEngine).toBeInstanceOf(ModelLoadError);
    expect(viaEngine.message).toContain('twice');
  });

  it('a catalog in the vocabulary\'s order and the same items shuffled give the same lists', { timeout: 60_000 }, async () => {
    const vocab = JSON.parse(readFileSync(fileURLToPath(FIXTURE_MODEL_URL.replace('model.json', 'vocab.json')), 'utf8')) as { itemIds: string[] };
    const inOrder = vocab.itemIds.slice(1).map((id, i) => ({ id, category: `c${i % 4}` }));
    const shuffled = [...inOrder].reverse();
    const lists: string[][][] = [];
    for (const catalog of [inOrder, shuffled]) {
      const engine = await createEngine({ modelUrl: FIXTURE_MODEL_URL, backend: 'cpu', dbName: freshDbName(), catalog }, { fetch: fileFetch(), caches: null });
      try {
        await engine.track(['item-03', 'item-17', 'item-04'].map((itemId) => ({ type: 'view' as const, itemId })));
        const home = await engine.recommend('home', { k: 10, diversity: 0 });
        const product = await engine.recommend('product', { itemId: 'item-17', k: 10, diversity: 0 });
        lists.push([home.items.map((x) => x.itemId), product.items.map((x) => x.itemId)]);
      } finally {
        await engine.dispose();
      }
    }
    expect(lists[0][0]).toHaveLength(10);
    expect(lists[1]).toEqual(lists[0]);
  });
});
