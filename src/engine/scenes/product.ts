/**
 * Product page: what to show beside an item, read as the history plus a view of that item. An item
 * the model never saw: its content neighbours (feature models), else popular items of its category.
 */
import { UnknownItemError } from '../../contract/errors.js';
import type { RankReason } from '../../contract/protocol.js';
import { BEHAVIOUR_CODES, SCENE_CODES } from '../../model/features.js';
import { appendItems, withStep } from '../../model/inputs.js';
import { rankScored, scoringDepth } from '../../ranking/rank.js';
import { hasAffinity, mergeProfiles } from '../../ranking/affinity.js';
import { affinityList, candidateSource, exclusions, feedbackAdjust, personalList, rankWithFill, shopperAffinity, type Scene } from './scene.js';

/** An unknown product's page: its own item's share of the affinity profile (the shopper's history has the rest). */
const PRODUCT_PAGE_WEIGHT = 0.6;

export const product: Scene<'product'> = {
  name: 'product',
  async recommend(ctx, req) {
    const cat = ctx.catalog;
    const id = req.itemId;
    const m = ctx.modelIndex.get(id);
    const pos = cat.posById.get(id);
    if (m === undefined && pos === undefined) {
      throw new UnknownItemError(`Unknown product "${id}": it is neither in the catalog nor known to the model. Check the id, or add the item to the catalog.`, { itemId: id });
    }
    const exclude = exclusions(ctx, 'product', req.rules, [id]);
    if (m === undefined) {
      const newRow = cat.rowOfPos[pos!];
      if (ctx.contentModel && cat.matrix && newRow >= 0 && cat.contentKnown[pos!]) {
        // A feature model has a content vector for a new item (a category or brand it knows): the items whose vectors are closest to it.
        const scored = await cat.matrix.score(cat.matrix.unitRow(newRow), cat.scoreRequest());
        const scores = scored.scores[0];
        // Scores that are all the same tell no neighbour apart: not "similar" (the fallbacks below).
        if (scores.some((x) => x !== scores[0])) {
          const run = { scores, rows: scored.rows ?? undefined, becauseOf: [], used: 0 };
          const ranked = rankScored(candidateSource(ctx, run, { kind: 'similar', to: id }), { ...req, exclude, adjust: feedbackAdjust(ctx, req), shortcut: ctx.shortcut });
          return { items: ranked.items, used: 0 };
        }
      }
      // In the catalog but new to the model: popular items of its category, then popular overall.
      const category = cat.items.field(pos!, 'category');
      const inCategoryPopular = category === undefined || cat.positionsWith('category', category).some((p) => cat.popScore[p] > 0);
      if (!inCategoryPopular) {
        // No popularity data for its category (a catalog the model never saw): the items that share its
        // category, brand and price band (PRODUCT_PAGE_WEIGHT), ordered by the shopper's own history (the rest).
        const page = shopperAffinity(ctx, [{ itemId: id, m: 0, behaviour: BEHAVIOUR_CODES.view, scene: SCENE_CODES.product }]);
        const profile = mergeProfiles(page, shopperAffinity(ctx, ctx.history.steps), PRODUCT_PAGE_WEIGHT);
        if (hasAffinity(profile)) return affinityList(ctx, profile, req, exclude);
      }
      const reason: RankReason = { kind: 'fallback', detail: `"${id}" is new to the model: popular items${category !== undefined ? ' in its category' : ''}` };
      const inCategory = category === undefined ? cat.popularHead(scoringDepth(req.k)) : cat.positionsWith('category', category);
      return rankWithFill(ctx, cat.popular(reason, inCategory), req, exclude);
    }
    const input = {
      sequence: appendItems(ctx.history.sequence, [m]),
      steps: withStep(ctx.history.steps, { itemId: id, m, behaviour: BEHAVIOUR_CODES.view, scene: SCENE_CODES.product }),
    };
    return personalList(ctx, input, req, exclude, (becauseOf) =>
      becauseOf.length === 0 || becauseOf[0] === id ? { kind: 'similar', to: id } : { kind: 'personal', becauseOf }, 'product');
  },
};
