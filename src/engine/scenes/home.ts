/** Home page: the shopper's personal list. */
import { exclusions, personalList, type Scene } from './scene.js';

export const home: Scene<'home'> = {
  name: 'home',
  recommend: (ctx, req) => personalList(ctx, ctx.history, req, exclusions(ctx, 'home', req.rules), (becauseOf) => ({ kind: 'personal', becauseOf }), 'home'),
};
