import { describe, expect, it } from 'vitest';
import { IdIndex } from '../../src/util/id-index.js';

describe('IdIndex', () => {
  it('answers as a Map of the same ids does, from `first` on, including ids that collide in the table', () => {
    const ids = ['', ...Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? `sku-${i}` : i % 3 === 1 ? `${i}` : `ü-${i}-🙂`))];
    const index = IdIndex.build(ids, 1);
    const map = new Map(ids.slice(1).map((id, i) => [id, i + 1]));
    expect(index.size).toBe(map.size);
    for (const [id, i] of map) expect(index.get(id)).toBe(i);
    expect(index.get('')).toBeUndefined(); // position 0 is left out
    for (const other of ['sku-1', 'x', 'sku-30000', '00', 7 as unknown as string]) expect(index.get(other)).toBe(map.get(other));
    expect(index.has('sku-3')).toBe(true);
    expect(index.has('sku-4')).toBe(false);
    expect([...index]).toEqual([...map]);
    expect([...index.keys()]).toEqual([...map.keys()]);
    expect([...index.values()]).toEqual([...map.values()]);
    const seen: Array<[string, number]> = [];
    index.forEach((v, k) => seen.push([k, v]));
    expect(seen).toEqual([...map.entries()]);
  });

  it('refuses a repeated id through onRepeat with both positions, as it is added', () => {
    const ids = ['a', 'b', 'c', 'b'];
    expect(() => IdIndex.build(ids, 0, (id, first, at) => { throw new Error(`${id} ${first} ${at}`); })).toThrow('b 1 3');
    expect(() => IdIndex.build(ids)).toThrow('the id "b" is listed twice (at 1 and 3)');
    const list: string[] = new Array(3);
    const index = IdIndex.empty(list);
    list[0] = 'x'; index.add(0, 1);
    list[1] = 'y'; index.add(1, 2);
    expect(index.get('y')).toBe(1);
    expect(index.get('z')).toBeUndefined();
    list[2] = 'x';
    expect(() => index.add(2, 3)).toThrow('(at 0 and 2)');
  });
});
