/**
 * The cart scene's complements against substitutes, on the Tianchi events: for each level of the
 * cart request's `substitutePenalty`, the hit rate of the shopper's real next cart/purchase and the
 * share of listed items from the cart's own categories.
 *
 *   npm run eval:cart -- [--model models/tianchi-mtl] [--data ../shared/data/tianchi-ecomm]
 *       [--test-start 20190618] [--k 10] [--levels 0,0.1,0.25,0.5,1] [--max-cases 600]
 *       [--backend wasm|cpu] [--out docs/cart-complements | none]
 *
 * Protocol (a replay of real sequences, nothing simulated but the scenes of the history events):
 * events by shopper in time order (day, then file order); the hold-out days start at --test-start
 * (the multi-task model is trained on the days before). A case is a cart event in the hold-out days
 * that some later event of the shopper follows with a cart or purchase of an item not in the cart:
 *   - history tracked through the public API = every event of the shopper up to and including that
 *     cart event (behaviour 1..4 -> click, favorite, cart, purchase; scenes as the training data
 *     simulates them);
 *   - cart = the items carted that day up to that event and not bought since (passed as `cart`);
 *   - target = the item of that next cart/purchase;
 *   - list = the SDK's cart scene, every other option at its default (diversity, objectives,
 *     exposure discount with no impressions, in-cart items excluded), catalog = every item of
 *     items.tsv (category, brand, price; items new to the model scored from their content).
 * Cases are taken evenly from all qualifying ones when there are more than --max-cases.
 * Metrics per level: HR@k of the target; the share of listed items whose category is one of the
 * cart's (same-category share); the share of targets that are themselves of a cart category (what
 * the shoppers did: a penalty on substitutes costs hits on those) and HR@k on each part.
 *
 * Prints a table; writes <out>.json; the LAST line is one JSON object with every figure.
 */
import 'fake-indexeddb/auto';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseFlags, UsageError, formatDuration } from './cli.js';
import { setNodeBackend } from './node-io.js';
import { simulatedScene } from './mtl-data.js';
import {
  BEHAVIOUR_EVENT, fileFetch, readTianchiCatalog, readTianchiEvents, REPLAY_FLAGS, replayOptions, SCENE_OF_CODE, writeReplayOutputs, type TianchiEvent,
} from './replay-io.js';
import { createEngine } from '../src/engine/engine.js';
import type { TrackEvent } from '../src/contract/protocol.js';

const HELP = `usage: npx tsx scripts/eval-cart.ts [--model <dir> (models/tianchi-mtl)] [--data <dir> (../shared/data/tianchi-ecomm)]
       [--test-start YYYYMMDD (20190618)] [--k N (10)] [--levels 0,0.1,0.25,0.5,1] [--max-cases N (600)]
       [--backend wasm|cpu (wasm)] [--out <path prefix> (docs/cart-complements) | none]`;


type Ev = TianchiEvent;
interface CartCase { user: string; history: Ev[]; cart: string[]; target: string }

/** Every cart event of the hold-out days followed (later) by a cart/purchase of an item not in the day's cart. */
function cartCases(events: Map<string, Ev[]>, testStart: number): CartCase[] {
  const out: CartCase[] = [];
  for (const [user, list] of events) {
    list.forEach((e, i) => {
      if (e.behaviour !== 3 || e.date < testStart) return;
      const cart = new Set<string>();
      for (let j = 0; j <= i; j++) {
        const x = list[j];
        if (x.date !== e.date) continue;
        if (x.behaviour === 3) cart.add(x.item);
        if (x.behaviour === 4) cart.delete(x.item);
      }
      cart.add(e.item);
      const next = list.slice(i + 1).find((x) => (x.behaviour === 3 || x.behaviour === 4) && !cart.has(x.item));
      if (next) out.push({ user, history: list.slice(0, i + 1), cart: [...cart], target: next.item });
    });
  }
  return out;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), { ...REPLAY_FLAGS, levels: 'string', 'max-cases': 'number' });
  if (f.help) { console.log(HELP); return; }
  const { modelDir, dataDir, testStart, k, backend, outPrefix } = replayOptions(f, 'docs/cart-complements');
  const levels = ((f.levels as string) ?? '0,0.1,0.25,0.5,1').split(',').map(Number);
  if (levels.some((l) => !(l >= 0 && l <= 1))) throw new UsageError('--levels must be numbers from 0 to 1, comma separated');
  const maxCases = (f['max-cases'] as number) ?? 600;

  const t0 = performance.now();
  await setNodeBackend(backend);
  const catalog = readTianchiCatalog(path.join(dataDir, 'items.tsv'));
  const categoryOf = new Map(catalog.map((c) => [c.id, c.category!]));
  const all = cartCases(readTianchiEvents(path.join(dataDir, 'events.tsv')), testStart);
  const step = Math.max(1, all.length / maxCases);
  const cases: CartCase[] = [];
  for (let x = 0; Math.floor(x) < all.length && cases.length < maxCases; x += step) cases.push(all[Math.floor(x)]);
  if (cases.length === 0) throw new UsageError('no case: check --data and --test-start');

  const engine = await createEngine({
    modelUrl: pathToFileURL(path.resolve(modelDir, 'model.json')).href,
    catalog, backend, dbName: `scenerec-eval-cart-${process.pid}`, retention: { maxEvents: 100_000, maxAgeDays: 3650 },
  }, { fetch: fileFetch });
  const info = await engine.info();
  console.log(`model ${modelDir} (${info.modelVersion}) on ${info.backend}; catalog ${catalog.length} items; `
    + `${cases.length} cases of ${all.length} (cart events from ${testStart} with a later cart/purchase); k ${k}`);

  const acc = levels.map(() => ({ hits: 0, same: 0, listed: 0, hitsSameTarget: 0, hitsOtherTarget: 0 }));
  let sameTargets = 0;
  let lastReport = performance.now();
  for (let ci = 0; ci < cases.length; ci++) {
    const c = cases[ci];
    await engine.clearHistory();
    const base = Date.now() - c.history.length * 1000;
    let day = -1;
    const events: TrackEvent[] = c.history.map((h, i) => {
      const opensDay = h.date !== day;
      day = h.date;
      return { type: BEHAVIOUR_EVENT[h.behaviour], itemId: h.item, scene: SCENE_OF_CODE[simulatedScene(h.behaviour, opensDay)], timestamp: base + i * 1000 };
    });
    await engine.track(events);
    const cartCats = new Set(c.cart.map((id) => categoryOf.get(id)).filter((x): x is string => x !== undefined));
    const targetSame = cartCats.has(categoryOf.get(c.target) ?? '');
    if (targetSame) sameTargets++;
    for (let li = 0; li < levels.length; li++) {
      const r = await engine.recommend('cart', { cart: c.cart, k, substitutePenalty: levels[li] });
      const a = acc[li];
      const hit = r.items.some((x) => x.itemId === c.target);
      if (hit) { a.hits++; if (targetSame) a.hitsSameTarget++; else a.hitsOtherTarget++; }
      a.listed += r.items.length;
      a.same += r.items.filter((x) => cartCats.has(categoryOf.get(x.itemId) ?? '')).length;
    }
    if (performance.now() - lastReport > 15000) {
      lastReport = performance.now();
      console.log(`  ${ci + 1}/${cases.length} cases, ${formatDuration((performance.now() - t0) / 1000)}`);
    }
  }
  await engine.dispose();

  const n = cases.length;
  const rows = levels.map((level, li) => {
    const a = acc[li];
    return {
      substitutePenalty: level,
      [`hr@${k}`]: r4(a.hits / n),
      sameCategoryShare: r4(a.same / Math.max(1, a.listed)),
      [`hr@${k} same-category targets`]: r4(a.hitsSameTarget / Math.max(1, sameTargets)),
      [`hr@${k} other targets`]: r4(a.hitsOtherTarget / Math.max(1, n - sameTargets)),
    };
  });
  console.log(`\nsubstitutePenalty | HR@${k} | same-category share of the list | HR@${k} on same-category targets | HR@${k} on other targets`);
  for (const r of rows) {
    console.log(`${String(r.substitutePenalty).padEnd(17)} | ${String(r[`hr@${k}`]).padEnd(6)} | ${String(r.sameCategoryShare).padEnd(32)} | `
      + `${String(r[`hr@${k} same-category targets`]).padEnd(31)} | ${r[`hr@${k} other targets`]}`);
  }
  const result = {
    command: `npm run eval:cart -- ${process.argv.slice(2).join(' ')}`.trim(),
    model: modelDir, modelVersion: info.modelVersion, backend: info.backend, k, testStart, cases: n, qualifyingCases: all.length,
    sameCategoryTargetShare: r4(sameTargets / n), levels: rows, seconds: Math.round((performance.now() - t0) / 1000),
  };
  console.log(`targets of a cart category: ${result.sameCategoryTargetShare} of ${n}; ${formatDuration(result.seconds)}`);
  writeReplayOutputs(outPrefix, result);
  console.log(JSON.stringify(result));
}
