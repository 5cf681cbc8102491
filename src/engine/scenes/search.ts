/**
 * Search: the shop's own results reordered for this shopper (a closed list: nothing else is added).
 * Only the candidates' rows are scored.
 */
import type { RankReason } from '../../contract/protocol.js';
import { blendObjectives, blendSearch, rankCandidates, type RankCandidate } from '../../ranking/rank.js';
import { EMPTY_RUN } from '../forward.js';
import { affinityReason, affinityScore, hasAffinity } from '../../ranking/affinity.js';
import { exclusions, feedbackAdjust, shopperAffinity, type Scene } from './scene.js';

export const search: Scene<'search'> = {
  name: 'search',
  async recommend(ctx, req) {
    const cat = ctx.catalog;
    const ids = [...new Set(req.candidates)];
    const rows = ids.map((id) => cat.rowOf(id));
    const known = Int32Array.from(rows.filter((r) => r >= 0));
    const run = known.length > 0 ? await ctx.forward.run(ctx.history, cat, 'search', { kind: 'rows', rows: known }) : EMPTY_RUN;
    const personalScores = run.heads ? blendObjectives(run.heads, req.objectives) : run.scores;
    // Scores come for `run.rows` (the known candidates) or, from feature models, for every row.
    const slot = new Map<number, number>();
    if (run.rows) run.rows.forEach((r, j) => slot.set(r, j));
    let personal = rows.map((r) => (r >= 0 && run.used > 0 ? personalScores[run.rows ? slot.get(r)! : r] : undefined));
    // The model read nothing of this history (items it never saw): the shopper's content affinity
    // reorders the catalog's candidates instead.
    const profile = run.used === 0 && ctx.history.steps.length > 0 ? shopperAffinity(ctx, ctx.history.steps) : undefined;
    const byAffinity = profile !== undefined && hasAffinity(profile);
    if (byAffinity) personal = ids.map((id) => { const pos = cat.posById.get(id); return pos === undefined ? undefined : affinityScore(profile!, cat.items.at(pos)); });
    const blended = blendSearch(personal, req.personalWeight);
    const candidates: RankCandidate[] = ids.map((id, i) => {
      const pos = cat.posById.get(id);
      const liked = byAffinity && pos !== undefined ? affinityReason(profile!, id, cat.items.at(pos)) : undefined;
      const reason: RankReason = liked ?? (rows[i] >= 0 || (byAffinity && pos !== undefined)
        ? { kind: 'search', shopRank: i, becauseOf: byAffinity ? [] : run.becauseOf }
        : { kind: 'fallback', detail: 'not known to the model: kept at the shop position' });
      return pos === undefined ? { itemId: id, score: blended[i], reason } : cat.candidateAt(pos, blended[i], reason);
    });
    return { items: rankCandidates(candidates, { ...req, exclude: exclusions(ctx, 'search', req.rules), adjust: feedbackAdjust(ctx, req), closed: true }), used: run.used };
  },
};
