/**
 * Offline evaluation on the leave-one-out split: the model and two baselines
 * (popularity, item-KNN), under the sampled-100 or full-ranking protocol.
 */
import * as tf from '@tensorflow/tfjs';
import { sequenceInput } from '../src/model/inputs.js';
import { lastHidden, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';
import { dequantizeInt8, quantizeInt8 } from '../src/retrieval/int8.js';
import type { LeaveOneOutSplit } from './data.js';
import { MetricAccumulator, rankOfFirst, topK, type RankingMetrics } from './metrics.js';
import { Rng } from './rng.js';

export type Protocol = 'full' | 'sampled-100';

export interface EvalOptions {
  protocol: Protocol;
  /** Seed of the sampled negatives. */
  seed: number;
  /** 'test': input = train + valid, target = test. 'valid': input = train, target = valid. */
  target: 'test' | 'valid';
  /** Only these users (default: every user with a target). */
  users?: number[];
  batchSize?: number;
}

/** Scores a batch of users: returns one Float32Array per user over the requested candidates (or all items). */
export type Scorer = (users: number[], inputs: Int32Array[], candidates: Int32Array[] | null) => Promise<Float32Array[]>;

interface UserCase { user: number; input: Int32Array; target: number; seen: Set<number> }

function cases(split: LeaveOneOutSplit, o: EvalOptions): UserCase[] {
  const out: UserCase[] = [];
  const users = o.users ?? [...split.train.keys()];
  for (const u of users) {
    const target = o.target === 'test' ? split.test[u] : split.valid[u];
    if (!target) continue;
    const train = split.train[u];
    const input = o.target === 'test' ? Int32Array.from([...train, split.valid[u]]) : train;
    if (input.length === 0) continue;
    const seen = new Set<number>(input);
    out.push({ user: u, input, target, seen });
  }
  return out;
}

/** 100 distinct items the user never interacted with (target excluded too), uniform. */
export function sampleNegatives(rng: Rng, numItems: number, seen: Set<number>, target: number, n = 100): Int32Array {
  const out = new Int32Array(n + 1);
  out[0] = target;
  const chosen = new Set<number>();
  const available = numItems - seen.size - (seen.has(target) ? 0 : 1);
  const want = Math.min(n, available);
  while (chosen.size < want) {
    const t = rng.int(1, numItems + 1);
    if (t === target || seen.has(t) || chosen.has(t)) continue;
    chosen.add(t);
  }
  let i = 1;
  for (const c of chosen) out[i++] = c;
  return out.subarray(0, i);
}

/** Runs a scorer over the split under a protocol. */
export async function evaluateScorer(
  scorer: Scorer,
  numItems: number,
  split: LeaveOneOutSplit,
  o: EvalOptions,
): Promise<RankingMetrics> {
  const all = cases(split, o);
  const rng = new Rng(o.seed);
  const acc = new MetricAccumulator(numItems);
  const bs = o.batchSize ?? 256;
  for (let i = 0; i < all.length; i += bs) {
    const batch = all.slice(i, i + bs);
    const cands = o.protocol === 'sampled-100'
      ? batch.map((c) => sampleNegatives(rng, numItems, c.seen, c.target))
      : null;
    const scores = await scorer(batch.map((c) => c.user), batch.map((c) => c.input), cands);
    batch.forEach((c, j) => {
      const s = scores[j];
      if (cands) {
        const rank = rankOfFirst(s);
        const top = topK(s, 10).map((x) => cands[j][x]);
        acc.add(rank, top);
      } else {
        // Full ranking: the target against every item the user has not interacted with.
        const target = s[c.target];
        let rank = 0;
        for (let it = 1; it <= numItems; it++) if (s[it] > target && it !== c.target && !c.seen.has(it)) rank++;
        acc.add(rank, topK(s, 10, (it) => c.seen.has(it), 1));
      }
    });
  }
  return acc.result();
}

export interface ModelScorerOptions {
  /**
   * Storage of the item table used for scoring, as the SDK stores its catalog matrix
   * (src/retrieval/): 'float32' (default, the table as loaded) or 'int8' (per-row symmetric int8,
   * the SDK's quantizeInt8). The input embeddings of the history stay as loaded, as in the SDK.
   */
  embeddingDtype?: 'float32' | 'int8';
  /**
   * Run the forward on groups of similar-length histories, each padded to its own longest instead of
   * maxLen (the training validation's speed-up: Games histories average about 9 steps of 50). The states
   * are those of the maxLen rows up to float rounding (padding is masked and positions are right-aligned).
   * Off by default, so `npm run eval` figures stay bit-for-bit those of the cards.
   */
  trimPadding?: boolean;
}

/** Histories a trimmed forward runs together. */
const TRIM_GROUP = 64;

/** The item table the SDK would score against: as loaded, or int8-quantised and read back. */
export function scoringTable(weights: WeightMap, dtype: 'float32' | 'int8' = 'float32'): tf.Tensor2D {
  const table = weights.itemEmbedding as tf.Tensor2D;
  if (dtype === 'float32') return table.clone();
  const [rows, d] = table.shape;
  return tf.tensor2d(dequantizeInt8(quantizeInt8(table.dataSync() as Float32Array, rows, d)), [rows, d]);
}

/** The model's input rows for a batch of histories, [histories x maxLen]: each through the featuriser (src/model/inputs.ts sequenceInput). */
export function inputRows(inputs: readonly ArrayLike<number>[], maxLen: number): Int32Array {
  const ids = new Int32Array(inputs.length * maxLen);
  inputs.forEach((s, r) => ids.set(sequenceInput(s, maxLen), r * maxLen));
  return ids;
}

/** Last-position states [histories x d] in input order, the forward run on length groups (ModelScorerOptions.trimPadding). */
function trimmedHidden(config: SasRecConfig, weights: WeightMap, inputs: readonly ArrayLike<number>[]): tf.Tensor2D {
  const order = inputs.map((_, i) => i).sort((a, b) => inputs[a].length - inputs[b].length);
  const parts: tf.Tensor2D[] = [];
  for (let i = 0; i < order.length; i += TRIM_GROUP) {
    const group = order.slice(i, i + TRIM_GROUP).map((r) => inputs[r]);
    const len = Math.max(1, Math.min(config.maxLen, group[group.length - 1].length));
    const idsT = tf.tensor2d(inputRows(group, len), [group.length, len], 'int32');
    parts.push(lastHidden(config, weights, idsT).hidden);
    idsT.dispose();
  }
  const inverse = new Int32Array(order.length);
  order.forEach((r, j) => { inverse[r] = j; });
  const out = tf.tidy(() => tf.gather(tf.concat(parts, 0), tf.tensor1d(inverse, 'int32')) as tf.Tensor2D);
  tf.dispose(parts);
  return out;
}

/** Scorer backed by the SASRec forward pass. */
export function modelScorer(config: SasRecConfig, weights: WeightMap, options: ModelScorerOptions = {}): { scorer: Scorer; dispose(): void } {
  const table = scoringTable(weights, options.embeddingDtype);
  // [d, numItems+1]: plain matMul (no transpose flag) is much faster on wasm.
  const tableT = tf.tidy(() => table.transpose());
  let tableData: Float32Array | undefined;
  const scorer: Scorer = async (_users, inputs, candidates) => {
    const b = inputs.length;
    const hidden = options.trimPadding ? trimmedHidden(config, weights, inputs) : (() => {
      const idsT = tf.tensor2d(inputRows(inputs, config.maxLen), [b, config.maxLen], 'int32');
      const out = lastHidden(config, weights, idsT).hidden;
      idsT.dispose();
      return out;
    })();
    const d = config.hiddenDim;
    try {
      if (candidates) {
        tableData ??= (await table.data()) as Float32Array;
        const h = (await hidden.data()) as Float32Array;
        return candidates.map((c, r) => {
          const out = new Float32Array(c.length);
          for (let j = 0; j < c.length; j++) {
            let s = 0;
            const off = c[j] * d;
            for (let k = 0; k < d; k++) s += h[r * d + k] * tableData![off + k];
            out[j] = s;
          }
          return out;
        });
      }
      const scores = tf.matMul(hidden, tableT as tf.Tensor2D);
      const data = (await scores.data()) as Float32Array;
      scores.dispose();
      const n = config.numItems + 1;
      return inputs.map((_, r) => data.subarray(r * n, (r + 1) * n));
    } finally {
      hidden.dispose();
    }
  };
  return { scorer, dispose: () => { tableT.dispose(); table.dispose(); } };
}

export async function evaluateModel(
  config: SasRecConfig,
  weights: WeightMap,
  split: LeaveOneOutSplit,
  o: EvalOptions,
  scorerOptions: ModelScorerOptions = {},
): Promise<RankingMetrics> {
  const { scorer, dispose } = modelScorer(config, weights, scorerOptions);
  try {
    return await evaluateScorer(scorer, config.numItems, split, o);
  } finally {
    dispose();
  }
}

function pick(all: Float32Array, candidates: Int32Array): Float32Array {
  const out = new Float32Array(candidates.length);
  for (let j = 0; j < candidates.length; j++) out[j] = all[candidates[j]];
  return out;
}

/**
 * Popularity over the inputs the evaluation may see (train prefixes, plus validation items for test).
 * `fitValidation` false fits it on the training items only, as a model fitted under the paper's protocol
 * (the test histories still end with the validation item).
 */
export function popularScorer(split: LeaveOneOutSplit, numItems: number, target: 'test' | 'valid', fitValidation = true): Scorer {
  const counts = new Float32Array(numItems + 1);
  split.train.forEach((s, u) => {
    for (const i of s) counts[i]++;
    if (target === 'test' && fitValidation && split.valid[u]) counts[split.valid[u]]++;
  });
  // Tiny deterministic tie-break so equal counts do not all tie with the target.
  for (let i = 1; i <= numItems; i++) counts[i] += (i % 997) * 1e-6;
  return async (_u, inputs, candidates) => inputs.map((_, r) => (candidates ? pick(counts, candidates[r]) : counts));
}

/**
 * Item-KNN: cosine similarity of items over the sets of users who interacted with them;
 * a user's score for an item is the sum of its similarity to the user's history items.
 * Keeps the top `neighbours` per item. Fitted like popularScorer (`fitValidation`).
 */
export function itemKnnScorer(split: LeaveOneOutSplit, numItems: number, target: 'test' | 'valid', neighbours = 200, fitValidation = true): Scorer {
  const userItems: Int32Array[] = split.train.map((s, u) => {
    const set = new Set<number>(s);
    if (target === 'test' && fitValidation && split.valid[u]) set.add(split.valid[u]);
    return Int32Array.from(set);
  });
  const itemUsers: number[][] = Array.from({ length: numItems + 1 }, () => []);
  userItems.forEach((items, u) => { for (const i of items) itemUsers[i].push(u); });
  const nbrIds: Int32Array[] = new Array(numItems + 1);
  const nbrSims: Float32Array[] = new Array(numItems + 1);
  const co = new Float32Array(numItems + 1);
  const touched: number[] = [];
  for (let i = 1; i <= numItems; i++) {
    for (const u of itemUsers[i]) for (const j of userItems[u]) {
      if (j === i) continue;
      if (co[j] === 0) touched.push(j);
      co[j]++;
    }
    const ni = itemUsers[i].length;
    const sims = touched.map((j) => co[j] / Math.sqrt(ni * itemUsers[j].length));
    const order = topK(sims, neighbours);
    nbrIds[i] = Int32Array.from(order.map((x) => touched[x]));
    nbrSims[i] = Float32Array.from(order.map((x) => sims[x]));
    for (const j of touched) co[j] = 0;
    touched.length = 0;
  }
  const popular = new Float32Array(numItems + 1);
  for (let i = 1; i <= numItems; i++) popular[i] = itemUsers[i].length * 1e-6 + (i % 997) * 1e-9;
  return async (_u, inputs, candidates) => inputs.map((input, r) => {
    const scores = popular.slice(); // popularity breaks ties among items with no similarity
    for (const h of new Set(input)) {
      const ids = nbrIds[h];
      const sims = nbrSims[h];
      if (!ids) continue;
      for (let x = 0; x < ids.length; x++) scores[ids[x]] += sims[x];
    }
    return candidates ? pick(scores, candidates[r]) : scores;
  });
}
