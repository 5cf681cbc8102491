/**
 * Sampled-softmax next-item loss: at every non-padding position the true next item
 * competes with a set of negatives shared across the batch (sampled uniformly).
 * Negatives that happen to equal the target are masked out (accidental hits).
 */
import * as tf from '@tensorflow/tfjs';
import { embeddingLookup, forward, matMul, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';

export interface BatchTensors {
  inputs: tf.Tensor2D;   // [B, L] int32, left padded
  targets: tf.Tensor2D;  // [B, L] int32, 0 where there is no target
  negatives: tf.Tensor1D; // [K] int32 shared negatives
  /**
   * [B*L, K] float: 1 where a negative equals the target (built in JS: tf.equal here is slow on wasm).
   * Absent when the negatives are every item once and the loss is the softmax alone: the full softmax,
   * whose normaliser is the log-sum-exp over the items, the positive included once.
   */
  accidentalHits?: tf.Tensor2D;
  /**
   * [B, L] int32: one uniform negative per position, drawn outside the user's items (0 where there is
   * no target); present when the loss has a BCE term (the SASRec paper's loss).
   */
  positionNegatives?: tf.Tensor2D;
}

/**
 * Row-wise log-sum-exp with the gradient written as softmax. The stock gradient goes
 * through `max`, whose gradient runs an elementwise Equal that is slow on wasm.
 */
const logSumExpRows = tf.customGrad((xArg, save) => {
  const x = xArg as tf.Tensor2D;
  const value = tf.logSumExp(x, -1, true);
  (save as tf.GradSaveFunc)([x, value]);
  return {
    value,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sx, sv] = saved;
      return [tf.exp(sx.sub(sv)).mul(dy as tf.Tensor)];
    },
  };
});

export type LossKind = 'softmax' | 'gbce' | 'bce' | 'bpr';

export interface LossOptions {
  /** `softmax`: sampled softmax over the shared negatives; `gbce`: generalised BCE (gSASRec, Petrov & Macdonald 2023). */
  kind: LossKind;
  /** gBCE calibration t in [0, 1]: 0 is plain BCE, 1 fully corrects the sampling's overconfidence. */
  gbceT: number;
  /** L2 penalty on the embedding rows the batch touches (inputs, targets, negatives); 0 = off. */
  l2: number;
  /**
   * Weight of the SASRec paper's binary cross-entropy (the positive against one uniform negative per
   * position) added to a softmax or gBCE loss; `kind: 'bce'` is that term alone.
   */
  bceWeight: number;
  /**
   * Weight of a pairwise logistic (BPR) term averaged over the shared uniform negatives, mean softplus(neg - pos):
   * a smooth AUC against uniformly drawn items, the quantity the sampled-100 protocol measures.
   * Added to the softmax/gBCE loss; `kind: 'bpr'` is that term alone.
   */
  bprWeight: number;
}

export const DEFAULT_LOSS_OPTIONS: LossOptions = { kind: 'softmax', gbceT: 0.75, l2: 0, bceWeight: 0, bprWeight: 0 };

/** Mean over the shared negatives of softplus(neg - pos), accidental hits left out: [BL]. */
function sharedBpr(h: tf.Tensor2D, posLogits: tf.Tensor, negEmb: tf.Tensor2D, accidentalHits: tf.Tensor2D): tf.Tensor1D {
  const keep = tf.scalar(1).sub(accidentalHits);
  const diff = matMul(h, negEmb.transpose()).sub(posLogits); // [BL, K]
  return tf.softplus(diff).mul(keep).sum(-1).div(keep.sum(-1).maximum(1)) as tf.Tensor1D;
}

/** Paper BCE per position: -log σ(pos) - log(1 - σ(neg)), neg = that position's own uniform negative. */
function positionBce(h: tf.Tensor2D, posLogits: tf.Tensor, table: tf.Tensor2D, negatives: tf.Tensor2D): tf.Tensor1D {
  const negEmb = embeddingLookup(table, negatives.reshape([-1])) as tf.Tensor2D; // [BL, d]
  const negLogits = h.mul(negEmb).sum(-1);
  return tf.softplus(posLogits.reshape([-1]).neg()).add(tf.softplus(negLogits)) as tf.Tensor1D;
}

export function sampledSoftmaxLoss(
  config: SasRecConfig,
  weights: WeightMap,
  batch: BatchTensors,
  dropoutSeed: number,
  lossOptions: LossOptions = DEFAULT_LOSS_OPTIONS,
): tf.Scalar {
  const { sequence } = forward(config, weights, batch.inputs, { training: true, dropoutSeed });
  const d = config.hiddenDim;
  const h = sequence.reshape([-1, d]) as tf.Tensor2D; // [BL, d]
  const targets = batch.targets.reshape([-1]);
  const table = weights.itemEmbedding as tf.Tensor2D;
  const posEmb = embeddingLookup(table, targets) as tf.Tensor2D; // [BL, d]
  const negEmb = embeddingLookup(table, batch.negatives) as tf.Tensor2D; // [K, d]
  const posLogits = h.mul(posEmb).sum(-1, true); // [BL, 1]
  const valid = targets.notEqual(0).toFloat();
  const count = valid.sum().maximum(1);
  let loss: tf.Tensor;
  const needsBce = lossOptions.kind === 'bce' || lossOptions.bceWeight > 0;
  const hits = (): tf.Tensor2D => {
    if (!batch.accidentalHits) throw new Error(`the ${lossOptions.kind} loss needs the accidental hits of the negatives in the batch`);
    return batch.accidentalHits;
  };
  if (needsBce && !batch.positionNegatives) throw new Error('a BCE loss needs per-position negatives in the batch');
  if (lossOptions.kind === 'bce') {
    loss = positionBce(h, posLogits, table, batch.positionNegatives!).mul(valid).sum().div(count);
  } else if (lossOptions.kind === 'bpr') {
    loss = sharedBpr(h, posLogits, negEmb, hits()).mul(valid).sum().div(count);
  } else if (lossOptions.kind === 'gbce') {
    // gBCE: -beta*log(sigmoid(pos)) - sum log(1 - sigmoid(neg)), beta = alpha*(t*(1 - 1/alpha) + 1/alpha), alpha = K/(N-1).
    const k = batch.negatives.shape[0];
    const alpha = k / Math.max(config.numItems - 1, 1);
    const beta = alpha * (lossOptions.gbceT * (1 - 1 / alpha) + 1 / alpha);
    const negLogits = matMul(h, negEmb.transpose()); // [BL, K]
    const negTerm = tf.softplus(negLogits).mul(tf.scalar(1).sub(hits())).sum(-1);
    const posTerm = tf.softplus(posLogits.neg()).reshape([-1]).mul(beta);
    loss = posTerm.add(negTerm).mul(valid).sum().div(count);
  } else if (!batch.accidentalHits) {
    // The full softmax: the negatives are every item once, the positive among them.
    const lse = logSumExpRows(matMul(h, negEmb.transpose()) as tf.Tensor2D);
    loss = lse.sub(posLogits).reshape([-1]).mul(valid).sum().div(count);
  } else {
    loss = softmaxNll(h, posLogits, negEmb, batch.accidentalHits).mul(valid).sum().div(count);
  }
  if (lossOptions.kind !== 'bpr' && lossOptions.bprWeight > 0) {
    loss = loss.add(sharedBpr(h, posLogits, negEmb, hits()).mul(valid).sum().div(count).mul(lossOptions.bprWeight));
  }
  if (lossOptions.kind !== 'bce' && lossOptions.bceWeight > 0) {
    loss = loss.add(positionBce(h, posLogits, table, batch.positionNegatives!).mul(valid).sum().div(count).mul(lossOptions.bceWeight));
  }
  if (lossOptions.l2 > 0) {
    const inEmb = embeddingLookup(table, batch.inputs.reshape([-1])) as tf.Tensor2D;
    const penalty = tf.addN([posEmb.square().sum(), negEmb.square().sum(), inEmb.square().sum()]);
    loss = loss.add(penalty.mul(lossOptions.l2).div(count));
  }
  return loss as tf.Scalar;
}

/** Per-position negative log-likelihood of the positive under a softmax over [positive, negatives]. */
export function softmaxNll(
  h: tf.Tensor2D, posLogits: tf.Tensor, negEmb: tf.Tensor2D, accidentalHits: tf.Tensor2D, negOffset?: tf.Tensor,
  /** Logits of per-position extra negatives [BL, H] (already masked). */
  extraLogits?: tf.Tensor,
): tf.Tensor1D {
  let negLogits: tf.Tensor = matMul(h, negEmb.transpose()).add(accidentalHits.mul(-1e9)); // [BL, K]
  if (negOffset) negLogits = negLogits.add(negOffset);
  if (extraLogits) negLogits = tf.concat([negLogits, extraLogits], 1);
  // -log softmax at the positive = logaddexp(pos, logsumexp(neg)) - pos; avoids a concat/split of [BL, K+1].
  const negLse = logSumExpRows(negLogits as tf.Tensor2D);
  const top = tf.maximum(posLogits, negLse);
  const lse = top.add(tf.log(tf.exp(posLogits.sub(top)).add(tf.exp(negLse.sub(top)))));
  return lse.sub(posLogits).reshape([-1]) as tf.Tensor1D;
}
