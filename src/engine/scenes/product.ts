/**
 * Product page: what to show beside an item, read as the history plus a view of that item. An item
 * the model never saw: its content neighbours (feature models), else popular items of its category.
 */
import { UnknownItemError } from '../../contract/errors.js';
import type { RankReason } from '../../contract/protocol.js';
import { BEHAVIOUR_CODES, SCENE_CODES } from '../../model/features.js';
import { appendItems, withStep } from '../../model/inputs.js';
import { rankScored } from '../../ranking/rank.js';
import { candidateSource, exclusions, feedbackAdjust, personalList, rankWithFill, type Scene } from './scene.js';

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
      if (ctx.contentModel && cat.matrix && newRow >= 0) {
        // A feature model has a content vector for a new item: the items whose vectors are closest to it.
        const scored = await cat.matrix.score(cat.matrix.unitRow(newRow), cat.scoreRequest());
        const run = { scores: scored.scores[0], rows: scored.rows ?? undefined, becauseOf: [], used: 0 };
        const ranked = rankScored(candidateSource(ctx, run, { kind: 'similar', to: id }), { ...req, exclude, adjust: feedbackAdjust(ctx, req), shortcut: ctx.shortcut });
        return { items: ranked.items, used: 0 };
      }
      // In the catalog but new to the model: popular items of its category, then popular overall.
      const category = cat.items[pos!].category;
      const reason: RankReason = { kind: 'fallback', detail: `"${id}" is new to the model: popular items${category !== undefined ? ' in its category' : ''}` };
      const inCategory = category === undefined ? cat.popularOrder : cat.popularOrder.filter((p) => cat.items[p].category === category);
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
