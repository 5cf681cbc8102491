/**
 * The SASRec-family next-item model, written once as plain TF.js ops so that the
 * Node trainer and the browser worker run exactly the same forward pass.
 *
 * Tensor contract (see docs/model-format.md):
 *   input  `itemIds`  int32 [batch, maxLen], left-padded with 0, most recent item last
 *   output `hidden`   float32 [batch, hiddenDim], the state at the last position
 *   scores = hidden · itemEmbedding[1..numItems]ᵀ (the output layer is tied to the input embedding)
 *
 * With `config.features` (the multi-task, behaviour-aware variant, architecture 'sasrec-mtl'):
 *   item vector  = itemEmbedding[id] + categoryEmbedding[c] + brandEmbedding[b] + priceEmbedding[p]
 *                  (id 0 = an item the model never saw: scored from its content alone)
 *   input token  = item vector + behaviourEmbedding[event type] + sceneEmbedding[scene of the event]
 *   task query   = q + dense_t(q), q = hidden + requestSceneEmbedding[scene of the request], one per task
 *   score_t(i)   = task query_t · item vector(i) + repeatWeights[t] · repeatFeatures(i, history)
 */
import * as tf from '@tensorflow/tfjs';

/** The transformer's shape: what a trainer chooses and a model file records. */
export interface ModelShape {
  /** Longest history the model reads (older events are dropped). */
  maxLen: number;
  hiddenDim: number;
  numBlocks: number;
  numHeads: number;
  /** Width of the position-wise feed-forward layer. */
  ffnDim: number;
  /** Dropout rate during training (ignored at inference). */
  dropout: number;
}

export interface SasRecConfig extends ModelShape {
  /** Number of real items; row 0 of the embedding table is padding. */
  numItems: number;
  /** Present in multi-task models with item features, behaviour and scene inputs. */
  features?: FeatureConfig;
}

/** Side inputs of the multi-task model. Index 0 of each table means unknown / padding. */
export interface FeatureConfig {
  numCategories: number;
  numBrands: number;
  numPriceBuckets: number;
  /** Event types 1..numBehaviours: 1 click/view, 2 favourite, 3 cart, 4 purchase. */
  numBehaviours: number;
  /** Scenes 1..numScenes: 1 home, 2 product, 3 cart, 4 search. */
  numScenes: number;
  /** Head names, in order (e.g. click, cart, purchase). */
  tasks: string[];
}

/** Per-item content indices, parallel to the ids they describe. */
export interface ItemFeatureTensors {
  category: tf.Tensor;
  brand: tf.Tensor;
  price: tf.Tensor;
}

/** Token side inputs of a history: event type and scene per step, [batch, len] int32. */
export interface TokenFeatureTensors extends ItemFeatureTensors {
  behaviour: tf.Tensor;
  scene: tf.Tensor;
}

export type WeightMap = Record<string, tf.Tensor>;

const LN_EPSILON = 1e-6;

/** Names and shapes of every weight, in a stable order (the artifact order). */
export function weightShapes(config: SasRecConfig): Array<[string, number[]]> {
  const d = config.hiddenDim;
  const shapes: Array<[string, number[]]> = [
    ['itemEmbedding', [config.numItems + 1, d]],
    ['positionEmbedding', [config.maxLen, d]],
  ];
  for (let b = 0; b < config.numBlocks; b++) {
    const p = `block${b}/`;
    shapes.push(
      [`${p}attnNorm/gamma`, [d]], [`${p}attnNorm/beta`, [d]],
      [`${p}query/kernel`, [d, d]], [`${p}query/bias`, [d]],
      [`${p}key/kernel`, [d, d]], [`${p}key/bias`, [d]],
      [`${p}value/kernel`, [d, d]], [`${p}value/bias`, [d]],
      [`${p}attnOut/kernel`, [d, d]], [`${p}attnOut/bias`, [d]],
      [`${p}ffnNorm/gamma`, [d]], [`${p}ffnNorm/beta`, [d]],
      [`${p}ffn1/kernel`, [d, config.ffnDim]], [`${p}ffn1/bias`, [config.ffnDim]],
      [`${p}ffn2/kernel`, [config.ffnDim, d]], [`${p}ffn2/bias`, [d]],
    );
  }
  shapes.push(['finalNorm/gamma', [d]], ['finalNorm/beta', [d]]);
  const f = config.features;
  if (f) {
    shapes.push(
      ['categoryEmbedding', [f.numCategories + 1, d]], ['brandEmbedding', [f.numBrands + 1, d]],
      ['priceEmbedding', [f.numPriceBuckets + 1, d]], ['behaviourEmbedding', [f.numBehaviours + 1, d]],
      ['sceneEmbedding', [f.numScenes + 1, d]], ['requestSceneEmbedding', [f.numScenes + 1, d]],
    );
    for (const t of f.tasks) shapes.push([`head/${t}/kernel`, [d, d]], [`head/${t}/bias`, [d]]);
    // Per task, weights of the repeat features (features.ts): seen, recency, carted, purchased.
    shapes.push(['repeatWeights', [f.tasks.length, 4]]);
  }
  return shapes;
}

/** Fresh weights: truncated-normal(0.02) matrices, unit norms, zero biases; deterministic for a seed. */
export function initWeights(config: SasRecConfig, seed: number): WeightMap {
  return tf.tidy(() => {
    const weights: WeightMap = {};
    let s = seed;
    for (const [name, shape] of weightShapes(config)) {
      // Repeat-feature weights start at 1: a prior that shoppers come back to items they met
      // (learning it from 0.02 at Adam's step size would take hundreds of epochs on small data).
      if (name.endsWith('/gamma') || name === 'repeatWeights') weights[name] = tf.ones(shape);
      else if (name.endsWith('/beta') || name.endsWith('/bias')) weights[name] = tf.zeros(shape);
      else {
        let w = tf.truncatedNormal(shape, 0, 0.02, 'float32', s++);
        if (name === 'itemEmbedding') w = w.mul(tf.concat([tf.zeros([1, 1]), tf.ones([shape[0] - 1, 1])]));
        weights[name] = w;
      }
    }
    return weights;
  });
}

/**
 * Embedding lookup whose gradient is built with scatterND. The stock gradient of
 * `gather` needs UnsortedSegmentSum, which the wasm backend lacks and the cpu
 * backend runs very slowly; scatterND sums duplicate indices, which is what we need.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const lookup = tf.customGrad((tableArg, idsArg, save) => {
    const t = tableArg as tf.Tensor2D;
    const flatIds = (idsArg as tf.Tensor).reshape([-1]).toInt();
    (save as tf.GradSaveFunc)([flatIds]);
    const out = tf.gather(t, flatIds).reshape([...(idsArg as tf.Tensor).shape, t.shape[1]]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedIds] = saved;
        const g = (dy as tf.Tensor).reshape([-1, t.shape[1]]);
        const dTable = tf.scatterND(savedIds.reshape([-1, 1]), g, t.shape);
        return [dTable, tf.zerosLike(idsArg as tf.Tensor)];
      },
    };
  });
  return lookup(table, ids);
}

/** Swaps the last two axes. */
function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(t, perm);
}

/**
 * Plain `a @ b` whose gradient transposes explicitly. tfjs-wasm runs matMul with a
 * transpose flag 8-20x slower than the plain form (measured: 448 ms vs 58 ms for
 * 6400x64 @ 64x512), and the stock matMul gradient uses those flags.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((aArg, bArg, save) => {
    const x = aArg as tf.Tensor;
    const y = bArg as tf.Tensor;
    (save as tf.GradSaveFunc)([x, y]);
    return {
      value: tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sx, sy] = saved;
        const g = dy as tf.Tensor;
        return [
          tf.matMul(g as tf.Tensor2D, swapLast(sy) as tf.Tensor2D),
          tf.matMul(swapLast(sx) as tf.Tensor2D, g as tf.Tensor2D),
        ];
      },
    };
  });
  return op(a, b);
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(LN_EPSILON))).mul(gamma).add(beta);
}

function dense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const inDim = kernel.shape[0];
  const outDim = kernel.shape[1]!;
  const flat = x.reshape([-1, inDim]) as tf.Tensor2D;
  const y = matMul(flat, kernel).add(bias);
  return y.reshape([...x.shape.slice(0, -1), outDim]);
}

export interface ForwardOptions {
  training?: boolean;
  /** Seed for dropout masks; advance it every step for reproducible training. */
  dropoutSeed?: number;
  /** Also return the last-position attention weights of the final block: [batch, heads, maxLen]. */
  returnAttention?: boolean;
  /** Required by models with `config.features`: content, event type and scene of each history step. */
  tokens?: TokenFeatureTensors;
}

/**
 * Item vectors: the id embedding (scaled by `idKeep`, a per-row 0/1 mask used in training to teach
 * the content part to stand alone) plus, for feature models, category, brand and price embeddings.
 */
export function itemVectors(
  config: SasRecConfig,
  weights: WeightMap,
  ids: tf.Tensor,
  features?: ItemFeatureTensors,
  idKeep?: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    let v = embeddingLookup(weights.itemEmbedding as tf.Tensor2D, ids);
    if (idKeep) v = v.mul(idKeep.expandDims(-1));
    if (!config.features) return v;
    if (!features) throw new Error('this model needs item features (category, brand, price)');
    return tf.addN([
      v,
      embeddingLookup(weights.categoryEmbedding as tf.Tensor2D, features.category),
      embeddingLookup(weights.brandEmbedding as tf.Tensor2D, features.brand),
      embeddingLookup(weights.priceEmbedding as tf.Tensor2D, features.price),
    ]);
  });
}

/**
 * One query vector per task head: [batch, tasks, hiddenDim]. `requestScene` is [batch] int32.
 * Models without features have one implicit task whose query is the hidden state.
 */
export function taskQueries(config: SasRecConfig, weights: WeightMap, hidden: tf.Tensor2D, requestScene?: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const f = config.features;
    if (!f) return hidden.expandDims(1) as tf.Tensor3D;
    let q: tf.Tensor = hidden;
    if (requestScene) q = q.add(embeddingLookup(weights.requestSceneEmbedding as tf.Tensor2D, requestScene));
    const heads = f.tasks.map((t) => q.add(dense(q, weights[`head/${t}/kernel`], weights[`head/${t}/bias`])));
    return tf.stack(heads, 1) as tf.Tensor3D;
  });
}

export interface ForwardResult {
  /** [batch, maxLen, hiddenDim]: the state at every position. */
  sequence: tf.Tensor3D;
  attention?: tf.Tensor3D;
}

/** Runs the transformer over a left-padded id matrix. Caller owns (and disposes) the outputs. */
export function forward(
  config: SasRecConfig,
  weights: WeightMap,
  itemIds: tf.Tensor2D,
  options: ForwardOptions = {},
): ForwardResult {
  const { training = false, returnAttention = false } = options;
  let dropoutSeed = options.dropoutSeed ?? 0;
  const [batch, len] = itemIds.shape;
  const d = config.hiddenDim;
  const heads = config.numHeads;
  const headDim = d / heads;
  const drop = (x: tf.Tensor) =>
    training && config.dropout > 0 ? tf.dropout(x, config.dropout, undefined, dropoutSeed++) : x;

  let attention: tf.Tensor3D | undefined;
  const sequence = tf.tidy(() => {
    const mask = itemIds.notEqual(0).toFloat().expandDims(-1); // [B, L, 1]
    const positions = weights.positionEmbedding.slice([config.maxLen - len, 0], [len, d]);
    let tokens = itemVectors(config, weights, itemIds, options.tokens);
    if (config.features) {
      const t = options.tokens!; // itemVectors has thrown if they are missing
      tokens = tf.addN([
        tokens,
        embeddingLookup(weights.behaviourEmbedding as tf.Tensor2D, t.behaviour),
        embeddingLookup(weights.sceneEmbedding as tf.Tensor2D, t.scene),
      ]);
    }
    let x = tokens.mul(Math.sqrt(d)).add(positions);
    x = drop(x).mul(mask);

    // Causal mask plus key padding mask, added to attention logits.
    const causal = tf.linalg.bandPart(tf.ones([len, len]), -1, 0); // lower triangle incl. diagonal
    const keyValid = itemIds.notEqual(0).toFloat().reshape([batch, 1, 1, len]);
    const allowed = causal.reshape([1, 1, len, len]).mul(keyValid);
    // Padding rows would otherwise see no key at all; let them see themselves (their output is masked).
    const allowedSafe = tf.maximum(allowed, tf.eye(len).reshape([1, 1, len, len]));
    const attnBias = tf.sub(1, allowedSafe).mul(-1e9);

    const splitHeads = (t: tf.Tensor) => t.reshape([batch, len, heads, headDim]).transpose([0, 2, 1, 3]);

    for (let b = 0; b < config.numBlocks; b++) {
      const p = `block${b}/`;
      const normed = layerNorm(x, weights[`${p}attnNorm/gamma`], weights[`${p}attnNorm/beta`]);
      const q = splitHeads(dense(normed, weights[`${p}query/kernel`], weights[`${p}query/bias`]));
      const k = splitHeads(dense(normed, weights[`${p}key/kernel`], weights[`${p}key/bias`]));
      const v = splitHeads(dense(normed, weights[`${p}value/kernel`], weights[`${p}value/bias`]));
      const logits = matMul(q, swapLast(k)).div(Math.sqrt(headDim)).add(attnBias);
      const probs = tf.softmax(logits, -1); // [B, H, L, L]
      if (returnAttention && b === config.numBlocks - 1) {
        attention = tf.keep(probs.slice([0, 0, len - 1, 0], [batch, heads, 1, len]).reshape([batch, heads, len]) as tf.Tensor3D);
      }
      const context = matMul(drop(probs), v).transpose([0, 2, 1, 3]).reshape([batch, len, d]);
      x = x.add(drop(dense(context, weights[`${p}attnOut/kernel`], weights[`${p}attnOut/bias`])));

      const normed2 = layerNorm(x, weights[`${p}ffnNorm/gamma`], weights[`${p}ffnNorm/beta`]);
      const hidden = tf.relu(dense(normed2, weights[`${p}ffn1/kernel`], weights[`${p}ffn1/bias`]));
      x = x.add(drop(dense(drop(hidden), weights[`${p}ffn2/kernel`], weights[`${p}ffn2/bias`])));
      x = x.mul(mask);
    }
    return layerNorm(x, weights['finalNorm/gamma'], weights['finalNorm/beta']) as tf.Tensor3D;
  });
  return { sequence, attention };
}

/** The state at the last position: [batch, hiddenDim]. */
export function lastHidden(
  config: SasRecConfig,
  weights: WeightMap,
  itemIds: tf.Tensor2D,
  options: ForwardOptions = {},
): { hidden: tf.Tensor2D; attention?: tf.Tensor3D } {
  const { sequence, attention } = forward(config, weights, itemIds, options);
  const [batch, len, d] = sequence.shape;
  const hidden = tf.tidy(() => sequence.slice([0, len - 1, 0], [batch, 1, d]).reshape([batch, d]) as tf.Tensor2D);
  sequence.dispose();
  return { hidden, attention };
}

/** Left-pads (or truncates to the most recent) a history into a row of `maxLen` ids. */
export function padHistory(history: ArrayLike<number>, maxLen: number): Int32Array {
  const row = new Int32Array(maxLen);
  const take = Math.min(history.length, maxLen);
  const start = history.length - take;
  for (let i = 0; i < take; i++) row[maxLen - take + i] = history[start + i];
  return row;
}
