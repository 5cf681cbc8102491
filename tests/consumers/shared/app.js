// The consumer apps' shared page code: what a shop writes after reading docs/install.md.
// Imports only the installed package ('scenerec'); the model is the app's own static files.
import * as scenerec from 'scenerec';

const out = document.getElementById('out');

/** The shop's catalog: ids of the test model (tests/fixtures/tiny-model, items in clusters of ten). */
function catalog() {
  const items = [];
  for (let i = 1; i <= 50; i++) {
    const id = `item-${String(i).padStart(2, '0')}`;
    items.push({ id, title: `Item ${i}`, category: `cat-${Math.floor((i - 1) / 10)}`, price: i });
  }
  return items;
}

/** Starts the SDK, tracks a short history, recommends; the result lands on window.scenerecResult. */
export async function run(extra = {}) {
  const t0 = performance.now();
  try {
    const params = new URLSearchParams(location.search);
    const rec = await scenerec.createRecommender({
      catalog: catalog(),
      // ?model=: another model the app serves (the one the package ships, for its own test).
      modelUrl: params.get('model') ?? '/models/tiny/model.json',
      dbName: params.get('db') ?? 'consumer',
      ...(params.get('backend') ? { backend: params.get('backend') } : {}),
      ...extra,
    });
    const loadMs = performance.now() - t0;
    // ?history=: the shopper's viewed items (a second shopper, for the own-model test).
    const history = params.get('history')?.split(',') ?? ['item-21', 'item-24', 'item-27'];
    await rec.track(history.map((itemId) => ({ type: 'view', itemId, scene: 'product' })));
    const home = await rec.scene('home').recommend({ k: 8 });
    // Steady-state latency of one call (threads vs no threads on the isolated page).
    const times = [];
    for (let i = 0; i < 15; i++) {
      const t = performance.now();
      await rec.scene('home').recommend({ k: 8 });
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const result = {
      ok: true,
      backend: rec.backend,
      loadMs,
      recommendMs: times[times.length >> 1],
      // The model cache's API (the second-visit test is skipped while the package has none).
      hasModelCache: 'clearModelCache' in scenerec,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      info: rec.engineInfo,
      history,
      items: home.items.map((i) => ({ itemId: i.itemId, reason: i.reason.kind })),
    };
    await rec.dispose();
    window.scenerecResult = result;
    out.textContent = JSON.stringify(result, null, 2);
  } catch (e) {
    window.scenerecResult = { ok: false, name: e?.name, code: e?.code, message: String(e?.message ?? e) };
    out.textContent = `error: ${window.scenerecResult.message}`;
  }
  document.body.dataset.state = window.scenerecResult.ok ? 'ready' : 'error';
}
