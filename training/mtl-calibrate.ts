/**
 * Calibration of the multi-task model's repeat terms on the validation day.
 *
 * score_t(i) = query_t · item(i) + repeatWeights[t] · repeatFeatures(i, history) (src/model/sasrec.ts).
 * Training learns repeatWeights against sampled negatives, which say little about how a repeat item
 * should rank against the whole catalog; the shopper's own recent items are a very strong list on this
 * data. After training, each head's 4 weights are searched (a coarse grid, then coordinate steps) to
 * maximise its validation NDCG@10, full ranking over the catalog, with the objective
 * FIRST_SHARE × first-event protocol + (1 − FIRST_SHARE) × every-event protocol
 * (training/mtl-eval.ts mtlCases: the validation day's cases read only events before their target,
 * never a test day). Every other weight is kept; the dot products are computed once per case.
 *
 * Exact and cheap: only the shopper's own items carry repeat terms, so for a case the dot products
 * of every other item are fixed; the case keeps the top TOP_KEPT of them, enough to decide a rank
 * below 10 under the evaluator's tie rule (ties count half), and its history items' dot products and features.
 */
import * as tf from '@tensorflow/tfjs';
import { REPEAT_FEATURES, TASKS } from '../src/model/features.js';
import type { SasRecConfig, WeightMap } from '../src/model/sasrec.js';
import type { MtlData } from './mtl-data.js';
import { historyRepeatFeatures, mtlCases, mtlModelScorer, sampleMtlUsers, withRepeatTerms, type MtlCase, type MtlScorer, type MtlScorerOptions } from './mtl-eval.js';

/** Share of the first-event (return visit) protocol in the objective; the rest is every event (in-session). */
export const FIRST_SHARE = 0.25;
/**
 * Dot products kept per case besides the shopper's items: if all of them reach the target's score,
 * greater + ties/2 ≥ TOP_KEPT/2 − 1/2 ≥ 10, a miss whatever the rest.
 */
const TOP_KEPT = 32;
/** Fewer validation cases than this for a head (both protocols together): its trained weights are kept, a search would fit noise. */
export const MIN_CASES = 20;

/** One validation case of one head, reduced to what the repeat weights can change. */
export interface CompactCase {
  /** The target's dot product and, when the shopper met it before, its repeat features. */
  target: number;
  targetFeatures: Float32Array | null;
  /** The shopper's other items: dot products and repeat features. */
  own: Float32Array;
  ownFeatures: Float32Array[];
  /** The largest dot products of the items the shopper never met (target excluded), descending. */
  top: Float32Array;
}

/** A head's cases under the two protocols. */
export interface HeadCases { first: CompactCase[]; every: CompactCase[] }

export interface HeadCalibration {
  task: string;
  before: number[];
  after: number[];
  /** Validation NDCG@10 (full ranking) before / after, per protocol, and the objective. */
  first: { cases: number; before: number; after: number };
  every: { cases: number; before: number; after: number };
  objective: { before: number; after: number };
}

export interface CalibrationReport {
  protocol: string;
  heads: HeadCalibration[];
  /** Objective evaluations of the search, all heads. */
  evaluations: number;
  seconds: number;
}

export interface CalibrationOptions {
  /** Share of the first-event protocol in the objective (FIRST_SHARE). */
  firstShare?: number;
  batchSize?: number;
  /**
   * The validation users to calibrate on (indices into `data.events`; e.g. the trainer's validation
   * sample, sampleMtlUsers): every one by default. Cases cost a full-catalog ranking each, so a large
   * log needs a sample as the trainer's validation does.
   */
  users?: readonly number[];
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The rank of a case's target under weights `w` of head `task`: exact below 10, else any value ≥ 10. */
export function compactRank(c: CompactCase, w: ArrayLike<number>, task: number): number {
  const s = c.targetFeatures ? withRepeatTerms(c.target, w, task, c.targetFeatures) : c.target;
  let greater = 0;
  let ties = 0;
  for (let i = 0; i < c.top.length; i++) {
    const x = c.top[i];
    if (x > s) greater++; else if (x === s) ties++; else break;
  }
  if (greater + ties === TOP_KEPT) return TOP_KEPT;
  for (let i = 0; i < c.own.length; i++) {
    const x = withRepeatTerms(c.own[i], w, task, c.ownFeatures[i]);
    if (x > s) greater++; else if (x === s) ties++;
  }
  return greater + Math.floor(ties / 2);
}

/** Mean NDCG@10 of cases under weights `w` of head `task`. */
export function compactNdcg(cases: readonly CompactCase[], w: ArrayLike<number>, task: number): number {
  let sum = 0;
  for (const c of cases) {
    const r = compactRank(c, w, task);
    if (r < 10) sum += 1 / Math.log2(r + 2);
  }
  return sum / Math.max(cases.length, 1);
}

/** Reduces one case of head `task` (the catalog's dot products `scores`, no repeat terms) to a CompactCase. */
export function compactCase(c: MtlCase, task: number, scores: Float32Array): CompactCase {
  const target = c.targets[task];
  const feats = historyRepeatFeatures(c.history);
  const own: number[] = [];
  const ownFeatures: Float32Array[] = [];
  for (const [row, f] of feats) if (row !== target) { own.push(scores[row]); ownFeatures.push(f); }
  // A bounded min-heap would do; a sorted insert into TOP_KEPT slots is as fast at this size.
  const top = new Float32Array(TOP_KEPT).fill(-Infinity);
  for (let r = 0; r < scores.length; r++) {
    const x = scores[r];
    if (x <= top[TOP_KEPT - 1] || r === target || feats.has(r)) continue;
    let i = TOP_KEPT - 1;
    while (i > 0 && top[i - 1] < x) { top[i] = top[i - 1]; i--; }
    top[i] = x;
  }
  return { target: scores[target], targetFeatures: feats.get(target) ?? null, own: Float32Array.from(own), ownFeatures, top };
}

/**
 * Each head's validation cases (catalog candidates), reduced with the dot products of `baseScorer`
 * (a scorer without repeat terms). Heads the scorer lacks are left out.
 */
export async function headCases(
  baseScorer: MtlScorer, data: MtlData, batchSize = 128, users?: readonly number[], log?: (line: string) => void,
): Promise<Map<number, HeadCases>> {
  const out = new Map<number, HeadCases>();
  const byProtocol = (['first', 'every'] as const).map((targets) => ({ targets, cases: mtlCases(data, { period: 'valid', targets, users }) }));
  const total = byProtocol.reduce((n, p) => n + p.cases.reduce((m, c) => m + c.targets.filter((r) => r >= 0).length, 0), 0);
  const t0 = performance.now();
  let done = 0;
  let nextReport = 0.1;
  for (const { targets, cases } of byProtocol) {
    for (let t = 0; t < TASKS.length; t++) {
      const mine = cases.filter((c) => c.targets[t] >= 0);
      for (let i = 0; i < mine.length; i += batchSize) {
        const batch = mine.slice(i, i + batchSize);
        const scores = await baseScorer(batch.map((c) => c.history), t);
        if (!scores) { done += mine.length - i; break; } // no head for this task
        done += batch.length;
        if (log && total > 0 && done / total >= nextReport && done < total) {
          const s = (performance.now() - t0) / 1000;
          log(`  calibration: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} validation cases ranked, ${s.toFixed(0)} s, ETA ${((s * (total - done)) / done).toFixed(0)} s`);
          nextReport = Math.floor((done / total) * 10 + 1) / 10;
        }
        if (!out.has(t)) out.set(t, { first: [], every: [] });
        batch.forEach((c, j) => out.get(t)![targets].push(compactCase(c, t, scores[j])));
      }
    }
  }
  return out;
}

/** Coarse grid of the search (seen, recency, carted, purchased). */
const GRID = [[0, 0.5, 1, 2, 4, 8], [0, 1, 2, 4, 8, 16, 32], [-2, -1, 0, 1, 2], [-2, -1, 0, 1, 2]];
/** Coordinate steps after the grid, largest first. */
const STEPS = [4, 2, 1, 0.5, 0.25, 0.1, 0.05];

/**
 * Searches head `task`'s weights (row `task` of `start`) for the best objective; returns the row.
 * Keeps the start unless a candidate is strictly better, so calibration never lowers the objective.
 */
export function searchHead(cases: HeadCases, start: Float32Array, task: number, firstShare = FIRST_SHARE): { weights: Float32Array; before: number; after: number; evaluations: number } {
  let evaluations = 0;
  const objective = (row: ArrayLike<number>) => {
    evaluations++;
    const w = new Float32Array(start.length);
    w.set(Float32Array.from(row), task * REPEAT_FEATURES);
    return firstShare * compactNdcg(cases.first, w, task) + (1 - firstShare) * compactNdcg(cases.every, w, task);
  };
  let best = Array.from(start.subarray(task * REPEAT_FEATURES, (task + 1) * REPEAT_FEATURES));
  const before = objective(best);
  let bestScore = before;
  const consider = (row: number[]) => {
    const s = objective(row);
    if (s > bestScore + 1e-9) { bestScore = s; best = row; }
  };
  for (const a of GRID[0]) for (const b of GRID[1]) for (const c of GRID[2]) for (const d of GRID[3]) consider([a, b, c, d]);
  for (const step of STEPS) {
    for (let round = 0; round < 4; round++) {
      const was = bestScore;
      for (let k = 0; k < REPEAT_FEATURES; k++) {
        for (const sign of [1, -1]) {
          const row = [...best];
          row[k] = Math.fround(row[k] + sign * step);
          consider(row);
        }
      }
      if (bestScore <= was) break;
    }
  }
  return { weights: Float32Array.from(best), before, after: bestScore, evaluations };
}

/**
 * Calibrates every head of `start` (the model's repeatWeights, [heads × REPEAT_FEATURES]) on the
 * validation day with the dot products of `baseScorer`. `heads`: the model's head names, in order.
 */
export async function calibrateRepeatWeights(
  baseScorer: MtlScorer, data: MtlData, heads: readonly string[], start: Float32Array, options: CalibrationOptions = {},
): Promise<{ repeatWeights: Float32Array; report: CalibrationReport }> {
  const t0 = performance.now();
  const share = options.firstShare ?? FIRST_SHARE;
  const byTask = await headCases(baseScorer, data, options.batchSize, options.users, options.log);
  const repeatWeights = Float32Array.from(start);
  const report: CalibrationReport = {
    protocol: `validation day ${data.validDay} only (history: every event before each target), full ranking over the ${data.catalog.ids.length} catalog items, `
      + `NDCG@10 objective ${share} × first event + ${1 - share} × every event of the day, per head`
      + (options.users ? `, over ${options.users.length.toLocaleString('en-US')} sampled validation users (--eval-users, at most ${CALIBRATION_MAX_USERS})` : ''),
    heads: [], evaluations: 0, seconds: 0,
  };
  heads.forEach((name, h) => {
    const t = TASKS.indexOf(name as (typeof TASKS)[number]);
    const cases = byTask.get(t);
    const row = Array.from(start.subarray(h * REPEAT_FEATURES, (h + 1) * REPEAT_FEATURES));
    const count = cases ? cases.first.length + cases.every.length : 0;
    if (!cases || count < MIN_CASES) {
      options.log?.(`calibration: ${name}: ${count} validation cases (fewer than ${MIN_CASES}), trained weights kept`);
      return;
    }
    // The search scores head t's TASKS index with the head's row placed there.
    const local = new Float32Array(TASKS.length * REPEAT_FEATURES);
    local.set(row, t * REPEAT_FEATURES);
    const found = searchHead(cases, local, t, share);
    repeatWeights.set(found.weights, h * REPEAT_FEATURES);
    const w = new Float32Array(local.length);
    w.set(found.weights, t * REPEAT_FEATURES);
    const entry: HeadCalibration = {
      task: name, before: row, after: Array.from(found.weights),
      first: { cases: cases.first.length, before: compactNdcg(cases.first, local, t), after: compactNdcg(cases.first, w, t) },
      every: { cases: cases.every.length, before: compactNdcg(cases.every, local, t), after: compactNdcg(cases.every, w, t) },
      objective: { before: found.before, after: found.after },
    };
    report.heads.push(entry);
    report.evaluations += found.evaluations;
    const r4 = (x: number) => x.toFixed(4);
    options.log?.(`calibration: ${name} [${entry.before.map((x) => x.toFixed(3)).join(', ')}] -> [${entry.after.map((x) => x.toFixed(3)).join(', ')}]; `
      + `valid NDCG@10 first ${r4(entry.first.before)} -> ${r4(entry.first.after)} (${entry.first.cases}), every ${r4(entry.every.before)} -> ${r4(entry.every.after)} (${entry.every.cases})`);
  });
  report.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return { repeatWeights, report };
}

/**
 * Validation users calibration ranks at most: its every-event protocol makes a case of every
 * validation-day event (a full-catalog ranking each), so it costs several times the trainer's
 * validation per user; a few thousand users fit four weights per head.
 */
export const CALIBRATION_MAX_USERS = 2000;

/**
 * The validation users to calibrate on (CalibrationOptions.users): a seeded sample of at most
 * min(evalUsers, CALIBRATION_MAX_USERS), or undefined (every one) when there are no more, or when
 * `evalUsers` is 0 (all asked for).
 */
export function calibrationUsers(data: MtlData, evalUsers: number, seed: number): number[] | undefined {
  const sample = sampleMtlUsers(data, 'valid', evalUsers === 0 ? 0 : Math.min(evalUsers, CALIBRATION_MAX_USERS), seed);
  return sample.sampled ? sample.users : undefined;
}

/**
 * Calibrates a loaded or freshly trained multi-task model: returns its weights with a new
 * `repeatWeights` tensor (the others are the same tensors, not copies) and the report.
 */
export async function calibrateMtlModel(
  config: SasRecConfig, weights: WeightMap, data: MtlData, options: CalibrationOptions & MtlScorerOptions = {},
): Promise<{ weights: WeightMap; report: CalibrationReport }> {
  const heads = config.features?.tasks;
  if (!heads || !weights.repeatWeights) throw new Error('calibration needs a multi-task model (architecture sasrec-mtl) with repeat weights');
  const start = weights.repeatWeights.dataSync() as Float32Array;
  const { scorer, dispose } = mtlModelScorer(config, weights, data, { unknown: options.unknown, repeatWeights: new Float32Array(start.length) });
  try {
    const { repeatWeights, report } = await calibrateRepeatWeights(scorer, data, heads, start, options);
    return { weights: { ...weights, repeatWeights: tf.tensor2d(repeatWeights, weights.repeatWeights.shape as [number, number]) }, report };
  } finally {
    dispose();
  }
}
