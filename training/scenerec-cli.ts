/**
 * The `scenerec` command: train, eval and inspect models from a shop's own event log
 * (CSV, TSV or JSON Lines) and item file, through the same trainers and evaluators as
 * `npm run train` / `npm run eval`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { BEHAVIOURS, DataFormatError, type SequenceDataset } from './data.js';
import { DEFAULT_TRAIN_OPTIONS, formatEstimate, formatValidation, heldOutSplit, HOLD_OUTS, train, type HoldOut, type TrainOptions } from './train.js';
import { DEFAULT_MTL_OPTIONS, parseTaskWeights, REFITS, refitMtl, trainMtl, type MtlTrainOptions, type Refit } from './mtl-train.js';
import { evaluateModel, evaluateScorer, itemKnnScorer, popularScorer } from './evaluate.js';
import { evaluateMtlScorer, formatTaskNdcg, itemKnnMtlScorer, mtlModelScorer, popularityScorer, recentItemsScorer, sampleMtlUsers, type MtlMetrics, type MtlScorer } from './mtl-eval.js';
import type { MtlData } from './mtl-data.js';
import { Rng } from './rng.js';
import { loadModelDir, modelSequences, saveModel, setNodeBackend, trainingSequences } from './node-io.js';
import { formatDuration, parseFlags, phaseClock, ProgressBar, UsageError } from './cli.js';
import type { RankingMetrics } from './metrics.js';
import {
  describeItems, describeLog, groupLog, parseColumnsFlag, parseEventsFlag, parseMapping, readEventLog, readItemFile,
  ITEM_COLUMNS, type EventLogOptions, type GroupedLog, type ItemColumn, type ItemTable, type LogFormat, type LogSummary,
} from './event-log.js';
import { autoTimeSplit, logDays, mtlDataFromLog, parseDay, type TimeSplit } from './event-log-mtl.js';
import { validateHeader, type ModelVocab } from '../src/model/artifacts.js';
import { architectureOf, checkArchitecture, describeWarmStart, readInitModel, shapeOf, warmStartWeights, WarmStartError, type WarmStartReport } from './warm-start.js';
import type { LoadedModel } from '../src/model/artifacts.js';
import { modelConfig } from './train.js';
import { mtlConfig } from './mtl-train.js';
import { chooseTrainer, TorchTrainerError, TorchUsageError, trainOnTorch, TRAINERS, type TorchTrainingSummary, type TrainerChoice } from './torch/python.js';
import { calibrateMtlModel, calibrationUsers, FIRST_SHARE, type CalibrationReport } from './mtl-calibrate.js';

/** Held-out users of the card's evaluation, either model (a seeded sample above it); --eval-max-users 0 = all. */
export const DEFAULT_EVAL_MAX_USERS = 5000;

type Flags = Record<string, string | number | boolean>;
type Print = (line: string) => void;

const READ_FLAGS = {
  data: 'string', items: 'string', format: 'string', 'items-format': 'string', columns: 'string', 'item-columns': 'string',
  events: 'string', 'skip-bad': 'number', 'train-end': 'string', 'valid-day': 'string', 'test-start': 'string', 'test-days': 'number',
  backend: 'string', 'eval-max-users': 'number', help: 'boolean',
} as const;

const TRAIN_FLAGS = {
  ...READ_FLAGS, out: 'string', model: 'string', epochs: 'number', batch: 'number', lr: 'number', negatives: 'number',
  'max-len': 'number', hidden: 'number', blocks: 'number', heads: 'number', ffn: 'number', dropout: 'number', seed: 'number',
  patience: 'number', 'max-steps': 'number', dtype: 'string', 'eval-every': 'number', 'eval-users': 'number', 'id-dropout': 'number',
  'task-weights': 'string', l2: 'number', 'skip-eval': 'boolean', 'min-item-count': 'number', 'init-from': 'string', calibrate: 'string',
  'hold-out': 'string', refit: 'string', trainer: 'string',
} as const;

/**
 * Whose last two items the sequence model holds out here: only the validation sample's, so that a
 * shop's model also learns from every other shopper's newest events (the benchmark CLI, `npm run
 * train`, holds out every user's, as the published protocols do).
 */
export const SHOP_HOLD_OUT: HoldOut = 'validation-sample';

/**
 * Whether the shop's multi-task model is trained again, after its evaluation, on every day of the
 * log (the validation and test days too) for the epoch count its validation chose: the days a time
 * split holds out are the shop's newest, and a model that never saw them would ship without them.
 * The card's figures are the model's before the refit (the refit has no unseen day left).
 */
export const SHOP_REFIT: Refit = 'on';

const READ_HELP = `  --data FILE          the event log: CSV, TSV or JSON Lines with a header (format from the extension, or --format csv|tsv|jsonl)
  --items FILE         optional item file (CSV/TSV/JSONL with a header: id, category, brand, price, title, available)
  --columns user=uid,item=sku,event=action,time=ts,scene=page,session=sid   header names (defaults: the usual names)
  --item-columns id=sku,category=cat,...   header names of the item file
  --events pv=view,fav=favorite,buy=purchase   event names -> view|click, favorite, cart, purchase (plus the usual names)
  --skip-bad N         skip and count up to N malformed rows (default: stop at the first, exit code 2)
  --train-end DAY --valid-day DAY --test-start DAY   the time split (YYYY-MM-DD); default: last --test-days (1) test, the day before validation
  --eval-max-users N   evaluate on at most N users (${DEFAULT_EVAL_MAX_USERS}: a sample with a fixed seed above it; 0 = all)`;

export const HELP = `usage: scenerec <command> [options]
  scenerec train --data events.csv [--items items.csv] --out DIR [--model sasrec|mtl] [--init-from OLD_DIR] [options]
  scenerec eval --model DIR --data events.csv [--items items.csv] [options]
  scenerec inspect --model DIR [--catalog items.csv]
  scenerec check --data events.csv [--items items.csv]   (read and summarise only: what train would do)

train picks the multi-task model (mtl) when the log has several behaviours and the item file has
content (category, brand or price), the sequence model (sasrec) otherwise; --model overrides.
It writes DIR/model.json, weights.bin, vocab.json (load DIR in the SDK), training.json and a
model card DIR/README.md with the data summary, options, protocol and metrics against the
popularity and item-KNN baselines on the held-out split.
--init-from OLD_DIR warm-starts from an earlier model (after a catalog change): items it knows keep
their vectors, new items start as in a cold start (the multi-task model's content tables give them a
start), every other weight is copied; the model, its shape flags (--hidden --blocks --heads --ffn
--max-len) default to OLD_DIR's and must match it; training validates the start as epoch 0.

reading the data:
${READ_HELP}
training (defaults: sasrec / mtl):
  --epochs N (${DEFAULT_TRAIN_OPTIONS.epochs} / ${DEFAULT_MTL_OPTIONS.epochs})  --hidden N (${DEFAULT_TRAIN_OPTIONS.hiddenDim})  --blocks N (${DEFAULT_TRAIN_OPTIONS.numBlocks})  --heads N (${DEFAULT_TRAIN_OPTIONS.numHeads})  --ffn N (${DEFAULT_TRAIN_OPTIONS.ffnDim})
  --max-len N (${DEFAULT_TRAIN_OPTIONS.maxLen})  --batch N (${DEFAULT_TRAIN_OPTIONS.batchSize} / ${DEFAULT_MTL_OPTIONS.batchSize})  --lr X (${DEFAULT_TRAIN_OPTIONS.learningRate})  --negatives N (${DEFAULT_TRAIN_OPTIONS.negatives} / ${DEFAULT_MTL_OPTIONS.negatives})
  --dropout X (${DEFAULT_TRAIN_OPTIONS.dropout} / ${DEFAULT_MTL_OPTIONS.dropout})  --id-dropout X (mtl, ${DEFAULT_MTL_OPTIONS.idDropout})  --task-weights click,cart,purchase[,favorite] (mtl, ${DEFAULT_MTL_OPTIONS.taskWeights.join(',')}; or named: favorite=0.3,...)  --l2 X (mtl, ${DEFAULT_MTL_OPTIONS.l2})  --seed N (${DEFAULT_TRAIN_OPTIONS.seed})
  --calibrate on|off (mtl, on: after training, search each head's repeat weights for the best validation-day NDCG@10, full ranking, ${FIRST_SHARE} x first event + ${1 - FIRST_SHARE} x every event; off: keep the trained ones)
  --patience N (sasrec ${DEFAULT_TRAIN_OPTIONS.patience}: stop after N validations without improvement; 0 = no early stopping, the whole cosine schedule runs and the best-validation weights are kept)
  --refit on|off (mtl, ${SHOP_REFIT}: after the evaluation, train again from the start on every day of the log, the validation
    and test days too, for the epoch count the validation chose; the card's figures are the model's before the refit, and
    scenerec eval then refuses the refit model, which has seen the test days; off: ship the evaluated model)
  --hold-out every-user|validation-sample (sasrec, ${SHOP_HOLD_OUT}: whose last two events are held out for validation and test: only the --eval-users sample's, every other shopper training on all their events; or every shopper's, the benchmark protocol)
  --trainer auto|torch|tfjs (sasrec, auto: PyTorch (training/torch/train.py, same recipe and artifact, a third of the time an
    epoch) when a python3 with torch is found (scripts/setup-torch.sh) and --backend is not given, else TF.js in Node;
    the multi-task model always trains on TF.js)
  --min-item-count N (sasrec, 1: drop rarer items)  --skip-eval (no held-out figures in the card)  --eval-every N (sasrec, ${DEFAULT_TRAIN_OPTIONS.evalEvery}: validate on ${DEFAULT_TRAIN_OPTIONS.validProtocol === 'full' ? 'full-ranking' : 'sampled-100'} NDCG@10 every N epochs)  --eval-users N (${DEFAULT_TRAIN_OPTIONS.evalUsers} / ${DEFAULT_MTL_OPTIONS.evalUsers}: validation users sampled; 0 = all)  --max-steps N  --dtype float16|float32 (float16)  --backend wasm|cpu (wasm)

exit codes: 0 done, 2 bad arguments or malformed data (file:line: column ...), 1 anything else.`;

interface ReadResult {
  log: LogSummary;
  grouped: GroupedLog;
  items?: ItemTable;
  readOptions: Record<string, unknown>;
}

function readOptionsOf(f: Flags, stored: Record<string, unknown> = {}): { log: EventLogOptions; items: { format?: LogFormat; columns?: Partial<Record<ItemColumn, string>>; skipBad?: number }; echo: Record<string, unknown> } {
  const pick = (k: string) => (f[k] !== undefined ? f[k] : stored[k]) as string | number | undefined;
  const columns = pick('columns');
  const events = pick('events');
  const itemCols = pick('item-columns');
  const itemColumns = itemCols ? parseMapping('item-columns', String(itemCols)) : undefined;
  if (itemColumns) for (const k of Object.keys(itemColumns)) if (!(ITEM_COLUMNS as readonly string[]).includes(k)) throw new UsageError(`--item-columns: unknown column "${k}"; use ${ITEM_COLUMNS.join(', ')}`);
  const skipBad = (f['skip-bad'] as number | undefined) ?? 0;
  return {
    log: { format: pick('format') as LogFormat | undefined, columns: columns ? parseColumnsFlag(String(columns)) : undefined, events: events ? parseEventsFlag(String(events)) : undefined, skipBad },
    items: { format: pick('items-format') as LogFormat | undefined, columns: itemColumns as Partial<Record<ItemColumn, string>> | undefined, skipBad },
    echo: { format: pick('format'), columns, events, 'item-columns': itemCols, 'items-format': pick('items-format') },
  };
}

async function readInputs(f: Flags, print: Print, stored?: Record<string, unknown>): Promise<ReadResult> {
  if (f.data === undefined) throw new UsageError(`--data is required\n${HELP}`);
  const o = readOptionsOf(f, stored);
  const bar = new ProgressBar();
  const t0 = performance.now();
  let last = Date.now();
  const log = await readEventLog(f.data as string, {
    ...o.log,
    onProgress: (bytes, total, rows) => {
      const eta = ((performance.now() - t0) / 1000) * (total / Math.max(bytes, 1) - 1);
      if (process.stderr.isTTY) return bar.update('reading', Math.round(bytes / 1e6), Math.round(total / 1e6), `MB, ${rows} rows`, eta);
      if (Date.now() - last < 30_000) return;
      last = Date.now();
      print(`  reading: ${Math.round(bytes / 1e6)}/${Math.round(total / 1e6)} MB, ${rows} rows, ETA ${formatDuration(eta)}`);
    },
  });
  bar.end();
  const phase = phaseClock(print);
  const readSeconds = (performance.now() - t0) / 1000;
  print(describeLog(log.summary));
  print(`  reading: ${log.summary.rows.toLocaleString('en-US')} rows in ${readSeconds.toFixed(1)} s (${Math.round(log.summary.rows / Math.max(readSeconds, 1e-3)).toLocaleString('en-US')} rows/s), RSS ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
  const grouped = groupLog(log);
  phase('grouping', `${grouped.dataset.users.length.toLocaleString('en-US')} users`);
  let items: ItemTable | undefined;
  if (f.items !== undefined) {
    items = await readItemFile(f.items as string, o.items);
    const sameFile = path.resolve(f.items as string) === path.resolve(f.data as string);
    print(describeItems(items.summary) + (sameFile ? ' (the event log is the item file too: each item\'s first row is kept, its other rows count as duplicate ids)' : ''));
    phase('item file', `${items.ids.length.toLocaleString('en-US')} items`);
  }
  return { log: log.summary, grouped, items, readOptions: o.echo };
}

function splitOf(f: Flags, g: GroupedLog, stored?: TimeSplit): TimeSplit {
  if (f['train-end'] !== undefined || f['valid-day'] !== undefined || f['test-start'] !== undefined) {
    for (const k of ['train-end', 'valid-day', 'test-start']) if (f[k] === undefined) throw new UsageError('--train-end, --valid-day and --test-start go together');
    const s = { trainEnd: parseDay('train-end', f['train-end'] as string), validDay: parseDay('valid-day', f['valid-day'] as string), testStart: parseDay('test-start', f['test-start'] as string) };
    if (!(s.trainEnd < s.validDay && s.validDay < s.testStart)) throw new UsageError('the split needs --train-end < --valid-day < --test-start');
    return s;
  }
  return stored ?? autoTimeSplit(logDays(g), (f['test-days'] as number | undefined) ?? 1);
}

const dayStr = (d: number) => `${String(d).slice(0, 4)}-${String(d).slice(4, 6)}-${String(d).slice(6, 8)}`;

/** Why the multi-task model fits this data, or why not. */
export function chooseModel(log: LogSummary, items: ItemTable | undefined): { model: 'sasrec' | 'mtl'; why: string } {
  const types = Object.keys(log.byType).length;
  const content = items && (items.summary.categories > 0 || items.summary.brands > 0 || items.summary.withPrice > 0);
  if (types >= 2 && content) return { model: 'mtl', why: `${types} behaviours and item content (${items!.summary.categories} categories, ${items!.summary.brands} brands, ${items!.summary.withPrice} prices)` };
  const missing = [types < 2 ? `one behaviour only (${Object.keys(log.byType).join('')})` : '', !items ? 'no --items file' : !content ? 'no category, brand or price in the item file' : ''].filter(Boolean);
  return { model: 'sasrec', why: missing.join(' and ') };
}

// ---- evaluation on the held-out data ----

export interface SasrecReport { protocol: string; users: number; model: RankingMetrics; popular: RankingMetrics; itemknn: RankingMetrics }
export interface MtlReport { protocol: string; split: TimeSplit; users: number; model: MtlMetrics; popular: MtlMetrics; recent: MtlMetrics; itemknn: MtlMetrics }

async function evalSasrec(dir: string, ds: SequenceDataset, maxUsers: number | undefined, trained: Pick<TrainOptions, 'evalUsers' | 'seed' | 'holdOut'>): Promise<SasrecReport> {
  const model = loadModelDir(dir);
  // The model's steps over its own items, through the featuriser (items it does not know are dropped).
  const data = modelSequences(ds, { itemIds: model.vocab.itemIds }).dataset;
  // The split the model was trained on: with the validation-sample hold-out only those shoppers have a test item.
  const { split, sampled: fewerHeld } = heldOutSplit(data.sequences, trained);
  const heldOnly = trained.holdOut === 'validation-sample' && fewerHeld;
  // Full ranking costs users x items: a seeded sample above the cap (as the multi-task card), said in the protocol.
  const eligible = [...split.test.keys()].filter((u) => split.test[u] > 0);
  const cap = maxUsers ?? DEFAULT_EVAL_MAX_USERS;
  const sampled = cap > 0 && eligible.length > cap;
  const users = sampled ? new Rng(43).shuffle([...eligible]).slice(0, cap).sort((a, b) => a - b) : eligible;
  const o = { protocol: 'full' as const, seed: 42, target: 'test' as const, users };
  const m = await evaluateModel(model.header.config, model.weights, split, o);
  tf.dispose(Object.values(model.weights));
  const popular = await evaluateScorer(popularScorer(split, data.numItems, 'test'), data.numItems, split, o);
  const itemknn = await evaluateScorer(itemKnnScorer(split, data.numItems, 'test'), data.numItems, split, o);
  const sample = sampled ? `; ${users.length.toLocaleString('en-US')} shoppers sampled of ${eligible.length.toLocaleString('en-US')} (--eval-max-users)` : '';
  const held = heldOnly ? `; held out for the ${trained.evalUsers.toLocaleString('en-US')} shoppers of the validation sample only (--hold-out validation-sample): every other shopper's events were all training, for the model and the baselines alike` : '';
  return { protocol: `leave-one-out (each shopper's last item is the test item, the one before validation), full ranking over every trained item, items the shopper already met excluded${held}${sample}`, users: m.users, model: m, popular, itemknn };
}

async function evalMtl(dir: string, data: MtlData, maxUsers: number | undefined): Promise<MtlReport> {
  const model = loadModelDir(dir);
  if (model.vocab.itemIds.length !== data.vocab.itemIds.length) {
    throw new UsageError(`${dir} was trained on ${model.vocab.itemIds.length - 1} items, this data's training days have ${data.vocab.itemIds.length - 1}: evaluate on the log and split it was trained with`);
  }
  const { scorer, dispose } = mtlModelScorer(model.header.config, model.weights, data);
  const scorers = { popular: popularityScorer(data, 'test'), recent: recentItemsScorer(data, 'test'), itemknn: itemKnnMtlScorer(data, 'test') };
  // Every shopper is ranked against the whole catalog per task and scorer: users x items, hours on a
  // 10M-event log over every test user; so a seeded sample above the cap, said in the protocol.
  const sample = sampleMtlUsers(data, 'test', maxUsers ?? DEFAULT_EVAL_MAX_USERS, 43);
  const o = { period: 'test' as const, candidates: 'catalog' as const, targets: 'first' as const, users: sample.users };
  const m = await evaluateMtlScorer(scorer, data, o);
  dispose();
  tf.dispose(Object.values(model.weights));
  return {
    protocol: `time split: training days up to ${dayStr(data.trainEnd)}, validation ${dayStr(data.validDay)}, test from ${dayStr(data.testStart)}; per shopper with history, the first viewed / carted / purchased item of the test days ranked against the whole catalog (items never trained scored from content)${sample.sampled ? `; ${sample.users.length.toLocaleString('en-US')} shoppers sampled of the ${sample.eligible.toLocaleString('en-US')} with test events (--eval-max-users)` : ''}`,
    split: { trainEnd: data.trainEnd, validDay: data.validDay, testStart: data.testStart }, users: m.users,
    model: m, popular: await evaluateMtlScorer(scorers.popular, data, o), recent: await evaluateMtlScorer(scorers.recent, data, o), itemknn: await evaluateMtlScorer(scorers.itemknn, data, o),
  };
}

const f4 = (x: number) => x.toFixed(4);

/** Below this many held-out shoppers the figures are mostly noise, and the card says so. */
export const FEW_EVAL_SHOPPERS = 100;

/** The warning for a report held out on too few shoppers, or undefined. */
export function fewShoppersWarning(r: SasrecReport | MtlReport): string | undefined {
  if (r.users >= FEW_EVAL_SHOPPERS) return undefined;
  const more = 'split' in r
    ? 'a longer log, or more test days (--test-days N), gives figures to act on (the multi-task model is scored on shoppers with events both before and in the test days)'
    : 'a log with more shoppers gives figures to act on';
  return `warning: these figures rest on ${r.users} held-out shopper${r.users === 1 ? '' : 's'} (under ${FEW_EVAL_SHOPPERS}), too few to compare models; ${more}.`;
}

export function reportTable(r: SasrecReport | MtlReport): string {
  const lines: string[] = [];
  if ('itemknn' in r && 'hr@10' in r.model) {
    const s = r as SasrecReport;
    lines.push('| scorer | HR@10 | NDCG@10 | HR@20 | MRR |', '|---|---|---|---|---|');
    for (const [name, m] of [['model', s.model], ['popularity', s.popular], ['item-KNN', s.itemknn]] as const) lines.push(`| ${name} | ${f4(m['hr@10'])} | ${f4(m['ndcg@10'])} | ${f4(m['hr@20'])} | ${f4(m.mrr)} |`);
    return lines.join('\n');
  }
  const m = r as MtlReport;
  lines.push('| scorer | task | users | HR@10 | NDCG@10 |', '|---|---|---|---|---|');
  for (const [name, x] of [['model', m.model], ['popularity', m.popular], ['item-KNN', m.itemknn], ['recent items', m.recent]] as const) {
    for (const t of x.tasks) lines.push(t.missing ? `| ${name} | ${t.task} | ${t.users} | no head | no head |` : `| ${name} | ${t.task} | ${t.users} | ${f4(t['hr@10'])} | ${f4(t['ndcg@10'])} |`);
  }
  return lines.join('\n');
}

function reportJson(r: SasrecReport | MtlReport): Record<string, number> {
  const out: Record<string, number> = { users: r.users };
  for (const [name, m] of Object.entries(r)) {
    if (!m || typeof m !== 'object' || name === 'split') continue;
    if ('tasks' in m) for (const t of (m as MtlMetrics).tasks) { if (t.missing) continue; out[`${name}/${t.task}/hr@10`] = t['hr@10']; out[`${name}/${t.task}/ndcg@10`] = t['ndcg@10']; }
    else { out[`${name}/hr@10`] = (m as RankingMetrics)['hr@10']; out[`${name}/ndcg@10`] = (m as RankingMetrics)['ndcg@10']; }
  }
  return out;
}

// ---- commands ----

function taskWeightsOf(text: string): number[] {
  try { return parseTaskWeights(text); } catch (e) { throw new UsageError((e as Error).message); }
}

/** Step progress: a bar on a terminal, a line every 30 s on a pipe (CI logs), so long epochs show they move. */
function stepProgress(print: Print, offset: number): { onStep: (i: { epoch: number; step: number; stepsInEpoch: number; loss: number; elapsed: number }) => void; end(): void } {
  const bar = new ProgressBar();
  let last = Date.now();
  return {
    onStep: ({ epoch, step, stepsInEpoch, loss, elapsed }) => {
      const eta = (elapsed / step) * (stepsInEpoch - step);
      if (process.stderr.isTTY) return bar.update(`epoch ${epoch + offset}`, step, stepsInEpoch, `loss ${loss.toFixed(4)}`, eta);
      if (Date.now() - last < 30_000) return;
      last = Date.now();
      print(`  epoch ${epoch + offset}: step ${step}/${stepsInEpoch}, loss ${loss.toFixed(4)}, epoch ETA ${formatDuration(eta)}`);
    },
    end: () => bar.end(),
  };
}

/** Validation progress: a bar on a terminal, a line every 30 s on a pipe. */
function validationProgress(print: Print): { update(i: { done: number; total: number; elapsed: number }): void; end(): void } {
  const bar = new ProgressBar();
  let last = Date.now();
  let shown = false;
  const update = ({ done, total, elapsed }: { done: number; total: number; elapsed: number }) => {
    shown = true;
    const eta = (elapsed / done) * (total - done);
    if (process.stderr.isTTY) return bar.update('validation', done, total, 'cases', eta);
    if (Date.now() - last < 30_000) return;
    last = Date.now();
    print(`  validation: ${done}/${total} cases, ${formatDuration(elapsed)}, ETA ${formatDuration(eta)}`);
  };
  return { update, end: () => { if (shown) bar.end(); shown = false; } };
}

async function trainCommand(argv: string[], print: Print): Promise<void> {
  const f = parseFlags(argv, TRAIN_FLAGS as Record<string, 'string' | 'number' | 'boolean'>);
  if (f.help) { print(HELP); return; }
  if (f.out === undefined) throw new UsageError(`--out is required\n${HELP}`);
  const forced = f.model as string | undefined;
  if (forced !== undefined && forced !== 'sasrec' && forced !== 'mtl') throw new UsageError('--model must be sasrec or mtl');
  const dtype = (f.dtype as string) ?? 'float16';
  if (dtype !== 'float16' && dtype !== 'float32') throw new UsageError('--dtype must be float16 or float32');
  if (f.trainer !== undefined && !TRAINERS.includes(f.trainer as TrainerChoice)) throw new UsageError(`--trainer must be one of ${TRAINERS.join(', ')}`);
  const backend = await setNodeBackend((f.backend as string) ?? 'wasm');
  const initFrom = f['init-from'] as string | undefined;
  // Read first: a wrong folder fails before the log is read.
  const prev: LoadedModel | undefined = initFrom !== undefined ? readInitModel(initFrom) : undefined;
  try {
    return await trainWith(f, argv, print, backend, dtype, forced, prev, initFrom);
  } finally {
    if (prev) tf.dispose(Object.values(prev.weights));
  }
}

/** The sequence model's trainer (--trainer; auto: PyTorch where a python3 with torch is found and --backend is not given). */
function sequenceTrainer(f: Flags): ReturnType<typeof chooseTrainer> {
  // The TS reader hands the PyTorch trainer a \`lines\` log, whatever the shop's format.
  try { return chooseTrainer(((f.trainer as string) ?? 'auto') as TrainerChoice, 'lines', Object.keys(f)); } catch (e) { throw new UsageError((e as Error).message); }
}

async function trainWith(
  f: Flags, argv: string[], print: Print, backend: string, dtype: 'float16' | 'float32', forced: string | undefined,
  prev: LoadedModel | undefined, initFrom: string | undefined,
): Promise<void> {
  const t0 = performance.now();
  const calibrate = (f.calibrate as string | undefined) ?? 'on';
  if (calibrate !== 'on' && calibrate !== 'off') throw new UsageError('--calibrate must be on or off');
  const refit = ((f.refit as string | undefined) ?? SHOP_REFIT) as Refit;
  if (!REFITS.includes(refit)) throw new UsageError(`--refit must be one of ${REFITS.join(', ')}`);
  const prevModel = prev && (prev.header.config.features ? 'mtl' : 'sasrec');
  if (prev && forced) checkArchitecture(architectureOf(prev.header.config), forced === 'mtl' ? 'sasrec-mtl' : 'sasrec', initFrom!);
  const input = await readInputs(f, print);
  if (prevModel === 'mtl' && !forced && !input.items) {
    throw new WarmStartError('WARM_START_ARCHITECTURE', `--init-from ${initFrom} is a multi-task model: pass the item file (--items), or --model sasrec to train a new sequence model (without --init-from)`);
  }
  const choice = forced ? { model: forced as 'sasrec' | 'mtl', why: 'chosen with --model' }
    : prevModel ? { model: prevModel, why: `the architecture of --init-from ${initFrom}` } : chooseModel(input.log, input.items);
  print(`model: ${choice.model} (${choice.why})`);
  if (choice.model === 'mtl' && f.trainer === 'torch') throw new UsageError('--trainer torch: the multi-task model (mtl) trains on TF.js only; pass --model sasrec for the PyTorch trainer, or drop --trainer');
  let warm: WarmStartReport | undefined;
  const out = f.out as string;
  const name = path.basename(path.resolve(out));
  const n = (k: string, d: number) => (f[k] as number | undefined) ?? d;
  const maxUsers = f['eval-max-users'] as number | undefined;
  // The sequence trainer counts epochs from 0, the multi-task one from 1.
  const { onStep, end: endBar } = stepProgress(print, choice.model === 'sasrec' ? 1 : 0);
  const bar = { end: endBar };
  let report: SasrecReport | MtlReport | undefined;
  const skipEval = Boolean(f['skip-eval']);
  let options: TrainOptions | MtlTrainOptions;
  let training: Record<string, unknown>;
  let dataNote: Record<string, unknown>;
  let bytes: number;
  let modelVersion: string;
  let trainedOn = `TF.js ${backend}`;
  // A warm start's shape flags default to the earlier model's.
  const shape = prev ? shapeOf(prev.header.config) : {};
  if (choice.model === 'sasrec') {
    const D = { ...DEFAULT_TRAIN_OPTIONS, ...shape };
    const o: TrainOptions = {
      ...D, maxLen: n('max-len', D.maxLen), hiddenDim: n('hidden', D.hiddenDim), numBlocks: n('blocks', D.numBlocks), numHeads: n('heads', D.numHeads),
      ffnDim: n('ffn', D.ffnDim), dropout: n('dropout', D.dropout), batchSize: n('batch', D.batchSize), learningRate: n('lr', D.learningRate),
      negatives: n('negatives', D.negatives), epochs: n('epochs', D.epochs), seed: n('seed', D.seed), patience: n('patience', D.patience),
      maxSteps: n('max-steps', D.maxSteps), evalEvery: n('eval-every', D.evalEvery), evalUsers: n('eval-users', D.evalUsers),
      holdOut: ((f['hold-out'] as string | undefined) ?? SHOP_HOLD_OUT) as HoldOut,
    };
    if (!HOLD_OUTS.includes(o.holdOut)) throw new UsageError(`--hold-out must be one of ${HOLD_OUTS.join(', ')}`);
    options = o;
    // The featuriser's steps (immediate repeats of one item are one step, as when serving).
    const ds = trainingSequences(input.grouped.dataset, n('min-item-count', 1));
    dataNote = { users: ds.users.length, items: ds.numItems, steps: ds.numInteractions };
    print(`sequence data: ${ds.users.length} users, ${ds.numItems} items, ${ds.numInteractions} steps after collapsing immediate repeats`);
    let trainer = sequenceTrainer(f);
    let t: TorchTrainingSummary | undefined;
    if (trainer.trainer === 'torch') {
      print(`trainer: PyTorch ${trainer.torch} (${trainer.python}, 1 process; --trainer tfjs trains on TF.js)`);
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      try {
        t = await trainOnTorch({ script: trainer.script, python: trainer.python, sequences: ds.sequences, itemIds: ds.itemIds, options: o, out, dtype, initFrom, print });
      } catch (e) {
        if (e instanceof TorchUsageError) throw new UsageError(e.message);
        // Chosen by --trainer auto and failed before its first epoch (a broken torch install): the TF.js trainer runs instead.
        if (!(e instanceof TorchTrainerError) || e.trained || f.trainer === 'torch') throw e;
        print(`warning: ${e.message.split('\nRetry with')[0]}`);
        trainer = { trainer: 'tfjs', why: 'the PyTorch trainer failed before its first epoch (above)' };
      }
    }
    if (trainer.trainer === 'torch' && t) {
      warm = (t.initFrom ?? undefined) as WarmStartReport | undefined;
      bytes = t.artifactBytes; modelVersion = t.modelVersion;
      trainedOn = `PyTorch ${trainer.torch} (${String(t.machine.device)}, 1 process)`;
      training = { trainer: 'pytorch', seconds: Math.round(t.trainSeconds), epochs: t.epochs, bestEpoch: t.bestEpoch, steps: t.steps, log: t.log };
      if (!skipEval) { print('evaluating on the held-out items ...'); report = await evalSasrec(out, ds, maxUsers, o); }
    } else {
    print(`trainer: TF.js, backend ${backend} (${'why' in trainer ? trainer.why : ''})`);
    let init;
    if (prev) {
      const w = warmStartWeights(prev, modelConfig(ds.numItems, o), { itemIds: ds.itemIds, popularity: [] }, o.seed, initFrom!);
      init = w.weights; warm = w.report;
      print(describeWarmStart(warm));
    }
    const result = await train(ds, o, {
      onStep,
      onPlan: ({ validation }) => { if (validation) print(validation); },
      onEstimate: (e) => { bar.end(); print(`time: ${formatEstimate(e)}`); },
      onEpoch: (log, state) => {
        bar.end();
        const v = log.valid ? ` ${formatValidation(log.valid, o.validProtocol)}` : '';
        if (log.epoch === 0) return print(`epoch 0 (the warm start, before training):${v}`);
        print(`epoch ${log.epoch}/${o.epochs} loss ${log.loss.toFixed(4)} ${log.seconds.toFixed(1)} s (${(log.cpuSeconds ?? 0).toFixed(1)} CPU-s)${v} (best epoch ${state.bestEpoch}; ETA ${formatDuration((state.trainSeconds / Math.max(state.epoch, 1)) * (o.epochs - state.epoch))})`);
      },
    }, undefined, init);
    const popularity = new Array<number>(ds.numItems + 1).fill(0);
    for (const s of ds.sequences) for (const i of s) popularity[i]++;
    const saved = await saveModel(out, result.config, result.weights, { itemIds: ds.itemIds, popularity }, dtype, name);
    tf.dispose(Object.values(result.weights));
    bytes = saved.bytes; modelVersion = saved.header.modelVersion;
    training = { seconds: Math.round(result.state.trainSeconds), epochs: result.state.epoch, bestEpoch: result.state.bestEpoch, steps: result.state.step, log: result.state.log };
    if (!skipEval) { print('evaluating on the held-out items ...'); report = await evalSasrec(out, ds, maxUsers, o); }
    }
  } else {
    const split = splitOf(f, input.grouped);
    const phase = phaseClock(print);
    const data = mtlDataFromLog(input.grouped, input.items, split);
    phase('multi-task data', `${data.users.length.toLocaleString('en-US')} users`);
    const D = { ...DEFAULT_MTL_OPTIONS, ...shape };
    const o: MtlTrainOptions = {
      ...D, maxLen: n('max-len', D.maxLen), hiddenDim: n('hidden', D.hiddenDim), numBlocks: n('blocks', D.numBlocks), numHeads: n('heads', D.numHeads),
      ffnDim: n('ffn', D.ffnDim), dropout: n('dropout', D.dropout), batchSize: n('batch', D.batchSize), learningRate: n('lr', D.learningRate),
      negatives: n('negatives', D.negatives), epochs: n('epochs', D.epochs), seed: n('seed', D.seed), patience: n('patience', D.patience),
      maxSteps: n('max-steps', D.maxSteps), idDropout: n('id-dropout', D.idDropout), l2: n('l2', D.l2), evalUsers: n('eval-users', D.evalUsers),
      taskWeights: f['task-weights'] === undefined ? D.taskWeights : taskWeightsOf(String(f['task-weights'])),
    };
    if (o.hiddenDim % o.numHeads !== 0) throw new UsageError('--hidden must be divisible by --heads');
    const byBehaviour = new Map<number, number>();
    for (const l of data.events) for (const e of l) if (e.date <= data.trainEnd) byBehaviour.set(e.behaviour, (byBehaviour.get(e.behaviour) ?? 0) + 1);
    // A head with no training targets keeps its initial projection, and the SDK would blend that untrained score into
    // every list that weighs its objective: without favourites in the training days, the model has no favorite head.
    // A warm start keeps the earlier model's heads (a 3-head model stays one when favourites appear later).
    const prevTasks = prev?.header.config.features?.tasks;
    if (f['task-weights'] === undefined && prevTasks && prevTasks.length < o.taskWeights.length) {
      o.taskWeights = o.taskWeights.slice(0, prevTasks.length);
      print(`heads: ${prevTasks.join(', ')} (those of --init-from ${initFrom}; pass --task-weights with 4 weights and train without --init-from for a favorite head)`);
    } else if (f['task-weights'] === undefined && !byBehaviour.get(BEHAVIOURS.favorite) && o.taskWeights.length === 4 && prevTasks?.length !== 4) {
      o.taskWeights = o.taskWeights.slice(0, 3);
      print('heads: click, cart, purchase (no favorite events in the training days: no favorite (satisfaction) head; requests\' satisfaction weight is then ignored)');
    }
    for (const [name, code] of [['cart', BEHAVIOURS.cart], ['purchase', BEHAVIOURS.purchase]] as const) {
      if (!byBehaviour.get(code)) print(`warning: no ${name} events in the training days: the ${name} head learns nothing; pass objectives: { ${name}: 0 } in your requests, or --model sasrec`);
    }
    options = o;
    const trainEvents = data.events.reduce((s, l) => s + l.filter((e) => e.date <= data.trainEnd).length, 0);
    dataNote = { users: data.users.length, itemsTrained: data.vocab.itemIds.length - 1, catalog: data.catalog.ids.length, trainEvents, split };
    print(`multi-task data: ${data.users.length} users, ${data.vocab.itemIds.length - 1} items in training days (≤ ${dayStr(split.trainEnd)}), ${trainEvents} training events, catalog ${data.catalog.ids.length} items, ${data.features.numCategories} categories, ${data.features.numBrands} brands; validation ${dayStr(split.validDay)}, test from ${dayStr(split.testStart)}; backend ${backend}`);
    let init;
    if (prev) {
      const w = warmStartWeights(prev, mtlConfig(data, o), data.vocab, o.seed, initFrom!);
      init = w.weights; warm = w.report;
      print(describeWarmStart(warm));
    }
    phase('options');
    const validBar = validationProgress(print);
    const result = await trainMtl(data, o, {
      onStep,
      onPhase: ({ phase: name, what }) => { bar.end(); validBar.end(); phase(name, what); },
      onPlan: ({ validation }) => print(validation),
      onValidationProgress: validBar.update,
      onEpoch: (log, best) => {
        bar.end(); validBar.end();
        const v = log.valid ? formatTaskNdcg(log.valid.tasks) : '';
        if (log.epoch === 0) return print(`epoch 0 (the warm start, before training): valid NDCG@10 ${v}`);
        print(`epoch ${log.epoch}/${o.epochs} loss ${log.loss.toFixed(4)} ${log.seconds.toFixed(1)} s (${(log.cpuSeconds ?? 0).toFixed(1)} CPU-s); valid NDCG@10 ${v} (best epoch ${best})`);
      },
    }, init);
    let calibration: CalibrationReport | 'off' = 'off';
    if (calibrate === 'on') {
      // A sample of the validation users: on a large log every one would cost hours.
      const c = await calibrateMtlModel(result.config, result.weights, data, { log: print, users: calibrationUsers(data, o.evalUsers, o.seed + 1) });
      result.weights.repeatWeights.dispose();
      result.weights = c.weights;
      calibration = c.report;
    }
    const saved = await saveModel(out, result.config, result.weights, data.vocab, dtype, name);
    bytes = saved.bytes; modelVersion = saved.header.modelVersion;
    training = { seconds: Math.round(result.trainSeconds), epochs: result.epochs, bestEpoch: result.bestEpoch, steps: result.steps, calibration, log: result.log.map((l) => ({ epoch: l.epoch, loss: l.loss, seconds: l.seconds, cpuSeconds: l.cpuSeconds, score: l.score })) };
    if (!skipEval) { print('evaluating on the test days ...'); report = await evalMtl(out, data, maxUsers); }
    if (refit === 'on' && result.bestEpoch < 1) {
      training.refitSkipped = REFIT_SKIPPED_WARM_START;
      print(`refit: skipped (${REFIT_SKIPPED_WARM_START})`);
    }
    if (refit === 'on' && result.bestEpoch >= 1) {
      const through = logDays(input.grouped).at(-1)!;
      const all = mtlDataFromLog(input.grouped, input.items, { ...split, trainEnd: through });
      const events = all.events.reduce((s, l) => s + l.length, 0);
      print(`refit: training again on every day up to ${dayStr(through)} (${events.toLocaleString('en-US')} events, ${all.vocab.itemIds.length - 1} items) for ${result.bestEpoch} epoch(s), the count the validation chose; the figures above are version ${modelVersion}'s`);
      const refitInit = prev ? warmStartWeights(prev, mtlConfig(all, o), all.vocab, o.seed, initFrom!).weights : undefined;
      const r = await refitMtl(all, o, result.bestEpoch, result.weights.repeatWeights, {
        onStep, onEpoch: (log) => { bar.end(); print(`refit epoch ${log.epoch}/${result.bestEpoch} loss ${log.loss.toFixed(4)} ${log.seconds.toFixed(1)} s`); },
      }, refitInit);
      const refitSaved = await saveModel(out, r.config, r.weights, all.vocab, dtype, name);
      tf.dispose(Object.values(r.weights));
      training.refit = { throughDay: through, epochs: r.epochs, seconds: Math.round(r.trainSeconds), events, items: all.vocab.itemIds.length - 1, evaluatedVersion: modelVersion } satisfies RefitNote;
      bytes = refitSaved.bytes; modelVersion = refitSaved.header.modelVersion;
    }
    tf.dispose(Object.values(result.weights));
  }
  if (report) print(reportTable(report));
  if (report && fewShoppersWarning(report)) print(fewShoppersWarning(report)!);
  const summary = {
    command: `scenerec train ${argv.join(' ')}`, modelVersion, architecture: choice.model === 'mtl' ? 'sasrec-mtl' : 'sasrec', choice,
    data: { log: input.log, items: input.items?.summary, ...dataNote }, readOptions: input.readOptions,
    split: report && 'split' in report ? report.split : dataNote.split, options, initFrom: warm ?? null, weightDtype: dtype, artifactBytes: bytes, trainer: trainedOn, training,
    evaluation: report ? { protocol: report.protocol, ...reportJson(report) } : 'skipped (--skip-eval)',
    machine: { cpus: os.cpus().length, node: process.version, tfjs: tf.version.tfjs }, totalSeconds: Math.round((performance.now() - t0) / 1000),
  };
  fs.writeFileSync(path.join(out, 'training.json'), JSON.stringify(summary, null, 1));
  fs.writeFileSync(path.join(out, 'README.md'), modelCard(name, summary, report));
  print(`saved ${out} (${(bytes / 1e6).toFixed(2)} MB, ${dtype}, version ${modelVersion}); model card ${path.join(out, 'README.md')}`);
  print(JSON.stringify({ model: out, architecture: summary.architecture, modelVersion, ...(report ? reportJson(report) : {}) }));
}

/** Why a `--refit on` run shipped the evaluated model: recorded in training.json (`training.refitSkipped`) and the card. */
const REFIT_SKIPPED_WARM_START = 'the warm start\'s weights validated best, so there is no epoch count to repeat; the shipped model is the evaluated one, which has not trained on the validation and test days';

/** What `training.json` records of a refit (trainWith, --refit on). */
interface RefitNote { throughDay: number; epochs: number; seconds: number; events: number; items: number; evaluatedVersion: string }

function refitLine(r: RefitNote): string {
  return `Refit (--refit on): after the evaluation, trained again from the start on every day up to ${dayStr(r.throughDay)} (${r.events} events, ${r.items} items) for ${r.epochs} epoch(s), the count the validation chose, with the calibrated repeat weights (${formatDuration(r.seconds)}). These are the shipped weights; the evaluation below is version \`${r.evaluatedVersion}\`'s.\n`;
}

/** The card's lines on the repeat-weight calibration (training/mtl-calibrate.ts). */
function calibrationLines(c: CalibrationReport | 'off'): string {
  if (c === 'off') return 'Repeat weights: as trained (--calibrate off).\n';
  const f = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(', ');
  return `Repeat weights calibrated on the ${c.protocol} (${c.seconds} s):\n${c.heads.map((h) => `- ${h.task}: [${f(h.before)}] -> [${f(h.after)}], validation NDCG@10 first ${h.first.before.toFixed(4)} -> ${h.first.after.toFixed(4)} (${h.first.cases} cases), every ${h.every.before.toFixed(4)} -> ${h.every.after.toFixed(4)} (${h.every.cases})`).join('\n')}\n`;
}

function modelCard(name: string, s: Record<string, any>, report: SasrecReport | MtlReport | undefined): string {
  const log = s.data.log as LogSummary;
  const items = s.data.items as ItemTable['summary'] | undefined;
  const dropped = Object.entries(log.dropped).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  return `# Model card: ${name}

- Version: \`${s.modelVersion}\`; architecture \`${s.architecture}\` (${s.choice.why}); weights ${s.weightDtype}, ${(s.artifactBytes / 1e6).toFixed(2)} MB
- Trained with: \`${s.command}\`
${s.initFrom ? `- Warm-started: ${describeWarmStart(s.initFrom)}\n` : ''}
## Data
- Event log \`${log.file}\` (${log.format}): ${log.rows} rows, ${log.events} events, ${log.users} users, ${log.items} items
- Events per type: ${Object.entries(log.byType).map(([k, v]) => `${k} ${v}`).join(', ')}
- Timestamps: ${log.timeKind}, ${log.first.slice(0, 10)} .. ${log.last.slice(0, 10)} (${log.days} days)
- Columns: ${Object.entries(log.columns).map(([k, v]) => `${k}=\`${v}\``).join(', ')}; event names: ${Object.entries(log.eventMapping).map(([k, v]) => `${k}=${v}`).join(', ') || 'none (all views)'}
- Dropped rows: ${dropped}
${items ? `- Item file \`${items.file}\`: ${items.items} items, ${items.categories} categories, ${items.brands} brands, ${items.withPrice} with a price, ${items.unavailable} unavailable\n` : '- No item file: the model has no content features\n'}- Model data: ${Object.entries(s.data).filter(([k]) => !['log', 'items', 'split'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ')}

## Options
\`\`\`json
${JSON.stringify(s.options)}
\`\`\`
Training: ${s.training.epochs} epochs (best ${s.training.bestEpoch}), ${s.training.steps} steps, ${formatDuration(s.training.seconds)} on ${s.trainer ?? s.backend} (${s.machine.cpus} CPUs, Node ${s.machine.node}).
${s.training.calibration ? calibrationLines(s.training.calibration) : ''}${s.training.refit ? refitLine(s.training.refit) : ''}${s.training.refitSkipped ? `Refit (--refit on): skipped: ${s.training.refitSkipped}.\n` : ''}
## Evaluation
${report ? `${s.training.refit ? `Measured on version \`${s.training.refit.evaluatedVersion}\`, the model before the refit (the shipped weights have seen the test days). ` : ''}Protocol: ${report.protocol}. ${report.users} shoppers.\n\n${reportTable(report)}${fewShoppersWarning(report) ? `\n\n**${fewShoppersWarning(report)}**` : ''}` : 'Not evaluated (trained with --skip-eval): run `scenerec eval --model <this folder> --data <log>`.'}
`;
}

async function evalCommand(argv: string[], print: Print): Promise<void> {
  const f = parseFlags(argv, { ...READ_FLAGS, model: 'string' } as Record<string, 'string' | 'number' | 'boolean'>);
  if (f.help) { print(HELP); return; }
  if (f.model === undefined) throw new UsageError(`--model is required\n${HELP}`);
  const dir = f.model as string;
  const cardFile = path.join(dir, 'training.json');
  const card = fs.existsSync(cardFile) ? JSON.parse(fs.readFileSync(cardFile, 'utf8')) : {};
  await setNodeBackend((f.backend as string) ?? 'wasm');
  // The mapping flags default to those the model was trained with.
  const input = await readInputs(f, print, card.readOptions ?? {});
  const model = loadModelDir(dir);
  const mtl = Boolean(model.header.config.features);
  tf.dispose(Object.values(model.weights));
  const maxUsers = f['eval-max-users'] as number | undefined;
  let report: SasrecReport | MtlReport;
  if (mtl) {
    if (!input.items) throw new UsageError(`${dir} is a multi-task model: pass the item file it was trained with (--items)`);
    const split = splitOf(f, input.grouped, card.split);
    const refit = card.training?.refit as RefitNote | undefined;
    if (refit && split.testStart <= refit.throughDay) {
      throw new UsageError(`${dir} was refit on every day up to ${dayStr(refit.throughDay)} (--refit on), test days ${dayStr(split.testStart)} on included: its figures there would be in-sample. The card's figures are the evaluated model's (${refit.evaluatedVersion}), before the refit. To evaluate the shipped weights, train with --refit off, or evaluate on days after ${dayStr(refit.throughDay)} (--train-end ${refit.throughDay} --valid-day D --test-start D2 on a longer log)`);
    }
    report = await evalMtl(dir, mtlDataFromLog(input.grouped, input.items, split), maxUsers);
  } else {
    report = await evalSasrec(dir, input.grouped.dataset, maxUsers, { ...DEFAULT_TRAIN_OPTIONS, ...(card.options ?? {}) });
  }
  print(`protocol: ${report.protocol}; ${report.users} shoppers`);
  print(reportTable(report));
  if (fewShoppersWarning(report)) print(fewShoppersWarning(report)!);
  print(JSON.stringify({ model: dir, architecture: mtl ? 'sasrec-mtl' : 'sasrec', data: f.data, ...reportJson(report) }));
}

/** How a catalog meets a model: items with a learned vector, scored by content only, or neither. */
export interface CatalogCoverage { items: number; learned: number; contentOnly: number; neither: number }

export function catalogCoverage(vocab: ModelVocab, items: ItemTable): CatalogCoverage {
  const known = new Set(vocab.itemIds.slice(1));
  const cats = new Set(vocab.features?.categoryIds.slice(1) ?? []);
  const brands = new Set(vocab.features?.brandIds.slice(1) ?? []);
  const c: CatalogCoverage = { items: items.ids.length, learned: 0, contentOnly: 0, neither: 0 };
  items.ids.forEach((id, r) => {
    if (known.has(id)) c.learned++;
    else if (vocab.features && (cats.has(items.category[r]) || brands.has(items.brand[r]))) c.contentOnly++;
    else c.neither++;
  });
  return c;
}

async function inspectCommand(argv: string[], print: Print): Promise<void> {
  const f = parseFlags(argv, { model: 'string', catalog: 'string', 'item-columns': 'string', 'items-format': 'string', 'skip-bad': 'number', help: 'boolean' });
  if (f.help) { print(HELP); return; }
  if (f.model === undefined) throw new UsageError(`--model is required\n${HELP}`);
  const dir = f.model as string;
  const modelFile = path.join(dir, 'model.json');
  if (!fs.existsSync(modelFile)) throw new UsageError(`${modelFile} not found: --model must be a folder with model.json, weights.bin, vocab.json`);
  const header = validateHeader(JSON.parse(fs.readFileSync(modelFile, 'utf8')).userDefinedMetadata);
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, header.vocabPath ?? 'vocab.json'), 'utf8')) as ModelVocab;
  const card = path.join(dir, 'README.md');
  if (fs.existsSync(card)) print(fs.readFileSync(card, 'utf8').trimEnd());
  else print(`${dir}: ${header.architecture} model ${header.modelVersion} (no model card: not trained with scenerec train)`);
  print(`\nmodel: ${header.architecture}, ${vocab.itemIds.length - 1} items with a learned vector${vocab.features ? `, content features (${vocab.features.categoryIds.length - 1} categories, ${vocab.features.brandIds.length - 1} brands, ${vocab.features.priceEdges.length + 1} price bands)` : ', no content features'}`);
  if (f.catalog !== undefined) {
    const cols = f['item-columns'] ? parseMapping('item-columns', String(f['item-columns'])) : undefined;
    const items = await readItemFile(f.catalog as string, { format: f['items-format'] as LogFormat | undefined, columns: cols as Partial<Record<ItemColumn, string>>, skipBad: (f['skip-bad'] as number) ?? 0 });
    const c = catalogCoverage(vocab, items);
    const pct = (x: number) => `${((100 * x) / Math.max(c.items, 1)).toFixed(1)}%`;
    print(`catalog ${f.catalog}: ${c.items} items; learned vector ${c.learned} (${pct(c.learned)}), content only ${c.contentOnly} (${pct(c.contentOnly)}: no vector, but a category or brand the model learned), neither ${c.neither} (${pct(c.neither)})`);
    if (c.learned < 0.5 * c.items) print(`warning: the model knows under half of this catalog; train a model on your catalog: scenerec train --data <events.csv> --items ${f.catalog} --out <dir>`);
    print(JSON.stringify({ model: dir, catalog: f.catalog, ...c }));
  }
}

/** Reads the log (and item file) and says what train would do, without training: a check of an export. */
async function checkCommand(argv: string[], print: Print): Promise<void> {
  const f = parseFlags(argv, READ_FLAGS as Record<string, 'string' | 'number' | 'boolean'>);
  if (f.help) { print(HELP); return; }
  const input = await readInputs(f, print);
  const choice = chooseModel(input.log, input.items);
  print(`train would pick: ${choice.model} (${choice.why})`);
  let split: TimeSplit | undefined;
  try { split = splitOf(f, input.grouped); } catch (e) { if (!(e instanceof DataFormatError)) throw e; print(`time split: ${e.message}`); }
  if (split) print(`time split (multi-task model): training up to ${dayStr(split.trainEnd)}, validation ${dayStr(split.validDay)}, test from ${dayStr(split.testStart)}`);
  // The training input train would build (its memory is part of what check reports).
  if (choice.model === 'mtl' && split) {
    const data = mtlDataFromLog(input.grouped, input.items, split);
    print(`multi-task data: ${data.users.length} users, ${data.vocab.itemIds.length - 1} items in training days, catalog ${data.catalog.ids.length} items`);
  } else {
    const ds = trainingSequences(input.grouped.dataset, 1);
    print(`sequence data: ${ds.users.length} users, ${ds.numItems} items, ${ds.numInteractions} steps after collapsing immediate repeats`);
  }
  const mem = process.memoryUsage();
  print(JSON.stringify({ ...input.log, model: choice.model, split, rssMB: Math.round(mem.rss / 1e6), heapMB: Math.round(mem.heapUsed / 1e6) }));
}

const COMMANDS: Record<string, (argv: string[], print: Print) => Promise<void>> = { train: trainCommand, eval: evalCommand, inspect: inspectCommand, check: checkCommand };

/** Runs a command line; returns the exit code (2: usage or data errors, 1: other failures). */
export async function runCli(argv: string[], print: Print = (l) => console.log(l), printError: Print = (l) => console.error(l)): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === 'help') { print(HELP); return cmd ? 0 : 2; }
  const run = COMMANDS[cmd];
  if (!run) { printError(`error: unknown command "${cmd}"; use ${Object.keys(COMMANDS).join(', ')}\n${HELP}`); return 2; }
  try {
    await run(rest, print);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof DataFormatError) { printError(`error: ${e.message}`); return 2; }
    printError(String((e as Error).stack ?? e));
    return 1;
  }
}
