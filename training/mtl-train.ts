/**
 * Training of the multi-task model ('sasrec-mtl') on multi-behaviour events: a shared SASRec
 * trunk over behaviour- and scene-aware tokens, one head per task (click, cart, purchase and,
 * when given a 4th task weight, favorite: the satisfaction head), each trained with a sampled
 * softmax over shared uniform negatives at the positions where the next event is of that task
 * (click: every next event; cart / purchase / favorite: the next event is one). Single-task models
 * are the same code with one task weight above 0.
 */
import * as tf from '@tensorflow/tfjs';
import { forward, initWeights, itemVectors, taskQueries, weightShapes, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';
import { softmaxNll } from './loss.js';
import { batchNegatives, type BaseTrainOptions } from './train.js';
import { Rng } from './rng.js';
import type { MtlData, MtlEvent } from './mtl-data.js';
import { evaluateMtl, mtlSteps, sampleMtlUsers, type MtlMetrics } from './mtl-eval.js';
import { ContentIndexer, REPEAT_FEATURES, repeatFeatures, TASK_BEHAVIOUR, TASKS, type TaskName } from '../src/model/features.js';
import { featureInput } from '../src/model/inputs.js';

export interface MtlTrainOptions extends BaseTrainOptions {
  epochs: number;
  seed: number;
  /**
   * Loss weight per head, in TASKS order; its length is the model's head count: 3 (click, cart,
   * purchase: the 3-head layout) or 4 (+ favorite). 0 leaves a head untrained (single-task models).
   */
  taskWeights: number[];
  /** Probability of hiding an item's id embedding in a training row, so content alone can score cold items. */
  idDropout: number;
  /** Stop after this many epochs without a better validation score (0 = never). */
  patience: number;
  /**
   * L2 penalty on the item vectors a batch scores (targets and negatives), per scored position.
   * Keeps the dot-product scale from drowning the repeat terms as training goes on.
   */
  l2: number;
  /** Stop after this many steps (0 = no limit); smoke runs. */
  maxSteps: number;
  /**
   * Validation users, sampled with a fixed seed from those with an event on the validation day
   * (0 = every one). Each validation ranks the whole vocabulary per user and task, so its cost grows
   * with users times items: over every user of a 10M-event log it takes hours.
   */
  evalUsers: number;
}

export const DEFAULT_MTL_OPTIONS: MtlTrainOptions = {
  maxLen: 50, hiddenDim: 64, numBlocks: 2, numHeads: 1, ffnDim: 64, dropout: 0.3, batchSize: 64,
  learningRate: 1e-3, negatives: 512, epochs: 30, seed: 42, taskWeights: [1, 1, 1, 1], idDropout: 0.15, patience: 4, l2: 0, maxSteps: 0, evalUsers: 5000,
};

export interface MtlEpochLog {
  epoch: number; loss: number;
  /** Wall-clock seconds of the epoch's training steps (validation not included). */
  seconds: number;
  /** CPU seconds of the process over those steps: the steadier figure on a shared machine. */
  cpuSeconds?: number;
  valid?: MtlMetrics; score?: number;
}

/** A training window: up to maxLen + 1 consecutive events of one user. */
type Window = MtlEvent[];

/** Windows over each user's training days, cut from the most recent event backwards. */
export function trainingWindows(data: MtlData, maxLen: number): Window[] {
  const out: Window[] = [];
  for (const events of data.events) {
    const train = events.filter((e) => e.date <= data.trainEnd);
    for (let end = train.length; end >= 2; end -= maxLen) out.push(train.slice(Math.max(0, end - maxLen - 1), end));
  }
  return out;
}

/** What the multi-task validation measures, as the trainer reports it. */
export function mtlValidationLabel(v: { users: readonly number[]; eligible: number; sampled: boolean }): string {
  const what = 'full-ranking NDCG@10 (each task\'s first item of the validation day against every trained item), mean over the trained tasks';
  const n = (x: number) => x.toLocaleString('en-US');
  return `validation: ${what}, over ${v.sampled ? `${n(v.users.length)} sampled users of the ${n(v.eligible)} with a validation-day event (--eval-users)` : `all ${n(v.eligible)} users with a validation-day event`}`;
}

/** The heads a model trained with these task weights holds (their order is TASKS'). */
export function taskHeads(taskWeights: readonly number[]): TaskName[] {
  if (taskWeights.length < 3 || taskWeights.length > TASKS.length) {
    throw new RangeError(`task weights: ${taskWeights.length} given; need 3 (${TASKS.slice(0, 3).join(', ')}) or ${TASKS.length} (${TASKS.join(', ')})`);
  }
  return TASKS.slice(0, taskWeights.length);
}

/**
 * Parses `--task-weights`: positional ("1,0.3,0.3" for the 3-head model, "1,0.3,0.3,0.3" with the
 * favorite head) or named ("click=1,cart=0.3,purchase=0.3,favorite=0.3"; an unnamed head gets 0;
 * favorite named = a 4-head model). Throws a RangeError that says what to write.
 */
export function parseTaskWeights(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const usage = `--task-weights: give 3 or 4 non-negative numbers (${TASKS.join(',')}) or name them (click=1,cart=0.3,purchase=0.3,favorite=0.3), not all 0`;
  let w: number[];
  if (parts.some((p) => p.includes('='))) {
    const named = new Map<string, number>();
    for (const p of parts) {
      const [k, v, extra] = p.split('=').map((s) => s.trim());
      if (extra !== undefined || v === undefined || !(TASKS as readonly string[]).includes(k)) {
        throw new RangeError(`${usage}; "${p}": the name must be one of ${TASKS.join(', ')}`);
      }
      if (named.has(k)) throw new RangeError(`${usage}; "${k}" is given twice`);
      named.set(k, Number(v));
    }
    w = TASKS.slice(0, named.has('favorite') ? 4 : 3).map((t) => named.get(t) ?? 0);
  } else {
    w = parts.map(Number);
    if (w.length !== 3 && w.length !== 4) throw new RangeError(`${usage}; got ${w.length}`);
  }
  if (w.some((x) => !Number.isFinite(x) || x < 0) || w.every((x) => x === 0)) throw new RangeError(`${usage}; got "${text}"`);
  return w;
}

export function mtlConfig(data: MtlData, o: MtlTrainOptions): SasRecConfig {
  return {
    numItems: data.vocab.itemIds.length - 1, maxLen: o.maxLen, hiddenDim: o.hiddenDim, numBlocks: o.numBlocks,
    numHeads: o.numHeads, ffnDim: o.ffnDim, dropout: o.dropout, features: { ...data.features, tasks: taskHeads(o.taskWeights) },
  };
}

interface Batch {
  inputs: tf.Tensor2D;
  tokens: { category: tf.Tensor; brand: tf.Tensor; price: tf.Tensor; behaviour: tf.Tensor; scene: tf.Tensor };
  targets: tf.Tensor1D; targetFeatures: { category: tf.Tensor; brand: tf.Tensor; price: tf.Tensor }; targetKeep: tf.Tensor;
  requestScene: tf.Tensor1D;
  masks: tf.Tensor1D[]; // per task, [B*L]
  negatives: tf.Tensor1D; negativeFeatures: { category: tf.Tensor; brand: tf.Tensor; price: tf.Tensor }; negativeKeep: tf.Tensor;
  accidentalHits: tf.Tensor2D;
  /** Repeat features (features.ts) of each target [B*L, F] and of each negative at each position [B*L*K, F]. */
  targetRepeat: tf.Tensor2D;
  negativeRepeat: tf.Tensor2D;
  /**
   * History negatives: per position, up to HISTORY_NEGATIVES items of its own history (most recent
   * first, the target left out) [B*L, H], with content, repeat features [B*L*H, F] and a 0/1 mask.
   * Uniform negatives are almost never items the shopper met, so without these the repeat weights
   * never learn to order a shopper's own items, which is where many next events are.
   */
  historyNegatives: { ids: tf.Tensor2D; category: tf.Tensor; brand: tf.Tensor; price: tf.Tensor; repeat: tf.Tensor2D; mask: tf.Tensor2D };
}

const HISTORY_NEGATIVES = 10;

/** The input rows of a batch of windows, [windows x len] each, left-padded. */
export interface WindowInputs { len: number; ids: Int32Array; category: Int32Array; brand: Int32Array; price: Int32Array; behaviour: Int32Array; scene: Int32Array }

/**
 * A batch's input rows: each window's events but the last, through the featuriser
 * (src/model/inputs.ts featureInput) as the engine builds a history's input. Every training event's
 * item is in the vocabulary (it is made of the training days), so no step is dropped.
 */
export function windowInputs(data: MtlData, windows: readonly Window[], content: ContentIndexer): WindowInputs {
  const len = windows.reduce((m, w) => Math.max(m, w.length - 1), 1);
  const n = windows.length * len;
  const out: WindowInputs = {
    len, ids: new Int32Array(n), category: new Int32Array(n), brand: new Int32Array(n), price: new Int32Array(n), behaviour: new Int32Array(n), scene: new Int32Array(n),
  };
  windows.forEach((w, r) => {
    const x = featureInput(mtlSteps(data, w.slice(0, -1)), len, content);
    if (x.length !== w.length - 1) throw new Error('a training window holds an item outside the vocabulary');
    for (const k of ['ids', 'category', 'brand', 'price', 'behaviour', 'scene'] as const) out[k].set(x[k], r * len);
  });
  return out;
}

function makeBatch(data: MtlData, content: ContentIndexer, windows: Window[], negs: Int32Array, rng: Rng, idDropout: number, heads: readonly TaskName[]): Batch {
  const f = data.vocab.features;
  const x = windowInputs(data, windows, content);
  const len = x.len;
  const b = windows.length;
  const n = b * len;
  const a = () => new Int32Array(n);
  const tgt = a(); const tCat = a(); const tBrand = a(); const tPrice = a(); const req = a();
  const masks = heads.map(() => new Float32Array(n));
  // Click learns every next event; each other head the next events of its behaviour.
  const behaviourOf = heads.map((t) => (t === 'click' ? 0 : TASK_BEHAVIOUR[t]));
  const tKeep = new Float32Array(n);
  windows.forEach((w, r) => {
    const steps = w.length - 1;
    const off = r * len + (len - steps); // left padding
    for (let j = 0; j < steps; j++) {
      const nx = w[j + 1];
      const p = off + j;
      tgt[p] = nx.item; tCat[p] = f.itemCategory[nx.item]; tBrand[p] = f.itemBrand[nx.item]; tPrice[p] = f.itemPrice[nx.item];
      req[p] = nx.scene;
      tKeep[p] = rng.next() < idDropout ? 0 : 1;
      behaviourOf.forEach((beh, t) => { masks[t][p] = beh === 0 || nx.behaviour === beh ? 1 : 0; });
    }
  });
  const k = negs.length;
  const hits = new Float32Array(n * k);
  const negPos = new Map<number, number[]>();
  negs.forEach((x, j) => { const l = negPos.get(x); if (l) l.push(j); else negPos.set(x, [j]); });
  const F = REPEAT_FEATURES;
  const H = HISTORY_NEGATIVES;
  const tRep = new Float32Array(n * F);
  const nRep = new Float32Array(n * k * F);
  const hnIds = new Int32Array(n * H);
  const hnCat = new Int32Array(n * H);
  const hnBrand = new Int32Array(n * H);
  const hnPrice = new Int32Array(n * H);
  const hnRep = new Float32Array(n * H * F);
  const hnMask = new Float32Array(n * H);
  windows.forEach((w, r) => {
    const steps = w.length - 1;
    const off = r * len + (len - steps);
    for (let j = 0; j < steps; j++) {
      // Features of every item met up to and including step j, seen from position j.
      const feats = repeatFeatures(w.slice(0, j + 1).map((e) => ({ key: e.item, behaviour: e.behaviour })));
      const p = off + j;
      const ft = feats.get(w[j + 1].item);
      if (ft) tRep.set(ft, p * F);
      for (const [item, f] of feats) {
        const js = negPos.get(item);
        if (js) for (const q of js) nRep.set(f, (p * k + q) * F);
      }
      const target = w[j + 1].item;
      let h = 0;
      const used = new Set<number>();
      for (let back = j; back >= 0 && h < H; back--) {
        const item = w[back].item;
        if (item === target || used.has(item)) continue;
        used.add(item);
        const at = p * H + h++;
        hnIds[at] = item; hnCat[at] = f.itemCategory[item]; hnBrand[at] = f.itemBrand[item]; hnPrice[at] = f.itemPrice[item];
        hnRep.set(feats.get(item)!, at * F);
        hnMask[at] = 1;
      }
    }
  });
  for (let p = 0; p < n; p++) {
    const js = tgt[p] ? negPos.get(tgt[p]) : undefined;
    if (js) for (const j of js) hits[p * k + j] = 1;
  }
  const nKeep = new Float32Array(k);
  for (let j = 0; j < k; j++) nKeep[j] = rng.next() < idDropout ? 0 : 1;
  const i2 = (x: Int32Array) => tf.tensor2d(x, [b, len], 'int32');
  const i1 = (x: Int32Array) => tf.tensor1d(x, 'int32');
  const negIdx = (table: number[]) => i1(Int32Array.from(negs, (x) => table[x]));
  return {
    inputs: i2(x.ids),
    tokens: { category: i2(x.category), brand: i2(x.brand), price: i2(x.price), behaviour: i2(x.behaviour), scene: i2(x.scene) },
    targets: i1(tgt), targetFeatures: { category: i1(tCat), brand: i1(tBrand), price: i1(tPrice) }, targetKeep: tf.tensor1d(tKeep),
    requestScene: i1(req),
    masks: masks.map((m) => tf.tensor1d(m)),
    negatives: i1(negs), negativeFeatures: { category: negIdx(f.itemCategory), brand: negIdx(f.itemBrand), price: negIdx(f.itemPrice) },
    negativeKeep: tf.tensor1d(nKeep),
    accidentalHits: tf.tensor2d(hits, [n, k]),
    targetRepeat: tf.tensor2d(tRep, [n, F]),
    negativeRepeat: tf.tensor2d(nRep, [n * k, F]),
    historyNegatives: {
      ids: tf.tensor2d(hnIds, [n, H], 'int32'), category: tf.tensor2d(hnCat, [n, H], 'int32'), brand: tf.tensor2d(hnBrand, [n, H], 'int32'),
      price: tf.tensor2d(hnPrice, [n, H], 'int32'), repeat: tf.tensor2d(hnRep, [n * H, F]), mask: tf.tensor2d(hnMask, [n, H]),
    },
  };
}

function disposeBatch(b: Batch): void {
  tf.dispose([b.inputs, ...Object.values(b.tokens), b.targets, ...Object.values(b.targetFeatures), b.targetKeep, b.requestScene,
    ...b.masks, b.negatives, ...Object.values(b.negativeFeatures), b.negativeKeep, b.accidentalHits,
    b.targetRepeat, b.negativeRepeat, ...Object.values(b.historyNegatives)]);
}

/** Weighted sum over tasks of each task's mean sampled-softmax NLL. */
export function mtlLoss(config: SasRecConfig, weights: WeightMap, batch: Batch, taskWeights: number[], dropoutSeed: number, l2 = 0): tf.Scalar {
  const d = config.hiddenDim;
  const { sequence } = forward(config, weights, batch.inputs, { training: true, dropoutSeed, tokens: batch.tokens });
  const h = sequence.reshape([-1, d]) as tf.Tensor2D;
  const queries = taskQueries(config, weights, h, batch.requestScene); // [BL, T, d]
  const pos = itemVectors(config, weights, batch.targets, batch.targetFeatures, batch.targetKeep) as tf.Tensor2D;
  const neg = itemVectors(config, weights, batch.negatives, batch.negativeFeatures, batch.negativeKeep) as tf.Tensor2D;
  const hn = batch.historyNegatives;
  const histVec = itemVectors(config, weights, hn.ids, { category: hn.category, brand: hn.brand, price: hn.price }); // [BL, H, d]
  const histMaskBias = tf.sub(1, hn.mask).mul(-1e9);
  const perTask = tf.unstack(queries, 1) as tf.Tensor2D[];
  const repeatW = tf.unstack(weights.repeatWeights, 0); // per task [F]
  const k = batch.negatives.shape[0];
  const terms: tf.Tensor[] = [];
  taskWeights.forEach((w, t) => {
    if (w <= 0) return;
    const q = perTask[t];
    // Weighted sums of 4 features; elementwise (a [rows, 4] x [4, 1] matMul aborts tfjs-wasm at this size).
    const rw = repeatW[t].reshape([1, -1]);
    const posLogits = q.mul(pos).sum(-1, true).add(batch.targetRepeat.mul(rw).sum(-1, true));
    const negRepeat = batch.negativeRepeat.mul(rw).sum(-1).reshape([-1, k]);
    const histLogits = histVec.mul(q.expandDims(1)).sum(-1)
      .add(hn.repeat.mul(rw).sum(-1).reshape(hn.mask.shape)).add(histMaskBias);
    const nll = softmaxNll(q, posLogits, neg, batch.accidentalHits, negRepeat, histLogits);
    const mask = batch.masks[t];
    terms.push(nll.mul(mask).sum().div(mask.sum().maximum(1)).mul(w));
  });
  if (l2 > 0) {
    const positions = batch.masks[0].sum().maximum(1);
    terms.push(pos.square().sum().add(neg.square().sum()).div(positions).mul(l2));
  }
  return tf.addN(terms) as tf.Scalar;
}

export interface MtlTrainResult {
  config: SasRecConfig; weights: WeightMap;
  /** One entry per epoch; a warm start's validation before training is epoch 0. */
  log: MtlEpochLog[];
  /** Epochs trained. */
  epochs: number;
  bestEpoch: number; trainSeconds: number; steps: number;
}

export interface MtlCallbacks {
  /** The end of a set-up phase (windows, batches, first step, validation), with what it made; the caller times it. */
  onPhase?(info: { phase: string; what?: string }): void;
  /** What the validation measures, once before training ("validation: full-ranking NDCG@10 over 5,000 sampled users ..."). */
  onPlan?(info: { validation: string }): void;
  /** Within a validation: cases done of all, seconds since it began. */
  onValidationProgress?(info: { done: number; total: number; elapsed: number }): void;
  onStep?(info: { epoch: number; step: number; stepsInEpoch: number; loss: number; elapsed: number }): void;
  onEpoch?(log: MtlEpochLog, bestEpoch: number): void;
}

/** `--refit`: whether a time split's model is trained again on the days it held out (refitMtl). */
export const REFITS = ['on', 'off'] as const;
export type Refit = typeof REFITS[number];

/** How trainMtl picks the weights it returns. */
export interface MtlFitMode {
  /**
   * false: no validation; every epoch of `options.epochs` runs and the last one's weights are
   * returned (a refit with an epoch count chosen before, see refitMtl). Default true.
   */
  validate?: boolean;
}

/**
 * Trains; keeps the weights with the best validation score (mean NDCG@10 over the trained tasks).
 * With `init` (a warm start, training/warm-start.ts) training starts from those weights (the trainer
 * disposes them) and validates them first, as epoch 0: keep-best starts from them.
 */
export async function trainMtl(data: MtlData, options: MtlTrainOptions, callbacks: MtlCallbacks = {}, init?: WeightMap, fit: MtlFitMode = {}): Promise<MtlTrainResult> {
  const validating = fit.validate ?? true;
  const config = mtlConfig(data, options);
  const windows = trainingWindows(data, options.maxLen);
  if (windows.length === 0) throw new Error('no user has 2 or more training events: nothing to train on');
  callbacks.onPhase?.({ phase: 'training windows', what: `${windows.length.toLocaleString('en-US')} windows` });
  const rng = new Rng(options.seed);
  const content = new ContentIndexer(data.vocab.features);
  const start = init ?? initWeights(config, options.seed);
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of weightShapes(config)) {
    const t = start[name];
    if (!t || t.shape.join() !== shape.join()) throw new Error(`initial weight ${name} has shape [${t?.shape ?? 'none'}], the model needs [${shape}]`);
    vars[name] = tf.variable(t, true, name);
  }
  tf.dispose(Object.values(start));
  callbacks.onPhase?.({ phase: 'weights', what: `${config.numItems.toLocaleString('en-US')} items` });
  const optimizer = tf.train.adam(options.learningRate);
  const clone = (w: WeightMap) => Object.fromEntries(Object.entries(w).map(([k, t]) => [k, tf.keep(t.clone())]));
  let best: WeightMap = clone(vars);
  let bestScore = -1;
  let bestEpoch = 0;
  let stale = 0;
  let step = 0;
  let trainSeconds = 0;
  const log: MtlEpochLog[] = [];
  const numItems = config.numItems;
  const trained = options.taskWeights.map((w, t) => (w > 0 ? t : -1)).filter((t) => t >= 0);
  const validUsers = validating ? sampleMtlUsers(data, 'valid', options.evalUsers ?? 0, options.seed + 1) : { users: [], eligible: 0, sampled: false };
  if (validating) callbacks.onPlan?.({ validation: mtlValidationLabel(validUsers) });
  const validate = async () => {
    const t = performance.now();
    const valid = await evaluateMtl(config, vars, data, {
      period: 'valid', candidates: 'vocab', users: validUsers.users,
      onProgress: (done, total) => callbacks.onValidationProgress?.({ done, total, elapsed: (performance.now() - t) / 1000 }),
    });
    return { valid, score: trained.reduce((s, t) => s + valid.tasks[t].ndcg10, 0) / trained.length };
  };
  if (init && validating) {
    const { valid, score } = await validate();
    bestScore = score;
    const entry: MtlEpochLog = { epoch: 0, loss: Number.NaN, seconds: 0, valid, score };
    log.push(entry);
    callbacks.onEpoch?.(entry, bestEpoch);
  }
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    // Similar lengths together (less padding), batches in random order.
    const keyed = windows.map((w) => ({ w, key: w.length + rng.next() * 4 })).sort((x, y) => x.key - y.key);
    const batches: Window[][] = [];
    for (let i = 0; i < keyed.length; i += options.batchSize) batches.push(keyed.slice(i, i + options.batchSize).map((x) => x.w));
    rng.shuffle(batches);
    if (epoch === 1) callbacks.onPhase?.({ phase: 'batches', what: `${batches.length.toLocaleString('en-US')} an epoch` });
    let sum = 0;
    let stepsDone = 0;
    for (let bi = 0; bi < batches.length; bi++) {
      const negs = batchNegatives(options.negatives, numItems, rng);
      const batch = makeBatch(data, content, batches[bi], negs, rng, options.idDropout, config.features!.tasks as TaskName[]);
      const seed = options.seed * 1000003 + step * 17;
      const lossT = optimizer.minimize(() => mtlLoss(config, vars, batch, options.taskWeights, seed, options.l2), true)!;
      const loss = (await lossT.data())[0];
      lossT.dispose();
      disposeBatch(batch);
      if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}; lower --lr`);
      sum += loss;
      stepsDone++;
      step++;
      if (step === 1) callbacks.onPhase?.({ phase: 'first step', what: `loss ${loss.toFixed(4)}` });
      callbacks.onStep?.({ epoch, step: bi + 1, stepsInEpoch: batches.length, loss: sum / (bi + 1), elapsed: (performance.now() - t0) / 1000 });
      if (options.maxSteps > 0 && step >= options.maxSteps) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (epoch === 1) callbacks.onPhase?.({ phase: 'training steps', what: `${stepsDone - 1} more steps, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} CPU-s for the epoch's steps` });
    trainSeconds += seconds;
    if (!validating) {
      const entry: MtlEpochLog = { epoch, loss: sum / Math.max(stepsDone, 1), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
      log.push(entry);
      bestEpoch = epoch;
      callbacks.onEpoch?.(entry, bestEpoch);
      if (options.maxSteps > 0 && step >= options.maxSteps) break;
      continue;
    }
    const { valid, score } = await validate();
    if (epoch === 1) callbacks.onPhase?.({ phase: 'validation', what: `${valid.users.toLocaleString('en-US')} users` });
    const entry: MtlEpochLog = { epoch, loss: sum / Math.max(stepsDone, 1), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, valid, score };
    log.push(entry);
    if (score > bestScore) {
      bestScore = score; bestEpoch = epoch; stale = 0;
      tf.dispose(Object.values(best)); best = clone(vars);
    } else stale++;
    callbacks.onEpoch?.(entry, bestEpoch);
    if ((options.patience > 0 && stale >= options.patience) || (options.maxSteps > 0 && step >= options.maxSteps)) break;
  }
  optimizer.dispose();
  if (!validating) { tf.dispose(Object.values(best)); best = clone(vars); }
  tf.dispose(Object.values(vars));
  return { config, weights: best, log, epochs: log.length > 0 ? log[log.length - 1].epoch : 0, bestEpoch, trainSeconds, steps: step };
}

/**
 * The model a time split ships: trained again from the same start on more days (`data.trainEnd`,
 * moved by the caller past the days the first run held out) for the epoch count the first run's
 * validation chose, with no validation (there is no later day left to validate on). The first
 * run's calibrated repeat weights replace the refit's own: they were searched on a day the refit
 * now trains on. `init`: the warm start's weights for this data's vocabulary, as for trainMtl.
 */
export async function refitMtl(data: MtlData, options: MtlTrainOptions, epochs: number, repeatWeights: tf.Tensor, callbacks: MtlCallbacks = {}, init?: WeightMap): Promise<MtlTrainResult> {
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`a refit needs 1 or more epochs, got ${epochs}`);
  const result = await trainMtl(data, { ...options, epochs, patience: 0 }, callbacks, init, { validate: false });
  result.weights.repeatWeights.dispose();
  result.weights.repeatWeights = tf.keep(repeatWeights.clone());
  return result;
}
