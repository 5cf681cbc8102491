/**
 * Bad input gets the typed error on the page (name, code, class survive the worker boundary),
 * and the stored history is the same afterwards.
 */
import { expect, test } from '@playwright/test';
import { freshDb, openHarness, watchConsole } from './helpers';

test('bad input: typed errors on the page, history intact, recommender still usable', async ({ page }) => {
  const { errors } = watchConsole(page);
  await openHarness(page);
  const out = await page.evaluate(async (dbName) => {
    const h = window.harness;
    const rec = await h.create({ backend: 'webgpu', dbName });
    await rec.track([
      { type: 'view', itemId: 'item-31' },
      { type: 'cart', itemId: 'item-32', scene: 'product' },
      { type: 'search', query: 'lamp', scene: 'search' },
    ]);
    const before = await rec.listHistory();
    const bad = {
      eventType: await h.errorOf(() => rec.track({ type: 'bogus' as never, itemId: 'item-01' })),
      missingItemId: await h.errorOf(() => rec.track({ type: 'view' })),
      // One bad event in a batch: nothing of the call is stored.
      badInBatch: await h.errorOf(() => rec.track([{ type: 'view', itemId: 'item-05' }, { type: 'click', itemId: '' }])),
      badScene: await h.errorOf(() => rec.scene('checkout' as never)),
      badSceneRecommend: await h.errorOf(() => rec.recommend('checkout' as never, {} as never)),
      kZero: await h.errorOf(() => rec.scene('home').recommend({ k: 0 })),
      kTooBig: await h.errorOf(() => rec.scene('home').recommend({ k: 100000 })),
      kFraction: await h.errorOf(() => rec.scene('cart').recommend({ k: 2.5 })),
      kString: await h.errorOf(() => rec.scene('home').recommend({ k: '5' as never })),
      productNoItem: await h.errorOf(() => rec.scene('product').recommend({} as never)),
      productUnknownItem: await h.errorOf(() => rec.scene('product').recommend({ itemId: 'no-such-sku' })),
      searchNoList: await h.errorOf(() => rec.scene('search').rerank({ candidates: 'item-01' as never })),
    };
    const after = await rec.listHistory();
    const stillWorks = await rec.scene('home').recommend({ k: 3 });
    await rec.dispose();
    const afterDispose = await h.errorOf(() => rec.listHistory());
    return { before, after, bad, stillWorks: stillWorks.items.length, historyUsed: stillWorks.historyUsed, afterDispose };
  }, freshDb('errors'));

  const expectError = (e: unknown, name: string, code: string) =>
    expect(e).toMatchObject({ name, code, isScenerecError: true, instanceOf: name });
  expectError(out.bad.eventType, 'InvalidEventError', 'INVALID_EVENT');
  expect(out.bad.eventType!.message).toMatch(/type/);
  expectError(out.bad.missingItemId, 'InvalidEventError', 'INVALID_EVENT');
  expect(out.bad.missingItemId!.message).toMatch(/itemId/);
  expectError(out.bad.badInBatch, 'InvalidEventError', 'INVALID_EVENT');
  expectError(out.bad.badScene, 'UnknownSceneError', 'UNKNOWN_SCENE');
  expectError(out.bad.badSceneRecommend, 'UnknownSceneError', 'UNKNOWN_SCENE');
  for (const key of ['kZero', 'kTooBig', 'kFraction', 'kString', 'productNoItem', 'searchNoList'] as const) {
    expectError(out.bad[key], 'InvalidRequestError', 'INVALID_REQUEST');
  }
  expect(out.bad.kZero!.message).toMatch(/\bk\b/);
  expectError(out.bad.productUnknownItem, 'UnknownItemError', 'UNKNOWN_ITEM');
  expectError(out.afterDispose, 'DisposedError', 'DISPOSED');

  expect(out.before).toHaveLength(3);
  expect(out.after, 'history unchanged by the failed calls').toEqual(out.before);
  expect(out.stillWorks).toBe(3);
  expect(out.historyUsed).toBe(2);
  expect(errors).toEqual([]);
});
