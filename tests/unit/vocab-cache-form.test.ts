/**
 * The vocabulary's cached form (src/model/vocab-cache-form.ts): it reads back equal to the
 * vocabulary, whatever characters the ids hold; the model cache stores it under its own key and a
 * returning load reads it (the same vocabulary and lists as from vocab.json); a cache written before
 * the form (the JSON copy under the vocabulary's URL) is still read; a broken copy is evicted.
 */
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { ModelVocab } from '../../src/model/artifacts.js';
import { loadModel, type LoadModelOptions } from '../../src/model/loader.js';
import { VOCAB_CACHE_FORM, vocabCacheUrl, vocabFromCacheText, vocabToCacheText } from '../../src/model/vocab-cache-form.js';
import { FIXTURE_MODEL_URL, fileFetch } from './helpers.js';
import { MemoryCacheStorage } from './memory-cache.js';

const VOCAB_URL = FIXTURE_MODEL_URL.replace('model.json', 'vocab.json');
const CACHE_NAME = `scenerec-model:${FIXTURE_MODEL_URL}#tiny-fixture-1`;

describe('the cached form', () => {
  it('reads back equal to the vocabulary, with the features section and any id characters', async () => {
    const vocab: ModelVocab = {
      itemIds: ['', 'a', 'sku 2', 'ü-🙂', 'line\nbreak', '"quoted"', '\\', ''.padEnd(3, 'x')],
      popularity: [0, 1, 2.5, 3, 0, 7, 1e6, 2],
      features: { categoryIds: ['', 'c\n1'], brandIds: [''], priceEdges: [], itemCategory: [0, 1, 1, 1, 0, 0, 1, 1], itemBrand: [0, 0, 0, 0, 0, 0, 0, 0], itemPrice: [0, 1, 1, 1, 1, 1, 1, 1] },
    };
    const text = await vocabToCacheText(vocab);
    expect(text).toBeDefined();
    expect(text!.includes('\n')).toBe(true);
    expect(vocabFromCacheText(text!)).toEqual(vocab);
    const many = { itemIds: ['', ...Array.from({ length: 200_000 }, (_, i) => `id-${i}`)], popularity: Array.from({ length: 200_001 }, (_, i) => i % 7) };
    expect(vocabFromCacheText((await vocabToCacheText(many))!)).toEqual(many);
  });

  it('is not made when every separator occurs in some id; a text not in the form is refused', async () => {
    const vocab = { itemIds: ['', 'a\nb', 'c\u0001', '\u001f', 'd\u0000'], popularity: [0, 1, 1, 1, 1] };
    expect(await vocabToCacheText(vocab)).toBeUndefined();
    expect(() => vocabFromCacheText('{"itemIds":[]}')).toThrow('no header line');
    expect(() => vocabFromCacheText('{"popularity":[0]}\n')).toThrow('names no separator');
  });
});

describe('the model cache', () => {
  const load = (o: LoadModelOptions) => loadModel(FIXTURE_MODEL_URL, { fetch: fileFetch(), ...o });
  const dispose = (m: { weights: Record<string, tf.Tensor> }) => tf.dispose(Object.values(m.weights));

  it('stores the vocabulary in the form under its own key; the returning load reads it, with no request', async () => {
    const store = new MemoryCacheStorage();
    const first = await load({ caches: store.storage });
    dispose(first);
    const entries = store.caches.get(CACHE_NAME)!.entries;
    expect(entries.has(vocabCacheUrl(VOCAB_URL))).toBe(true);
    expect(vocabCacheUrl(VOCAB_URL)).toContain(VOCAB_CACHE_FORM);
    expect(entries.has(VOCAB_URL)).toBe(false);
    const log: string[] = [];
    const real = fileFetch();
    const second = await load({ caches: store.storage, fetch: ((u: RequestInfo | URL, i?: RequestInit) => { log.push(String(u)); return real(u, i); }) as typeof fetch });
    dispose(second);
    expect(second.cache.hit).toBe(true);
    expect(log).toEqual([]);
    expect(second.vocab).toEqual(first.vocab);
    expect([...second.modelIndex]).toEqual([...first.modelIndex]);
  });

  it('reads a cache written before the form (the JSON copy under the vocabulary URL)', async () => {
    const store = new MemoryCacheStorage();
    dispose(await load({ caches: store.storage }));
    const entries = store.caches.get(CACHE_NAME)!.entries;
    const json = new Uint8Array(await (await fileFetch()(VOCAB_URL)).arrayBuffer());
    entries.delete(vocabCacheUrl(VOCAB_URL));
    entries.set(VOCAB_URL, { body: json, headers: [['content-type', 'application/json']] });
    const log: string[] = [];
    const real = fileFetch();
    const again = await load({ caches: store.storage, fetch: ((u: RequestInfo | URL, i?: RequestInit) => { log.push(String(u)); return real(u, i); }) as typeof fetch });
    dispose(again);
    expect(again.cache.hit).toBe(true);
    expect(log).toEqual([]);
    expect(again.vocab.itemIds[1]).toBe('item-01');
  });

  it('a broken cached copy is evicted and the model fetched again', async () => {
    const store = new MemoryCacheStorage();
    dispose(await load({ caches: store.storage }));
    store.caches.get(CACHE_NAME)!.entries.set(vocabCacheUrl(VOCAB_URL), { body: new TextEncoder().encode('not the form'), headers: [] });
    const again = await load({ caches: store.storage });
    dispose(again);
    expect(again.cache.hit).toBe(false);
    expect(again.cache.error).toMatch(/evicted/);
    expect(again.vocab.itemIds[1]).toBe('item-01');
  });
});
