/**
 * Building the catalog at scale: the popularity order's packed-key sort, the storage `auto` picks,
 * and the matrix built from the loader's JS item table (no gather on the backend) giving the same
 * rows as the one gathered through TF.js.
 */
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { byPopularity, Catalog } from '../../src/engine/catalog.js';
import { loadModel } from '../../src/model/loader.js';
import { resolveEmbeddingDtype } from '../../src/retrieval/matrix.js';
import { fileFetch } from './helpers.js';
import { packCatalog, unpackCheckedCatalog } from '../../src/contract/catalog-wire.js';
import { validateCatalog, validatedPositions } from '../../src/contract/options.js';

describe('byPopularity', () => {
  it('orders positions by popularity, descending, ties in catalog order, as the comparator sort does', { timeout: 30_000 }, () => {
    let s = 3;
    const r = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
    for (const n of [0, 1, 7, 5000, 200_000]) {
      // Few distinct values (many ties), zeros, and values of every magnitude.
      const pop = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : i % 3 === 0 ? Math.round(r() * 4) / 4 : r() ** 8));
      const ref = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => pop[b] - pop[a] || a - b);
      expect([...byPopularity(pop)]).toEqual([...ref]);
    }
  });
});

describe("embeddingDtype 'auto'", () => {
  it('is float32 (exact) on CPU backends where the int8 prefilter runs, int8 from AUTO_INT8_MIN_ROWS elsewhere', () => {
    expect(resolveEmbeddingDtype('auto', 1_000_000, 64, 'wasm')).toBe('float32');
    expect(resolveEmbeddingDtype('auto', 1_000_000, 64, 'cpu')).toBe('float32');
    expect(resolveEmbeddingDtype('auto', 1_000_000, 64, 'webgpu')).toBe('int8');
    expect(resolveEmbeddingDtype('auto', 1_000_000, 62, 'wasm')).toBe('int8'); // no prefilter for d % 4 != 0
    expect(resolveEmbeddingDtype('auto', 20_000, 64, 'webgpu')).toBe('float32');
    expect(resolveEmbeddingDtype('int8', 20_000, 64, 'wasm')).toBe('int8');
  });
});

describe('catalog rows of a given catalog', () => {
  it('map each item to its model index whatever the order: runs in vocabulary order, unknown ids between, jumps back', { timeout: 60_000 }, async () => {
    const m = await loadModel(pathToFileURL(resolve(import.meta.dirname, '../../models/games-sasrec/model.json')).href, { fetch: fileFetch(), cache: 'off' });
    try {
      const ids = m.vocab.itemIds;
      const order: string[] = [];
      for (let i = 1; i < 400; i++) order.push(ids[i]); // a run in vocabulary order
      order.push('new-1', ids[400], 'new-2', 'new-3', ids[401]); // unknown ids inside a run
      for (let i = 9000; i > 8000; i -= 7) order.push(ids[i]); // descending, with gaps
      for (let i = ids.length - 50; i < ids.length; i++) order.push(ids[i]); // up to the last id
      order.push(ids[450], ids[451], ids[600]); // back near the start
      const catalog = order.map((id) => ({ id }));
      const cat = await Catalog.build(catalog, m, { embeddingDtype: 'float32' });
      try {
        const expected = order.map((id) => m.modelIndex.get(id) ?? 0).filter((x) => x > 0);
        expect([...cat.modelIdxOfRow]).toEqual(expected);
        for (const [pos, id] of order.entries()) {
          const known = m.modelIndex.get(id);
          expect(cat.rowOfPos[pos] >= 0, id).toBe(known !== undefined);
          if (known !== undefined) expect(cat.modelIdxOfRow[cat.rowOfPos[pos]]).toBe(known);
        }
        expect(cat.coverage.learned).toBe(expected.length);
      } finally {
        cat.dispose();
      }
    } finally {
      tf.dispose(Object.values(m.weights));
    }
  });
});

describe('catalog items as the engine holds them', () => {
  it('a packed catalog is read in place, and a rebuild from a catalog\'s items (a backend switch) reuses its checked id map', { timeout: 60_000 }, async () => {
    const m = await loadModel(pathToFileURL(resolve(import.meta.dirname, '../../models/games-sasrec/model.json')).href, { fetch: fileFetch(), cache: 'off' });
    const built: Catalog[] = [];
    try {
      const ids = m.vocab.itemIds;
      const items = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? { id: `new-${i}`, category: 'c' } : { id: ids[1 + i * 7], category: `c${i % 4}`, price: i }));
      const packed = await unpackCheckedCatalog(packCatalog(items)!, 'options.catalog');
      const listed = validateCatalog(items);
      for (const source of [packed, listed]) {
        const cat = await Catalog.build(source, m, { embeddingDtype: 'float32' });
        built.push(cat);
        expect(cat.posById).toBe(validatedPositions(source)); // the check's map, not a second one
        expect(cat.items.length).toBe(items.length);
        expect(cat.items.idAt(4)).toBe(items[4].id);
        expect(cat.items.field(4, 'category')).toBe('c0');
        expect(cat.items.at(5)).toEqual(items[5]);
        const again = await Catalog.build(cat.items, m, { embeddingDtype: 'float32' });
        built.push(again);
        expect(again.posById).toBe(cat.posById);
        expect([...again.modelIdxOfRow]).toEqual([...cat.modelIdxOfRow]);
        expect(again.coverage).toEqual(cat.coverage);
      }
      expect([...built[0].modelIdxOfRow]).toEqual([...built[2].modelIdxOfRow]);
      expect(built[0].positionsWith('category', 'c1')).toEqual(built[2].positionsWith('category', 'c1'));
    } finally {
      for (const c of built) c.dispose();
      tf.dispose(Object.values(m.weights));
    }
  });
});

describe('catalog matrix from the JS item table', () => {
  it('scores exactly as the matrix gathered through TF.js, for the model\'s items in order and for a reordered subset', { timeout: 60_000 }, async () => {
    const m = await loadModel(pathToFileURL(resolve(import.meta.dirname, '../../models/games-sasrec/model.json')).href, { fetch: fileFetch(), cache: 'off' });
    expect(m.itemTable).toBeDefined();
    const modelIndex = m.modelIndex;
    const ids = m.vocab.itemIds.slice(1);
    const subset = ids.filter((_, i) => i % 3 === 0).reverse().map((id) => ({ id }));
    const d = m.header.config.hiddenDim;
    const q = Float32Array.from({ length: d }, (_, k) => Math.sin(k + 1));
    try {
      for (const catalog of [undefined, subset]) {
        const viaTable = await Catalog.build(catalog, { ...m, modelIndex }, { embeddingDtype: 'auto' });
        const viaTf = await Catalog.build(catalog, { ...m, itemTable: undefined, modelIndex }, { embeddingDtype: 'auto' });
        try {
          expect(viaTable.rows).toBe(viaTf.rows);
          const a = await viaTable.matrix!.score(q, { kind: 'all' });
          const b = await viaTf.matrix!.score(q, { kind: 'all' });
          expect([...a.scores[0]]).toEqual([...b.scores[0]]);
          const ta = await viaTable.matrix!.score(q, { kind: 'top', n: 500 });
          const tb = await viaTf.matrix!.score(q, { kind: 'top', n: 500 });
          expect([...ta.rows!]).toEqual([...tb.rows!]);
        } finally {
          viaTable.dispose();
          viaTf.dispose();
        }
      }
    } finally {
      tf.dispose(Object.values(m.weights));
    }
  });
});
