/**
 * The model vocabulary's item id -> model index map (1-based), completed once the load knows its
 * catalog. A million-item vocabulary indexed on its own is a million ids hashed into a table; a
 * catalog that lists exactly the vocabulary's items in the vocabulary's order (both exported from
 * one table, as is common) already has that table (its id -> position map, built by its own check):
 * its ids are the vocabulary's, and unique, so the vocabulary lends it (model index = position + 1)
 * and no second table of the same ids is built. Any other catalog, or none, has the vocabulary's
 * ids indexed in slices, with the duplicate check the loader has always made.
 */
import { ModelLoadError } from '../contract/errors.js';
import { validatedPositions } from '../contract/options.js';
import type { CatalogItems } from '../contract/catalog-wire.js';
import { yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';
import { IdIndex } from '../util/id-index.js';

/** A ReadonlyMap<string, number> whose values are another map's plus `shift`. */
export class ShiftedIndex implements ReadonlyMap<string, number> {
  constructor(private readonly map: ReadonlyMap<string, number>, private readonly shift: number) {}

  get(id: string): number | undefined {
    const p = this.map.get(id);
    return p === undefined ? undefined : p + this.shift;
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  get size(): number {
    return this.map.size;
  }

  forEach(callback: (value: number, key: string, map: ReadonlyMap<string, number>) => void, thisArg?: unknown): void {
    this.map.forEach((p, id) => callback.call(thisArg, p + this.shift, id, this));
  }

  *entries(): MapIterator<[string, number]> {
    for (const [id, p] of this.map) yield [id, p + this.shift];
  }

  *keys(): MapIterator<string> {
    yield* this.map.keys();
  }

  *values(): MapIterator<number> {
    for (const p of this.map.values()) yield p + this.shift;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }
}

/** How a VocabIndex got its table: its own, a catalog's, or none yet. */
export type VocabIndexSource = 'vocabulary' | 'catalog' | 'pending';

/**
 * Item id -> model index (1-based) of a checked vocabulary (`ids[0]` is the padding entry, left out).
 * Complete it once with `complete(catalog)` (or `index()`); until then a lookup indexes the
 * vocabulary at once, in one go.
 */
export class VocabIndex implements ReadonlyMap<string, number> {
  private map?: ReadonlyMap<string, number>;
  private how: VocabIndexSource = 'pending';
  private indexing?: Promise<void>;

  /** `where` names the vocabulary (its URL) in the error of an id it lists twice. */
  constructor(readonly ids: readonly string[], private readonly where = 'vocab.json') {}

  /** Where the table came from (`complete` decides). */
  get source(): VocabIndexSource {
    return this.how;
  }

  /**
   * Completes the index: lends `catalog`'s id -> position map when that catalog (a checked one:
   * src/contract/options.ts validatedPositions) lists exactly `ids[1..]` in order, else indexes the
   * vocabulary in slices (the event loop runs between them). Settles once, however often called.
   * @throws ModelLoadError when the vocabulary lists an id twice
   */
  complete(catalog?: ReadonlyArray<{ id: string }> | CatalogItems): Promise<void> {
    return (this.indexing ??= this.lendOrIndex(catalog));
  }

  /** Indexes the vocabulary's own ids (in slices), unless already complete. @throws ModelLoadError (an id listed twice) */
  index(): Promise<void> {
    return this.complete(undefined);
  }

  private async lendOrIndex(catalog?: ReadonlyArray<{ id: string }> | CatalogItems): Promise<void> {
    if (this.map) return;
    const positions = catalog ? validatedPositions(catalog) : undefined;
    if (catalog && positions && catalog.length === this.ids.length - 1 && await this.inOrder(catalog)) {
      this.map ??= new ShiftedIndex(positions, 1);
      if (this.how === 'pending') this.how = 'catalog';
      return;
    }
    const ids = this.ids;
    const index = IdIndex.empty(ids, 1);
    const repeated = (id: string): never => this.repeated(id);
    for (let i0 = 1; i0 < ids.length; i0 += YIELD_EVERY_ITEMS) {
      if (i0 > 1) await yieldToEventLoop();
      if (this.map) return; // a lookup meanwhile indexed it in one go
      index.add(i0, Math.min(ids.length, i0 + YIELD_EVERY_ITEMS), repeated);
    }
    this.map ??= index;
    if (this.how === 'pending') this.how = 'vocabulary';
  }

  /** The loader's error for an id listed twice (as it was when the loader indexed the vocabulary itself). */
  private repeated(id: string): never {
    const cause = `vocab.json lists the item id "${id}" twice`;
    throw new ModelLoadError(`${this.where} is not a valid vocabulary for this model: ${cause}.`, { url: this.where, cause });
  }

  /** Whether catalog[p].id === ids[p + 1] for every position (compared in slices). */
  private async inOrder(catalog: ReadonlyArray<{ id: string }> | CatalogItems): Promise<boolean> {
    const ids = this.ids;
    const idAt = Array.isArray(catalog) ? (p: number) => (catalog as ReadonlyArray<{ id: string }>)[p].id : (p: number) => (catalog as CatalogItems).idAt(p);
    for (let p0 = 0; p0 < catalog.length; p0 += YIELD_EVERY_ITEMS) {
      if (p0 > 0) await yieldToEventLoop();
      const p1 = Math.min(catalog.length, p0 + YIELD_EVERY_ITEMS);
      for (let p = p0; p < p1; p++) if (idAt(p) !== ids[p + 1]) return false;
    }
    return true;
  }

  /** The table, indexing the vocabulary at once when nothing completed it yet. */
  private table(): ReadonlyMap<string, number> {
    if (!this.map) {
      this.map = IdIndex.build(this.ids, 1, (id) => this.repeated(id));
      this.how = 'vocabulary';
    }
    return this.map;
  }

  get(id: string): number | undefined {
    return this.table().get(id);
  }

  has(id: string): boolean {
    return this.table().has(id);
  }

  get size(): number {
    return Math.max(0, this.ids.length - 1);
  }

  forEach(callback: (value: number, key: string, map: ReadonlyMap<string, number>) => void, thisArg?: unknown): void {
    this.table().forEach((m, id) => callback.call(thisArg, m, id, this));
  }

  entries(): MapIterator<[string, number]> {
    return this.table().entries();
  }

  keys(): MapIterator<string> {
    return this.table().keys();
  }

  values(): MapIterator<number> {
    return this.table().values();
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }
}
