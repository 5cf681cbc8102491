/**
 * The catalog's compact wire form, page -> worker (used by both sides: src/client/supervisor.ts
 * packs, src/engine/host.ts unpacks). Structured clone of an array of item objects costs the page's
 * main thread and the worker a per-object walk; at a million items that is seconds of the cold
 * start. Packed, the catalog is a few strings and typed arrays (the arrays transferred, not copied):
 * ids and titles as one string each with end offsets, category and brand as a dictionary with an
 * index per item, price and availability as typed arrays, and every other key (meta, a shop's own
 * fields) as a sparse list of the items that have one, so unpacking gives back equal items.
 *
 * A page sends it only to a worker whose pong names CATALOG_WIRE_VERSION (an older worker gets the
 * plain array), and only for input that is a well-formed catalog: anything else goes as it is, so
 * the worker's validation reports the same typed error as before.
 */
import type { CatalogItem } from './protocol.js';
import { MAX_ITEM_ID_LENGTH } from './defaults.js';
import { duplicateIdError, explainCatalogItem, markCheckedCatalog, validCatalogItem } from './options.js';
import { yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';
import { IdIndex } from '../util/id-index.js';

/** Version of the packed form; the worker's pong names the one it reads (PONG message, field CATALOG_WIRE). */
export const CATALOG_WIRE_VERSION = 1;
/** The pong's field that names the catalog wire version a worker reads. */
export const CATALOG_WIRE = 'scenerecCatalogWire';

/** Bits of PackedCatalog.present, per item. */
const TITLE = 1, PRICE = 2, AVAILABLE = 4, AVAILABLE_TRUE = 8;

/** A catalog packed for the wire (see the file comment). */
export interface PackedCatalog {
  readonly packedCatalog: typeof CATALOG_WIRE_VERSION;
  readonly count: number;
  /** Every id, concatenated; item i is ids.slice(idEnds[i - 1] ?? 0, idEnds[i]). */
  readonly ids: string;
  readonly idEnds: Uint32Array;
  /** Titles concatenated the same way (an item without one adds nothing; its TITLE bit is unset). */
  readonly titles: string;
  readonly titleEnds: Uint32Array;
  /** Distinct categories and brands; item i has categories[category[i]], or none when -1. */
  readonly categories: string[];
  readonly category: Int32Array;
  readonly brands: string[];
  readonly brand: Int32Array;
  readonly price: Float64Array;
  /** Per item: which optional fields it has (TITLE, PRICE, AVAILABLE, AVAILABLE_TRUE bits). */
  readonly present: Uint8Array;
  /** Items with other keys (meta, the shop's own fields): [position, those keys]. */
  readonly extras: Array<[number, Record<string, unknown>]>;
}

const KNOWN = new Set(['id', 'title', 'category', 'brand', 'price', 'available']);
/** KNOWN.has(key), as comparisons: several times cheaper than a Set lookup in the per-item key walk. */
const isKnownKey = (key: string): boolean =>
  key === 'id' || key === 'category' || key === 'brand' || key === 'price' || key === 'available' || key === 'title';

/** A dictionary builder: the index of each distinct string. */
function dictionary(): { values: string[]; index(v: string): number } {
  const map = new Map<string, number>();
  const values: string[] = [];
  return {
    values,
    index(v) {
      let i = map.get(v);
      if (i === undefined) { i = values.length; values.push(v); map.set(v, i); }
      return i;
    },
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A catalog's packing, item range by item range: `add(from, to)` packs those items (false when one
 * is not packable: see packCatalog), `done()` gives the packed form of every item added.
 */
function catalogPacker(catalog: readonly unknown[]): { add(from: number, to: number): boolean; done(): PackedCatalog } {
  const n = catalog.length;
  const ids: string[] = new Array(n);
  const titles: string[] = [];
  const idEnds = new Uint32Array(n), titleEnds = new Uint32Array(n);
  const category = new Int32Array(n), brand = new Int32Array(n);
  const price = new Float64Array(n), present = new Uint8Array(n);
  const cats = dictionary(), brands = dictionary();
  const extras: Array<[number, Record<string, unknown>]> = [];
  let idLen = 0, titleLen = 0;
  const add = (from: number, to: number): boolean => {
    for (let i = from; i < to; i++) {
      const item: unknown = catalog[i];
      if (!isPlainObject(item)) return false;
      const { id, title, category: c, brand: b, price: p, available: a } = item;
      if (typeof id !== 'string') return false;
      ids[i] = id;
      idEnds[i] = idLen += id.length;
      let bits = 0;
      if (title !== undefined) {
        if (typeof title !== 'string') return false;
        titles.push(title);
        titleLen += title.length;
        bits |= TITLE;
      }
      titleEnds[i] = titleLen;
      if (c !== undefined && typeof c !== 'string') return false;
      category[i] = c === undefined ? -1 : cats.index(c);
      if (b !== undefined && typeof b !== 'string') return false;
      brand[i] = b === undefined ? -1 : brands.index(b);
      if (p !== undefined) {
        if (typeof p !== 'number' || !Number.isFinite(p)) return false;
        price[i] = p;
        bits |= PRICE;
      }
      if (a !== undefined) {
        if (typeof a !== 'boolean') return false;
        bits |= AVAILABLE | (a ? AVAILABLE_TRUE : 0);
      }
      present[i] = bits;
      let rest: Record<string, unknown> | undefined;
      for (const key in item) {
        if (isKnownKey(key) || !Object.prototype.hasOwnProperty.call(item, key)) continue;
        (rest ??= {})[key] = item[key];
      }
      if (rest) extras.push([i, rest]);
    }
    return true;
  };
  const done = (): PackedCatalog => ({
    packedCatalog: CATALOG_WIRE_VERSION, count: n, ids: ids.join(''), idEnds, titles: titles.join(''), titleEnds,
    categories: cats.values, category, brands: brands.values, brand, price, present, extras,
  });
  return { add, done };
}

/**
 * Packs `catalog`, or returns null when it is not an array of plain items with string ids,
 * string title/category/brand, finite number price and boolean availability (then the plain array
 * goes, and the worker's validation explains what is wrong).
 */
export function packCatalog(catalog: unknown): PackedCatalog | null {
  if (!Array.isArray(catalog)) return null;
  const packer = catalogPacker(catalog);
  return packer.add(0, catalog.length) ? packer.done() : null;
}

/**
 * packCatalog in slices of YIELD_EVERY_ITEMS items with the event loop run between them: on the
 * page, a million items are a long task otherwise, and a worker the page has just created does not
 * start its script while the page's thread is held.
 */
export async function packCatalogInSlices(catalog: unknown): Promise<PackedCatalog | null> {
  if (!Array.isArray(catalog)) return null;
  const packer = catalogPacker(catalog);
  for (let i = 0; i < catalog.length; i += YIELD_EVERY_ITEMS) {
    if (i > 0) await yieldToEventLoop();
    if (!packer.add(i, Math.min(catalog.length, i + YIELD_EVERY_ITEMS))) return null;
  }
  return packer.done();
}

/** The buffers of a packed catalog, to transfer instead of copy. */
export function packedBuffers(p: PackedCatalog): ArrayBuffer[] {
  return [p.idEnds, p.titleEnds, p.category, p.brand, p.price, p.present].map((a) => a.buffer as ArrayBuffer);
}

/** Whether `v` is a packed catalog (of the version this code reads). */
export function isPackedCatalog(v: unknown): v is PackedCatalog {
  return typeof v === 'object' && v !== null && (v as Partial<PackedCatalog>).packedCatalog === CATALOG_WIRE_VERSION;
}

/** The items of a packed catalog, equal to the ones packed (keys that were undefined are left out). */
export function unpackCatalog(p: PackedCatalog): CatalogItem[] {
  const items: CatalogItem[] = new Array(p.count);
  unpackItems(p, items, 0, p.count);
  return withExtras(p, items);
}

/**
 * `unpackCatalog` in slices of YIELD_EVERY_ITEMS items, letting the event loop run between them
 * (a worker keeps answering its liveness pings while it unpacks a million items).
 */
export async function unpackCatalogInSlices(p: PackedCatalog): Promise<CatalogItem[]> {
  const items: CatalogItem[] = new Array(p.count);
  for (let i = 0; i < p.count; i += YIELD_EVERY_ITEMS) {
    if (i > 0) await yieldToEventLoop();
    unpackItems(p, items, i, Math.min(p.count, i + YIELD_EVERY_ITEMS));
  }
  return withExtras(p, items);
}

/**
 * A catalog's items by position, as the engine reads them (src/engine/catalog.ts): a plain array's
 * (`ListedItems`), or a packed catalog's (`PackedItems`), whose item objects are made only when a
 * call reads them.
 */
export interface CatalogItems {
  readonly length: number;
  /** The item at catalog position `pos` (0 <= pos < length). */
  at(pos: number): CatalogItem;
  /** Its id, without making the item. */
  idAt(pos: number): string;
  /** Its category or brand, without making the item. */
  field(pos: number, key: 'category' | 'brand'): string | undefined;
}

/** A plain array's items. */
export class ListedItems implements CatalogItems {
  constructor(readonly list: readonly CatalogItem[]) {}
  get length(): number { return this.list.length; }
  at(pos: number): CatalogItem { return this.list[pos]; }
  idAt(pos: number): string { return this.list[pos].id; }
  field(pos: number, key: 'category' | 'brand'): string | undefined { return this.list[pos][key]; }
}

/**
 * A packed catalog's items, read in place: an item object is made the first time it is read (and
 * kept), so a million-item catalog costs the worker its ids and the packed arrays, not a million
 * objects made at load. The items equal `unpackCatalog`'s. Made by `unpackCheckedCatalog` only.
 */
export class PackedItems implements CatalogItems {
  private readonly made: Array<CatalogItem | undefined>;

  /** @internal */
  constructor(private readonly packed: PackedCatalog, private readonly ids: readonly string[], private readonly extraOf: ReadonlyMap<number, Record<string, unknown>>) {
    this.made = new Array(packed.count);
  }

  get length(): number { return this.packed.count; }

  at(pos: number): CatalogItem {
    let item = this.made[pos];
    if (item === undefined) {
      const one: CatalogItem[] = [];
      unpackItems(this.packed, one, pos, pos + 1, pos);
      item = one[0];
      const rest = this.extraOf.get(pos);
      if (rest) copyExtras(item, rest);
      this.made[pos] = item;
    }
    return item;
  }

  idAt(pos: number): string { return this.ids[pos]; }

  field(pos: number, key: 'category' | 'brand'): string | undefined {
    const made = this.made[pos];
    if (made) return made[key];
    const { category, categories, brand, brands } = this.packed;
    const i = key === 'category' ? category[pos] : brand[pos];
    return i >= 0 ? (key === 'category' ? categories[i] : brands[i]) : undefined;
  }
}

/** Only the keys packCatalog puts in extras (a hand-made message cannot change an id after its check). */
function copyExtras(item: CatalogItem, rest: Record<string, unknown>): void {
  for (const key in rest) if (!KNOWN.has(key) && Object.prototype.hasOwnProperty.call(rest, key)) (item as unknown as Record<string, unknown>)[key] = rest[key];
}

/**
 * The worker's unpacking: checks the catalog as validateCatalog does (src/contract/options.ts), in
 * slices (the event loop runs between them): ids non-empty, not too long and unique, prices finite,
 * the items with other keys by the full rules; the typed fields need no other check (the form holds
 * only strings, numbers and bits). Throws the InvalidOptionsError validateCatalog would throw,
 * naming `where`. Returns the items read in place (`PackedItems`: no object per item is made here),
 * registered as checked with the id -> position map the engine's catalog reuses, so nothing walks
 * the million items again.
 */
export async function unpackCheckedCatalog(p: PackedCatalog, where = 'catalog'): Promise<PackedItems> {
  const n = p.count;
  const ids: string[] = new Array(n);
  const seen = IdIndex.empty(ids);
  const repeated = (id: string, first: number, k: number): never => { throw duplicateIdError(where, id, first, k); };
  const { idEnds, price, present } = p;
  const items = new PackedItems(p, ids, new Map(p.extras));
  // A bad item is explained from its unpacked form, with the message validateCatalog gives it.
  const explain = (k: number): never => explainCatalogItem(items.at(k), k, where);
  let start = 0;
  for (let i = 0; i < n; i += YIELD_EVERY_ITEMS) {
    if (i > 0) await yieldToEventLoop();
    const to = Math.min(n, i + YIELD_EVERY_ITEMS);
    for (let k = i; k < to; k++) {
      const end = idEnds[k];
      const length = end - start;
      if (length === 0 || length > MAX_ITEM_ID_LENGTH || ((present[k] & PRICE) !== 0 && !Number.isFinite(price[k]))) explain(k);
      ids[k] = p.ids.slice(start, end);
      start = end;
      seen.add(k, k + 1, repeated);
    }
  }
  for (const [i] of p.extras) if (!validCatalogItem(items.at(i))) explainCatalogItem(items.at(i), i, where);
  markCheckedCatalog(items, seen);
  return items;
}

/**
 * Unpacks items [from, to) into `items` from index `from - shift` on (the keys other than `extras`). The usual shapes (only an
 * id; every optional field; every one but the title) are made as one object literal each: the
 * same keys in the same order as the general path adds them one by one, at a fraction of its cost
 * (no shape change per added key, a million times over).
 */
function unpackItems(p: PackedCatalog, items: CatalogItem[], from: number, to: number, shift = 0): void {
  const { ids, idEnds, titles, titleEnds, present, category, categories, brand, brands, price } = p;
  let idStart = from > 0 ? idEnds[from - 1] : 0;
  let titleStart = from > 0 ? titleEnds[from - 1] : 0;
  for (let i = from; i < to; i++) {
    const id = ids.slice(idStart, idEnds[i]);
    idStart = idEnds[i];
    const bits = present[i];
    const c = category[i], b = brand[i];
    const titleEnd = titleEnds[i];
    if ((bits & (PRICE | AVAILABLE)) === (PRICE | AVAILABLE) && c >= 0 && b >= 0) {
      const available = (bits & AVAILABLE_TRUE) !== 0;
      items[i - shift] = bits & TITLE
        ? { id, title: titles.slice(titleStart, titleEnd), category: categories[c], brand: brands[b], price: price[i], available }
        : { id, category: categories[c], brand: brands[b], price: price[i], available };
      titleStart = titleEnd;
      continue;
    }
    if (bits === 0 && c < 0 && b < 0) {
      items[i - shift] = { id };
      continue;
    }
    const item: CatalogItem = { id };
    if (bits & TITLE) item.title = titles.slice(titleStart, titleEnd);
    titleStart = titleEnd;
    if (c >= 0) item.category = categories[c];
    if (b >= 0) item.brand = brands[b];
    if (bits & PRICE) item.price = price[i];
    if (bits & AVAILABLE) item.available = (bits & AVAILABLE_TRUE) !== 0;
    items[i - shift] = item;
  }
}

function withExtras(p: PackedCatalog, items: CatalogItem[]): CatalogItem[] {
  for (const [i, rest] of p.extras) Object.assign(items[i], rest);
  return items;
}
