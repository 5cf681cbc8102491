/**
 * Recently viewed: the shopper's viewed items (view and click events), distinct, newest first, read
 * from the stored history without the model. Rules, exclusions (the cart, dismissed items) and the
 * request's ranking options apply; nothing is added (no popular fill, no pins from outside), so the
 * list may be shorter than k. Items no longer in the catalog are left out.
 */
import type { RankCandidate } from '../../ranking/rank.js';
import { rankCandidates } from '../../ranking/rank.js';
import { exclusions, feedbackAdjust, type Scene } from './scene.js';

const VIEWS: ReadonlySet<string> = new Set(['view', 'click']);

export const recentlyViewed: Scene<'recentlyViewed'> = {
  name: 'recentlyViewed',
  async recommend(ctx, req) {
    const cat = ctx.catalog;
    const seen = new Map<string, { at: number; views: number }>();
    for (const ev of ctx.events) {
      if (!ev.itemId || !VIEWS.has(ev.type)) continue;
      const s = seen.get(ev.itemId);
      if (s) { s.views++; s.at = Math.max(s.at, ev.timestamp); } else seen.set(ev.itemId, { at: ev.timestamp, views: 1 });
    }
    const order = [...seen].sort((a, b) => b[1].at - a[1].at);
    const candidates: RankCandidate[] = [];
    // Score = recency rank in (0, 1], newest 1: ranking's own order keeps newest first.
    order.forEach(([id, s], i) => {
      const pos = cat.posById.get(id);
      if (pos !== undefined) candidates.push(cat.candidateAt(pos, 1 - i / order.length, { kind: 'viewed', at: s.at, views: s.views }));
    });
    const items = rankCandidates(candidates, {
      ...req, exclude: exclusions(ctx, 'recentlyViewed', req.rules), adjust: feedbackAdjust(ctx, req), closed: true, unique: true,
    });
    return { items, used: seen.size };
  },
};
