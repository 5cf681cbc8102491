/**
 * Multi-objective evaluation (npm run eval -- --format tianchi --items <items.tsv> ...):
 * per-task HR@10 / NDCG@10 of the next clicked, carted, purchased and favourited item on the
 * time-ordered hold-out (favorite: the satisfaction head; a model without it prints "no head"), purchase GAUC, cold items, and (with --cold-start) shoppers with 0, 1 and 3 events.
 * Prints tables; the LAST line is one JSON object with every figure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readMtlData, DEFAULT_MTL_DATA_OPTIONS, type MtlData } from '../training/mtl-data.js';
import { evaluateMtlScorer, itemKnnMtlScorer, mtlModelScorer, popularityScorer, recentItemsScorer, type MtlMetrics, type MtlScorer } from '../training/mtl-eval.js';
import { loadModelDir, setNodeBackend } from '../training/node-io.js';
import { DEFAULT_FEATURE_INPUT_OPTIONS, UNKNOWN_RULES, type UnknownRule } from '../src/model/inputs.js';
import { parseFlags, UsageError } from '../training/cli.js';

export const MTL_EVAL_HELP = `usage: npm run eval -- (--model <dir> | --baseline popular|trending|recent|itemknn) --data <events.tsv> --format tianchi --items <items.tsv>
       [--period test|valid (test)] [--candidates catalog|vocab (catalog)] [--targets first|every (first)] [--cold-start] [--backend wasm|cpu]
       [--unknown mask|drop (mask)] [--train-end YYYYMMDD --valid-day YYYYMMDD --test-start YYYYMMDD] [--users-known-to <dir>]
  --targets first: each shopper's first click / cart / purchase of the period (a return visit);
  --targets every: every click / cart / purchase of the period, each from all events before it.
  Each task's figures are also split by target: in the shopper's history (a repeat) or new to the shopper.
  Baselines: recent = the shopper's own items, newest first; popular = all days before the period; trending = its
  last 2 days; itemknn = item-KNN over the shopper's items (co-occurrence in the days before the period).
  --unknown: history items the model never saw are kept as masked positions with their content
  (mask, as the SDK serves and the bundled model's figures were published) or left out (drop, how the SDK served before issue #15).
  The model must be a multi-task model (npm run train -- --arch mtl); its vocabulary defines the
  training items, the hold-out days are those it was trained with: the split in its training.json (a refit model's
  training items are those up to its refit day), else the flags, else test from ${DEFAULT_MTL_DATA_OPTIONS.testStart}.
  --users-known-to DIR: only the shoppers whose history before the period holds an item of DIR's vocabulary (a model
  with more training days has more shoppers with a known item: this ranks two such models on the same shoppers).`;

function flat(prefix: string, m: MtlMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of m.tasks) {
    if (t.missing) { out[`${prefix}${t.task}/users`] = t.users; continue; }
    out[`${prefix}${t.task}/hr@10`] = t['hr@10']; out[`${prefix}${t.task}/ndcg@10`] = t['ndcg@10'];
    out[`${prefix}${t.task}/hr@20`] = t['hr@20']; out[`${prefix}${t.task}/mrr`] = t.mrr; out[`${prefix}${t.task}/users`] = t.users;
    out[`${prefix}${t.task}/in-history/targets`] = t.inHistory.targets; out[`${prefix}${t.task}/in-history/ndcg@10`] = t.inHistory['ndcg@10'];
    out[`${prefix}${t.task}/new/targets`] = t.newToShopper.targets; out[`${prefix}${t.task}/new/ndcg@10`] = t.newToShopper['ndcg@10'];
  }
  out[`${prefix}purchase/gauc`] = m.purchaseGauc;
  out[`${prefix}purchase/gauc-users`] = m.gaucUsers;
  return out;
}

function table(title: string, m: MtlMetrics): void {
  console.log(`${title} (${m.users} users)`);
  console.log('  task      users  HR@10   NDCG@10 HR@20   MRR     (targets and NDCG@10 by target)');
  for (const t of m.tasks) {
    if (t.missing) { console.log(`  ${t.task.padEnd(9)} ${String(t.users).padStart(5)}  no head (the model has none for this task)`); continue; }
    const part = (p: MtlMetrics['tasks'][number]['inHistory']) => `${p.targets} ${p['ndcg@10'].toFixed(4)}`;
    console.log(`  ${t.task.padEnd(9)} ${String(t.users).padStart(5)}  ${t['hr@10'].toFixed(4)}  ${t['ndcg@10'].toFixed(4)}  ${t['hr@20'].toFixed(4)}  ${t.mrr.toFixed(4)}  in history ${part(t.inHistory)} · new ${part(t.newToShopper)}`);
  }
  console.log(`  purchase GAUC ${m.purchaseGauc.toFixed(4)} over ${m.gaucUsers} users; cold-item targets ${m.coldItems.targets}: HR@10 ${m.coldItems['hr@10'].toFixed(4)}, HR@50 ${m.coldItems['hr@50'].toFixed(4)}`);
}

/** The split a model folder's training.json records (npm run train -- --arch mtl), and the day a refit trained through. */
function trainedSplit(dir: string): { split?: { trainEnd: number; validDay: number; testStart: number }; refitThrough?: number } | undefined {
  const file = path.join(dir, 'training.json');
  if (!fs.existsSync(file)) return undefined;
  type Split = { trainEnd?: number; validDay?: number; testStart?: number };
  type Refit = { throughDay?: number } | null;
  // npm run train writes data.{trainEnd,...} and refit; scenerec train writes split and training.refit.
  const t = JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: Split; split?: Split; refit?: Refit; training?: { refit?: Refit } };
  const d = typeof t.data?.trainEnd === 'number' ? t.data : t.split;
  const refit = t.refit ?? t.training?.refit;
  const split = d && typeof d.trainEnd === 'number' && typeof d.validDay === 'number' && typeof d.testStart === 'number'
    ? { trainEnd: d.trainEnd, validDay: d.validDay, testStart: d.testStart } : undefined;
  return { split, refitThrough: typeof refit?.throughDay === 'number' ? refit.throughDay : undefined };
}

/** Users with a period event and, before the period, an event on an item of `dir`'s vocabulary. */
function usersKnownTo(data: MtlData, period: 'valid' | 'test', dir: string): number[] {
  const known = new Set((JSON.parse(fs.readFileSync(path.join(dir, 'vocab.json'), 'utf8')) as { itemIds: string[] }).itemIds.slice(1));
  const start = period === 'valid' ? data.validDay : data.testStart;
  const end = period === 'valid' ? data.validDay : Infinity;
  const out: number[] = [];
  data.events.forEach((events, u) => {
    const before = events.some((e) => e.date < start && known.has(data.catalog.ids[e.row]));
    if (before && events.some((e) => e.date >= start && e.date <= end)) out.push(u);
  });
  return out;
}

export async function runMtlEval(argv: string[]): Promise<void> {
  const f = parseFlags(argv, {
    model: 'string', baseline: 'string', data: 'string', format: 'string', items: 'string', period: 'string', candidates: 'string',
    'cold-start': 'boolean', targets: 'string', backend: 'string', protocol: 'string', help: 'boolean', unknown: 'string',
    'train-end': 'number', 'valid-day': 'number', 'test-start': 'number', 'users-known-to': 'string',
  });
  if (f.help) { console.log(MTL_EVAL_HELP); return; }
  for (const req of ['data', 'items']) if (f[req] === undefined) throw new UsageError(`--${req} is required\n${MTL_EVAL_HELP}`);
  if (!f.model === !f.baseline) throw new UsageError(`give exactly one of --model or --baseline\n${MTL_EVAL_HELP}`);
  if (f.baseline && !['popular', 'trending', 'recent', 'itemknn'].includes(f.baseline as string)) throw new UsageError('--baseline must be popular, trending, recent or itemknn here');
  const period = ((f.period as string) ?? 'test') as 'test' | 'valid';
  if (period !== 'test' && period !== 'valid') throw new UsageError('--period must be test or valid');
  const candidates = ((f.candidates as string) ?? 'catalog') as 'catalog' | 'vocab';
  if (candidates !== 'catalog' && candidates !== 'vocab') throw new UsageError('--candidates must be catalog or vocab');

  const targets = ((f.targets as string) ?? 'first') as 'first' | 'every';
  if (targets !== 'first' && targets !== 'every') throw new UsageError('--targets must be first or every');
  const unknown = ((f.unknown as string) ?? DEFAULT_FEATURE_INPUT_OPTIONS.unknown) as UnknownRule;
  if (!UNKNOWN_RULES.includes(unknown)) throw new UsageError(`--unknown must be one of ${UNKNOWN_RULES.join(', ')}`);
  if (f.unknown && !f.model) throw new UsageError('--unknown applies to --model only');
  const backend = await setNodeBackend((f.backend as string) ?? 'wasm');
  const t0 = performance.now();
  const model = f.model ? loadModelDir(f.model as string) : undefined;
  if (model && !model.header.config.features) {
    throw new UsageError(`${f.model} is a single-objective model; multi-objective figures need a model trained with --arch mtl (or drop --items)`);
  }
  const trained = f.model ? trainedSplit(f.model as string) : undefined;
  const day = (k: 'train-end' | 'valid-day' | 'test-start', d: number) => (f[k] as number | undefined) ?? d;
  const split = trained?.split ?? DEFAULT_MTL_DATA_OPTIONS;
  const options = {
    ...DEFAULT_MTL_DATA_OPTIONS, trainEnd: day('train-end', split.trainEnd), validDay: day('valid-day', split.validDay), testStart: day('test-start', split.testStart),
  };
  if (trained?.refitThrough !== undefined) {
    if (trained.refitThrough >= options.testStart || (period === 'valid' && trained.refitThrough >= options.validDay)) {
      throw new UsageError(`${f.model} was refit on the days up to ${trained.refitThrough}: its figures on the ${period} days (from ${period === 'valid' ? options.validDay : options.testStart}) would be in-sample`);
    }
    options.trainEnd = trained.refitThrough; // the refit's vocabulary: its training items
  }
  const data: MtlData = readMtlData(f.data as string, f.items as string, options);
  // The model's own vocabulary decides which items count as trained (the data split must match its training).
  if (model && model.vocab.itemIds.length !== data.vocab.itemIds.length) {
    throw new UsageError(`${f.model} was trained on ${model.vocab.itemIds.length - 1} items, this split has ${data.vocab.itemIds.length - 1}: train and evaluate with the same days`);
  }
  let scorer: MtlScorer;
  let dispose = () => {};
  if (model) ({ scorer, dispose } = mtlModelScorer(model.header.config, model.weights, data, { unknown }));
  else if (f.baseline === 'recent') scorer = recentItemsScorer(data, period);
  else if (f.baseline === 'itemknn') scorer = itemKnnMtlScorer(data, period);
  else scorer = popularityScorer(data, period, f.baseline === 'trending' ? 2 : undefined);

  const what = model ? `model ${f.model} (${model.header.modelVersion}, unknown history items: ${unknown})` : `baseline ${f.baseline}`;
  console.log(`${what}; ${f.data} [tianchi], period ${period} (${period === 'test' ? `days from ${data.testStart}` : `day ${data.validDay}`}), candidates ${candidates} (${candidates === 'catalog' ? data.catalog.ids.length : data.vocab.itemIds.length - 1} items), backend ${backend}`);
  const users = f['users-known-to'] ? usersKnownTo(data, period, f['users-known-to'] as string) : undefined;
  if (users) console.log(`shoppers: the ${users.length} with a history item known to ${f['users-known-to']}`);
  const main = await evaluateMtlScorer(scorer, data, { period, candidates, targets, users });
  table(targets === 'every' ? 'every hold-out event, shoppers with history' : 'all shoppers with history', main);
  const result: Record<string, unknown> = {
    ...flat('', main), 'cold-items/targets': main.coldItems.targets, 'cold-items/hr@10': main.coldItems['hr@10'],
    'cold-items/ndcg@10': main.coldItems['ndcg@10'], 'cold-items/hr@50': main.coldItems['hr@50'], users: main.users,
  };
  if (f['cold-start']) {
    for (const limit of model || f.baseline === 'recent' ? [1, 3] : [0, 1, 3]) {
      const m = await evaluateMtlScorer(scorer, data, { period, candidates, targets, historyLimit: limit, users });
      table(`shoppers with only their last ${limit} event(s)`, m);
      Object.assign(result, flat(`history-${limit}/`, m));
    }
  }
  dispose();
  if (model) tf.dispose(Object.values(model.weights));
  console.log(JSON.stringify({
    ...result, protocol: 'time-holdout', targets, period, candidates, model: f.model ?? null, baseline: f.baseline ?? null,
    modelVersion: model?.header.modelVersion ?? null, unknown: model ? unknown : null, data: f.data, format: 'tianchi', seconds: Math.round((performance.now() - t0) / 100) / 10,
  }));
}
