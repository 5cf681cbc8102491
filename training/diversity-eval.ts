/**
 * Diversity trade-off curve of the SDK's ranking: NDCG@10 against list variety as the
 * `diversity` knob goes from 0 to 1.
 *
 *   npm run eval:diversity -- [--model models/tianchi-sasrec] [--data ../shared/data/tianchi-ecomm]
 *       [--protocol loo|time] [--test-start 20190618] [--k 10] [--levels 0,0.1,...,1]
 *       [--objectives click,cart,purchase[,satisfaction] (the home scene's default)] [--max-users N]
 *       [--check-users 25] [--backend wasm|cpu] [--out docs/diversity | --out none]
 *
 * It runs the real SDK engine (src/engine.ts, the code a shop's worker runs) in Node, so `--model`
 * takes any model folder the SDK can load (model.json + weights.bin + vocab.json), single- or
 * multi-head. The catalog is every item of the model's vocabulary, with category, brand and price
 * from items.tsv. For each evaluation user:
 *   1. the history's events, as logged, are tracked through the public API (behaviour 1..4 ->
 *      click, favorite, cart, purchase; each event's scene simulated from its type and day as the
 *      multi-task training data does: purchase -> cart, cart/favourite -> product, a day's first
 *      click -> home, other clicks -> product), so the engine builds the model input itself;
 *   2. one home-scene call at diversity 0 returns the MMR pool (the best max(5k, 50) items, the
 *      only ones MMR ever looks at for a list of k), with the SDK's scores;
 *   3. src/ranking.ts rankCandidates re-ranks that pool at each diversity level, with the model's
 *      unit item embeddings and the catalog categories, exactly as the engine would. For the first
 *      `--check-users` users every level is also asked of the engine itself and must give the same
 *      list; if any differs, every list is asked of the engine (slower, always exact).
 *
 * Protocols (the SDK's purchased / in-cart exclusions are off in both, so every item can be ranked):
 *   loo  (default) the leave-one-out split of training/evaluate.ts and `npm run eval`: Tianchi
 *        events by day as the featuriser makes them a sequence (src/model/inputs.ts modelSequence:
 *        items the model does not know dropped, then consecutive repeats collapsed); target =
 *        each user's last step, history = the events before it; the user's other history items are
 *        excluded from the list (the "full" protocol). At diversity 0 this reproduces
 *        `npm run eval -- --protocol full` (its default `--repeats collapse`). Right for models trained on the leave-one-out split
 *        (tianchi-sasrec).
 *   time history = every event before --test-start (default 20190618: the last 2 days); target =
 *        the first item of the hold-out days that the model knows; nothing excluded. Right for
 *        models trained on the days before (the multi-task model).
 *
 * Metrics per level, mean over users: NDCG@10 (and its change against the first level, with the
 * paired standard error over users) and HR@10 of the target; intra-list diversity
 * ILD = 1 - mean pairwise cosine of the listed items' embeddings (the evaluated model's own item
 * embeddings, so compare ILD between models with care); distinct-category share = distinct
 * categories / list length; and over all users' lists: category coverage (share of the catalog's
 * categories shown to anyone) and item coverage.
 *
 * Prints a table; writes <out>.json and <out>.svg (training/svg-plot.ts); the LAST line is one JSON object with every figure.
 */
import 'fake-indexeddb/auto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { leaveOneOut, DataFormatError } from './data.js';
import { loadModelDir, readDataset, setNodeBackend } from './node-io.js';
import { parseFlags, UsageError, formatDuration } from './cli.js';
import { createEngine } from '../src/engine/engine.js';
import { DEFAULT_OBJECTIVES } from '../src/contract/defaults.js';
import { mmrPoolSize, rankCandidates, type RankCandidate } from '../src/ranking/rank.js';
import { modelSequence } from '../src/model/inputs.js';
import { simulatedScene } from './mtl-data.js';
import { BEHAVIOUR_EVENT, fileFetch, SCENE_OF_CODE } from './replay-io.js';
import { paddedRange, SvgFigure } from './svg-plot.js';
import type {
  BackendName, CatalogItem, ObjectiveWeights, RecommendedItem, SceneName, ShopRules, TrackEvent,
} from '../src/contract/protocol.js';

const HELP = `usage: npm run eval:diversity -- [--model <dir> (models/tianchi-sasrec)] [--data <dir> (../shared/data/tianchi-ecomm)]
       [--protocol loo|time (loo)] [--test-start YYYYMMDD (20190618)] [--k N (10)] [--levels 0,0.1,...,1]
       [--objectives click,cart,purchase[,satisfaction] (home default)] [--max-users N] [--check-users N (25)]
       [--backend wasm|cpu (wasm)] [--out <path prefix> (docs/diversity) | none]`;

/** One evaluation case: the raw events to track, the target (a model index), the ids to leave out of the list. */
interface Case {
  user: string;
  history: Array<{ itemId: string; behaviour: number; date: number }>;
  target: number;
  exclude: number[];
}

/** The scene of a history event, simulated as the multi-task training data does (the one rule: training/mtl-data.ts). */
function simulatedScenes(history: Case['history']): SceneName[] {
  let day = -1;
  return history.map((e) => {
    const opensDay = e.date !== day;
    day = e.date;
    return SCENE_OF_CODE[simulatedScene(e.behaviour, opensDay)];
  });
}

/** A user's log events with dates in [from, to), oldest first. */
function userEvents(ds: ReturnType<typeof readDataset>, u: number, from = 0, to = Infinity): Case['history'] {
  const s = ds.sequences[u];
  const b = ds.behaviours[u];
  const d = ds.dates![u];
  const out: Case['history'] = [];
  for (let i = 0; i < s.length; i++) if (d[i] >= from && d[i] < to) out.push({ itemId: ds.itemIds[s[i]], behaviour: b[i], date: d[i] });
  return out;
}

/** The model's sequence of events, as the engine builds it from them (src/model/inputs.ts, the serving rule). */
function sequenceOf(events: Case['history'], vocabIndex: Map<string, number>) {
  return modelSequence(events.map((e) => e.itemId), (id) => vocabIndex.get(id));
}

function looCases(ds: ReturnType<typeof readDataset>, vocabIndex: Map<string, number>): Case[] {
  const events = ds.sequences.map((_, u) => userEvents(ds, u));
  const seqs = events.map((e) => sequenceOf(e, vocabIndex));
  const split = leaveOneOut(seqs.map((s) => Int32Array.from(s.ids)));
  const out: Case[] = [];
  seqs.forEach((s, u) => {
    const target = split.test[u];
    if (!target) return;
    // Every event before the one that starts the target's step: the engine then reads the other steps.
    const last = s.ids.length - 1;
    const history = events[u].slice(0, s.stepOf.indexOf(last));
    const seen = new Set(s.ids.slice(0, last));
    seen.delete(target);
    out.push({ user: ds.users[u], history, target, exclude: [...seen] });
  });
  return out;
}

function timeCases(ds: ReturnType<typeof readDataset>, vocabIndex: Map<string, number>, testStart: number): Case[] {
  const out: Case[] = [];
  ds.sequences.forEach((_, u) => {
    const history = userEvents(ds, u, 0, testStart);
    const period = sequenceOf(userEvents(ds, u, testStart), vocabIndex).ids;
    if (sequenceOf(history, vocabIndex).ids.length === 0 || period.length === 0) return;
    out.push({ user: ds.users[u], history, target: period[0], exclude: [] });
  });
  return out;
}

function readItems(file: string): Map<string, { topCategory: string; category: string; brand: string; price: number }> {
  const out = new Map<string, { topCategory: string; category: string; brand: string; price: number }>();
  const text = fs.readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [id, topCategory, category, brand, price] = line.split('\t');
    out.set(id, { topCategory, category, brand, price: Number(price) });
  }
  return out;
}

interface LevelStats {
  diversity: number;
  'ndcg@10': number;
  /** NDCG@10 minus the first level's, and its paired standard error over users. */
  'ndcg@10 change': number;
  'ndcg@10 change se': number;
  'hr@10': number;
  /** 1 - mean pairwise cosine of the listed items' embeddings. */
  ild: number;
  /** Distinct categories / list length. */
  categoryShare: number;
  /** Mean number of distinct categories per list. */
  distinctCategories: number;
  /** Share of the catalog's categories that appear in some user's list. */
  categoryCoverage: number;
  /** Share of the catalog's items that appear in some user's list. */
  itemCoverage: number;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** `npm run eval:diversity` (scripts/eval-diversity.ts is its command-line wrapper). */
export async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), {
    model: 'string', data: 'string', protocol: 'string', 'test-start': 'number', k: 'number', levels: 'string',
    objectives: 'string', 'max-users': 'number', 'check-users': 'number', backend: 'string', out: 'string', help: 'boolean',
  });
  if (f.help) { console.log(HELP); return; }
  const modelDir = (f.model as string) ?? 'models/tianchi-sasrec';
  const dataDir = (f.data as string) ?? '../shared/data/tianchi-ecomm';
  const protocol = (f.protocol as string) ?? 'loo';
  if (protocol !== 'loo' && protocol !== 'time') throw new UsageError(`--protocol must be loo or time\n${HELP}`);
  const testStart = (f['test-start'] as number) ?? 20190618;
  const k = (f.k as number) ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > 40) throw new UsageError('--k must be an integer from 1 to 40');
  const levels = ((f.levels as string) ?? '0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1').split(',').map(Number);
  if (levels.some((l) => !(l >= 0 && l <= 1))) throw new UsageError('--levels must be numbers from 0 to 1, comma separated');
  let objectives: Required<ObjectiveWeights> = { ...DEFAULT_OBJECTIVES.home };
  if (f.objectives !== undefined) {
    const w = String(f.objectives).split(',').map(Number);
    if ((w.length !== 3 && w.length !== 4) || w.some((x) => !(x >= 0)) || w.every((x) => x === 0)) {
      throw new UsageError('--objectives must be three or four weights click,cart,purchase[,satisfaction] (e.g. 1,0.5,0.5,0.3), not all 0');
    }
    objectives = { click: w[0], cart: w[1], purchase: w[2], satisfaction: w[3] ?? 0 };
  }
  const checkUsers = (f['check-users'] as number) ?? 25;
  const backend = ((f.backend as string) ?? 'wasm') as BackendName;
  if (backend !== 'wasm' && backend !== 'cpu') throw new UsageError('--backend must be wasm or cpu');
  const outPrefix = (f.out as string) ?? 'docs/diversity';

  const t0 = performance.now();
  await setNodeBackend(backend);
  // The model's vocabulary and unit item embeddings (the engine normalises the same rows for MMR).
  const model = loadModelDir(modelDir);
  const { header, vocab } = model;
  const d = header.config.hiddenDim;
  const table = (await model.weights.itemEmbedding.data()) as Float32Array;
  tf.dispose(Object.values(model.weights));
  const unit: Float32Array[] = [];
  for (let m = 0; m < vocab.itemIds.length; m++) {
    const v = table.slice(m * d, (m + 1) * d);
    let n = 0;
    for (let i = 0; i < d; i++) n += v[i] * v[i];
    n = Math.sqrt(n) || 1;
    for (let i = 0; i < d; i++) v[i] /= n;
    unit.push(v);
  }
  const vocabIndex = new Map<string, number>();
  vocab.itemIds.forEach((id, i) => { if (i > 0) vocabIndex.set(id, i); });

  // The catalog: every model item, with its metadata.
  const meta = readItems(path.join(dataDir, 'items.tsv'));
  const catalog: CatalogItem[] = vocab.itemIds.slice(1).map((id) => {
    const row = meta.get(id);
    if (!row) return { id };
    const item: CatalogItem = { id, category: row.category, price: row.price, meta: { topCategory: row.topCategory } };
    if (row.brand && row.brand !== '0') item.brand = row.brand;
    return item;
  });
  const categoryOf = new Map<string, string | undefined>(catalog.map((c) => [c.id, c.category]));
  const catalogCategories = new Set(catalog.map((c) => c.category).filter((c) => c !== undefined)).size;

  // The evaluation users.
  const ds = readDataset(path.join(dataDir, 'events.tsv'), 'tianchi');
  let cases = protocol === 'loo' ? looCases(ds, vocabIndex) : timeCases(ds, vocabIndex, testStart);
  if (f['max-users'] !== undefined && cases.length > (f['max-users'] as number)) cases = cases.slice(0, f['max-users'] as number);
  if (cases.length === 0) throw new UsageError('no evaluation user: check --data, --protocol and --test-start');

  const engine = await createEngine({
    modelUrl: pathToFileURL(path.resolve(modelDir, 'model.json')).href,
    catalog, backend, dbName: `scenerec-eval-diversity-${process.pid}`,
    excludePurchased: false, excludeInCart: false,
    retention: { maxEvents: 100_000, maxAgeDays: 3650 },
  }, { fetch: fileFetch });
  console.log(`model ${modelDir} (${header.modelVersion}, ${header.architecture ?? 'sasrec'}) on ${(await engine.info()).backend}; `
    + `catalog ${catalog.length} items, ${catalogCategories} categories; protocol ${protocol}${protocol === 'time' ? ` (hold-out from ${testStart})` : ''}; `
    + `${cases.length} users; k ${k}; objectives ${JSON.stringify(objectives)}`);

  const pool = mmrPoolSize(k);
  const acc = levels.map(() => ({ ndcg: 0, hr: 0, ild: 0, share: 0, distinct: 0, cats: new Set<string>(), items: new Set<string>(), perUser: [] as number[] }));
  let exact = false;
  let checked = 0;
  let mismatches = 0;
  let lastReport = performance.now();
  for (let ci = 0; ci < cases.length; ci++) {
    const c = cases[ci];
    await engine.clearHistory();
    const base = Date.now() - c.history.length * 1000;
    const scenes = simulatedScenes(c.history);
    const events: TrackEvent[] = c.history.map((h, i) => ({
      type: BEHAVIOUR_EVENT[h.behaviour], itemId: h.itemId, scene: scenes[i], timestamp: base + i * 1000,
    }));
    await engine.track(events);
    const rules: ShopRules = { fallbackToPopular: false };
    if (c.exclude.length > 0) rules.exclude = { itemIds: c.exclude.map((m) => vocab.itemIds[m]) };
    const request = (diversity: number, n: number) => engine.recommend('home', { k: n, diversity, objectives, rules });

    const lists: RecommendedItem[][] = [];
    if (exact) {
      for (const level of levels) lists.push((await request(level, k)).items);
    } else {
      const top = (await request(0, pool)).items;
      const candidates: RankCandidate[] = top.map((it) => {
        const m = vocabIndex.get(it.itemId);
        const cand: RankCandidate = { itemId: it.itemId, score: it.score, reason: it.reason };
        if (it.item) cand.item = it.item;
        if (m !== undefined) cand.embedding = unit[m];
        return cand;
      });
      for (const level of levels) lists.push(rankCandidates(candidates, { k, diversity: level, unique: true }));
      if (checked < checkUsers) {
        checked++;
        for (let li = 0; li < levels.length; li++) {
          const sdk = (await request(levels[li], k)).items.map((x) => x.itemId).join(',');
          if (sdk !== lists[li].map((x) => x.itemId).join(',')) mismatches++;
        }
        if (mismatches > 0) {
          console.warn(`warning: the re-ranked pool differs from the engine's own lists (${mismatches} of ${checked * levels.length} checked); asking the engine for every list from now on`);
          exact = true;
          // Start again, so every user's lists come from the same method.
          for (const a of acc) { a.ndcg = a.hr = a.ild = a.share = a.distinct = 0; a.cats.clear(); a.items.clear(); a.perUser.length = 0; }
          ci = -1;
          continue;
        }
      }
    }

    const targetId = vocab.itemIds[c.target];
    lists.forEach((list, li) => {
      const a = acc[li];
      const rank = list.findIndex((x) => x.itemId === targetId);
      const gain = rank >= 0 ? 1 / Math.log2(rank + 2) : 0;
      if (rank >= 0) a.hr++;
      a.ndcg += gain;
      a.perUser.push(gain);
      const cats = new Set<string>();
      for (const x of list) {
        a.items.add(x.itemId);
        const cat = categoryOf.get(x.itemId);
        if (cat !== undefined) { cats.add(cat); a.cats.add(cat); }
      }
      a.distinct += cats.size;
      a.share += list.length ? cats.size / list.length : 0;
      let sum = 0;
      let pairs = 0;
      for (let i = 0; i < list.length; i++) {
        const ei = unit[vocabIndex.get(list[i].itemId) ?? 0];
        for (let j = i + 1; j < list.length; j++) {
          const ej = unit[vocabIndex.get(list[j].itemId) ?? 0];
          let dot = 0;
          for (let x = 0; x < d; x++) dot += ei[x] * ej[x];
          sum += dot;
          pairs++;
        }
      }
      a.ild += pairs ? 1 - sum / pairs : 0;
    });
    if (process.stderr.isTTY && performance.now() - lastReport > 1000) {
      lastReport = performance.now();
      const el = (performance.now() - t0) / 1000;
      process.stderr.write(`\r${ci + 1}/${cases.length} users, ${formatDuration(el)} elapsed, ETA ${formatDuration((el / (ci + 1)) * (cases.length - ci - 1))}   `);
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  await engine.dispose();

  const n = cases.length;
  const rows: LevelStats[] = levels.map((level, li) => {
    const a = acc[li];
    // Paired standard error of the NDCG@10 change against the first level (same users, same targets).
    const base = acc[0].perUser;
    let m = 0;
    let m2 = 0;
    a.perUser.forEach((g, u) => { const x = g - base[u]; m += x; m2 += x * x; });
    m /= n;
    const deltaSe = n > 1 ? Math.sqrt(Math.max(0, m2 / n - m * m) / (n - 1)) : 0;
    return {
      diversity: level,
      'ndcg@10': r4(a.ndcg / n), 'ndcg@10 change': r4(m), 'ndcg@10 change se': r4(deltaSe), 'hr@10': r4(a.hr / n), ild: r4(a.ild / n),
      categoryShare: r4(a.share / n), distinctCategories: r4(a.distinct / n),
      categoryCoverage: r4(a.cats.size / Math.max(catalogCategories, 1)), itemCoverage: r4(a.items.size / catalog.length),
    };
  });
  const seconds = Math.round((performance.now() - t0) / 100) / 10;

  console.log('');
  console.log(`diversity  NDCG@10  change (± se) vs ${levels[0]}  HR@10   ILD     cat.share  distinct cats  cat.coverage  item coverage`);
  for (const r of rows) {
    const change = `${r['ndcg@10 change'] >= 0 ? '+' : ''}${r['ndcg@10 change'].toFixed(4)} ± ${r['ndcg@10 change se'].toFixed(4)}`;
    console.log(`${r.diversity.toFixed(2).padStart(9)}  ${r['ndcg@10'].toFixed(4)}   ${change.padEnd(20)}  ${r['hr@10'].toFixed(4)}  ${r.ild.toFixed(4)}  ${r.categoryShare.toFixed(4)}     ${r.distinctCategories.toFixed(2).padStart(6)}         ${r.categoryCoverage.toFixed(4)}        ${r.itemCoverage.toFixed(4)}`);
  }
  const check = exact
    ? { method: 'engine', note: 'every list asked of the engine (the re-ranked pool differed)', checkedUsers: checked, mismatches }
    : { method: 'rerank', checkedUsers: checked, checkedLists: checked * levels.length, mismatches };
  console.log(`SDK check: ${exact ? 'every list came from the engine' : `${checked * levels.length} lists of ${checked} users re-ranked here equal the engine's own, ${mismatches} differ`}; ${seconds} s`);

  const result = {
    command: `npm run eval:diversity -- ${process.argv.slice(2).join(' ')}`.trim(),
    model: modelDir, modelVersion: header.modelVersion, architecture: header.architecture ?? 'sasrec',
    data: dataDir, protocol, ...(protocol === 'time' ? { testStart } : {}), scene: 'home', objectives, k,
    users: n, catalogItems: catalog.length, catalogCategories, backend, check, seconds, levels: rows,
  };
  if (outPrefix !== 'none') {
    fs.mkdirSync(path.dirname(path.resolve(outPrefix)), { recursive: true });
    fs.writeFileSync(`${outPrefix}.json`, `${JSON.stringify(result, null, 1)}\n`);
    fs.writeFileSync(`${outPrefix}.svg`, svgPlot(result));
    console.log(`wrote ${outPrefix}.json and ${outPrefix}.svg`);
  }
  console.log(JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------
// the plot: two panels (training/svg-plot.ts draws them)

interface PlotInput { modelVersion: string; protocol: string; users: number; k: number; levels: LevelStats[] }

function svgPlot(res: PlotInput): string {
  const panel = { w: 380, h: 280, top: 70 };
  const lefts = [70, 540];
  const fig = new SvgFigure(960, 470, `Diversity trade-off: ${res.modelVersion}, ${res.protocol} protocol, ${res.users} users, k = ${res.k}`);

  // Left: every measure against the knob, on one 0..1 axis.
  const L = res.levels;
  const a = fig.axes({ ...panel, left: lefts[0] }, 0, 1, 0, 1, 'diversity knob (request option diversity)', 'value', 'Measures against the knob');
  const series: Array<[keyof LevelStats, string, string, string]> = [
    ['ndcg@10', 'NDCG@10', '#d62728', ''],
    ['hr@10', 'HR@10', '#ff9896', '4 3'],
    ['ild', 'ILD (embeddings)', '#1f77b4', ''],
    ['categoryShare', 'distinct-cat. share', '#2ca02c', ''],
    ['categoryCoverage', 'category coverage', '#9467bd', '4 3'],
  ];
  series.forEach(([key, label, color, dash], i) => {
    fig.line(L.map((r) => [a.x(r.diversity), a.y(r[key] as number)]), color, dash);
    fig.legend(lefts[0] + (i % 3) * 150, panel.top + panel.h + 56 + Math.floor(i / 3) * 16, label, color, dash);
  });

  // Right: NDCG@10 against the distinct-category share, each point labelled with its knob value.
  const [x0, x1] = paddedRange(L.map((r) => r.categoryShare));
  const [y0, y1] = paddedRange(L.map((r) => r['ndcg@10']));
  const b = fig.axes({ ...panel, left: lefts[1] }, x0, x1, y0, y1, 'distinct categories / list length', 'NDCG@10', 'Accuracy against variety');
  fig.line(L.map((r) => [b.x(r.categoryShare), b.y(r['ndcg@10'])]), '#d62728');
  L.forEach((r) => fig.text(b.x(r.categoryShare) + 5, b.y(r['ndcg@10']) - 6, r.diversity.toFixed(1), 'fill="#333" font-size="11"'));
  fig.text(`${lefts[1]}`, `${panel.top + panel.h + 56}`, 'labels: knob value; up and right is better', 'fill="#555"');
  return fig.toString();
}
