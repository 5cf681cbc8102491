/**
 * npm run train -- --arch mtl --data <events.tsv> --items <items.tsv> --out models/<name> [options]
 * Trains the multi-task model ('sasrec-mtl') on Tianchi-layout multi-behaviour events.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readMtlData, DEFAULT_MTL_DATA_OPTIONS } from '../training/mtl-data.js';
import { DEFAULT_MTL_OPTIONS, mtlConfig, parseTaskWeights, REFITS, refitMtl, taskHeads, trainMtl, type MtlTrainOptions, type Refit } from '../training/mtl-train.js';
import { architectureOf, checkArchitecture, describeWarmStart, readInitModel, shapeOf, warmStartWeights, type WarmStartReport } from '../training/warm-start.js';
import { saveModel, setNodeBackend } from '../training/node-io.js';
import { formatDuration, parseFlags, ProgressBar, UsageError } from '../training/cli.js';
import { TASKS } from '../src/model/features.js';
import { calibrateMtlModel, calibrationUsers, FIRST_SHARE, type CalibrationReport } from '../training/mtl-calibrate.js';
import { formatTaskNdcg } from '../training/mtl-eval.js';

const D = DEFAULT_MTL_OPTIONS;
/** The benchmark CLI's refit default (scenerec train's: SHOP_REFIT). */
export const BENCH_REFIT: Refit = 'off';
export const MTL_HELP = `usage: npm run train -- --arch mtl --data <events.tsv> --items <items.tsv> --out <dir> [options]
  --tasks click,cart,purchase,favorite (the heads to train, all by default; one name: a single-task model)
  --task-weights ${D.taskWeights.join(',')} (loss weights click,cart,purchase[,favorite]: 3 numbers train the 3-head model, 4 add the
    favorite (satisfaction) head; or named: click=1,cart=0.3,purchase=0.3,favorite=0.3)  --id-dropout X (${D.idDropout})  --l2 X (${D.l2})
  --epochs N (${D.epochs})  --batch N (${D.batchSize})  --lr X (${D.learningRate})  --negatives N (${D.negatives})
  --max-len N (${D.maxLen})  --hidden N (${D.hiddenDim})  --blocks N (${D.numBlocks})  --heads N (${D.numHeads})  --ffn N (${D.ffnDim})
  --dropout X (${D.dropout})  --seed N (${D.seed})  --patience N (${D.patience})  --max-steps N  --dtype float16|float32 (float16)
  --eval-users N (${D.evalUsers}: validation users sampled from those with a validation-day event; 0 = all)
  --init-from DIR (warm start from an earlier multi-task model: known items, categories, brands keep their vectors; shape flags default to DIR's)
  --calibrate on|off (on: after training, each head's repeat weights are searched for the best validation-day NDCG@10,
    full ranking, ${FIRST_SHARE} x first event + ${1 - FIRST_SHARE} x every event; npm run calibrate:mtl does it for a saved model)
  --refit on|off (${BENCH_REFIT}; on: after calibration, train again from the start on the training and validation days, for the
    epoch count the validation chose, keeping the calibrated repeat weights; the test days stay unseen, npm run eval reads the
    days from training.json)
  --train-end YYYYMMDD (${DEFAULT_MTL_DATA_OPTIONS.trainEnd})  --valid-day YYYYMMDD (${DEFAULT_MTL_DATA_OPTIONS.validDay})  --test-start YYYYMMDD (${DEFAULT_MTL_DATA_OPTIONS.testStart})`;

export async function runMtlTraining(argv: string[]): Promise<void> {
  const f = parseFlags(argv, {
    arch: 'string', data: 'string', items: 'string', out: 'string', format: 'string', tasks: 'string', 'task-weights': 'string', 'id-dropout': 'number', l2: 'number',
    epochs: 'number', batch: 'number', lr: 'number', negatives: 'number', 'max-len': 'number', hidden: 'number', blocks: 'number',
    heads: 'number', ffn: 'number', dropout: 'number', seed: 'number', patience: 'number', 'max-steps': 'number', dtype: 'string',
    'train-end': 'number', 'valid-day': 'number', 'test-start': 'number', backend: 'string', help: 'boolean', 'init-from': 'string', calibrate: 'string',
    'eval-users': 'number', refit: 'string',
  });
  if (f.help) { console.log(MTL_HELP); return; }
  for (const req of ['data', 'items', 'out']) if (f[req] === undefined) throw new UsageError(`--${req} is required\n${MTL_HELP}`);
  if (f.format !== undefined && f.format !== 'tianchi') throw new UsageError('--arch mtl reads the tianchi format only (events.tsv + items.tsv)');
  let given: number[];
  try { given = f['task-weights'] === undefined ? DEFAULT_MTL_OPTIONS.taskWeights : parseTaskWeights(String(f['task-weights'])); } catch (e) { throw new UsageError((e as Error).message); }
  const heads = taskHeads(given);
  const names = ((f.tasks as string) ?? heads.join(',')).split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(TASKS as readonly string[]).includes(n)) throw new UsageError(`--tasks: unknown task "${n}"; must be one of ${TASKS.join(', ')}`);
    if (!(heads as readonly string[]).includes(n)) throw new UsageError(`--tasks ${n}: the model has no ${n} head with ${given.length} task weights; give ${TASKS.length} (${TASKS.join(',')})`);
  }
  const taskWeights = heads.map((t, i) => (names.includes(t) ? given[i] : 0));
  if (taskWeights.every((w) => w === 0)) throw new UsageError('every task has weight 0: nothing to train');
  // The backend first: the earlier model's weights are tensors.
  const backend = await setNodeBackend((f.backend as string) ?? 'wasm');
  const initFrom = f['init-from'] as string | undefined;
  const prev = initFrom !== undefined ? readInitModel(initFrom) : undefined;
  if (prev) checkArchitecture(architectureOf(prev.header.config), 'sasrec-mtl', initFrom!);
  const D = { ...DEFAULT_MTL_OPTIONS, ...(prev ? shapeOf(prev.header.config) : {}) };
  const n = (k: string, d: number) => (f[k] as number | undefined) ?? d;
  const options: MtlTrainOptions = {
    maxLen: n('max-len', D.maxLen), hiddenDim: n('hidden', D.hiddenDim), numBlocks: n('blocks', D.numBlocks), numHeads: n('heads', D.numHeads),
    ffnDim: n('ffn', D.ffnDim), dropout: n('dropout', D.dropout), batchSize: n('batch', D.batchSize), learningRate: n('lr', D.learningRate),
    negatives: n('negatives', D.negatives), epochs: n('epochs', D.epochs), seed: n('seed', D.seed), taskWeights,
    idDropout: n('id-dropout', D.idDropout), l2: n('l2', D.l2), patience: n('patience', D.patience), maxSteps: n('max-steps', D.maxSteps),
    evalUsers: n('eval-users', D.evalUsers),
  };
  for (const [k, v] of Object.entries(options)) if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw new UsageError(`${k} must be a non-negative number`);
  if (options.dropout >= 1 || options.idDropout >= 1) throw new UsageError('--dropout and --id-dropout must be below 1');
  if (options.hiddenDim % options.numHeads !== 0) throw new UsageError('--hidden must be divisible by --heads');
  const dtype = (f.dtype as string) ?? 'float16';
  if (dtype !== 'float16' && dtype !== 'float32') throw new UsageError('--dtype must be float16 or float32');
  const calibrate = (f.calibrate as string) ?? 'on';
  if (calibrate !== 'on' && calibrate !== 'off') throw new UsageError('--calibrate must be on or off');
  const refit = ((f.refit as string | undefined) ?? BENCH_REFIT) as Refit;
  if (!REFITS.includes(refit)) throw new UsageError(`--refit must be one of ${REFITS.join(', ')}`);

  const t0 = performance.now();
  const data = readMtlData(f.data as string, f.items as string, {
    ...DEFAULT_MTL_DATA_OPTIONS,
    trainEnd: n('train-end', DEFAULT_MTL_DATA_OPTIONS.trainEnd), validDay: n('valid-day', DEFAULT_MTL_DATA_OPTIONS.validDay),
    testStart: n('test-start', DEFAULT_MTL_DATA_OPTIONS.testStart),
  });
  const trainEvents = data.events.reduce((s, l) => s + l.filter((e) => e.date <= data.trainEnd).length, 0);
  console.log(`data: ${data.users.length} users, ${data.vocab.itemIds.length - 1} items in training days (≤ ${data.trainEnd}), ${trainEvents} training events, catalog ${data.catalog.ids.length} items, ${data.features.numCategories} categories, ${data.features.numBrands} brands; read in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`backend: ${backend}; tasks: ${names.join(', ')}; options: ${JSON.stringify(options)}`);

  let init;
  let warm: WarmStartReport | undefined;
  if (prev) {
    const w = warmStartWeights(prev, mtlConfig(data, options), data.vocab, options.seed, initFrom!);
    init = w.weights; warm = w.report;
    console.log(describeWarmStart(warm));
  }
  const bar = new ProgressBar();
  const result = await trainMtl(data, options, {
    onStep: ({ epoch, step, stepsInEpoch, loss, elapsed }) =>
      bar.update(`epoch ${epoch}/${options.epochs}`, step, stepsInEpoch, `loss ${loss.toFixed(4)}`, (elapsed / step) * (stepsInEpoch - step)),
    onPlan: ({ validation }) => console.log(validation),
    onEpoch: (log, bestEpoch) => {
      bar.end();
      const v = formatTaskNdcg(log.valid!.tasks);
      if (log.epoch === 0) { console.log(`epoch 0 (the warm start, before training): valid NDCG@10 ${v}; purchase GAUC ${log.valid!.purchaseGauc.toFixed(3)}`); return; }
      console.log(`epoch ${log.epoch} loss ${log.loss.toFixed(4)} ${log.seconds.toFixed(1)} s (${(log.cpuSeconds ?? 0).toFixed(1)} CPU-s); valid NDCG@10 ${v}; purchase GAUC ${log.valid!.purchaseGauc.toFixed(3)} (best epoch ${bestEpoch})`);
    },
  }, init);
  let calibration: CalibrationReport | 'off' = 'off';
  if (calibrate === 'on') {
    const c = await calibrateMtlModel(result.config, result.weights, data, { log: (l) => console.log(l), users: calibrationUsers(data, options.evalUsers, options.seed + 1) });
    result.weights.repeatWeights.dispose();
    result.weights = c.weights;
    calibration = c.report;
  }
  const out = f.out as string;
  const name = path.basename(path.resolve(out));
  let shipped = { result, data };
  let refitNote: Record<string, unknown> | null = null;
  if (refit === 'on' && result.bestEpoch < 1) console.log('refit: skipped (the warm start\'s weights validated best: no epoch count to repeat)');
  if (refit === 'on' && result.bestEpoch >= 1) {
    // The validation day joins the training days; the test days stay unseen.
    const all = readMtlData(f.data as string, f.items as string, { ...DEFAULT_MTL_DATA_OPTIONS, trainEnd: data.validDay, validDay: data.validDay, testStart: data.testStart });
    console.log(`refit: training again on the days up to ${all.trainEnd} (${all.vocab.itemIds.length - 1} items) for ${result.bestEpoch} epoch(s), the count the validation chose`);
    const refitInit = prev ? warmStartWeights(prev, mtlConfig(all, options), all.vocab, options.seed, initFrom!).weights : undefined;
    const r = await refitMtl(all, options, result.bestEpoch, result.weights.repeatWeights, {
      onStep: ({ epoch, step, stepsInEpoch, loss, elapsed }) =>
        bar.update(`refit epoch ${epoch}/${result.bestEpoch}`, step, stepsInEpoch, `loss ${loss.toFixed(4)}`, (elapsed / step) * (stepsInEpoch - step)),
      onEpoch: (log) => { bar.end(); console.log(`refit epoch ${log.epoch} loss ${log.loss.toFixed(4)} ${log.seconds.toFixed(1)} s`); },
    }, refitInit);
    tf.dispose(Object.values(result.weights));
    refitNote = { throughDay: all.trainEnd, epochs: r.epochs, seconds: Math.round(r.trainSeconds), items: all.vocab.itemIds.length - 1 };
    shipped = { result: r, data: all };
  }
  if (prev) tf.dispose(Object.values(prev.weights));
  const { header, bytes } = await saveModel(out, shipped.result.config, shipped.result.weights, shipped.data.vocab, dtype, name);
  tf.dispose(Object.values(shipped.result.weights));
  fs.writeFileSync(path.join(out, 'training.json'), JSON.stringify({
    command: `npm run train -- ${argv.join(' ')}`, modelVersion: header.modelVersion, architecture: header.architecture,
    data: { events: f.data, items: f.items, users: data.users.length, items_in_vocab: shipped.data.vocab.itemIds.length - 1, catalog: data.catalog.ids.length, trainEnd: data.trainEnd, validDay: data.validDay, testStart: data.testStart },
    refit: refitNote,
    options, tasks: names, initFrom: warm ?? null, backend, weightDtype: dtype, artifactBytes: bytes, trainSeconds: Math.round(result.trainSeconds),
    epochs: result.epochs, bestEpoch: result.bestEpoch, steps: result.steps, calibration,
    log: result.log.map((l) => ({ epoch: l.epoch, loss: l.loss, seconds: l.seconds, cpuSeconds: l.cpuSeconds, score: l.score, valid: l.valid && { tasks: l.valid.tasks.map(({ hr10: _a, ndcg10: _b, ...rest }) => rest), purchaseGauc: l.valid.purchaseGauc } })),
  }, null, 1));
  console.log(`saved ${out} (${(bytes / 1e6).toFixed(2)} MB, ${dtype}, version ${header.modelVersion}); trained ${result.epochs} epochs in ${formatDuration(result.trainSeconds)}, best epoch ${result.bestEpoch}`);
}
