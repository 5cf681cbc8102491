/** The scene registry: scene name -> its recommend. */
import type { SceneName } from '../../contract/protocol.js';
import { buyAgain } from './buy-again.js';
import { cart } from './cart.js';
import { home } from './home.js';
import { product } from './product.js';
import { recentlyViewed } from './recently-viewed.js';
import type { Scene } from './scene.js';
import { search } from './search.js';

export type SceneRegistry = { readonly [S in SceneName]: Scene<S> };

export const SCENE_REGISTRY: SceneRegistry = { home, product, cart, search, recentlyViewed, buyAgain };

export type { Scene, SceneContext, SceneList } from './scene.js';
