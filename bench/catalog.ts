/**
 * The bench's catalog rule, shared by the bench page (bench/main.ts) and the peer's ONNX export
 * (scripts/bench-peer.ts), so both leave out the same items: catalog position i is the model
 * vocabulary's i-th item after the padding entry, with synthetic metadata; every 50th item is
 * unavailable.
 */
import type { CatalogItem } from '../src/index';

/** Whether the catalog item at position `i` is available (shown in lists). */
export const benchAvailable = (i: number): boolean => i % 50 !== 7;

/** The catalog item at position `i` with item id `id`. */
export const benchCatalogItem = (i: number, id: string): CatalogItem => ({
  id, category: `c${i % 37}`, brand: `b${i % 101}`, price: 5 + (i % 200), available: benchAvailable(i),
});

/** The catalog's item ids: a vocabulary's `itemIds` without its padding entry (row 0). */
export const catalogIds = (itemIds: readonly string[]): string[] => itemIds.slice(1);
