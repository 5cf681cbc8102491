/**
 * Long-tail trade-off of the SDK's ranking: NDCG@10 against the share of tail items in the lists and
 * catalog coverage as the home request's `tailExposure` goes from 0 to 1 (the companion of
 * training/diversity-eval.ts, on its `time` protocol).
 *
 *   npm run eval:longtail -- [--model models/tianchi-mtl] [--data ../shared/data/tianchi-ecomm]
 *       [--test-start 20190618] [--k 10] [--levels 0,0.1,0.2,0.3,0.5,0.7,1] [--head 0.2] [--max-users 500]
 *       [--backend wasm|cpu] [--out docs/longtail | none]
 *
 * Protocol: the real engine in Node, catalog = every item of the model's vocabulary with category,
 * brand and price from items.tsv; per shopper, history = every event before --test-start (tracked
 * through the public API, scenes simulated as in training), target = the first item of the hold-out
 * days that the model knows; the purchased / in-cart exclusions are off so every item can be ranked
 * (as in the diversity evaluation). Every list is asked of the engine (home scene, every other option
 * at its default). The head = the most popular --head share of the catalog by the model's
 * popularity counts; the tail = the rest.
 * Metrics per level: NDCG@10 and HR@10 of the target (mean over shoppers), tail share of the listed
 * items, item coverage (distinct listed items over all shoppers / catalog size), and tail coverage
 * (distinct listed tail items / tail size).
 *
 * Prints a table; writes <out>.json and <out>.svg (the curves: NDCG@10 against the tail share, and
 * coverage against the knob); the LAST line is one JSON object with every figure. `--from <out>.json`
 * draws the SVG again from a saved run, without running it.
 */
import 'fake-indexeddb/auto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseFlags, UsageError, formatDuration } from './cli.js';
import { loadModelDir, setNodeBackend } from './node-io.js';
import { simulatedScene } from './mtl-data.js';
import { BEHAVIOUR_EVENT, fileFetch, readTianchiEvents, REPLAY_FLAGS, replayOptions, SCENE_OF_CODE, writeReplayOutputs, type TianchiEvent } from './replay-io.js';
import { paddedRange, SvgFigure } from './svg-plot.js';
import { createEngine } from '../src/engine/engine.js';
import type { CatalogItem, TrackEvent } from '../src/contract/protocol.js';

const HELP = `usage: npx tsx scripts/eval-longtail.ts [--model <dir> (models/tianchi-mtl)] [--data <dir> (../shared/data/tianchi-ecomm)]
       [--test-start YYYYMMDD (20190618)] [--k N (10)] [--levels 0,0.1,0.2,0.3,0.5,0.7,1] [--head 0.2] [--max-users N (500)]
       [--backend wasm|cpu (wasm)] [--out <path prefix> (docs/longtail) | none] [--from <run>.json (draw its SVG only)]`;


type Ev = TianchiEvent;

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), { ...REPLAY_FLAGS, levels: 'string', head: 'number', 'max-users': 'number', from: 'string' });
  if (f.help) { console.log(HELP); return; }
  if (f.from) {
    const file = f.from as string;
    let saved: LongtailRun;
    try { saved = JSON.parse(fs.readFileSync(file, 'utf8')) as LongtailRun; } catch (e) { throw new UsageError(`--from ${file}: ${(e as Error).message}`); }
    if (!Array.isArray(saved.levels) || saved.levels.length === 0) throw new UsageError(`--from ${file}: not a saved eval:longtail run (no levels)`);
    const svg = file.replace(/\.json$/, '') + '.svg';
    fs.writeFileSync(svg, longtailSvg(saved));
    console.log(`wrote ${svg}`);
    return;
  }
  const { modelDir, dataDir, testStart, k, backend, outPrefix } = replayOptions(f, 'docs/longtail');
  const levels = ((f.levels as string) ?? '0,0.1,0.2,0.3,0.5,0.7,1').split(',').map(Number);
  if (levels.some((l) => !(l >= 0 && l <= 1))) throw new UsageError('--levels must be numbers from 0 to 1, comma separated');
  const headShare = (f.head as number) ?? 0.2;
  if (!(headShare > 0 && headShare < 1)) throw new UsageError('--head must be a share between 0 and 1');
  const maxUsers = (f['max-users'] as number) ?? 500;

  const t0 = performance.now();
  await setNodeBackend(backend);
  const model = loadModelDir(modelDir);
  tf.dispose(Object.values(model.weights));
  const { vocab } = model;
  const known = new Set(vocab.itemIds.slice(1));
  const meta = new Map<string, string[]>();
  for (const line of fs.readFileSync(path.join(dataDir, 'items.tsv'), 'utf8').split('\n')) {
    if (line.trim()) { const row = line.split('\t'); meta.set(row[0], row); }
  }
  const catalog: CatalogItem[] = vocab.itemIds.slice(1).map((id) => {
    const row = meta.get(id);
    if (!row) return { id };
    const item: CatalogItem = { id, category: row[2], price: Number(row[4]) };
    if (row[3] && row[3] !== '0') item.brand = row[3];
    return item;
  });
  // Head: the most popular share of the catalog by the model's popularity counts.
  const byPop = vocab.itemIds.slice(1).map((id, i) => ({ id, pop: vocab.popularity[i + 1] })).sort((a, b) => b.pop - a.pop);
  const head = new Set(byPop.slice(0, Math.round(byPop.length * headShare)).map((x) => x.id));
  const tailSize = catalog.length - head.size;

  const cases: Array<{ history: Ev[]; target: string }> = [];
  for (const list of readTianchiEvents(path.join(dataDir, 'events.tsv')).values()) {
    const history = list.filter((e) => e.date < testStart);
    const target = list.find((e) => e.date >= testStart && known.has(e.item));
    if (history.length > 0 && target) cases.push({ history, target: target.item });
  }
  const step = Math.max(1, cases.length / maxUsers);
  const picked: typeof cases = [];
  for (let x = 0; Math.floor(x) < cases.length && picked.length < maxUsers; x += step) picked.push(cases[Math.floor(x)]);
  if (picked.length === 0) throw new UsageError('no evaluation user: check --data and --test-start');

  const engine = await createEngine({
    modelUrl: pathToFileURL(path.resolve(modelDir, 'model.json')).href,
    catalog, backend, dbName: `scenerec-eval-longtail-${process.pid}`, excludePurchased: false, excludeInCart: false,
    retention: { maxEvents: 100_000, maxAgeDays: 3650 },
  }, { fetch: fileFetch });
  const info = await engine.info();
  console.log(`model ${modelDir} (${info.modelVersion}) on ${info.backend}; catalog ${catalog.length} items (head ${head.size}, tail ${tailSize}); `
    + `${picked.length} shoppers of ${cases.length}; hold-out from ${testStart}; k ${k}`);

  const acc = levels.map(() => ({ ndcg: 0, hr: 0, tail: 0, listed: 0, items: new Set<string>(), tailItems: new Set<string>() }));
  let lastReport = performance.now();
  for (let ci = 0; ci < picked.length; ci++) {
    const c = picked[ci];
    await engine.clearHistory();
    const base = Date.now() - c.history.length * 1000;
    let day = -1;
    const events: TrackEvent[] = c.history.map((h, i) => {
      const opensDay = h.date !== day;
      day = h.date;
      return { type: BEHAVIOUR_EVENT[h.behaviour], itemId: h.item, scene: SCENE_OF_CODE[simulatedScene(h.behaviour, opensDay)], timestamp: base + i * 1000 };
    });
    await engine.track(events);
    for (let li = 0; li < levels.length; li++) {
      const r = await engine.recommend('home', { k, tailExposure: levels[li] });
      const a = acc[li];
      const rank = r.items.findIndex((x) => x.itemId === c.target);
      if (rank >= 0) { a.hr++; a.ndcg += 1 / Math.log2(rank + 2); }
      for (const x of r.items) {
        a.items.add(x.itemId);
        if (!head.has(x.itemId)) { a.tail++; a.tailItems.add(x.itemId); }
      }
      a.listed += r.items.length;
    }
    if (performance.now() - lastReport > 15000) {
      lastReport = performance.now();
      console.log(`  ${ci + 1}/${picked.length} shoppers, ${formatDuration((performance.now() - t0) / 1000)}`);
    }
  }
  await engine.dispose();

  const n = picked.length;
  const rows = levels.map((level, li) => {
    const a = acc[li];
    return {
      tailExposure: level, [`ndcg@${k}`]: r4(a.ndcg / n), [`hr@${k}`]: r4(a.hr / n), tailShare: r4(a.tail / Math.max(1, a.listed)),
      itemCoverage: r4(a.items.size / catalog.length), tailCoverage: r4(a.tailItems.size / Math.max(1, tailSize)),
    };
  });
  console.log(`\ntailExposure | NDCG@${k} | HR@${k} | tail share | item coverage | tail coverage`);
  for (const r of rows) {
    console.log(`${String(r.tailExposure).padEnd(12)} | ${String(r[`ndcg@${k}`]).padEnd(7)} | ${String(r[`hr@${k}`]).padEnd(6)} | `
      + `${String(r.tailShare).padEnd(10)} | ${String(r.itemCoverage).padEnd(13)} | ${r.tailCoverage}`);
  }
  const result = {
    command: `npm run eval:longtail -- ${process.argv.slice(2).join(' ')}`.trim(),
    model: modelDir, modelVersion: info.modelVersion, backend: info.backend, k, testStart, shoppers: n, headShare,
    headItems: head.size, tailItems: tailSize, levels: rows, seconds: Math.round((performance.now() - t0) / 1000),
  };
  writeReplayOutputs(outPrefix, result, longtailSvg(result));
  console.log(JSON.stringify(result));
}

/** A saved run, as far as the plot reads it. */
interface LongtailRun {
  modelVersion: string; shoppers: number; k: number; headShare: number;
  levels: Array<Record<string, number> & { tailExposure: number; tailShare: number; itemCoverage: number; tailCoverage: number }>;
}

/** Two panels: NDCG@k against the tail share of the lists (the trade-off), and coverage against tailExposure. */
export function longtailSvg(run: LongtailRun): string {
  const panel = { w: 380, h: 280, top: 70 };
  const lefts = [70, 540];
  const fig = new SvgFigure(960, 470, `Long tail: tailExposure on the home scene, ${run.modelVersion}, ${run.shoppers} shoppers, k = ${run.k}, tail = all but the ${Math.round(run.headShare * 100)} % most popular`);
  const rows = [...run.levels].sort((a, b) => a.tailExposure - b.tailExposure);
  const ndcg = (r: LongtailRun['levels'][number]) => r[`ndcg@${run.k}`];
  const [x0, x1] = paddedRange(rows.map((r) => r.tailShare));
  const [y0, y1] = paddedRange(rows.map(ndcg));
  const a = fig.axes({ ...panel, left: lefts[0] }, x0, x1, y0, y1, 'tail share of the listed items', `NDCG@${run.k}`, 'Relevance against the tail share');
  fig.line(rows.map((r) => [a.x(r.tailShare), a.y(ndcg(r))]), '#1f77b4');
  rows.forEach((r) => fig.text(a.x(r.tailShare) + 5, a.y(ndcg(r)) - 6, String(r.tailExposure), 'fill="#333" font-size="11"'));
  fig.text(`${lefts[0]}`, `${panel.top + panel.h + 56}`, 'labels: tailExposure; up-right is better', 'fill="#555"');
  const [c0, c1] = paddedRange(rows.flatMap((r) => [r.itemCoverage, r.tailCoverage]));
  const b = fig.axes({ ...panel, left: lefts[1] }, 0, 1, c0, c1, 'tailExposure', 'coverage', 'Catalog coverage against the knob');
  const series: Array<[string, (r: LongtailRun['levels'][number]) => number, string]> = [
    ['item coverage (distinct listed items / catalog)', (r) => r.itemCoverage, '#2ca02c'],
    ['tail coverage (distinct listed tail items / tail)', (r) => r.tailCoverage, '#ff7f0e'],
  ];
  series.forEach(([label, value, color], i) => {
    fig.line(rows.map((r) => [b.x(r.tailExposure), b.y(value(r))]), color);
    fig.legend(lefts[1], panel.top + panel.h + 56 + i * 16, label, color);
  });
  return fig.toString();
}
