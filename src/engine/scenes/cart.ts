/**
 * Cart page: what goes with the cart, read as the history plus the cart's items (the model's cart and
 * purchase heads: what shoppers add after carting items like these). Items of the cart's own
 * categories (substitutes of what the shopper already chose) are pushed down by `substitutePenalty`.
 */
import { BEHAVIOUR_CODES, SCENE_CODES } from '../../model/features.js';
import { appendItems, withStep } from '../../model/inputs.js';
import { composeAdjust, substituteAdjust } from '../../ranking/feedback.js';
import { exclusions, feedbackAdjust, personalList, type Scene } from './scene.js';

export const cart: Scene<'cart'> = {
  name: 'cart',
  recommend(ctx, req) {
    const hist = ctx.history;
    const cat = ctx.catalog;
    const items = req.cart ?? hist.cart;
    const known = items.map((id) => ctx.modelIndex.get(id)).filter((m): m is number => m !== undefined);
    let steps = hist.steps;
    for (const itemId of req.cart ?? []) {
      steps = withStep(steps, { itemId, m: ctx.modelIndex.get(itemId) ?? 0, behaviour: BEHAVIOUR_CODES.cart, scene: SCENE_CODES.cart });
    }
    const categories = new Set<string>();
    for (const id of items) {
      const pos = cat.posById.get(id);
      const category = pos === undefined || !cat.given ? undefined : cat.items.field(pos, 'category');
      if (category !== undefined) categories.add(category);
    }
    const adjust = composeAdjust(feedbackAdjust(ctx, req), substituteAdjust(categories, req.substitutePenalty));
    return personalList(ctx, { sequence: appendItems(hist.sequence, known), steps }, req, exclusions(ctx, 'cart', req.rules, items), (becauseOf) =>
      items.length > 0 ? { kind: 'complement', to: [...items] } : { kind: 'personal', becauseOf }, 'cart', adjust);
  },
};
