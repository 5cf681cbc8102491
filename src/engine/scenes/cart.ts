/** Cart page: what goes with the cart, read as the history plus the cart's items. */
import { BEHAVIOUR_CODES, SCENE_CODES } from '../../model/features.js';
import { appendItems, withStep } from '../../model/inputs.js';
import { exclusions, personalList, type Scene } from './scene.js';

export const cart: Scene<'cart'> = {
  name: 'cart',
  recommend(ctx, req) {
    const hist = ctx.history;
    const items = req.cart ?? hist.cart;
    const known = items.map((id) => ctx.modelIndex.get(id)).filter((m): m is number => m !== undefined);
    let steps = hist.steps;
    for (const itemId of req.cart ?? []) {
      steps = withStep(steps, { itemId, m: ctx.modelIndex.get(itemId) ?? 0, behaviour: BEHAVIOUR_CODES.cart, scene: SCENE_CODES.cart });
    }
    return personalList(ctx, { sequence: appendItems(hist.sequence, known), steps }, req, exclusions(ctx, 'cart', req.rules, items), (becauseOf) =>
      items.length > 0 ? { kind: 'complement', to: [...items] } : { kind: 'personal', becauseOf }, 'cart');
  },
};
