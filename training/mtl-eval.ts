/**
 * Multi-objective evaluation on the time-ordered hold-out of multi-behaviour events.
 *
 * For every user with events in the period (the validation day, or the test days) and at least
 * one event before it: the history is every earlier event (optionally only the last
 * `historyLimit`), and the targets are the period's first clicked, first carted, first
 * purchased and first favourited item. Each target is ranked by its task's head, with the request
 * scene of that task (click: home feed, cart: product page, purchase: cart page, favorite: product
 * page, where the data's favourites are simulated), against every candidate:
 * `vocab` = items the model was trained on; `catalog` = every item of items.tsv, items unseen in
 * training scored from their content alone. Ties count half (expected rank under a random tie-break).
 * Purchase GAUC: per user, the items they interacted with in the period, purchased ones as
 * positives, ranked by the purchase head; the mean over users with both kinds.
 * A model without a head (a 3-head model has no favorite head) reports that task with `missing`.
 */
import * as tf from '@tensorflow/tfjs';
import { itemVectors, lastHidden, taskQueries, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';
import { ContentIndexer, REPEAT_FEATURES, repeatFeatures, SCENE_CODES, TASK_BEHAVIOUR, TASKS } from '../src/model/features.js';
import {
  DEFAULT_FEATURE_INPUT_OPTIONS, featureInput, type FeatureInput, type FeatureInputOptions, type HistoryStep, type UnknownRule,
} from '../src/model/inputs.js';
import type { MtlData, MtlEvent } from './mtl-data.js';
import { itemKnnScorer } from './evaluate.js';
import { Rng } from './rng.js';

/** A task's figures over part of its targets. */
export interface TargetSplit { targets: number; 'hr@10': number; 'ndcg@10': number }

export interface TaskMetrics {
  task: string; users: number; 'hr@10': number; 'ndcg@10': number; 'hr@20': number; mrr: number; hr10: number; ndcg10: number;
  /** Targets the shopper met before (a repeat) and targets new to the shopper. */
  inHistory: TargetSplit;
  newToShopper: TargetSplit;
  /** The scorer has no head for this task (its figures are 0 and mean nothing). */
  missing?: true;
}

/**
 * A progress line's per-task NDCG@10 (`click 0.177 cart 0.123 ...`): a task without a case in the
 * period (no favourites in the log) or without a head in the model says so instead of printing 0.
 */
export function formatTaskNdcg(tasks: readonly TaskMetrics[]): string {
  return tasks.map((t) => `${t.task} ${t.missing ? '(no head)' : t.users === 0 ? '(no cases)' : t['ndcg@10'].toFixed(3)}`).join(' ');
}

export interface MtlMetrics {
  tasks: TaskMetrics[];
  /** Mean per-user AUC of the purchase head over the items each user interacted with in the period. */
  purchaseGauc: number;
  gaucUsers: number;
  /** Targets (all tasks) whose item was not in training: quality of content-only scoring. */
  coldItems: { targets: number; 'hr@10': number; 'ndcg@10': number; 'hr@50': number };
  users: number;
}

export interface MtlEvalOptions {
  period: 'valid' | 'test';
  candidates: 'vocab' | 'catalog';
  /** Keep only the last N history events (cold-start users); undefined = all. */
  historyLimit?: number;
  /**
   * 'first' (default): each user's first click, cart and purchase of the period, from the history
   * before it (a return visit). 'every': every click, cart and purchase of the period, each from all
   * events before it, the period's earlier events included (what the SDK sees as a session goes on).
   * Purchase GAUC is computed in 'first' mode only.
   */
  targets?: 'first' | 'every';
  batchSize?: number;
  /** Evaluate only these users (indices into `data.events`; e.g. a sample, `sampleMtlUsers`); default every user. */
  users?: readonly number[];
  /** Called after each batch of cases: cases done, cases in all. */
  onProgress?(done: number, total: number): void;
}

/** Scores every catalog row for each history, for one task (index into TASKS); null when the scorer has no head for it. */
export type MtlScorer = (histories: MtlEvent[][], task: number) => Promise<Float32Array[] | null>;

/** The request scene of each task's evaluation (TASKS order). */
export const TASK_SCENES = [SCENE_CODES.home, SCENE_CODES.product, SCENE_CODES.cart, SCENE_CODES.product];
const TARGET_BEHAVIOUR = TASKS.map((t) => TASK_BEHAVIOUR[t]);
const PURCHASE = TASKS.indexOf('purchase');

const round = (x: number) => Math.round(x * 1e4) / 1e4;
const split = (n: number, hr10: number, ndcg10: number): TargetSplit => ({ targets: n, 'hr@10': round(hr10 / Math.max(n, 1)), 'ndcg@10': round(ndcg10 / Math.max(n, 1)) });

/** The multi-task data's events as the featuriser's history steps. */
export function mtlSteps(data: MtlData, events: readonly MtlEvent[]): HistoryStep[] {
  return events.map((e) => ({ itemId: data.catalog.ids[e.row], m: e.item, behaviour: e.behaviour, scene: e.scene }));
}

/** Options of the feature model's scorer. */
export interface MtlScorerOptions {
  /**
   * History items the model never saw (src/model/inputs.ts UnknownRule): 'mask' (default: id-0
   * positions with their content, as the SDK serves and the bundled model's figures were published) or 'drop'.
   */
  unknown?: UnknownRule;
  /**
   * Repeat-term weights [heads × REPEAT_FEATURES] used instead of the model's own `repeatWeights`
   * (calibration, training/mtl-calibrate.ts: zeros give the dot products alone).
   */
  repeatWeights?: Float32Array;
}

const contentOf = new WeakMap<MtlData, { content: ContentIndexer; rowOfId: Map<string, number> }>();

/** Each history's model input, through the featuriser (src/model/inputs.ts featureInput) as the engine builds it. */
export function mtlInputs(data: MtlData, histories: readonly (readonly MtlEvent[])[], maxLen: number, options: MtlScorerOptions = {}): FeatureInput[] {
  let cached = contentOf.get(data);
  if (!cached) {
    cached = { content: new ContentIndexer(data.vocab.features), rowOfId: new Map(data.catalog.ids.map((id, r) => [id, r])) };
    contentOf.set(data, cached);
  }
  const { content, rowOfId } = cached;
  const c = data.catalog;
  const inputOptions: Partial<FeatureInputOptions> = {
    unknown: options.unknown ?? DEFAULT_FEATURE_INPUT_OPTIONS.unknown,
    // Under 'mask' a cold history item (id 0) still carries its content; pad positions are masked by id 0 regardless.
    unknownContent: (s) => { const r = rowOfId.get(s.itemId)!; return { category: c.category[r], brand: c.brand[r], price: c.price[r] }; },
  };
  // Only the events the rows can hold are turned into steps (long histories, every case of --targets every).
  const recent = (h: readonly MtlEvent[]) => {
    if (inputOptions.unknown === 'mask') return h.slice(-maxLen);
    let from = h.length;
    for (let n = 0; from > 0 && n < maxLen; ) if (h[--from].item > 0) n++;
    return h.slice(from);
  };
  return histories.map((h) => featureInput(mtlSteps(data, recent(h)), maxLen, content, inputOptions));
}

/** The scorer of a feature model (`config.features`). Dispose when done. */
export function mtlModelScorer(config: SasRecConfig, weights: WeightMap, data: MtlData, options: MtlScorerOptions = {}): { scorer: MtlScorer; dispose(): void } {
  const c = data.catalog;
  const i1 = (x: Int32Array) => tf.tensor1d(x, 'int32');
  const candT = tf.tidy(() => (itemVectors(config, weights, i1(c.modelIndex), { category: i1(c.category), brand: i1(c.brand), price: i1(c.price) }) as tf.Tensor2D).transpose());
  const repeatW = options.repeatWeights ?? (weights.repeatWeights.dataSync() as Float32Array); // [heads, F]
  const heads = config.features?.tasks ?? [];
  // The evaluator asks for each task in turn on the same batch of histories: their hidden states
  // and repeat features are made once (the trunk's forward pass is most of a validation's time).
  let cached: { histories: readonly MtlEvent[][]; hidden: tf.Tensor2D; repeats: Map<number, Float32Array>[] } | undefined;
  const batchState = (histories: readonly MtlEvent[][]) => {
    if (cached && cached.histories.length === histories.length && cached.histories.every((h, i) => h === histories[i])) return cached;
    cached?.hidden.dispose();
    const b = histories.length;
    const L = config.maxLen;
    const inputs = mtlInputs(data, histories, L, options);
    const rows = (k: 'ids' | 'category' | 'brand' | 'price' | 'behaviour' | 'scene') => {
      const out = new Int32Array(b * L);
      inputs.forEach((x, r) => out.set(x[k], r * L));
      return tf.tensor2d(out, [b, L], 'int32');
    };
    const hidden = tf.tidy(() => {
      const ids = rows('ids');
      const tokens = { category: rows('category'), brand: rows('brand'), price: rows('price'), behaviour: rows('behaviour'), scene: rows('scene') };
      return lastHidden(config, weights, ids, { tokens }).hidden;
    });
    const repeats = histories.map(historyRepeatFeatures);
    cached = { histories: [...histories], hidden, repeats };
    return cached;
  };
  const scorer: MtlScorer = async (histories, taskIndex) => {
    const task = heads.indexOf(TASKS[taskIndex]);
    if (task < 0) return null;
    const b = histories.length;
    const { hidden, repeats } = batchState(histories);
    const scores = tf.tidy(() => {
      const q = taskQueries(config, weights, hidden, tf.fill([b], TASK_SCENES[taskIndex], 'int32'));
      const qt = q.slice([0, task, 0], [b, 1, config.hiddenDim]).reshape([b, config.hiddenDim]) as tf.Tensor2D;
      return tf.matMul(qt, candT as tf.Tensor2D);
    });
    const flat = (await scores.data()) as Float32Array;
    scores.dispose();
    const n = c.ids.length;
    return histories.map((_, r) => {
      const s = flat.subarray(r * n, (r + 1) * n);
      for (const [row, feat] of repeats[r]) s[row] = withRepeatTerms(s[row], repeatW, task, feat);
      return s;
    });
  };
  return { scorer, dispose: () => { candT.dispose(); cached?.hidden.dispose(); cached = undefined; } };
}

/** Repeat features of a history's catalog rows (src/model/features.ts repeatFeatures, keyed by row). */
export function historyRepeatFeatures(history: readonly MtlEvent[]): Map<number, Float32Array> {
  return repeatFeatures(history.map((e) => ({ key: e.row, behaviour: e.behaviour })));
}

/**
 * A dot-product score plus head `task`'s repeat terms, in the float32 steps of the engine's
 * Float32Array update (src/engine/forward.ts featureRun), so every path ranks ties alike.
 */
export function withRepeatTerms(base: number, weights: ArrayLike<number>, task: number, feat: ArrayLike<number>): number {
  let s = Math.fround(base);
  for (let k = 0; k < REPEAT_FEATURES; k++) s = Math.fround(s + weights[task * REPEAT_FEATURES + k] * feat[k]);
  return s;
}

/** Popularity per task over the events before the period (`days` limits it to the last N days: trending). */
export function popularityScorer(data: MtlData, period: 'valid' | 'test', days?: number): MtlScorer {
  const start = period === 'valid' ? data.validDay : data.testStart;
  const dates = [...new Set(data.events.flat().map((e) => e.date))].filter((d) => d < start).sort((a, b) => a - b);
  const from = days ? dates[Math.max(0, dates.length - days)] : -Infinity;
  const n = data.catalog.ids.length;
  const counts = TASKS.map(() => new Float32Array(n));
  for (const list of data.events) for (const e of list) {
    if (e.date >= start || e.date < from) continue;
    counts[0][e.row]++; // click: every event
    for (let t = 1; t < TASKS.length; t++) if (e.behaviour === TARGET_BEHAVIOUR[t]) counts[t][e.row]++;
  }
  // Ties broken by overall popularity so the cart/purchase/favorite lists are not mostly ties.
  const score = counts.map((cnt) => cnt.map((x, r) => x + counts[0][r] * 1e-4));
  return async (histories, task) => histories.map(() => score[task]);
}

/**
 * The shopper's own recent items, most recent first (then popularity): the "show them again"
 * baseline. In this data a third to a half of next targets repeat a history item.
 */
export function recentItemsScorer(data: MtlData, period: 'valid' | 'test'): MtlScorer {
  const popular = popularityScorer(data, period);
  return async (histories, task) => {
    const base = (await popular(histories, task))![0];
    const max = base.reduce((m, x) => Math.max(m, x), 0) + 1;
    return histories.map((h) => {
      const s = Float32Array.from(base);
      h.forEach((e, j) => { s[e.row] = max * (1 + (j + 1) / h.length); });
      return s;
    });
  };
}

/** One evaluation case: a history and, per task (TASKS order), the catalog row to find (-1: none). */
export interface MtlCase {
  history: MtlEvent[];
  targets: number[];
  /** 'first' cases: the period's events (purchase GAUC); empty for 'every' cases. */
  period: MtlEvent[];
}

/**
 * The protocol's cases (see the header and MtlEvalOptions.targets), shared by the evaluator and the
 * repeat-weight calibration (training/mtl-calibrate.ts). A period's cases read only events before
 * their target: on the validation day, never an event of the test days. 'every' cases come sorted by task.
 */
export function mtlCases(data: MtlData, options: Pick<MtlEvalOptions, 'period' | 'targets' | 'historyLimit' | 'users'>): MtlCase[] {
  const start = options.period === 'valid' ? data.validDay : data.testStart;
  const end = options.period === 'valid' ? data.validDay : Infinity;
  const cases: MtlCase[] = [];
  for (const u of options.users ?? data.events.keys()) {
    const events = data.events[u];
    let history = events.filter((e) => e.date < start);
    const period = events.filter((e) => e.date >= start && e.date <= end);
    if (period.length === 0) continue;
    if (options.historyLimit !== undefined) history = history.slice(history.length - Math.min(options.historyLimit, history.length));
    if (history.length === 0 && options.historyLimit !== 0) continue;
    if (history.length > 0 && options.historyLimit === undefined && history.every((e) => e.item === 0)) continue;
    if (options.targets === 'every') {
      // The period's first event (events are in time order; the validation day is followed by the test days).
      const first = events.findIndex((e) => e.date >= start);
      period.forEach((e, j) => {
        const t = TARGET_BEHAVIOUR.indexOf(e.behaviour);
        if (t < 0) return;
        let h = events.slice(0, first + j);
        if (options.historyLimit !== undefined) h = h.slice(h.length - Math.min(options.historyLimit, h.length));
        if (h.length === 0 && options.historyLimit !== 0) return;
        const targets = TASKS.map(() => -1);
        targets[t] = e.row;
        cases.push({ history: h, targets, period: [] });
      });
      continue;
    }
    const targets = TARGET_BEHAVIOUR.map((b) => period.find((e) => e.behaviour === b)?.row ?? -1);
    cases.push({ history, targets, period });
  }
  // One task per batch where cases have one target each: each batch then runs one head, not three.
  if (options.targets === 'every') cases.sort((x, y) => x.targets.findIndex((r) => r >= 0) - y.targets.findIndex((r) => r >= 0));
  return cases;
}

/** Item-KNN over catalog rows, from the events before the period (the sequence evaluator's item-KNN on rows). */
export function itemKnnMtlScorer(data: MtlData, period: 'valid' | 'test'): MtlScorer {
  const start = period === 'valid' ? data.validDay : data.testStart;
  const n = data.catalog.ids.length;
  const train = data.events.map((list) => Int32Array.from(list.filter((e) => e.date < start).map((e) => e.row + 1)));
  const split = { train, valid: new Int32Array(train.length), test: new Int32Array(train.length) };
  const knn = itemKnnScorer(split, n, 'valid');
  return async (histories) => {
    const scores = await knn([], histories.map((h) => Int32Array.from(h.map((e) => e.row + 1))), null);
    return scores.map((s) => s.slice(1, n + 1));
  };
}

/** Runs the protocol with any scorer. */
export async function evaluateMtlScorer(scorer: MtlScorer, data: MtlData, options: MtlEvalOptions): Promise<MtlMetrics> {
  const inVocab = (row: number) => options.candidates === 'catalog' || data.catalog.modelIndex[row] > 0;
  const cases = mtlCases(data, options);
  const acc = TASKS.map(() => ({ n: 0, hr10: 0, hr20: 0, ndcg10: 0, mrr: 0, seenN: 0, seenHr10: 0, seenNdcg10: 0 }));
  const missing = TASKS.map(() => false);
  const cold = { n: 0, hr10: 0, hr50: 0, ndcg10: 0 };
  let gaucSum = 0;
  let gaucN = 0;
  const bs = options.batchSize ?? 128;
  const rankOf = (scores: Float32Array, target: number) => {
    const t = scores[target];
    let greater = 0;
    let ties = 0;
    for (let r = 0; r < scores.length; r++) {
      if (r === target || !inVocab(r)) continue;
      if (scores[r] > t) greater++; else if (scores[r] === t) ties++;
    }
    return greater + Math.floor(ties / 2);
  };
  for (let i = 0; i < cases.length; i += bs) {
    if (i > 0) options.onProgress?.(i, cases.length);
    const batch = cases.slice(i, i + bs);
    for (let t = 0; t < TASKS.length; t++) {
      const need = batch.map((c) => (c.targets[t] >= 0 && inVocab(c.targets[t])) || (t === PURCHASE && c.period.length > 0));
      if (!need.some(Boolean)) continue;
      const scores = missing[t] ? null : await scorer(batch.map((c) => c.history), t);
      if (!scores) {
        // No head for this task: count its cases only, so the report says how many went unscored.
        missing[t] = true;
        acc[t].n += batch.filter((c) => c.targets[t] >= 0 && inVocab(c.targets[t])).length;
        continue;
      }
      batch.forEach((c, j) => {
        const target = c.targets[t];
        if (target >= 0 && inVocab(target)) {
          const rank = rankOf(scores[j], target);
          const a = acc[t];
          a.n++;
          if (rank < 10) { a.hr10++; a.ndcg10 += 1 / Math.log2(rank + 2); }
          if (c.history.some((e) => e.row === target)) {
            a.seenN++;
            if (rank < 10) { a.seenHr10++; a.seenNdcg10 += 1 / Math.log2(rank + 2); }
          }
          if (rank < 20) a.hr20++;
          a.mrr += 1 / (rank + 1);
          if (data.catalog.modelIndex[target] === 0) {
            cold.n++;
            if (rank < 10) { cold.hr10++; cold.ndcg10 += 1 / Math.log2(rank + 2); }
            if (rank < 50) cold.hr50++;
          }
        }
        if (t === PURCHASE && c.period.length > 0) {
          const bought = new Set(c.period.filter((e) => e.behaviour === 4).map((e) => e.row));
          const seen = [...new Set(c.period.map((e) => e.row))].filter(inVocab);
          const pos = seen.filter((r) => bought.has(r));
          const neg = seen.filter((r) => !bought.has(r));
          if (pos.length && neg.length) {
            let wins = 0;
            for (const p of pos) for (const q of neg) wins += scores[j][p] > scores[j][q] ? 1 : scores[j][p] === scores[j][q] ? 0.5 : 0;
            gaucSum += wins / (pos.length * neg.length);
            gaucN++;
          }
        }
      });
    }
  }
  return {
    tasks: TASKS.map((task, t) => {
      const a = acc[t];
      const n = Math.max(a.n, 1);
      const m: TaskMetrics = { task, users: a.n, 'hr@10': round(a.hr10 / n), 'ndcg@10': round(a.ndcg10 / n), 'hr@20': round(a.hr20 / n), mrr: round(a.mrr / n), hr10: a.hr10 / n, ndcg10: a.ndcg10 / n,
        inHistory: split(a.seenN, a.seenHr10, a.seenNdcg10), newToShopper: split(a.n - a.seenN, a.hr10 - a.seenHr10, a.ndcg10 - a.seenNdcg10),
      };
      if (missing[t]) m.missing = true;
      return m;
    }),
    purchaseGauc: round(gaucSum / Math.max(gaucN, 1)),
    gaucUsers: gaucN,
    coldItems: { targets: cold.n, 'hr@10': round(cold.hr10 / Math.max(cold.n, 1)), 'ndcg@10': round(cold.ndcg10 / Math.max(cold.n, 1)), 'hr@50': round(cold.hr50 / Math.max(cold.n, 1)) },
    users: cases.length,
  };
}

/**
 * The users a period's evaluation ('first' targets, whole history) holds: an event in the period and
 * an event the model knows before it.
 */
export function mtlPeriodUsers(data: MtlData, period: 'valid' | 'test'): number[] {
  const start = period === 'valid' ? data.validDay : data.testStart;
  const end = period === 'valid' ? data.validDay : Infinity;
  const out: number[] = [];
  data.events.forEach((events, u) => {
    let known = false;
    let inPeriod = false;
    for (const e of events) {
      if (e.date < start) { if (e.item > 0) known = true; } else if (e.date <= end) inPeriod = true;
    }
    if (known && inPeriod) out.push(u);
  });
  return out;
}

/**
 * At most `max` of a period's users (mtlPeriodUsers), sampled with a fixed seed, in data order; every
 * one when there are no more (or `max` is 0). `sampled` says whether some were left out, for the label.
 */
export function sampleMtlUsers(data: MtlData, period: 'valid' | 'test', max: number, seed: number): { users: number[]; eligible: number; sampled: boolean } {
  const all = mtlPeriodUsers(data, period);
  if (max <= 0 || all.length <= max) return { users: all, eligible: all.length, sampled: false };
  return { users: new Rng(seed).shuffle([...all]).slice(0, max).sort((a, b) => a - b), eligible: all.length, sampled: true };
}

/** Evaluates a feature model. */
export async function evaluateMtl(
  config: SasRecConfig, weights: WeightMap, data: MtlData, options: MtlEvalOptions, scorerOptions: MtlScorerOptions = {},
): Promise<MtlMetrics> {
  const { scorer, dispose } = mtlModelScorer(config, weights, data, scorerOptions);
  try {
    return await evaluateMtlScorer(scorer, data, options);
  } finally {
    dispose();
  }
}
