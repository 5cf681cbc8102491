import { describe, expect, it } from 'vitest';
import type { CatalogItem, RankReason } from '../../src/contract/protocol.js';
import {
  blendObjectives, blendSearch, boostedScore, dedupe, itemSimilarity, matchesFilter, minMaxNormalize, mmrSelect,
  passesRules, rankCandidates, topByScore, type RankCandidate,
} from '../../src/ranking/rank.js';

const personal: RankReason = { kind: 'personal', becauseOf: ['h'] };
const popular: RankReason = { kind: 'popular' };

/** Candidates a..z with descending scores; category alternates x/y unless given. */
function cands(ids: string, opts: { item?: (id: string, i: number) => Partial<CatalogItem> } = {}): RankCandidate[] {
  return [...ids].map((id, i) => ({
    itemId: id,
    score: 1 - i * 0.05,
    reason: personal,
    item: { id, category: i % 2 ? 'y' : 'x', ...(opts.item?.(id, i) ?? {}) },
  }));
}
const ids = (items: { itemId: string }[]) => items.map((i) => i.itemId).join('');

describe('score helpers', () => {
  it('min-max normalises, constant input maps to 1', () => {
    expect([...minMaxNormalize([2, 4, 3])]).toEqual([0, 1, 0.5]);
    expect([...minMaxNormalize([5, 5])]).toEqual([1, 1]);
  });

  it('blends objectives: one head is that head normalised; several are weighted', () => {
    expect([...blendObjectives({ click: [0, 10, 5] }, { click: 0.1, purchase: 5 })]).toEqual([0, 1, 0.5]);
    const b = blendObjectives({ click: [0, 1], purchase: [1, 0] }, { click: 3, purchase: 1 });
    expect(b[0]).toBeCloseTo(0.25);
    expect(b[1]).toBeCloseTo(0.75);
    // A head with zero weight is ignored.
    expect([...blendObjectives({ click: [0, 1], cart: [1, 0] }, { click: 1, cart: 0 })]).toEqual([0, 1]);
  });

  it('blends search: weight 0 keeps shop order, weight 1 orders by model, unknown keep their shop score', () => {
    const personalScores = [1, 2, undefined, 3];
    const order = (w: number) => {
      const s = blendSearch(personalScores, w);
      return [0, 1, 2, 3].sort((a, b) => s[b] - s[a]);
    };
    expect(order(0)).toEqual([0, 1, 2, 3]);
    expect(order(1).filter((i) => i !== 2)).toEqual([3, 1, 0]);
    const s = blendSearch(personalScores, 0.7);
    expect(s[2]).toBeCloseTo(1 - 2 / 4); // unknown: its shop score whatever the weight
  });
});

describe('rules', () => {
  const item: CatalogItem = { id: 'a', category: 'audio', brand: 'acme', price: 50 };
  it('matches filters: fields ANDed, lists ORed, missing fields never match', () => {
    expect(matchesFilter('a', item, { category: ['audio', 'video'] })).toBe(true);
    expect(matchesFilter('a', item, { category: ['audio'], brand: ['other'] })).toBe(false);
    expect(matchesFilter('a', item, { minPrice: 50, maxPrice: 60 })).toBe(true);
    expect(matchesFilter('a', item, { maxPrice: 49.99 })).toBe(false);
    expect(matchesFilter('a', { id: 'a' }, { minPrice: 0 })).toBe(false);
    expect(matchesFilter('a', undefined, { itemIds: ['a'] })).toBe(true);
  });

  it('applies exclusion, availability, include and exclude', () => {
    const c = (over: Partial<CatalogItem>, id = 'a'): RankCandidate => ({ itemId: id, score: 1, reason: personal, item: { ...item, id, ...over } });
    expect(passesRules(c({}), {})).toBe(true);
    expect(passesRules(c({ available: false }), {})).toBe(false);
    expect(passesRules(c({ available: false }), { includeUnavailable: true })).toBe(true);
    expect(passesRules(c({}), {}, new Set(['a']))).toBe(false);
    expect(passesRules(c({}), { include: { brand: ['acme'] } })).toBe(true);
    expect(passesRules(c({}), { include: { brand: ['zeta'] } })).toBe(false);
    expect(passesRules(c({}), { exclude: { category: ['audio'] } })).toBe(false);
  });

  it('multiplies every matching boost', () => {
    const c: RankCandidate = { itemId: 'a', score: 0.5, reason: personal, item };
    expect(boostedScore(c, { boost: [{ filter: { brand: ['acme'] }, factor: 2 }, { filter: { category: ['audio'] }, factor: 1.5 }, { filter: { brand: ['x'] }, factor: 9 }] })).toBeCloseTo(1.5);
  });

  it('de-duplicates keeping the first occurrence', () => {
    expect(dedupe([{ itemId: 'a', n: 1 }, { itemId: 'b', n: 2 }, { itemId: 'a', n: 3 }])).toEqual([{ itemId: 'a', n: 1 }, { itemId: 'b', n: 2 }]);
  });
});

describe('topByScore', () => {
  it('equals a stable full sort, ties included', () => {
    // Scores with many ties, in a deterministic pseudo-random order.
    const list: RankCandidate[] = Array.from({ length: 500 }, (_, i) => ({ itemId: `i${i}`, score: ((i * 7919) % 37) / 37, reason: popular }));
    const full = [...list].sort((a, b) => b.score - a.score);
    for (const n of [0, 1, 5, 13, 14, 100, 499, 500, 600]) {
      expect(ids(topByScore(list, n))).toBe(ids(full.slice(0, n)));
    }
  });
});

describe('rankCandidates', () => {
  it('returns the top k by score with ranks and catalog items', () => {
    const out = rankCandidates(cands('dcba').reverse(), { k: 3 });
    expect(ids(out)).toBe('dcb');
    expect(out.map((o) => o.rank)).toEqual([0, 1, 2]);
    expect(out[0].item?.id).toBe('d');
    expect(out[0].reason).toEqual(personal);
  });

  it('never returns an id twice', () => {
    const list = [...cands('abc'), ...cands('abc')];
    expect(ids(rankCandidates(list, { k: 10 }))).toBe('abc');
  });

  it('drops excluded and unavailable items, unless includeUnavailable', () => {
    const list = cands('abcde', { item: (id) => (id === 'b' ? { available: false } : {}) });
    expect(ids(rankCandidates(list, { k: 5, exclude: new Set(['c']) }))).toBe('ade');
    expect(ids(rankCandidates(list, { k: 5, exclude: new Set(['c']), rules: { includeUnavailable: true } }))).toBe('abde');
  });

  it('applies include and exclude filters', () => {
    const list = cands('abcdef');
    expect(ids(rankCandidates(list, { k: 6, rules: { include: { category: ['x'] } } }))).toBe('ace');
    expect(ids(rankCandidates(list, { k: 6, rules: { exclude: { itemIds: ['a', 'b'] } } }))).toBe('cdef');
  });

  it('boost reorders', () => {
    const list = cands('abcd');
    const out = rankCandidates(list, { k: 4, rules: { boost: [{ filter: { itemIds: ['d'] }, factor: 2 }] } });
    expect(ids(out)).toBe('dabc');
    expect(out[0].score).toBeCloseTo(0.85 * 2);
  });

  it('pins go first in the given order, skip excluded/unavailable, may come from outside the candidates', () => {
    const list = cands('abcde', { item: (id) => (id === 'e' ? { available: false } : {}) });
    const lookup = (id: string): RankCandidate | undefined => (id === 'z' ? { itemId: 'z', score: 0, reason: popular, item: { id: 'z' } } : undefined);
    const out = rankCandidates(list, {
      k: 4, exclude: new Set(['b']), lookup,
      rules: { pin: ['c', 'b', 'e', 'unknown', 'z'], exclude: { itemIds: ['c'] } },
    });
    // c is pinned despite rules.exclude (a pin is the more specific instruction); b excluded, e unavailable, unknown skipped.
    expect(ids(out)).toBe('czad');
    expect(out[0].reason).toEqual({ kind: 'pinned' });
    expect(out[1].reason).toEqual({ kind: 'pinned' });
    expect(out[2].reason).toEqual(personal);
  });

  it('fills with popular items that pass the rules when the list is short', () => {
    const list = cands('ab');
    const pop = () => cands('cabde', { item: (id) => ({ category: id === 'b' || id === 'd' ? 'y' : 'x' }) }).map((c) => ({ ...c, score: 0.9, reason: popular }));
    const out = rankCandidates(list, { k: 4, popular: pop, rules: { exclude: { category: ['y'] } } });
    // b and d are category y (excluded); the fill takes c, skips a (used), b and d, takes e.
    expect(ids(out)).toBe('ace');
    expect(out.slice(1).every((o) => o.reason.kind === 'popular')).toBe(true);
    // Scores never rise along the list.
    for (let i = 1; i < out.length; i++) expect(out[i].score).toBeLessThanOrEqual(out[i - 1].score);
    // fallbackToPopular: false disables the fill.
    expect(ids(rankCandidates(list, { k: 4, popular: pop, rules: { fallbackToPopular: false } }))).toBe('ab');
  });

  it('a closed list (search) returns only candidates: no fill, no outside pins', () => {
    const list = cands('abc');
    const out = rankCandidates(list, {
      k: 10, closed: true, rules: { pin: ['z', 'c'] },
      popular: () => cands('xyz'),
      lookup: (id) => ({ itemId: id, score: 0, reason: popular }),
    });
    expect(ids(out)).toBe('cab');
  });
});

describe('diversity', () => {
  const e = (x: number, y: number) => { const n = Math.hypot(x, y); return [x / n, y / n]; };
  // Six near-duplicates of one kind score highest, then items of another kind.
  const list: RankCandidate[] = [
    ...[0.99, 0.98, 0.97, 0.96, 0.95, 0.94].map((s, i) => ({ itemId: `a${i}`, score: s, reason: personal, item: { id: `a${i}`, category: 'a' }, embedding: e(1, 0.01 * i) })),
    ...[0.8, 0.79, 0.78].map((s, i) => ({ itemId: `b${i}`, score: s, reason: personal, item: { id: `b${i}`, category: 'b' }, embedding: e(0.01 * i, 1) })),
  ];

  it('similarity: same category and embedding near 1, different near 0', () => {
    expect(itemSimilarity(list[0], list[1])).toBeGreaterThan(0.95);
    expect(itemSimilarity(list[0], list[6])).toBeLessThan(0.05);
    expect(itemSimilarity({ itemId: 'p', score: 0, reason: popular }, { itemId: 'q', score: 0, reason: popular })).toBe(0);
  });

  it('0 keeps pure relevance order; more diversity mixes kinds in', () => {
    expect(ids(mmrSelect(list, 4, 0))).toBe('a0a1a2a3');
    const varied = rankCandidates(list, { k: 4, diversity: 0.5 });
    expect(varied[0].itemId).toBe('a0');
    expect(varied.filter((v) => v.itemId.startsWith('b')).length).toBeGreaterThanOrEqual(1);
    const most = rankCandidates(list, { k: 4, diversity: 1 });
    expect(most.slice(0, 2).map((v) => v.itemId[0]).sort().join('')).toBe('ab');
  });

  it('still returns k items and keeps rules', () => {
    const out = rankCandidates(list, { k: 5, diversity: 0.8, rules: { exclude: { itemIds: ['b0'] } } });
    expect(out).toHaveLength(5);
    expect(out.some((o) => o.itemId === 'b0')).toBe(false);
  });
});
