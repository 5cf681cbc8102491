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
  /** [B*L, K] float: 1 where a negative equals the target (built in JS: tf.equal here is slow on wasm). */
  accidentalHits: tf.Tensor2D;
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

export function sampledSoftmaxLoss(
  config: SasRecConfig,
  weights: WeightMap,
  batch: BatchTensors,
  dropoutSeed: number,
): tf.Scalar {
  const { sequence } = forward(config, weights, batch.inputs, { training: true, dropoutSeed });
  const d = config.hiddenDim;
  const h = sequence.reshape([-1, d]) as tf.Tensor2D; // [BL, d]
  const targets = batch.targets.reshape([-1]);
  const table = weights.itemEmbedding as tf.Tensor2D;
  const posEmb = embeddingLookup(table, targets) as tf.Tensor2D; // [BL, d]
  const negEmb = embeddingLookup(table, batch.negatives) as tf.Tensor2D; // [K, d]
  const posLogits = h.mul(posEmb).sum(-1, true); // [BL, 1]
  const negLogits = matMul(h, negEmb.transpose()).add(batch.accidentalHits.mul(-1e9)); // [BL, K]
  // -log softmax at the positive = logaddexp(pos, logsumexp(neg)) - pos; avoids a concat/split of [BL, K+1].
  const negLse = logSumExpRows(negLogits);
  const top = tf.maximum(posLogits, negLse);
  const lse = top.add(tf.log(tf.exp(posLogits.sub(top)).add(tf.exp(negLse.sub(top)))));
  const nll = lse.sub(posLogits).reshape([-1]);
  const valid = targets.notEqual(0).toFloat();
  return nll.mul(valid).sum().div(valid.sum().maximum(1)) as tf.Scalar;
}
