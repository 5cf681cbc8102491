import { describe, expect, it } from 'vitest';
import { AFFINITY_WEIGHTS } from '../../src/contract/defaults.js';
import type { CatalogItem } from '../../src/contract/protocol.js';
import {
  affinityBlendWeight, affinityKeys, affinityProfile, affinityReason, affinityScore, hasAffinity, mergeProfiles, type AffinityEvent,
} from '../../src/ranking/affinity.js';
import { rankCandidates } from '../../src/ranking/rank.js';

/** A shop catalog of 4 categories x 3 brands x 5 prices. */
const catalog: CatalogItem[] = [];
for (const category of ['shoes', 'bags', 'hats', 'socks']) {
  for (const brand of ['acme', 'zeta', 'nova']) {
    for (const price of [5, 10, 20, 40, 80]) catalog.push({ id: `${category}-${brand}-${price}`, category, brand, price });
  }
}
const byId = new Map(catalog.map((c) => [c.id, c]));
const lookup = (id: string) => byId.get(id);
const views = (...ids: string[]): AffinityEvent[] => ids.map((itemId) => ({ itemId, type: 'view' }));

/** The catalog ranked by a profile's affinity (what the scenes do, minus the engine). */
function list(events: AffinityEvent[], k = 10): string[] {
  const p = affinityProfile(events, lookup);
  return rankCandidates(catalog.map((c) => ({ itemId: c.id, item: c, score: affinityScore(p, c), reason: { kind: 'popular' } })), { k }).map((i) => i.itemId);
}

describe('content affinity', () => {
  it('an empty history, or one about items without metadata, has no affinity', () => {
    expect(hasAffinity(affinityProfile([], lookup))).toBe(false);
    expect(hasAffinity(affinityProfile(views('not-in-catalog'), lookup))).toBe(false);
    expect(affinityScore(affinityProfile([], lookup), catalog[0])).toBe(0);
  });

  it('shares of categories and brands sum to 1 and follow the history', () => {
    const p = affinityProfile(views('shoes-acme-10', 'shoes-zeta-20', 'bags-acme-40'), lookup);
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    expect(sum(p.categories)).toBeCloseTo(1, 6);
    expect(sum(p.brands)).toBeCloseTo(1, 6);
    expect(p.categories.get('shoes')!).toBeGreaterThan(p.categories.get('bags')!);
    expect(p.categories.has('hats')).toBe(false);
    expect(affinityKeys(p).categories[0]).toBe('shoes');
    expect(p.events).toBe(3);
  });

  it('two shoppers with different histories get different lists, each about their own categories and brands', () => {
    const a = list(views('shoes-acme-10', 'shoes-acme-20', 'shoes-zeta-10'));
    const b = list(views('hats-nova-80', 'hats-nova-40', 'socks-nova-80'));
    expect(a).not.toEqual(b);
    expect(a.slice(0, 5).every((id) => id.startsWith('shoes-'))).toBe(true);
    expect(b.slice(0, 5).every((id) => id.startsWith('hats-nova') || id.startsWith('socks-nova') || id.startsWith('hats-'))).toBe(true);
    expect(b[0].startsWith('hats-nova')).toBe(true);
  });

  it('recent events weigh more: the same items in the other order lead with the newer category', () => {
    const older = views(...Array(6).fill('bags-acme-10'), ...Array(6).fill('hats-zeta-10'));
    const newer = views(...Array(6).fill('hats-zeta-10'), ...Array(6).fill('bags-acme-10'));
    expect(list(older)[0].startsWith('hats-')).toBe(true);
    expect(list(newer)[0].startsWith('bags-')).toBe(true);
  });

  it('a cart or purchase says more than a view', () => {
    const events: AffinityEvent[] = [{ itemId: 'bags-acme-10', type: 'cart' }, { itemId: 'hats-acme-10', type: 'view' }, { itemId: 'hats-acme-10', type: 'view' }];
    const p = affinityProfile(events, lookup);
    expect(p.categories.get('bags')!).toBeGreaterThan(p.categories.get('hats')!);
  });

  it('the price band orders items of one category and brand: closest price first', () => {
    const p = affinityProfile(views('shoes-acme-20', 'shoes-acme-20'), lookup);
    const prices = [5, 10, 20, 40, 80].map((price) => affinityScore(p, { category: 'shoes', brand: 'acme', price }));
    expect(prices[2]).toBeGreaterThan(prices[1]);
    expect(prices[1]).toBeGreaterThan(prices[0]);
    expect(prices[2]).toBeGreaterThan(prices[3]);
    expect(prices[3]).toBeGreaterThan(prices[4]);
    expect(prices[2]).toBeCloseTo(AFFINITY_WEIGHTS.category + AFFINITY_WEIGHTS.brand + AFFINITY_WEIGHTS.price, 6);
  });

  it('reasons name only what matched, and the history items behind it', () => {
    const p = affinityProfile(views('shoes-acme-10', 'bags-zeta-10'), lookup);
    expect(affinityReason(p, 'shoes-nova-40', byId.get('shoes-nova-40'))).toEqual({
      kind: 'affinity', category: 'shoes', becauseOf: ['shoes-acme-10'], detail: 'because you viewed category "shoes"',
    });
    expect(affinityReason(p, 'bags-acme-5', byId.get('bags-acme-5'))).toEqual({
      kind: 'affinity', category: 'bags', brand: 'acme', becauseOf: ['bags-zeta-10', 'shoes-acme-10'], detail: 'because you viewed category "bags" and brand "acme"',
    });
    // Price alone is no reason; an item never names itself.
    expect(affinityReason(p, 'hats-nova-10', byId.get('hats-nova-10'))).toBeUndefined();
    expect((affinityReason(p, 'shoes-acme-10', byId.get('shoes-acme-10')) as { becauseOf: string[] }).becauseOf).toEqual([]);
  });

  it('a product page merges its own item with the history: its category leads, the history orders the rest', () => {
    const history = affinityProfile(views(...Array(10).fill('shoes-acme-10')), lookup);
    const page = affinityProfile(views('hats-zeta-40'), lookup);
    const merged = mergeProfiles(page, history, 0.6);
    expect(merged.categories.get('hats')).toBeCloseTo(0.6, 6);
    expect(merged.categories.get('shoes')).toBeCloseTo(0.4, 6);
    expect(affinityKeys(merged).categories).toEqual(['hats', 'shoes']);
    expect(merged.itemsByCategory.get('hats')).toEqual(['hats-zeta-40']);
    // Without history the page alone counts in full.
    expect(mergeProfiles(page, affinityProfile([], lookup), 0.6).categories.get('hats')).toBeCloseTo(1, 6);
    expect(merged.logPrice).toBeCloseTo(0.6 * Math.log(40) + 0.4 * Math.log(10), 6);
  });

  it('blend weight: affinity alone when the model read nothing, blended when it read few, off otherwise', () => {
    expect(affinityBlendWeight(0, 5, 3)).toBe(1);
    expect(affinityBlendWeight(0, 0, 3)).toBe(0);
    expect(affinityBlendWeight(1, 3, 3)).toBeCloseTo(0.75, 6);
    expect(affinityBlendWeight(2, 2, 3)).toBe(0);
    expect(affinityBlendWeight(3, 30, 3)).toBe(0);
  });
});
