/**
 * Shared helpers for the Node unit tests: load the fixture model from disk through a
 * `fetch` hook (Node's fetch cannot read file:// URLs), and build catalogs for it.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CatalogItem } from '../../src/contract/protocol.js';

/** file:// URL of the tiny random-weights fixture model (see tests/fixtures/tiny-model/README.md). */
export const FIXTURE_MODEL_URL = pathToFileURL(fileURLToPath(new URL('../fixtures/tiny-model/model.json', import.meta.url))).href;

/** A fetch that serves file:// URLs from disk (404 for missing files) and counts requests. */
export function fileFetch(log: string[] = []): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    log.push(url);
    if (!url.startsWith('file:')) return new Response('not found', { status: 404 });
    try {
      const body = await readFile(fileURLToPath(url));
      return new Response(body, { status: 200 });
    } catch {
      return new Response('not found', { status: 404 });
    }
  }) as typeof fetch;
}

/** Fixture item id for a 1-based model index. */
export const itemId = (i: number): string => `item-${String(i).padStart(2, '0')}`;
/** Fixture cluster (0..5) of an item id: items 1-10 are cluster 0, 11-20 cluster 1, ... */
export const clusterOf = (id: string): number => Math.floor((Number(id.slice(5)) - 1) / 10);

/**
 * A catalog over the fixture: items 1..50 known to the model (category = cluster), plus
 * `cold-1`..`cold-3` (category cat-0) that the model has never seen. Items 51..60 are left
 * out on purpose: the model knows them but the shop does not sell them.
 */
export function fixtureCatalog(): CatalogItem[] {
  const items: CatalogItem[] = [];
  for (let i = 1; i <= 50; i++) {
    items.push({ id: itemId(i), title: `Item ${i}`, category: `cat-${clusterOf(itemId(i))}`, brand: i % 2 ? 'odd' : 'even', price: i });
  }
  for (let j = 1; j <= 3; j++) items.push({ id: `cold-${j}`, category: 'cat-0', price: 100 + j });
  return items;
}

let dbCounter = 0;
/** A fresh IndexedDB name per test, so tests never share history. */
export const freshDbName = (): string => `scenerec-test-${process.pid}-${++dbCounter}`;
