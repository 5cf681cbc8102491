/**
 * What the feedback loop does (impressions with the exposure discount, and dismissals) to repeat
 * exposure, coverage and the hit rate on shoppers' real next items: a replay of real Tianchi
 * sequences through the real engine.
 *
 *   npm run eval:feedback -- [--model models/tianchi-mtl] [--data ../shared/data/tianchi-ecomm]
 *       [--test-start 20190618] [--k 10] [--levels 0,0.1,0.3,0.5,1] [--pairs 0.05/0,...] [--dismiss-at 0,default]
 *       [--dismiss-share 0.2] [--max-users 100] [--max-steps 20] [--tolerance 0.05] [--min-cut 0.1]
 *       [--seed 1] [--backend wasm|cpu] [--out docs/feedback-loop | none]
 *
 * Protocol (a replay: the shopper does what the log says, whatever the lists show):
 *   - engine: src/engine's createEngine in Node, memory storage (no IndexedDB), every option at its
 *     default (in-cart and purchased items excluded, as a shop gets them); catalog = every item of
 *     items.tsv (category, brand, price). The engine's clock (hooks.clock) runs on the logged time:
 *     the shopper's logged days mapped to the days before today, events of a day 1 minute apart
 *     from 09:00 (the log has days only), so impressions decay between days as they would.
 *   - shoppers: those with events before --test-start and at least one after (the multi-task model
 *     is trained on the days before it), taken evenly when more than --max-users.
 *   - history: every event before --test-start, tracked through the public API (behaviour 1..4 ->
 *     click, favorite, cart, purchase; scenes simulated as in training).
 *   - steps: the hold-out events with consecutive events on one item taken as one step (the
 *     shopper stays on the page), the first --max-steps of them. Before each step the shopper is
 *     shown two lists of k: the home feed, then the product page of the item of the previous step
 *     (the last history item before the first). Each list's items are tracked as impressions
 *     (type 'impression', that scene) as soon as it is shown, so the next list already sees them.
 *     Then the step's real events are tracked. Showing the home feed before every step models a
 *     feed the shopper returns to between product pages (the setting of on-device rerankers such
 *     as EdgeRec); the log does not say which pages were seen.
 *   - targets: the item of the step; a list hits when it holds it (HR@k, NDCG@k).
 *   - dismissals (the settings of --dismiss-at): each listed item that is not the target and that
 *     the shopper does not touch in any later step is dismissed with probability --dismiss-share
 *     (seeded per shopper). So a simulated "not interested" never falls on an item the log shows
 *     the shopper coming back to: it is a shopper who dismisses honestly, and its cost to the hit
 *     rate is what the refill and the neighbour push-down do, not hidden targets.
 *   - settings: `exposureDiscount` at each of --levels in both scenes; each of --pairs
 *     (home/product: a discount per scene, to choose per-scene defaults); and `default` (each scene's
 *     DEFAULT_REQUESTS value); those named in --dismiss-at again with dismissals. Every setting
 *     replays every shopper on a fresh history, interleaved shopper by shopper.
 * Why a replay and not a simulated shopper who clicks with the model's own probabilities: the
 * simulated shopper would make the model the judge of its own lists (a hit is what the model
 * already ranks high), and it cannot say what a discount costs on what real shoppers did next. The
 * replay's limit: the log's shopper never reacts to a list, so an item pushed down that the shopper
 * clicks later counts as a lost hit, and one that the lists bring up that the shopper would have
 * liked counts as nothing.
 *
 * Metrics per setting, over every list shown (ExposureMeter below):
 *   - repeat exposure: share of the shown slots whose item was shown to this shopper before (an
 *     earlier list, any scene) with no interaction with it since;
 *   - distinct items shown per shopper (mean), and catalog coverage (distinct items shown to anyone
 *     / catalog size);
 *   - HR@k and NDCG@k of the target, per scene and over both lists; the change of HR@k against the
 *     setting `0` with its paired standard error over shoppers;
 *   - discovery: share of lists holding an item new to the shopper (not in the history, not yet
 *     reached in the hold-out) that they go to at this step or a later one, with its paired change:
 *     what a list surfaced that the log shows the shopper wanting, which the hit rate does not credit.
 * Verdict: the default setting keeps HR@k over both lists within --tolerance (relative) of `0` and
 * lowers repeat exposure by at least --min-cut (relative): met / not met.
 *
 * Prints a table; writes <out>.json and <out>.svg; the LAST line is one JSON object with every figure.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseFlags, UsageError, formatDuration } from './cli.js';
import { setNodeBackend } from './node-io.js';
import { simulatedScene } from './mtl-data.js';
import {
  BEHAVIOUR_EVENT, fileFetch, readTianchiCatalog, readTianchiEvents, REPLAY_FLAGS, replayOptions, SCENE_OF_CODE, writeReplayOutputs, type TianchiEvent,
} from './replay-io.js';
import { Rng } from './rng.js';
import { paddedRange, SvgFigure } from './svg-plot.js';
import { createEngine } from '../src/engine/engine.js';
import { DEFAULT_REQUESTS } from '../src/contract/defaults.js';
import type { TrackEvent } from '../src/contract/protocol.js';

const HELP = `usage: npm run eval:feedback -- [--model <dir> (models/tianchi-mtl)] [--data <dir> (../shared/data/tianchi-ecomm)]
       [--test-start YYYYMMDD (20190618)] [--k N (10)] [--levels 0,0.1,0.3,0.5,1] [--pairs home/product,... (none)] [--dismiss-at 0,default]
       [--dismiss-share 0.2] [--max-users N (100)] [--max-steps N (20)] [--tolerance 0.05] [--min-cut 0.1]
       [--seed 1] [--backend wasm|cpu (wasm)] [--out <path prefix> (docs/feedback-loop) | none]`;

/** The scenes whose lists the replay shows, in page order. */
export const REPLAY_SCENES = ['home', 'product'] as const;
export type ReplayScene = typeof REPLAY_SCENES[number];

/** Counts of one scene's lists (or of all lists). */
export interface ListCounts { lists: number; slots: number; repeats: number; hits: number; ndcg: number; discoveries: number }

const emptyCounts = (): ListCounts => ({ lists: 0, slots: 0, repeats: 0, hits: 0, ndcg: 0, discoveries: 0 });

/**
 * The replay's metrics for one setting. Per shopper: `beginShopper`, then in time order `show`
 * for each list shown and `interact` for each real event; `endShopper` closes the shopper's counts.
 * A slot is a repeat when its item was in an earlier list of this shopper with no interaction
 * with the item since (an interaction clears it, as it answers an impression in the engine).
 */
export class ExposureMeter {
  readonly total: ListCounts = emptyCounts();
  readonly byScene = new Map<string, ListCounts>();
  /** Distinct items shown to anyone. */
  readonly covered = new Set<string>();
  /** Per shopper, in order: distinct items shown, hits, discoveries and lists. */
  readonly shoppers: Array<{ distinct: number; hits: number; discoveries: number; lists: number }> = [];
  private unanswered = new Set<string>();
  private shownToShopper = new Set<string>();
  private shopperHits = 0;
  private shopperDiscoveries = 0;
  private shopperLists = 0;
  private open = false;

  beginShopper(): void {
    if (this.open) this.endShopper();
    this.unanswered = new Set();
    this.shownToShopper = new Set();
    this.shopperHits = 0;
    this.shopperDiscoveries = 0;
    this.shopperLists = 0;
    this.open = true;
  }

  /**
   * A list shown to the shopper; `target` is the item the shopper goes to next (undefined: none);
   * `ahead`: the items new to the shopper (never touched before this list) that they go to from
   * now on, this step or a later one: a list that holds one of them is a discovery.
   */
  show(scene: string, items: readonly string[], target?: string, ahead?: ReadonlySet<string>): void {
    if (!this.open) throw new Error('ExposureMeter.show before beginShopper');
    let counts = this.byScene.get(scene);
    if (!counts) this.byScene.set(scene, counts = emptyCounts());
    let repeats = 0;
    for (const id of items) {
      if (this.unanswered.has(id)) repeats++;
      this.covered.add(id);
      this.shownToShopper.add(id);
    }
    // After counting: an item twice in one list is not a repeat of itself.
    for (const id of items) this.unanswered.add(id);
    const rank = target === undefined ? -1 : items.indexOf(target);
    const gain = rank >= 0 ? 1 / Math.log2(rank + 2) : 0;
    const discovered = ahead !== undefined && items.some((id) => ahead.has(id));
    for (const c of [counts, this.total]) {
      c.lists++;
      c.slots += items.length;
      c.repeats += repeats;
      if (rank >= 0) c.hits++;
      if (discovered) c.discoveries++;
      c.ndcg += gain;
    }
    if (rank >= 0) this.shopperHits++;
    if (discovered) this.shopperDiscoveries++;
    this.shopperLists++;
  }

  /** A real event of the shopper on `itemId` (view, click, favourite, cart, purchase). */
  interact(itemId: string): void {
    this.unanswered.delete(itemId);
  }

  endShopper(): void {
    if (!this.open) return;
    this.shoppers.push({ distinct: this.shownToShopper.size, hits: this.shopperHits, discoveries: this.shopperDiscoveries, lists: this.shopperLists });
    this.open = false;
  }

  /** The figures over everything shown so far (catalogSize: for coverage). */
  summary(catalogSize: number): ExposureSummary {
    this.endShopper();
    const rate = (c: ListCounts): ExposureRates => ({
      lists: c.lists,
      repeatExposure: r4(c.repeats / Math.max(1, c.slots)),
      hr: r4(c.hits / Math.max(1, c.lists)),
      ndcg: r4(c.ndcg / Math.max(1, c.lists)),
      discovery: r4(c.discoveries / Math.max(1, c.lists)),
    });
    const n = this.shoppers.length;
    return {
      ...rate(this.total),
      byScene: Object.fromEntries([...this.byScene].map(([s, c]) => [s, rate(c)])),
      distinctPerShopper: r2(this.shoppers.reduce((s, x) => s + x.distinct, 0) / Math.max(1, n)),
      slotsPerShopper: r2(this.total.slots / Math.max(1, n)),
      catalogCoverage: r4(this.covered.size / Math.max(1, catalogSize)),
      shoppers: n,
    };
  }
}

/** Rates over lists: repeat exposure (share of slots), HR@k and NDCG@k of the target (k: the lists' length asked). */
export interface ExposureRates {
  lists: number;
  repeatExposure: number;
  hr: number;
  ndcg: number;
  /** Share of lists holding an item new to the shopper that they go to later in the hold-out (show's `ahead`). */
  discovery: number;
}
export interface ExposureSummary extends ExposureRates {
  byScene: Record<string, ExposureRates>;
  distinctPerShopper: number;
  slotsPerShopper: number;
  catalogCoverage: number;
  shoppers: number;
}

/**
 * The change of the hit rate (or, with `key`, the discovery rate) of `b` against `a` (same shoppers,
 * same lists in the same order: the per-shopper list counts are equal) and its standard error, from
 * the per-shopper differences.
 */
export function pairedHitChange(a: ExposureMeter['shoppers'], b: ExposureMeter['shoppers'], key: 'hits' | 'discoveries' = 'hits'): { change: number; se: number } {
  if (a.length !== b.length) throw new Error('pairedHitChange: different shoppers');
  const lists = a.reduce((s, x) => s + x.lists, 0);
  if (a.length === 0 || lists === 0) return { change: 0, se: 0 };
  const d = a.map((x, i) => b[i][key] - x[key]);
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const variance = n > 1 ? d.reduce((s, x) => s + (x - mean) * (x - mean), 0) / (n - 1) : 0;
  return { change: (mean * n) / lists, se: (Math.sqrt(variance * n)) / lists };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** One replayed setting: the exposure discount of each scene, and whether the shopper dismisses; `pair`: a per-scene combination of --pairs. */
interface Setting { name: string; discount: Record<ReplayScene, number>; dismiss: boolean; pair?: boolean }

/** One hold-out step: the item and its consecutive events. */
interface Step { item: string; events: TianchiEvent[] }
interface ReplayCase { user: string; history: TianchiEvent[]; steps: Step[] }

/** Hold-out events as steps: consecutive events on one item are one step. */
export function holdOutSteps(events: readonly TianchiEvent[]): Step[] {
  const steps: Step[] = [];
  for (const e of events) {
    const last = steps[steps.length - 1];
    if (last && last.item === e.item) last.events.push(e);
    else steps.push({ item: e.item, events: [e] });
  }
  return steps;
}

const DAY_MS = 86_400_000;

/** Logged days (YYYYMMDD) onto the days before today: `lastDay` becomes yesterday; events a minute apart from 09:00. */
function logClock(lastDay: number, today = Math.floor(Date.now() / DAY_MS) * DAY_MS) {
  const dayNumber = (d: number) => Date.UTC(Math.floor(d / 10000), Math.floor(d / 100) % 100 - 1, d % 100) / DAY_MS;
  const last = dayNumber(lastDay);
  return (date: number, indexInDay: number) => today - (last - dayNumber(date) + 1) * DAY_MS + 9 * 3_600_000 + indexInDay * 60_000;
}

/** Timestamps of a shopper's events (in order) on the log clock. */
function stamp(events: readonly TianchiEvent[], at: ReturnType<typeof logClock>): number[] {
  let day = -1;
  let i = 0;
  return events.map((e) => {
    if (e.date !== day) { day = e.date; i = 0; }
    return at(e.date, i++);
  });
}

export async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), {
    ...REPLAY_FLAGS, levels: 'string', pairs: 'string', 'dismiss-at': 'string', 'dismiss-share': 'number', 'max-users': 'number', 'max-steps': 'number',
    tolerance: 'number', 'min-cut': 'number', seed: 'number',
  });
  if (f.help) { console.log(HELP); return; }
  const { modelDir, dataDir, testStart, k, backend, outPrefix } = replayOptions(f, 'docs/feedback-loop');
  const levels = ((f.levels as string) ?? '0,0.1,0.3,0.5,1').split(',').map(Number);
  if (levels.some((l) => !(l >= 0 && l <= 1))) throw new UsageError('--levels must be exposure discounts from 0 to 1, comma separated');
  if (!levels.includes(0)) levels.unshift(0); // the reference of the verdict and of the paired changes
  const isLevel = (x: number) => x >= 0 && x <= 1;
  const pairs = ((f.pairs as string) ?? '').split(',').filter((x) => x !== '').map((x) => x.split('/').map(Number));
  if (pairs.some((p) => p.length !== 2 || !p.every(isLevel))) throw new UsageError('--pairs must be home/product exposure discount pairs from 0 to 1, comma separated (e.g. 0.05/0,0.1/0.02)');
  const dismissAt = ((f['dismiss-at'] as string) ?? '0,default').split(',').filter((x) => x !== '');
  if (dismissAt.some((x) => x !== 'default' && !(Number(x) >= 0 && Number(x) <= 1))) throw new UsageError('--dismiss-at must be exposure discounts from 0 to 1 or "default", comma separated');
  const dismissShare = (f['dismiss-share'] as number) ?? 0.2;
  if (!(dismissShare > 0 && dismissShare <= 1)) throw new UsageError('--dismiss-share must be a probability in (0, 1]');
  const maxUsers = (f['max-users'] as number) ?? 100;
  const maxSteps = (f['max-steps'] as number) ?? 20;
  if (!Number.isInteger(maxUsers) || maxUsers < 1 || !Number.isInteger(maxSteps) || maxSteps < 1) throw new UsageError('--max-users and --max-steps must be positive integers');
  const tolerance = (f.tolerance as number) ?? 0.05;
  const minCut = (f['min-cut'] as number) ?? 0.1;
  const seed = (f.seed as number) ?? 1;

  const defaults: Record<ReplayScene, number> = { home: DEFAULT_REQUESTS.home.exposureDiscount, product: DEFAULT_REQUESTS.product.exposureDiscount };
  const settingOf = (x: string | number, dismiss: boolean): Setting => {
    const discount = x === 'default' ? defaults : { home: Number(x), product: Number(x) };
    return { name: `${x === 'default' ? 'default' : String(x)}${dismiss ? ' + dismiss' : ''}`, discount, dismiss };
  };
  const pairSettings: Setting[] = pairs.map(([home, product]) => ({ name: `${home}/${product}`, discount: { home, product }, dismiss: false, pair: true }));
  const settings: Setting[] = [...levels.map((l) => settingOf(l, false)), ...pairSettings, settingOf('default', false), ...dismissAt.map((x) => settingOf(x, true))];

  const t0 = performance.now();
  await setNodeBackend(backend);
  const catalog = readTianchiCatalog(path.join(dataDir, 'items.tsv'));
  const inCatalog = new Set(catalog.map((c) => c.id));

  const all: ReplayCase[] = [];
  let lastDay = 0;
  for (const [user, list] of readTianchiEvents(path.join(dataDir, 'events.tsv'))) {
    const known = list.filter((e) => inCatalog.has(e.item));
    for (const e of known) lastDay = Math.max(lastDay, e.date);
    const history = known.filter((e) => e.date < testStart);
    const steps = holdOutSteps(known.filter((e) => e.date >= testStart)).slice(0, maxSteps);
    if (history.length > 0 && steps.length > 0) all.push({ user, history, steps });
  }
  const step = Math.max(1, all.length / maxUsers);
  const cases: ReplayCase[] = [];
  for (let x = 0; Math.floor(x) < all.length && cases.length < maxUsers; x += step) cases.push(all[Math.floor(x)]);
  if (cases.length === 0) throw new UsageError('no shopper: check --data and --test-start');
  const at = logClock(lastDay);

  let clock = Date.now();
  const engine = await createEngine({
    modelUrl: pathToFileURL(path.resolve(modelDir, 'model.json')).href,
    catalog, backend, dbName: `scenerec-eval-feedback-${process.pid}`, retention: { maxEvents: 100_000, maxAgeDays: 3650 },
  }, { fetch: fileFetch, clock: () => clock });
  const info = await engine.info();
  if (info.storage !== 'memory') throw new Error(`expected memory storage, got ${info.storage}`);
  console.log(`model ${modelDir} (${info.modelVersion}) on ${info.backend}; catalog ${catalog.length} items; ${cases.length} shoppers of ${all.length}; `
    + `hold-out from ${testStart}, at most ${maxSteps} steps each; k ${k}; lists: ${REPLAY_SCENES.join(', ')} before every step; `
    + `settings: ${settings.map((s) => s.name).join(' | ')}; dismiss share ${dismissShare}`);

  const meters = settings.map(() => new ExposureMeter());
  const dismissals = settings.map(() => 0);
  let lastReport = performance.now();
  for (let ci = 0; ci < cases.length; ci++) {
    const c = cases[ci];
    const times = stamp([...c.history, ...c.steps.flatMap((s) => s.events)], at);
    const historyEvents: TrackEvent[] = [];
    let day = -1;
    c.history.forEach((h, i) => {
      const opensDay = h.date !== day;
      day = h.date;
      historyEvents.push({ type: BEHAVIOUR_EVENT[h.behaviour], itemId: h.item, scene: SCENE_OF_CODE[simulatedScene(h.behaviour, opensDay)], timestamp: times[i] });
    });
    const lastStepOf = new Map<string, number>();
    c.steps.forEach((s, i) => lastStepOf.set(s.item, i));
    // Per step: the items the shopper goes to from it on that they never touched before it.
    const touched = new Set(c.history.map((h) => h.item));
    const ahead = c.steps.map((_, s) => {
      const out = new Set(c.steps.slice(s).map((x) => x.item).filter((id) => !touched.has(id)));
      touched.add(c.steps[s].item);
      return out;
    });
    for (let si = 0; si < settings.length; si++) {
      const setting = settings[si];
      const meter = meters[si];
      const rng = new Rng((seed * 0x9e3779b1) ^ (ci + 1));
      clock = times[c.history.length - 1] + 1000;
      await engine.clearHistory();
      await engine.track(historyEvents);
      meter.beginShopper();
      let anchor = c.history[c.history.length - 1].item;
      let next = c.history.length; // index of the step's first event in `times`
      let dayOfLast = c.history[c.history.length - 1].date;
      for (let s = 0; s < c.steps.length; s++) {
        const st = c.steps[s];
        clock = times[next] - 30_000; // the page is shown half a minute before the shopper acts
        for (const scene of REPLAY_SCENES) {
          const r = scene === 'home'
            ? await engine.recommend('home', { k, exposureDiscount: setting.discount.home })
            : await engine.recommend('product', { itemId: anchor, k, exposureDiscount: setting.discount.product });
          const ids = r.items.map((x) => x.itemId);
          meter.show(scene, ids, st.item, ahead[s]);
          const shown: TrackEvent[] = ids.map((itemId) => ({ type: 'impression', itemId, scene, timestamp: clock }));
          if (setting.dismiss) {
            for (const id of ids) {
              if (id !== st.item && (lastStepOf.get(id) ?? -1) < s && rng.next() < dismissShare) {
                shown.push({ type: 'dismiss', itemId: id, scene, timestamp: clock });
                dismissals[si]++;
              }
            }
          }
          if (shown.length > 0) await engine.track(shown);
        }
        const events: TrackEvent[] = st.events.map((e, j) => {
          const opensDay = e.date !== dayOfLast;
          dayOfLast = e.date;
          return { type: BEHAVIOUR_EVENT[e.behaviour], itemId: e.item, scene: SCENE_OF_CODE[simulatedScene(e.behaviour, opensDay)], timestamp: times[next + j] };
        });
        clock = times[next + st.events.length - 1] + 1000;
        await engine.track(events);
        meter.interact(st.item);
        next += st.events.length;
        anchor = st.item;
      }
      meter.endShopper();
    }
    if (performance.now() - lastReport > 15000) {
      lastReport = performance.now();
      console.log(`  ${ci + 1}/${cases.length} shoppers, ${formatDuration((performance.now() - t0) / 1000)}`);
    }
  }
  await engine.dispose();

  const ref = meters[settings.findIndex((s) => s.name === '0')];
  const rows = settings.map((s, si) => {
    const sum = meters[si].summary(catalog.length);
    const { change, se } = pairedHitChange(ref.shoppers, meters[si].shoppers);
    const disc = pairedHitChange(ref.shoppers, meters[si].shoppers, 'discoveries');
    return {
      setting: s.name, exposureDiscount: s.discount, dismiss: s.dismiss, pair: s.pair === true, dismissals: dismissals[si],
      ...sum, hrChange: r4(change), hrChangeSe: r4(se), discoveryChange: r4(disc.change), discoveryChangeSe: r4(disc.se),
    };
  });
  console.log(`\nsetting          | repeat exposure (home / product) | HR@${k} (home / product) | change vs 0 ± se | NDCG@${k} | discovery (home / product) | change vs 0 ± se | distinct/shopper | coverage | dismissals`);
  for (const r of rows) {
    const h = r.byScene.home;
    const p = r.byScene.product;
    console.log(`${r.setting.padEnd(16)} | ${r.repeatExposure.toFixed(4)} (${h.repeatExposure.toFixed(4)} / ${p.repeatExposure.toFixed(4)})`.padEnd(53)
      + ` | ${r.hr.toFixed(4)} (${h.hr.toFixed(4)} / ${p.hr.toFixed(4)}) | ${(r.hrChange >= 0 ? '+' : '') + r.hrChange.toFixed(4)} ± ${r.hrChangeSe.toFixed(4)}`
      + ` | ${r.ndcg.toFixed(4)}  | ${r.discovery.toFixed(4)} (${h.discovery.toFixed(4)} / ${p.discovery.toFixed(4)}) | ${(r.discoveryChange >= 0 ? '+' : '') + r.discoveryChange.toFixed(4)} ± ${r.discoveryChangeSe.toFixed(4)}`
      + ` | ${String(r.distinctPerShopper).padEnd(16)} | ${r.catalogCoverage.toFixed(4)}   | ${r.dismissals}`);
  }
  const off = rows.find((r) => r.setting === '0')!;
  const def = rows.find((r) => r.setting === 'default')!;
  const hrKept = def.hr >= (1 - tolerance) * off.hr;
  const cut = off.repeatExposure > 0 ? 1 - def.repeatExposure / off.repeatExposure : 0;
  const met = hrKept && cut >= minCut;
  const verdict = {
    met, tolerance, minCut, defaults, hrOff: off.hr, hrDefault: def.hr,
    hrRatio: r4(def.hr / Math.max(1e-9, off.hr)), repeatExposureOff: off.repeatExposure, repeatExposureDefault: def.repeatExposure, repeatCut: r4(cut),
  };
  console.log(`\ndefault exposure discount (home ${defaults.home}, product ${defaults.product}): HR@${k} ${def.hr} vs ${off.hr} off (ratio ${verdict.hrRatio}, tolerance ${tolerance}); `
    + `repeat exposure ${def.repeatExposure} vs ${off.repeatExposure} (cut ${r4(cut * 100)} %, at least ${minCut * 100} % asked): ${met ? 'met' : 'not met'}`);
  const seconds = Math.round((performance.now() - t0) / 1000);
  const result = {
    command: `npm run eval:feedback -- ${process.argv.slice(2).join(' ')}`.trim(),
    model: modelDir, modelVersion: info.modelVersion, backend: info.backend, storage: info.storage, k, testStart, maxSteps,
    shoppers: cases.length, qualifyingShoppers: all.length, catalogItems: catalog.length, scenes: REPLAY_SCENES, dismissShare, seed,
    verdict, settings: rows, seconds,
  };
  console.log(`${formatDuration(seconds)}`);
  writeReplayOutputs(outPrefix, result, svgPlot(result));
  console.log(JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------
// the plot: two panels (training/svg-plot.ts draws them)

interface PlotRow extends ExposureSummary { setting: string; exposureDiscount: Record<ReplayScene, number>; dismiss: boolean; pair?: boolean }

function svgPlot(res: { modelVersion: string; shoppers: number; k: number; maxSteps: number; settings: PlotRow[] }): string {
  const panel = { w: 380, h: 280, top: 70 };
  const lefts = [70, 540];
  const fig = new SvgFigure(960, 490, `Feedback loop replay: ${res.modelVersion}, ${res.shoppers} shoppers, up to ${res.maxSteps} steps, k = ${res.k}`);
  const sweep = res.settings.filter((r) => !r.dismiss && !r.pair && r.setting !== 'default').sort((a, b) => a.exposureDiscount.home - b.exposureDiscount.home);
  const others = res.settings.filter((r) => r.dismiss || r.pair || r.setting === 'default');
  const hrOf = (r: PlotRow) => r.hr;

  // Left: repeat exposure and the distinct-item share against the discount (same in both scenes).
  const a = fig.axes({ ...panel, left: lefts[0] }, 0, 1, 0, 1, 'exposureDiscount (home and product)', 'share', 'Repeat exposure against the discount');
  const series: Array<[string, (r: PlotRow) => number, string, string]> = [
    ['repeat exposure (all lists)', (r) => r.repeatExposure, '#d62728', ''],
    ['repeat exposure, home', (r) => r.byScene.home?.repeatExposure ?? 0, '#ff9896', '4 3'],
    ['repeat exposure, product', (r) => r.byScene.product?.repeatExposure ?? 0, '#9467bd', '4 3'],
    ['distinct items / slots', (r) => r.distinctPerShopper / Math.max(1, r.slotsPerShopper), '#2ca02c', ''],
  ];
  series.forEach(([label, value, color, dash], i) => {
    fig.line(sweep.map((r) => [a.x(r.exposureDiscount.home), a.y(value(r))]), color, dash);
    fig.legend(lefts[0] + (i % 2) * 200, panel.top + panel.h + 56 + Math.floor(i / 2) * 16, label, color, dash);
  });

  // Right: HR@k against repeat exposure; the sweep as a line, default and dismissal settings as squares.
  const points = res.settings;
  const [x0, x1] = paddedRange(points.map((r) => r.repeatExposure));
  const [y0, y1] = paddedRange(points.map(hrOf));
  const b = fig.axes({ ...panel, left: lefts[1] }, x0, x1, y0, y1, 'repeat exposure (all lists)', `HR@${res.k} (all lists)`, 'Hit rate against repeat exposure');
  fig.line(sweep.map((r) => [b.x(r.repeatExposure), b.y(hrOf(r))]), '#1f77b4');
  sweep.forEach((r) => fig.text(b.x(r.repeatExposure) + 5, b.y(hrOf(r)) - 6, r.setting, 'fill="#333" font-size="11"'));
  for (const r of others) {
    const color = r.dismiss ? '#ff7f0e' : r.pair ? '#7f7f7f' : '#2ca02c';
    fig.marker([b.x(r.repeatExposure), b.y(hrOf(r))], color);
    fig.text(b.x(r.repeatExposure) + 8, b.y(hrOf(r)) + 14, r.setting, `fill="${color}" font-size="11"`);
  }
  fig.text(`${lefts[1]}`, `${panel.top + panel.h + 56}`, 'line: one strength in both scenes; squares: the defaults (green),', 'fill="#555"');
  fig.text(`${lefts[1]}`, `${panel.top + panel.h + 72}`, 'home/product pairs (grey), with dismissals (orange); up-left is better', 'fill="#555"');
  return fig.toString();
}
