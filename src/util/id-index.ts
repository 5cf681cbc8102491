/**
 * A read-only map from item id to position in a list of ids, for the million-id lists of a load (the
 * model vocabulary, the catalog): an open-addressing hash table of positions (and hashes) in Int32Arrays over
 * the list itself. Building a JS Map of a million string keys allocates its entries and rehashes as
 * it grows; this table is allocated once at its final size and holds only integers (each slot's
 * position and its id's hash), and a lookup hashes the id's characters and compares with the list's
 * string only at a probed slot of the same hash.
 *
 * It is a ReadonlyMap<string, number> (get, has, size, iteration in list order), so the code that
 * reads a Map reads it unchanged. The list must not change once indexed (the index reads it);
 * `size` and iteration count every position from `first` on, so they hold once every id was added.
 */

/** FNV-1a over the UTF-16 code units, with a final avalanche (the table's index takes the low bits). */
function hashId(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h;
}

/** Called with an id found twice; throws the caller's error. */
export type OnRepeat = (id: string, firstPosition: number, position: number) => never;

/** Id -> position in `ids`, for positions from `first` on (a vocabulary's padding entry 0 left out). */
export class IdIndex implements ReadonlyMap<string, number> {
  /** Position + 1 per slot; 0: empty. */
  private readonly table: Int32Array;
  /**
   * The hash of each slot's id: a probe compares it before the id itself, so a slot that holds
   * another id costs no read of that id's string (a cache miss at a million ids).
   */
  private readonly hashes: Int32Array;
  private readonly mask: number;

  private constructor(private readonly ids: readonly string[], private readonly first: number) {
    const n = Math.max(0, ids.length - first);
    let cap = 16;
    while (cap < n * 2) cap *= 2;
    this.table = new Int32Array(cap);
    this.hashes = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /**
   * Indexes `ids` from position `first` on. A repeated id calls `onRepeat(id, firstPosition,
   * position)`, which throws (default: an Error naming the id), so every id in the index is unique.
   */
  static build(ids: readonly string[], first = 0, onRepeat?: OnRepeat): IdIndex {
    const index = IdIndex.empty(ids, first);
    index.add(first, ids.length, onRepeat);
    return index;
  }

  /**
   * An index sized for `ids` (from `first` on) holding none of them yet: `add` puts positions in as
   * the list is filled (a check that walks the list adds each id after its item passed).
   */
  static empty(ids: readonly string[], first = 0): IdIndex {
    return new IdIndex(ids, first);
  }

  /** Adds positions [from, to) (their ids already in the list); see `build` for `onRepeat`. */
  add(from: number, to: number, onRepeat?: OnRepeat): void {
    const { table, hashes, mask, ids } = this;
    for (let p = from; p < to; p++) {
      const id = ids[p];
      const h = hashId(id);
      let slot = h & mask;
      for (;;) {
        const at = table[slot];
        if (at === 0) { table[slot] = p + 1; hashes[slot] = h; break; }
        if (hashes[slot] === h && ids[at - 1] === id) {
          if (onRepeat) onRepeat(id, at - 1, p);
          throw new Error(`the id "${id}" is listed twice (at ${at - 1} and ${p})`);
        }
        slot = (slot + 1) & mask;
      }
    }
  }

  get(id: string): number | undefined {
    if (typeof id !== 'string') return undefined;
    const { table, hashes, mask, ids } = this;
    const h = hashId(id);
    let slot = h & mask;
    for (;;) {
      const at = table[slot];
      if (at === 0) return undefined;
      if (hashes[slot] === h && ids[at - 1] === id) return at - 1;
      slot = (slot + 1) & mask;
    }
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  get size(): number {
    return Math.max(0, this.ids.length - this.first);
  }

  forEach(callback: (value: number, key: string, map: ReadonlyMap<string, number>) => void, thisArg?: unknown): void {
    for (let p = this.first; p < this.ids.length; p++) callback.call(thisArg, p, this.ids[p], this);
  }

  *entries(): MapIterator<[string, number]> {
    for (let p = this.first; p < this.ids.length; p++) yield [this.ids[p], p];
  }

  *keys(): MapIterator<string> {
    for (let p = this.first; p < this.ids.length; p++) yield this.ids[p];
  }

  *values(): MapIterator<number> {
    for (let p = this.first; p < this.ids.length; p++) yield p;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }
}
