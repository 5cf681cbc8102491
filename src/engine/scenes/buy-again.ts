/**
 * Buy again: items the shopper bought that are worth buying again, from the evidence of repeat
 * purchases in the shopper's own history (the model artifacts carry no per-item repeat-purchase
 * statistics): an item bought more than once, or bought once in a category the shopper has bought
 * from more than once. Not every past purchase: a one-off buy in a category bought once stays out.
 * Ordered by the item's own purchases, then its category's, then recency. Rules, exclusions (the
 * cart, dismissed items) and the ranking options apply; no popular fill (may be shorter than k).
 */
import type { RankCandidate } from '../../ranking/rank.js';
import { rankCandidates } from '../../ranking/rank.js';
import { exclusions, feedbackAdjust, type Scene } from './scene.js';

export const buyAgain: Scene<'buyAgain'> = {
  name: 'buyAgain',
  async recommend(ctx, req) {
    const cat = ctx.catalog;
    const bought = new Map<string, { times: number; lastAt: number; category?: string }>();
    const perCategory = new Map<string, number>();
    for (const ev of ctx.events) {
      if (ev.type !== 'purchase' || !ev.itemId) continue;
      let b = bought.get(ev.itemId);
      if (!b) {
        const pos = cat.posById.get(ev.itemId);
        bought.set(ev.itemId, b = { times: 0, lastAt: 0, category: pos !== undefined && cat.given ? cat.items.field(pos, 'category') : undefined });
      }
      b.times++;
      b.lastAt = Math.max(b.lastAt, ev.timestamp);
      if (b.category !== undefined) perCategory.set(b.category, (perCategory.get(b.category) ?? 0) + 1);
    }
    const worth = [...bought].filter(([, b]) => b.times > 1 || (b.category !== undefined && (perCategory.get(b.category) ?? 0) > 1));
    const categoryTimes = (b: { category?: string }) => (b.category !== undefined ? perCategory.get(b.category)! : 0);
    worth.sort(([, a], [, b]) => b.times - a.times || categoryTimes(b) - categoryTimes(a) || b.lastAt - a.lastAt);
    const candidates: RankCandidate[] = [];
    // Score = rank in (0, 1], best 1: ranking's own order keeps this order.
    worth.forEach(([id, b], i) => {
      const pos = cat.posById.get(id);
      if (pos === undefined) return;
      const reason = b.times > 1
        ? { kind: 'boughtBefore' as const, times: b.times, lastAt: b.lastAt }
        : { kind: 'boughtBefore' as const, times: b.times, lastAt: b.lastAt, category: b.category, categoryTimes: categoryTimes(b) };
      candidates.push(cat.candidateAt(pos, 1 - i / worth.length, reason));
    });
    const items = rankCandidates(candidates, {
      ...req, exclude: exclusions(ctx, 'buyAgain', req.rules), adjust: feedbackAdjust(ctx, req), closed: true, unique: true,
    });
    return { items, used: bought.size };
  },
};
