/**
 * npm run train -- --data <file> --format <pairs|lines|tianchi|csv|tsv|jsonl> --out models/<name> [hyper-parameters]
 * Trains the SASRec model and writes TF.js artifacts + training.json: on PyTorch (training/torch/train.py) when
 * a python3 with torch is found and the run needs nothing only the TF.js trainer has, else in Node on TF.js
 * (wasm backend). `--trainer auto|torch|tfjs` chooses.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { DataFormatError, leaveOneOut } from '../training/data.js';
import { DEFAULT_TRAIN_OPTIONS, HOLD_OUTS, formatEstimate, formatValidation, LEGACY_CHECKPOINT_OPTIONS, modelConfig, train, VALID_PROTOCOLS, type TrainOptions } from '../training/train.js';
import { architectureOf, checkArchitecture, describeWarmStart, readInitModel, shapeOf, warmStartWeights, type WarmStartReport } from '../training/warm-start.js';
import { loadCheckpoint, saveCheckpoint, saveModel, setNodeBackend, trainingSequences, vocabFor } from '../training/node-io.js';
import { REPEAT_RULES, type RepeatRule } from '../src/model/inputs.js';
import { readAnyDataset } from '../training/event-log.js';
import { runMtlTraining } from './train-mtl.js';
import { formatDuration, parseFlags, ProgressBar, UsageError } from '../training/cli.js';
import { chooseTrainer, TORCH_CHECKPOINT, TRAINERS, type TrainerChoice } from '../training/torch/python.js';

const D0 = DEFAULT_TRAIN_OPTIONS;
const HELP = `usage: npm run train -- --data <file> --format <pairs|lines|tianchi|csv|tsv|jsonl> --out <dir> [options]
       npm run train -- --arch mtl ... (the multi-task model; --arch mtl --help lists its options)
With no option below, train runs the best recipe we know (models/games-sasrec/README.md): sampled softmax over
${D0.negatives} negatives, SSE ${D0.sse}, dropout ${D0.dropout}, a cosine schedule over ${D0.epochs} epochs run to the end, validation every
${D0.evalEvery} epochs on full-ranking NDCG@10 over ${D0.evalUsers} sampled users, keeping the best weights. It prints how long it will take after its first steps.

trainer:
  --trainer T          auto | torch | tfjs: auto runs the PyTorch trainer (training/torch/train.py: same options,
                       defaults and artifact, about a third of the time an epoch) when a python3 with torch is found
                       (scripts/setup-torch.sh) and the run needs no TF.js-only option (--backend) or
                       format (csv, tsv, jsonl); else the TF.js trainer (auto). Both checkpoint every epoch;
                       --resume continues the trainer whose checkpoint is in --checkpoint-dir

schedule and stopping:
  --epochs N           epochs of the schedule (${D0.epochs})
  --lr X               Adam learning rate, the peak of the schedule (${D0.learningRate})
  --lr-schedule S      constant | cosine: cosine decays the rate to 0 by the last epoch (${D0.lrSchedule})
  --batch N            examples (users' training prefixes) a step (${D0.batchSize})
  --eval-every N       validate every N epochs and keep the best-validation weights; 0 = never, keep the last (${D0.evalEvery})
  --eval-users N       users sampled (seeded) for validation; 0 = all users with a validation item (${D0.evalUsers})
  --valid-protocol P   full | sampled-100: rank the validation item against every unseen item or 100 sampled ones (${D0.validProtocol})
  --patience N         stop after N validations without improvement; 0 = no early stopping, the whole schedule runs (${D0.patience})
  --max-steps N        stop after N steps in total, for smoke runs; 0 = no limit (${D0.maxSteps})
  --fit-validation     refit on training + validation items (test items unseen); needs --eval-every 0 and the epoch
                       count an earlier validated run chose
  --hold-out H         every-user | validation-sample: whose last two items are held out: every user's (leave-one-out,
                       the benchmark protocol), or only the --eval-users sample's, every other user training on the
                       whole sequence (what a shop ships; figures then rest on the sample) (${D0.holdOut})
loss and regularisation:
  --loss L             softmax | gbce | bce | bpr: sampled softmax over the shared negatives, gSASRec's calibrated BCE,
                       the paper's one-negative BCE, or pairwise BPR (${D0.loss})
  --negatives N        uniform negatives shared by a batch (softmax, gbce, bpr); N at or above the number of items
                       uses every item once: the full softmax (${D0.negatives})
  --gbce-t X           gBCE calibration t in [0, 1] (${D0.gbceT})
  --bce-weight W       add the paper's one-negative BCE with this weight (${D0.bceWeight})
  --bpr-weight W       add a pairwise term over the negatives with this weight (${D0.bprWeight})
  --l2 X               L2 penalty on the embedding rows a batch touches (${D0.l2})
  --dropout X          dropout in the blocks and on the input embeddings (${D0.dropout})
  --sse P              probability of replacing each training input id by a random item (SSE-SE) (${D0.sse})
model shape (what the SDK serves):
  --hidden N (${D0.hiddenDim})  --blocks N (${D0.numBlocks})  --heads N (${D0.numHeads})  --ffn N (${D0.ffnDim})  --max-len N: history steps read (${D0.maxLen})
other:
  --seed N             the run's seed: same seed and options, same model (${D0.seed})
  --dtype D            float16 | float32 weight storage (float16)
  --repeats R          collapse | collapse-raw | keep (collapse: as the SDK serves; see src/model/inputs.ts RepeatRule)
  --min-item-count N   drop items with fewer steps (1: keep all)
  --checkpoint-dir DIR (.checkpoints/<out name>)  --resume: continue exactly where the last checkpoint stopped
  --backend B          wasm | cpu (wasm)
  --init-from DIR      warm start from an earlier model: known items keep their vectors, new items start fresh;
                       the shape flags default to DIR's`;

const FLAGS = {
  data: 'string', format: 'string', out: 'string', epochs: 'number', batch: 'number', lr: 'number',
  negatives: 'number', loss: 'string', 'gbce-t': 'number', l2: 'number', 'max-len': 'number', hidden: 'number', blocks: 'number', heads: 'number', ffn: 'number',
  dropout: 'number', seed: 'number', 'eval-every': 'number', 'eval-users': 'number', patience: 'number',
  'max-steps': 'number', dtype: 'string', 'min-item-count': 'number', 'checkpoint-dir': 'string', resume: 'boolean',
  backend: 'string', help: 'boolean', sse: 'number', 'lr-schedule': 'string', 'bce-weight': 'number', 'bpr-weight': 'number', 'fit-validation': 'boolean', repeats: 'string',
  'valid-protocol': 'string',
  'init-from': 'string', trainer: 'string', 'hold-out': 'string',
} as const;

async function main() {
  const argv = process.argv.slice(2);
  const archAt = argv.indexOf('--arch');
  const arch = archAt >= 0 ? argv[archAt + 1] : 'sasrec';
  if (arch === 'mtl') return runMtlTraining(argv);
  if (arch !== 'sasrec') throw new UsageError(`--arch must be sasrec or mtl, not "${arch}"`);
  if (archAt >= 0) argv.splice(archAt, 2);
  const f = parseFlags(argv, FLAGS as Record<string, 'string' | 'number' | 'boolean'>);
  if (f.help) { console.log(HELP); return; }
  for (const req of ['data', 'format', 'out']) if (f[req] === undefined) throw new UsageError(`--${req} is required\n${HELP}`);
  const requested = ((f.trainer as string) ?? 'auto') as TrainerChoice;
  if (!TRAINERS.includes(requested)) throw new UsageError(`--trainer must be one of ${TRAINERS.join(', ')}`);
  let choice;
  // Either trainer checkpoints every epoch into this folder; --resume continues the one whose checkpoint is there.
  const checkpointDir = (f['checkpoint-dir'] as string) ?? path.join('.checkpoints', path.basename(path.resolve(f.out as string)));
  const torchCheckpoint = fs.existsSync(path.join(checkpointDir, TORCH_CHECKPOINT));
  try { choice = chooseTrainer(requested, f.format as string, Object.keys(f), torchCheckpoint); } catch (e) { throw new UsageError((e as Error).message); }
  if (choice.trainer === 'torch') {
    console.log(`trainer: PyTorch ${choice.torch} (${choice.python}; --trainer tfjs for the TF.js trainer)`);
    const at = argv.indexOf('--trainer');
    const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 2)] : argv;
    const r = spawnSync(choice.python, [choice.script, ...rest], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  console.log(`trainer: TF.js (${choice.why})`);
  const dtype = (f.dtype as string) ?? 'float16';
  const repeats = ((f.repeats as string) ?? 'collapse') as RepeatRule;
  if (!REPEAT_RULES.includes(repeats)) throw new UsageError(`--repeats must be one of ${REPEAT_RULES.join(', ')}`);
  if (dtype !== 'float16' && dtype !== 'float32') throw new UsageError('--dtype must be float16 or float32');
  const n = (k: string, d: number) => (f[k] as number | undefined) ?? d;
  // The backend first: the earlier model's weights are tensors.
  const backend = await setNodeBackend((f.backend as string) ?? 'wasm');
  const initFrom = f['init-from'] as string | undefined;
  if (initFrom !== undefined && f.resume) throw new UsageError('--init-from starts a new run from a model, --resume continues a checkpoint: pass one of them');
  const prev = initFrom !== undefined ? readInitModel(initFrom) : undefined;
  if (prev) checkArchitecture(architectureOf(prev.header.config), 'sasrec', initFrom!);
  // A warm start's shape flags default to the earlier model's.
  const D = { ...DEFAULT_TRAIN_OPTIONS, ...(prev ? shapeOf(prev.header.config) : {}) };
  const options: TrainOptions = {
    maxLen: n('max-len', D.maxLen), hiddenDim: n('hidden', D.hiddenDim), numBlocks: n('blocks', D.numBlocks),
    numHeads: n('heads', D.numHeads), ffnDim: n('ffn', D.ffnDim), dropout: n('dropout', D.dropout),
    batchSize: n('batch', D.batchSize), learningRate: n('lr', D.learningRate), negatives: n('negatives', D.negatives),
    loss: ((f.loss as string) ?? D.loss) as TrainOptions['loss'], gbceT: n('gbce-t', D.gbceT), l2: n('l2', D.l2),
    epochs: n('epochs', D.epochs), seed: n('seed', D.seed), evalEvery: n('eval-every', D.evalEvery),
    evalUsers: n('eval-users', D.evalUsers), validProtocol: ((f['valid-protocol'] as string) ?? D.validProtocol) as TrainOptions['validProtocol'],
    patience: n('patience', D.patience), maxSteps: n('max-steps', D.maxSteps),
    fitValidation: Boolean(f['fit-validation']), holdOut: ((f['hold-out'] as string) ?? D.holdOut) as TrainOptions['holdOut'], bceWeight: n('bce-weight', D.bceWeight), bprWeight: n('bpr-weight', D.bprWeight), sse: n('sse', D.sse), lrSchedule: ((f['lr-schedule'] as string) ?? D.lrSchedule) as TrainOptions['lrSchedule'],
  };
  if (!HOLD_OUTS.includes(options.holdOut)) throw new UsageError(`--hold-out must be one of ${HOLD_OUTS.join(', ')}`);
  if (!VALID_PROTOCOLS.includes(options.validProtocol)) throw new UsageError(`--valid-protocol must be one of ${VALID_PROTOCOLS.join(', ')}`);
  if (options.lrSchedule !== 'constant' && options.lrSchedule !== 'cosine') throw new UsageError('--lr-schedule must be constant or cosine');
  if (options.fitValidation && options.evalEvery > 0) throw new UsageError('--fit-validation trains on the validation items: pass --eval-every 0 (and the epoch count an earlier run chose)');
  if (options.sse >= 1) throw new UsageError('--sse must be in [0, 1)');
  if (options.loss !== 'softmax' && options.loss !== 'gbce' && options.loss !== 'bce' && options.loss !== 'bpr') throw new UsageError('--loss must be softmax, gbce, bce or bpr');
  if (options.gbceT > 1) throw new UsageError('--gbce-t must be in [0, 1]');
  for (const [k, v] of Object.entries(options)) {
    if (typeof v !== 'number') continue;
    if (!Number.isFinite(v) || v < 0) throw new UsageError(`${k} must be a non-negative number`);
  }
  if (options.dropout >= 1) throw new UsageError('--dropout must be below 1');

  const out = f.out as string;
  const name = path.basename(path.resolve(out));
  const ckptDir = (f['checkpoint-dir'] as string) ?? path.join('.checkpoints', name);

  const t0 = performance.now();
  const dataset = trainingSequences(await readAnyDataset(f.data as string, f.format as string), n('min-item-count', 1), { repeats });
  const split = leaveOneOut(dataset.sequences);
  const evalUsers = split.test.filter((x) => x > 0).length;
  console.log(`data: ${f.data} (${f.format}) ${dataset.users.length} users, ${dataset.numItems} items, ${dataset.numInteractions} interactions, ${evalUsers} users with a held-out item; read in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`backend: ${backend}; options: ${JSON.stringify(options)}`);

  let resume;
  if (f.resume) {
    const loaded = loadCheckpoint(ckptDir);
    if (!loaded) throw new UsageError(`--resume: no checkpoint in ${ckptDir}`);
    // Checkpoints written before an option existed used its default.
    const saved = { ...DEFAULT_TRAIN_OPTIONS, ...LEGACY_CHECKPOINT_OPTIONS, ...(loaded.meta.options as Partial<TrainOptions>) };
    const differing = (Object.keys(options) as Array<keyof TrainOptions>).filter((k) => k !== 'epochs' && saved[k] !== options[k]);
    if (differing.length > 0) {
      throw new UsageError(`--resume: options ${differing.join(', ')} differ from the checkpoint's (${JSON.stringify(saved)}); pass the same options (only --epochs may change)`);
    }
    resume = loaded.ckpt;
    console.log(`resuming from ${ckptDir}: ${resume.state.epoch} epochs done, step ${resume.state.step}`);
  }

  let init;
  let warm: WarmStartReport | undefined;
  if (prev) {
    const w = warmStartWeights(prev, modelConfig(dataset.numItems, options), { itemIds: dataset.itemIds, popularity: [] }, options.seed, initFrom!);
    tf.dispose(Object.values(prev.weights));
    init = w.weights; warm = w.report;
    console.log(describeWarmStart(warm));
  }

  const bar = new ProgressBar();
  let validationLine = '';
  const result = await train(dataset, options, {
    onStep: ({ epoch, step, stepsInEpoch, loss, elapsed }) =>
      bar.update(`epoch ${epoch + 1}/${options.epochs}`, step, stepsInEpoch, `loss ${loss.toFixed(4)}`, (elapsed / step) * (stepsInEpoch - step)),
    onPlan: ({ validation }) => { validationLine = validation ?? 'validation: none (--eval-every 0): the last epoch\'s weights are kept'; console.log(validationLine); },
    onEstimate: (e) => { bar.end(); console.log(`time: ${formatEstimate(e)}`); },
    onEpoch: (log, state) => {
      bar.end();
      const perEpoch = state.trainSeconds / Math.max(state.epoch, 1);
      const eta = perEpoch * (options.epochs - state.epoch);
      const v = log.valid ? ` ${formatValidation(log.valid, options.validProtocol)}` : '';
      if (log.epoch === 0) { console.log(`epoch 0 (the warm start, before training):${v}`); return; }
      console.log(`epoch ${log.epoch}/${options.epochs} loss ${log.loss.toFixed(4)} ${log.seconds.toFixed(1)} s (${(log.cpuSeconds ?? 0).toFixed(1)} CPU-s)${v} (best epoch ${state.bestEpoch}; ETA ${formatDuration(eta)})`);
    },
    saveCheckpoint: (ckpt) => saveCheckpoint(ckptDir, ckpt, { options, data: f.data, format: f.format }),
  }, resume, init);

  const vocab = vocabFor(dataset);
  const { header, bytes } = await saveModel(out, result.config, result.weights, vocab, dtype, name);
  // A float32 copy beside the checkpoint lets eval measure what float16 storage costs.
  if (dtype === 'float16') await saveModel(path.join(ckptDir, 'float32'), result.config, result.weights, vocab, 'float32', name);
  tf.dispose(Object.values(result.weights));
  const summary = {
    command: `npm run train -- ${process.argv.slice(2).join(' ')}`,
    modelVersion: header.modelVersion,
    data: { file: f.data, format: f.format, repeats, users: dataset.users.length, items: dataset.numItems, interactions: dataset.numInteractions },
    options, initFrom: warm ?? null, backend, weightDtype: dtype, artifactBytes: bytes,
    validation: validationLine,
    trainSeconds: Math.round(result.state.trainSeconds), epochs: result.state.epoch, bestEpoch: result.state.bestEpoch,
    steps: result.state.step, log: result.state.log,
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version, tfjs: tf.version.tfjs },
  };
  fs.writeFileSync(path.join(out, 'training.json'), JSON.stringify(summary, null, 1));
  console.log(`saved ${out} (${(bytes / 1e6).toFixed(2)} MB, ${dtype}, version ${header.modelVersion}); trained ${result.state.epoch} epochs in ${formatDuration(result.state.trainSeconds)}, best epoch ${result.state.bestEpoch}`);
}

main().catch((e) => {
  if (e instanceof UsageError || e instanceof DataFormatError) { console.error(`error: ${e.message}`); process.exit(2); }
  console.error(e);
  process.exit(1);
});
