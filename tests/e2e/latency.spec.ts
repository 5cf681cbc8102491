/**
 * Latency figures per backend, printed to stdout (no assertions on time: this machine has no GPU,
 * WebGPU and WebGL run on SwiftShader). Measures, for the demo's Tianchi model and catalog:
 * - time to first recommendation: createRecommender() (worker start, model download, backend,
 *   warm-up) + the first home recommend, seen from the page;
 * - EngineInfo.loadMs / warmupMs (measured in the worker);
 * - warm recommend latency: median and p90 of RecommendResult.latencyMs (measured in the worker)
 *   and of the page round trip, over WARM_CALLS home calls with a 20-event history.
 * Set SCENEREC_LATENCY_MODEL to another model.json URL (e.g. /models/games-sasrec/model.json,
 * which then runs without a catalog, on its whole vocabulary).
 */
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import type { CatalogItem } from '../../src/index';
import { freshDb, openHarness } from './helpers';

const MODEL_URL = process.env.SCENEREC_LATENCY_MODEL ?? '/models/tianchi-sasrec/model.json';
const WITH_CATALOG = MODEL_URL.includes('tianchi');
const WARM_CALLS = 15;
const catalog: CatalogItem[] = JSON.parse(readFileSync(new URL('../../demo/catalog.json', import.meta.url), 'utf8'));

const rows: string[] = [];
test.afterAll(() => {
  console.log(`\nscenerec latency (${MODEL_URL}${WITH_CATALOG ? `, ${catalog.length}-item demo catalog` : ', no catalog'}; ` +
    `Chromium ${process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium'}, no GPU: webgpu/webgl = SwiftShader)\n` +
    'backend | first rec (page) | loadMs | warmupMs | warm home: worker median / p90 | round trip median\n' + rows.join('\n') + '\n');
});

for (const backend of ['webgpu', 'webgl', 'wasm', 'cpu'] as const) {
  test(`latency on ${backend}`, async ({ page }) => {
    test.setTimeout(240_000);
    await openHarness(page);
    const history = catalog.filter((i) => i.available !== false).slice(40, 60).map((i) => i.id);
    const out = await page.evaluate(async ({ backend, modelUrl, catalog, history, dbName, warmCalls }) => {
      const t0 = performance.now();
      let rec;
      try {
        rec = await window.scenerec.createRecommender({ backend, modelUrl, catalog: catalog ?? undefined, dbName });
      } catch (e) {
        const err = e as { name: string; message: string };
        return { error: `${err.name}: ${err.message}`, noBackend: err.name === 'NoBackendError' };
      }
      await rec.track(history.map((itemId) => ({ type: 'view' as const, itemId })));
      const first = await rec.scene('home').recommend({ k: 10 });
      const firstRecMs = performance.now() - t0;
      const worker: number[] = [];
      const roundTrip: number[] = [];
      for (let i = 0; i < warmCalls; i++) {
        const t = performance.now();
        const r = await rec.scene('home').recommend({ k: 10 });
        roundTrip.push(performance.now() - t);
        worker.push(r.latencyMs);
      }
      await rec.clearHistory();
      await rec.dispose();
      return { info: rec.engineInfo, firstRecMs, firstItems: first.items.length, historyUsed: first.historyUsed, worker, roundTrip };
    }, { backend, modelUrl: MODEL_URL, catalog: WITH_CATALOG ? catalog : null, history, dbName: freshDb(`latency-${backend}`), warmCalls: WARM_CALLS });

    if ('error' in out) {
      rows.push(`${backend} | ${out.noBackend ? 'unavailable here' : 'FAILED'}: ${out.error!.slice(0, 200)}`);
      // A backend this browser lacks is a figure ("unavailable"), anything else a failure.
      test.skip(!!out.noBackend, `${backend} unavailable here: ${out.error}`);
      throw new Error(out.error);
    }
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    const f = (ms: number) => `${ms.toFixed(1)} ms`;
    rows.push(`${backend}${out.info.adapter?.architecture ? ` (${out.info.adapter.architecture})` : ''} | ${f(out.firstRecMs)} | ${f(out.info.loadMs)} | ${f(out.info.warmupMs)} | ` +
      `${f(q(out.worker, 0.5))} / ${f(q(out.worker, 0.9))} | ${f(q(out.roundTrip, 0.5))}`);
    expect(out.info.backend).toBe(backend);
    expect(out.firstItems).toBe(10);
    expect(out.historyUsed).toBeGreaterThan(0);
  });
}
