/**
 * The training loop: sampled-softmax SASRec on leave-one-out training prefixes,
 * length-bucketed batches, Adam, validation on the held-out second-last item,
 * keep-best, checkpoints that resume exactly.
 */
import * as tf from '@tensorflow/tfjs';
import { sequenceInput } from '../src/model/inputs.js';
import { initWeights, weightShapes, type ModelShape, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';
import { sampledSoftmaxLoss, type BatchTensors, type LossKind } from './loss.js';
import { Rng } from './rng.js';
import { leaveOneOut, type LeaveOneOutSplit, type SequenceDataset } from './data.js';
import { evaluateModel, type EvalOptions, type Protocol } from './evaluate.js';
import type { RankingMetrics } from './metrics.js';

/** Model shape and the optimisation basics, shared by the SASRec and the multi-task trainers. */
export interface BaseTrainOptions extends ModelShape {
  batchSize: number;
  learningRate: number;
  /** Shared uniform negatives per batch; at the number of items or above, every item once (the full softmax). */
  negatives: number;
}

export interface TrainOptions extends BaseTrainOptions {
  /** Training loss over the sampled negatives. */
  loss: LossKind;
  /** gBCE calibration t (only with loss 'gbce'). */
  gbceT: number;
  /** L2 penalty on the embedding rows each batch touches (0 = off). */
  l2: number;
  /** Weight of the paper's one-negative BCE added to the softmax/gBCE loss (loss 'bce' uses it alone). */
  bceWeight: number;
  /** Weight of the pairwise (BPR) term over the shared negatives added to the loss (loss 'bpr' uses it alone). */
  bprWeight: number;
  epochs: number;
  seed: number;
  /**
   * Validate every N epochs (0 = never): NDCG@10 of each user's validation item selects the weights kept
   * (the best validation, not the last epoch's).
   */
  evalEvery: number;
  /** Users sampled for validation, with their own seed (0 = all). */
  evalUsers: number;
  /**
   * Ranking of the validation: 'full' (the validation item against every item the user has not
   * interacted with) or 'sampled-100' (against 100 sampled ones, which hides most differences between models).
   */
  validProtocol: Protocol;
  /**
   * Stop after this many validations without improvement (0 = never: the whole schedule runs, and the
   * best-validation weights are kept). Opt-in: a cosine schedule gains most in its last epochs.
   */
  patience: number;
  /** Stop after this many steps in total (0 = no limit); for smoke runs. */
  maxSteps: number;
  /**
   * Stochastic shared embeddings (SSE-SE, Wu et al., RecSys 2020): each training input id is replaced
   * by a uniformly random item with this probability (targets unchanged); 0 = off. A regulariser for
   * sparse catalogs where most item rows see few updates.
   */
  sse: number;
  /** Learning-rate schedule over `epochs`: constant, or cosine decay to 0 by the last epoch. */
  lrSchedule: 'constant' | 'cosine';
  /**
   * Refit: train on each user's training items AND validation item (test items stay unseen). Validation
   * is then meaningless, so it needs `evalEvery: 0` (the epoch count chosen by an earlier run).
   */
  fitValidation: boolean;
  /**
   * Whose last two items are held out: 'every-user' (leave-one-out for every user, as the SASRec paper
   * and its baselines do: the benchmark protocol) or 'validation-sample' (only the users of the seeded
   * validation sample of `evalUsers`; every other user trains on the whole sequence, so the model also
   * learns from each shopper's newest events, and the validation and test figures rest on the sample).
   */
  holdOut: HoldOut;
}

/** The values of `TrainOptions.holdOut`. */
export const HOLD_OUTS = ['every-user', 'validation-sample'] as const;
export type HoldOut = typeof HOLD_OUTS[number];

/**
 * The best recipe we know (models/games-sasrec/README.md, "What was tried"): sampled softmax over 2,048
 * shared negatives, SSE 0.1, dropout 0.5, cosine decay over 32 epochs run to the end, full-ranking
 * validation every 2 epochs keeping the best weights, no early stopping.
 */
export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  maxLen: 50, hiddenDim: 64, numBlocks: 2, numHeads: 1, ffnDim: 64, dropout: 0.5,
  batchSize: 128, learningRate: 1e-3, negatives: 2048, loss: 'softmax', gbceT: 0.75, l2: 0, bceWeight: 0, bprWeight: 0, epochs: 32, seed: 42,
  evalEvery: 2, evalUsers: 5000, validProtocol: 'full', patience: 0, maxSteps: 0, sse: 0.1, lrSchedule: 'cosine', fitValidation: false,
  holdOut: 'every-user',
};

/** Validation protocols, for flag checks ("must be one of ..."). */
export const VALID_PROTOCOLS: readonly Protocol[] = ['full', 'sampled-100'];

/** What the validation measures, as the trainers print it: "validation: full-ranking NDCG@10 over 5,000 sampled users". */
export function validationLabel(protocol: Protocol, users: number, sampled: boolean): string {
  const what = protocol === 'full' ? 'full-ranking NDCG@10' : 'sampled-100 NDCG@10 (the validation item against 100 sampled items)';
  return `validation: ${what} over ${sampled ? `${users.toLocaleString('en-US')} sampled users` : `all ${users.toLocaleString('en-US')} users with a validation item`}`;
}

/**
 * How long a run will take, from the step time measured on its first steps: printed before the
 * run goes on, so a shop knows what a dataset of its size costs.
 */
export interface TrainEstimate {
  epochs: number;
  stepsPerEpoch: number;
  /** Mean seconds of the measured steps (the first steps after a warm-up, see `measuredSteps`). */
  secondsPerStep: number;
  measuredSteps: number;
  /** Validations the run will do, and the seconds of one, timed on a slice of the validation users. */
  validations: number;
  secondsPerValidation: number;
  /** Whole remaining run: training steps plus validations. */
  totalSeconds: number;
}

/** "≈ 27 min for 32 epochs of 242 steps (0.17 s a step over 20 measured steps; 16 validations of ≈ 9 s)". */
export function formatEstimate(e: TrainEstimate): string {
  const t = e.totalSeconds;
  const total = t >= 5400 ? `${(t / 3600).toFixed(1)} h` : t >= 90 ? `${Math.round(t / 60)} min` : `${Math.round(t)} s`;
  const v = e.validations > 0 ? `; ${e.validations} validation${e.validations === 1 ? '' : 's'} of ≈ ${e.secondsPerValidation.toFixed(1)} s` : '';
  return `≈ ${total} for ${e.epochs} epochs of ${e.stepsPerEpoch} steps (${e.secondsPerStep.toFixed(3)} s a step over ${e.measuredSteps} measured steps${v})`;
}

/** One epoch's validation figures as the trainers print them: "valid full-ranking NDCG@10 0.0532 HR@10 0.0969". */
export function formatValidation(m: RankingMetrics, protocol: Protocol): string {
  return `valid ${protocol === 'full' ? 'full-ranking' : 'sampled-100'} NDCG@10 ${m['ndcg@10'].toFixed(4)} HR@10 ${m['hr@10'].toFixed(4)}`;
}

/**
 * Options a checkpoint written before they existed was trained with (the defaults then), for `--resume`:
 * the defaults have changed since.
 */
export const LEGACY_CHECKPOINT_OPTIONS: Partial<TrainOptions> = {
  validProtocol: 'sampled-100', sse: 0, lrSchedule: 'constant', bceWeight: 0, bprWeight: 0, fitValidation: false, holdOut: 'every-user',
};

/** Steps skipped before the step time is measured (backend warm-up), and steps measured. */
const ESTIMATE_WARMUP = 2;
const ESTIMATE_STEPS = 20;

export interface EpochLog {
  epoch: number; loss: number;
  /** Wall-clock seconds of the epoch's training steps (validation not included). */
  seconds: number;
  /** CPU seconds of the process over those steps: the steadier figure on a shared machine. */
  cpuSeconds?: number;
  valid?: RankingMetrics;
}

export interface TrainState {
  epoch: number; // epochs completed
  step: number;
  rngState: number;
  bestNdcg: number;
  bestEpoch: number;
  stale: number;
  log: EpochLog[];
  trainSeconds: number;
}

export interface Checkpoint {
  state: TrainState;
  weights: WeightMap;
  best: WeightMap;
  optimizer: Array<{ name: string; tensor: tf.Tensor }>;
}

export interface TrainCallbacks {
  onStep?(info: { epoch: number; step: number; stepsInEpoch: number; loss: number; elapsed: number }): void;
  onEpoch?(log: EpochLog, state: TrainState): void;
  /** Once, before the first step: what the validation measures (`validationLabel`), or null when there is none. */
  onPlan?(plan: { validation: string | null }): void;
  /** Once, after the first measured steps of this run: how long the rest of it will take. */
  onEstimate?(estimate: TrainEstimate): void;
  /** Called after every epoch with everything needed to resume. */
  saveCheckpoint?(ckpt: Checkpoint): Promise<void>;
}

export interface TrainResult {
  config: SasRecConfig;
  /** Best weights by validation NDCG@10 (the last ones if validation is off). Caller disposes. */
  weights: WeightMap;
  state: TrainState;
}

export interface Example { inputs: Int32Array; targets: Int32Array }

/** Next-item training pairs from each user's training prefix, truncated to the most recent maxLen steps. */
export function buildExamples(split: LeaveOneOutSplit, maxLen: number): Example[] {
  const out: Example[] = [];
  for (const s of split.train) {
    if (s.length < 2) continue;
    const take = Math.min(s.length - 1, maxLen);
    out.push({ inputs: s.slice(s.length - 1 - take, s.length - 1), targets: s.slice(s.length - take) });
  }
  return out;
}

/**
 * The negatives a batch shares: `count` uniform draws over the items, or, when `count` reaches the
 * number of items, every item once, which makes the sampled softmax the full softmax (exact, and
 * cheaper than as many draws, which would miss a third of the items).
 */
export function batchNegatives(count: number, numItems: number, rng: Rng): Int32Array {
  if (count >= numItems) return Int32Array.from({ length: numItems }, (_, j) => j + 1);
  const negs = new Int32Array(count);
  for (let j = 0; j < count; j++) negs[j] = rng.int(1, numItems + 1);
  return negs;
}

/**
 * The split a run fits and validates on, with its validation users: leave-one-out, and the users with a
 * validation item (a seeded sample of `evalUsers` of them; 0 = all). With `holdOut: 'validation-sample'`
 * only the sampled users keep their last two items out; every other user's whole sequence is training
 * (validation and test item 0), so evaluations over the split's test items rank the sampled users only.
 */
export function heldOutSplit(sequences: Int32Array[], options: Pick<TrainOptions, 'evalUsers' | 'seed' | 'holdOut'>): { split: LeaveOneOutSplit; validUsers: number[]; sampled: boolean } {
  const split = leaveOneOut(sequences);
  let validUsers = [...split.valid.keys()].filter((u) => split.valid[u] > 0);
  const sampled = options.evalUsers > 0 && validUsers.length > options.evalUsers;
  if (sampled) validUsers = new Rng(options.seed + 1).shuffle(validUsers).slice(0, options.evalUsers).sort((a, b) => a - b);
  if (options.holdOut === 'validation-sample' && sampled) {
    const held = new Set(validUsers);
    sequences.forEach((s, u) => {
      if (held.has(u)) return;
      split.train[u] = s; split.valid[u] = 0; split.test[u] = 0;
    });
  }
  return { split, validUsers, sampled };
}

/** The split the model is fitted on: training items, plus each user's validation item for a refit (never the test item). */
export function fittedSplit(split: LeaveOneOutSplit, fitValidation: boolean): LeaveOneOutSplit {
  if (!fitValidation) return split;
  return { ...split, train: split.train.map((s, u) => (split.valid[u] ? Int32Array.from([...s, split.valid[u]]) : s)) };
}

/** Batches of similar length (less padding), in a random order; the jitter varies batch membership by epoch. */
export function bucketBatches(examples: Example[], batchSize: number, rng: Rng): Example[][] {
  const keyed = examples.map((e) => ({ e, key: e.inputs.length + rng.next() * 4 }));
  keyed.sort((a, b) => a.key - b.key);
  const batches: Example[][] = [];
  for (let i = 0; i < keyed.length; i += batchSize) batches.push(keyed.slice(i, i + batchSize).map((k) => k.e));
  return rng.shuffle(batches);
}

/** Replaces each non-padding id by a uniform random item with probability `p` (SSE-SE). */
export function replaceIds(ids: Int32Array, p: number, numItems: number, rng: Rng): void {
  if (p <= 0) return;
  for (let i = 0; i < ids.length; i++) if (ids[i] !== 0 && rng.next() < p) ids[i] = rng.int(1, numItems + 1);
}

/** One uniform negative per target position, outside the example's own items (as the SASRec paper samples). */
export function positionNegatives(batch: Example[], len: number, targets: Int32Array, numItems: number, rng: Rng): Int32Array {
  const out = new Int32Array(targets.length);
  batch.forEach((e, r) => {
    const own = new Set<number>([...e.inputs, ...e.targets]);
    for (let c = 0; c < len; c++) {
      const p = r * len + c;
      if (targets[p] === 0) continue;
      let n: number;
      do n = rng.int(1, numItems + 1); while (own.has(n) && own.size < numItems);
      out[p] = n;
    }
  });
  return out;
}

/**
 * A batch's rows, [examples x len], left-padded: each example's inputs through the featuriser
 * (src/model/inputs.ts sequenceInput, the row the engine builds from a history), its targets alike.
 */
export function batchRows(batch: readonly Example[]): { len: number; inputs: Int32Array; targets: Int32Array } {
  const len = batch.reduce((m, e) => Math.max(m, e.inputs.length), 1);
  const inputs = new Int32Array(batch.length * len);
  const targets = new Int32Array(batch.length * len);
  batch.forEach((e, r) => {
    inputs.set(sequenceInput(e.inputs, len), r * len);
    targets.set(sequenceInput(e.targets, len), r * len);
  });
  return { len, inputs, targets };
}

function batchTensors(
  batch: Example[], negatives: Int32Array, transformInputs?: (ids: Int32Array) => void,
  perPosition?: { numItems: number; rng: Rng }, withHits = true,
): BatchTensors {
  const { len, inputs, targets } = batchRows(batch);
  const b = batch.length;
  transformInputs?.(inputs);
  const posNegs = perPosition ? positionNegatives(batch, len, targets, perPosition.numItems, perPosition.rng) : undefined;
  const k = negatives.length;
  const tensors = {
    inputs: tf.tensor2d(inputs, [b, len], 'int32'),
    targets: tf.tensor2d(targets, [b, len], 'int32'),
    negatives: tf.tensor1d(negatives, 'int32'),
    positionNegatives: posNegs ? tf.tensor2d(posNegs, [b, len], 'int32') : undefined,
  };
  if (!withHits) return tensors;
  const hits = new Float32Array(b * len * k);
  const negPos = new Map<number, number[]>();
  negatives.forEach((n, j) => { const l = negPos.get(n); if (l) l.push(j); else negPos.set(n, [j]); });
  for (let p = 0; p < targets.length; p++) {
    const js = targets[p] ? negPos.get(targets[p]) : undefined;
    if (js) for (const j of js) hits[p * k + j] = 1;
  }
  return { ...tensors, accidentalHits: tf.tensor2d(hits, [b * len, k]) };
}

export function modelConfig(numItems: number, o: TrainOptions): SasRecConfig {
  return {
    numItems, maxLen: o.maxLen, hiddenDim: o.hiddenDim, numBlocks: o.numBlocks,
    numHeads: o.numHeads, ffnDim: o.ffnDim, dropout: o.dropout,
  };
}

function cloneWeights(w: WeightMap): WeightMap {
  const out: WeightMap = {};
  for (const [k, t] of Object.entries(w)) out[k] = tf.keep(t.clone());
  return out;
}

/**
 * The stopping rule, after a validation of `state.epoch` scored `ndcg`: a new best is kept (improved),
 * and the run stops only when `patience` > 0 validations in a row have not improved on it.
 * Updates bestNdcg, bestEpoch and stale in `state`.
 */
export function afterValidation(state: Pick<TrainState, 'epoch' | 'bestNdcg' | 'bestEpoch' | 'stale'>, ndcg: number, patience: number): { improved: boolean; stop: boolean } {
  if (ndcg > state.bestNdcg) {
    state.bestNdcg = ndcg; state.bestEpoch = state.epoch; state.stale = 0;
    return { improved: true, stop: false };
  }
  state.stale++;
  return { improved: false, stop: patience > 0 && state.stale >= patience };
}

/**
 * Seconds of one validation, timed on its first 256 users and scaled to all of them; the slice runs twice
 * and the second run is timed (the first pays one-off set-up costs a whole validation pays once).
 */
async function timeValidation(config: SasRecConfig, vars: WeightMap, split: LeaveOneOutSplit, o: EvalOptions): Promise<number> {
  const users = o.users ?? [];
  const slice = users.slice(0, 256);
  if (slice.length === 0) return 0;
  await evaluateModel(config, vars, split, { ...o, users: slice }, { trimPadding: true });
  const t = performance.now();
  await evaluateModel(config, vars, split, { ...o, users: slice }, { trimPadding: true });
  return ((performance.now() - t) / 1000) * (users.length / slice.length);
}

/**
 * Trains on a dataset. With `resume`, continues exactly where a checkpoint stopped. With `init`
 * (a warm start, training/warm-start.ts), training starts from those weights instead of fresh ones
 * (the trainer disposes them) and validates them first, as epoch 0: keep-best starts from them.
 */
export async function train(
  dataset: SequenceDataset,
  options: TrainOptions,
  callbacks: TrainCallbacks = {},
  resume?: Checkpoint,
  init?: WeightMap,
): Promise<TrainResult> {
  const config = modelConfig(dataset.numItems, options);
  if (config.hiddenDim % config.numHeads !== 0) throw new Error('hiddenDim must be divisible by numHeads');
  const { split, validUsers, sampled: sampledValid } = heldOutSplit(dataset.sequences, options);
  if (options.fitValidation && options.evalEvery > 0) throw new Error('fitValidation trains on the validation items: set evalEvery to 0');
  const examples = buildExamples(fittedSplit(split, options.fitValidation), options.maxLen);
  if (examples.length === 0) throw new Error('no user has 2 or more training items: nothing to train on');

  if (resume && init) throw new Error('a run either resumes a checkpoint or starts from given weights, not both');
  const rng = new Rng(options.seed);
  const start = resume?.weights ?? init ?? initWeights(config, options.seed);
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of weightShapes(config)) {
    const t = start[name];
    if (!t || t.shape.join() !== shape.join()) throw new Error(`initial weight ${name} has shape [${t?.shape ?? 'none'}], the model needs [${shape}]`);
    vars[name] = tf.variable(t, true, name);
  }
  if (!resume) tf.dispose(Object.values(start));
  const optimizer = tf.train.adam(options.learningRate);
  let best: WeightMap = resume ? cloneWeights(resume.best) : cloneWeights(vars);
  const state: TrainState = resume
    ? { ...resume.state, log: [...resume.state.log] }
    : { epoch: 0, step: 0, rngState: rng.getState(), bestNdcg: -1, bestEpoch: 0, stale: 0, log: [], trainSeconds: 0 };
  if (resume) {
    rng.setState(resume.state.rngState);
    // Adam's slots are created lazily: one zero-gradient step creates them, then they are overwritten.
    if (resume.optimizer.length > 0) await optimizer.setWeights(resume.optimizer);
  }

  const evalOptions: EvalOptions = { protocol: options.validProtocol, seed: options.seed + 2, target: 'valid', users: validUsers };
  // Validations in epochs (from, to]: every evalEvery-th and the last one.
  const validations = (from: number, to: number): number => {
    if (options.evalEvery <= 0) return 0;
    let n = 0;
    for (let e = from + 1; e <= to; e++) if (e % options.evalEvery === 0 || e === to) n++;
    return n;
  };
  callbacks.onPlan?.({ validation: options.evalEvery > 0 ? validationLabel(options.validProtocol, validUsers.length, sampledValid) : null });
  let estimated = !callbacks.onEstimate;
  let measureT0 = 0;
  const startEpoch = state.epoch;

  if (init && options.evalEvery > 0) {
    const metrics = await evaluateModel(config, vars, split, evalOptions);
    state.bestNdcg = metrics['ndcg@10'];
    const log: EpochLog = { epoch: 0, loss: Number.NaN, seconds: 0, valid: metrics };
    state.log.push(log);
    callbacks.onEpoch?.(log, state);
  }

  const lossOptions = { kind: options.loss, gbceT: options.gbceT, l2: options.l2, bceWeight: options.bceWeight, bprWeight: options.bprWeight };
  let stop = false;
  while (state.epoch < options.epochs && !stop) {
    let t0 = performance.now();
    if (!estimated) measureT0 = t0;
    const cpu0 = process.cpuUsage();
    const batches = bucketBatches(examples, options.batchSize, rng);
    let lossSum = 0;
    let lossN = 0;
    for (let bi = 0; bi < batches.length; bi++) {
      const negs = batchNegatives(options.negatives, config.numItems, rng);
      const t = batchTensors(batches[bi], negs, (ids) => replaceIds(ids, options.sse, config.numItems, rng),
        options.loss === 'bce' || options.bceWeight > 0 ? { numItems: config.numItems, rng } : undefined,
        !(negs.length === config.numItems && options.loss === 'softmax' && options.bprWeight <= 0));
      if (options.lrSchedule === 'cosine') {
        const progress = (state.epoch + bi / batches.length) / options.epochs;
        // AdamOptimizer reads its learningRate field on every step.
        (optimizer as unknown as { learningRate: number }).learningRate = options.learningRate * 0.5 * (1 + Math.cos(Math.PI * progress));
      }
      const seed = options.seed * 1000003 + state.step * 17;
      const lossT = optimizer.minimize(() => sampledSoftmaxLoss(config, vars, t, seed, lossOptions), true)!;
      const loss = (await lossT.data())[0];
      tf.dispose([lossT, t.inputs, t.targets, t.negatives, t.accidentalHits]);
      t.positionNegatives?.dispose();
      if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${state.step}; lower --lr`);
      lossSum += loss; lossN++;
      state.step++;
      callbacks.onStep?.({ epoch: state.epoch, step: bi + 1, stepsInEpoch: batches.length, loss: lossSum / lossN, elapsed: (performance.now() - t0) / 1000 });
      if (!estimated) {
        const done = bi + 1;
        const warm = Math.min(ESTIMATE_WARMUP, batches.length - 1);
        if (done === warm) measureT0 = performance.now();
        if (done - warm >= ESTIMATE_STEPS || done === batches.length) {
          estimated = true;
          const tPause = performance.now();
          const secondsPerStep = (tPause - measureT0) / 1000 / (done - warm);
          let steps = batches.length * (options.epochs - startEpoch);
          if (options.maxSteps > 0) steps = Math.min(steps, Math.max(options.maxSteps - (state.step - done), 0));
          const lastEpoch = Math.min(options.epochs, startEpoch + Math.ceil(steps / batches.length));
          const nValid = validations(startEpoch, lastEpoch);
          const secondsPerValidation = nValid > 0 ? await timeValidation(config, vars, split, evalOptions) : 0;
          callbacks.onEstimate!({
            epochs: lastEpoch - startEpoch, stepsPerEpoch: batches.length, secondsPerStep, measuredSteps: done - warm,
            validations: nValid, secondsPerValidation, totalSeconds: secondsPerStep * steps + nValid * secondsPerValidation,
          });
          t0 += performance.now() - tPause; // the timed validation slice is not training time
        }
      }
      if (options.maxSteps > 0 && state.step >= options.maxSteps) { stop = true; break; }
    }
    state.epoch++;
    const seconds = (performance.now() - t0) / 1000;
    state.trainSeconds += seconds;
    const cpu = process.cpuUsage(cpu0);
    const log: EpochLog = { epoch: state.epoch, loss: lossSum / Math.max(lossN, 1), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    const lastEpoch = state.epoch >= options.epochs || stop;
    if (options.evalEvery > 0 && (state.epoch % options.evalEvery === 0 || lastEpoch)) {
      const metrics = await evaluateModel(config, vars, split, evalOptions, { trimPadding: true });
      log.valid = metrics;
      const verdict = afterValidation(state, metrics['ndcg@10'], options.patience);
      if (verdict.improved) { tf.dispose(Object.values(best)); best = cloneWeights(vars); }
      if (verdict.stop) stop = true;
    } else if (options.evalEvery === 0) {
      tf.dispose(Object.values(best)); best = cloneWeights(vars); state.bestEpoch = state.epoch;
    }
    state.log.push(log);
    state.rngState = rng.getState();
    callbacks.onEpoch?.(log, state);
    if (callbacks.saveCheckpoint) {
      const opt = await optimizer.getWeights();
      await callbacks.saveCheckpoint({ state: { ...state, log: [...state.log] }, weights: vars, best, optimizer: opt });
    }
  }
  optimizer.dispose();
  tf.dispose(Object.values(vars));
  if (resume) { tf.dispose(Object.values(resume.weights)); tf.dispose(Object.values(resume.best)); tf.dispose(resume.optimizer.map((n) => n.tensor)); }
  return { config, weights: best, state };
}
