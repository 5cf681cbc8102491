/**
 * A fused inference path for the CPU backends (wasm, cpu): the same computation as `lastHidden()`
 * (and `taskQueries()`) of ./sasrec.ts, but on weights read once into one block of memory and
 * computed with typed-array loops plus the WebAssembly SIMD dense kernel of src/kernels/f32.wat,
 * instead of ~60 TF.js ops of tiny shapes per call.
 *
 * It computes only what the last position's state needs:
 *  - padding positions (id 0) are skipped: their keys are masked out of every real position's
 *    attention and their own outputs are zeroed by the mask, so they never reach a real position;
 *  - every block but the last runs all real positions; the last block runs keys and values for all
 *    of them but the query, attention, output projection and feed-forward of the last position only.
 * Same pre-LN blocks, causal and key-padding masks, sqrt(d) token scaling and sqrt(headDim) logit
 * scaling, final layer norm; feature models ('sasrec-mtl') add the content, behaviour and scene
 * embeddings of each step and compute the per-task queries.
 *
 * It refuses (throws at `create`) a weight set that does not match `weightShapes(config)` name by
 * name and shape by shape, and the engine compares it with the TF.js forward at load before using it
 * (`selfCheck`): if ./sasrec.ts changes, the engine falls back to TF.js and says why in EngineInfo.
 */
import * as tf from '@tensorflow/tfjs';
import { createF32Kernel, F32Layout, type F32Kernel } from '../kernels/f32.js';
import type { HostItemTable } from './item-table.js';
import { lastHidden, taskQueries, weightShapes, type SasRecConfig, type WeightMap } from './sasrec.js';

/** Must equal LN_EPSILON of ./sasrec.ts (checked by the load-time self-check and the unit tests). */
const LN_EPSILON = 1e-6;

/** Item tables up to this many floats are copied into JS once; larger ones are gathered per call through TF.js. */
export const FUSED_ITEM_TABLE_MAX_FLOATS = 8 * 1024 * 1024;

/** Side inputs of a feature model, one value per input position (as the model's token tensors). */
export interface FusedTokens {
  category: ArrayLike<number>;
  brand: ArrayLike<number>;
  price: ArrayLike<number>;
  behaviour: ArrayLike<number>;
  scene: ArrayLike<number>;
}

export interface FusedOutput {
  /** The final-layer-normed state at the last position, [d]. */
  hidden: Float32Array;
  /** One query per task head, [tasks, d] (feature models); the hidden state for the others. */
  queries: Float32Array;
  /** Last-position attention of the final block, averaged over heads, one weight per input position. */
  attention: Float32Array;
}

export interface FusedOptions {
  /** Use the plain-JS kernels even where WebAssembly SIMD exists (tests). */
  forceJs?: boolean;
  /** Item tables above this many floats are gathered through TF.js per call (default FUSED_ITEM_TABLE_MAX_FLOATS). */
  itemTableMaxFloats?: number;
  /**
   * The item embedding held once in a kernel's memory (./item-table.ts), for weights that lack
   * `itemEmbedding`: history rows are read there (no copy, no per-call gather).
   */
  itemTable?: HostItemTable;
}

interface BlockOffsets {
  wq: number; bq: number; wkv: number; bkv: number; wo: number; bo: number;
  w1: number; b1: number; w2: number; b2: number;
  ln1g: number; ln1b: number; ln2g: number; ln2b: number;
}

function read(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}

export class FusedForward {
  private readonly k: F32Kernel;
  private readonly blocks: BlockOffsets[] = [];
  private readonly pos: Float32Array;
  private readonly finalG: number;
  private readonly finalB: number;
  /** The item table in JS, or null when it is gathered per call (or read from `table`). */
  private readonly items: Float32Array | null;
  /** The model's host item table, when the weights have no itemEmbedding tensor. */
  private readonly table: HostItemTable | null;
  private readonly feat: Record<'category' | 'brand' | 'price' | 'behaviour' | 'scene' | 'request', Float32Array> | null = null;
  private readonly heads: Array<{ w: number; b: number }> = [];
  // scratch (byte offsets)
  private readonly x: number; private readonly normed: number; private readonly q: number; private readonly kv: number;
  private readonly ctx: number; private readonly tmp: number; private readonly h: number; private readonly one: number; private readonly oneOut: number;
  private readonly logits: number; private readonly pr: number;
  private f!: Float32Array;

  private constructor(private readonly config: SasRecConfig, private readonly weights: WeightMap, options: FusedOptions) {
    const { hiddenDim: d, ffnDim: ff, maxLen: L, numBlocks } = config;
    if (!Number.isInteger(d / config.numHeads)) throw new Error(`fused forward: hiddenDim ${d} is not a multiple of numHeads ${config.numHeads}`);
    const lay = new F32Layout();
    const plan: Array<{ at: number; values: Float32Array }> = [];
    const put = (values: Float32Array): number => { const at = lay.take(values.length); plan.push({ at, values }); return at; };
    for (let b = 0; b < numBlocks; b++) {
      const p = `block${b}/`;
      const wk = read(weights[`${p}key/kernel`]);
      const wv = read(weights[`${p}value/kernel`]);
      const wkv = new Float32Array(d * 2 * d);
      for (let i = 0; i < d; i++) { wkv.set(wk.subarray(i * d, (i + 1) * d), i * 2 * d); wkv.set(wv.subarray(i * d, (i + 1) * d), i * 2 * d + d); }
      const bkv = new Float32Array(2 * d);
      bkv.set(read(weights[`${p}key/bias`]), 0);
      bkv.set(read(weights[`${p}value/bias`]), d);
      this.blocks.push({
        wq: put(read(weights[`${p}query/kernel`])), bq: put(read(weights[`${p}query/bias`])),
        wkv: put(wkv), bkv: put(bkv),
        wo: put(read(weights[`${p}attnOut/kernel`])), bo: put(read(weights[`${p}attnOut/bias`])),
        w1: put(read(weights[`${p}ffn1/kernel`])), b1: put(read(weights[`${p}ffn1/bias`])),
        w2: put(read(weights[`${p}ffn2/kernel`])), b2: put(read(weights[`${p}ffn2/bias`])),
        ln1g: put(read(weights[`${p}attnNorm/gamma`])), ln1b: put(read(weights[`${p}attnNorm/beta`])),
        ln2g: put(read(weights[`${p}ffnNorm/gamma`])), ln2b: put(read(weights[`${p}ffnNorm/beta`])),
      });
    }
    const feats = config.features;
    if (feats) {
      for (const t of feats.tasks) this.heads.push({ w: put(read(weights[`head/${t}/kernel`])), b: put(read(weights[`head/${t}/bias`])) });
      this.feat = {
        category: read(weights.categoryEmbedding), brand: read(weights.brandEmbedding), price: read(weights.priceEmbedding),
        behaviour: read(weights.behaviourEmbedding), scene: read(weights.sceneEmbedding), request: read(weights.requestSceneEmbedding),
      };
    }
    this.x = lay.take(L * d); this.normed = lay.take(L * d); this.q = lay.take(L * d); this.kv = lay.take(L * 2 * d);
    this.ctx = lay.take(L * d); this.tmp = lay.take(L * d); this.h = lay.take(L * ff); this.one = lay.take(d); this.oneOut = lay.take(d);
    this.logits = lay.take(L); this.pr = lay.take(L);
    this.finalG = put(read(weights['finalNorm/gamma']));
    this.finalB = put(read(weights['finalNorm/beta']));
    this.k = createF32Kernel({ forceJs: options.forceJs });
    this.k.reserve(lay.bytes);
    this.f = new Float32Array(this.k.buffer);
    for (const { at, values } of plan) this.f.set(values, at >> 2);
    this.pos = read(weights.positionEmbedding);
    this.table = weights.itemEmbedding ? null : options.itemTable ?? null;
    this.items = this.table === null && weights.itemEmbedding.size <= (options.itemTableMaxFloats ?? FUSED_ITEM_TABLE_MAX_FLOATS) ? read(weights.itemEmbedding) : null;
  }

  /**
   * Reads the weights once. Throws when they are not exactly the weights of `weightShapes(config)`
   * (another architecture, a renamed or reshaped weight): the caller keeps the TF.js path then.
   */
  static create(config: SasRecConfig, weights: WeightMap, options: FusedOptions = {}): FusedForward {
    const expected = weightShapes(config);
    const names = new Set(Object.keys(weights));
    for (const [name, shape] of expected) {
      const t: { shape: number[] } | undefined = weights[name] ?? (name === 'itemEmbedding' && options.itemTable ? { shape: [options.itemTable.rows, options.itemTable.dim] } : undefined);
      if (!t) throw new Error(`fused forward: weight ${name} is missing`);
      if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
        throw new Error(`fused forward: weight ${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
      }
      names.delete(name);
    }
    if (names.size > 0) throw new Error(`fused forward: unknown weights ${[...names].join(', ')} (a newer architecture?)`);
    return new FusedForward(config, weights, options);
  }

  /** 'wasm-simd' or 'js'. */
  get kernel(): 'wasm-simd' | 'js' {
    return this.k.simd ? 'wasm-simd' : 'js';
  }

  /** Bytes held: the kernel memory plus the JS copies (item table when copied, norms, positions, feature tables); not the model's host item table. */
  get bytes(): number {
    let b = this.k.buffer.byteLength + (this.items?.byteLength ?? 0) + this.pos.byteLength;
    if (this.feat) for (const v of Object.values(this.feat)) b += v.byteLength;
    return b;
  }

  /**
   * The forward pass for one left-padded input row (most recent item last), as `lastHidden(config,
   * weights, ids [1, len], { returnAttention: true, tokens })` plus `taskQueries(..., requestScene)`.
   */
  run(ids: ArrayLike<number>, tokens?: FusedTokens, requestScene?: number): FusedOutput {
    const cfg = this.config;
    const { hiddenDim: d, maxLen, numBlocks, numHeads: H, ffnDim: ff } = cfg;
    const len = ids.length;
    if (len < 1 || len > maxLen) throw new Error(`fused forward: input length ${len} is outside 1..${maxLen}`);
    if (cfg.features && !tokens) throw new Error('this model needs item features (category, brand, price)');
    const hd = d / H;
    const f = this.f;
    const k = this.k;
    // The computed positions: every real one, plus the last when it is padding (its output is the answer).
    const S: number[] = [];
    for (let p = 0; p < len; p++) if (ids[p] !== 0 || p === len - 1) S.push(p);
    const n = S.length;
    const real = S.map((p) => ids[p] !== 0);

    // Tokens: (item vector [+ content, behaviour, scene]) * sqrt(d) + position, zero at padding.
    const items = this.table ? this.table.values : this.items;
    const gathered = items ? null : this.gather(S.map((p) => ids[p]));
    const scale = Math.fround(Math.sqrt(d));
    const x0 = this.x >> 2;
    const fe = this.feat;
    const tmpRow = new Float32Array(d);
    for (let a = 0; a < n; a++) {
      const p = S[a];
      const xo = x0 + a * d;
      if (!real[a]) { f.fill(0, xo, xo + d); continue; }
      const id = ids[p];
      if (gathered) tmpRow.set(gathered.subarray(a * d, (a + 1) * d));
      else tmpRow.set(items!.subarray(id * d, (id + 1) * d));
      if (fe && tokens) {
        const c = tokens.category[p] * d; const b = tokens.brand[p] * d; const pr = tokens.price[p] * d;
        const be = tokens.behaviour[p] * d; const sc = tokens.scene[p] * d;
        for (let j = 0; j < d; j++) {
          tmpRow[j] = Math.fround(Math.fround(Math.fround(tmpRow[j] + fe.category[c + j]) + fe.brand[b + j]) + fe.price[pr + j]);
          tmpRow[j] = Math.fround(Math.fround(tmpRow[j] + fe.behaviour[be + j]) + fe.scene[sc + j]);
        }
      }
      const po = (maxLen - len + p) * d;
      for (let j = 0; j < d; j++) f[xo + j] = Math.fround(tmpRow[j] * scale) + this.pos[po + j];
    }

    const attention = new Float32Array(len);
    const div = Math.fround(Math.sqrt(hd));
    const eps = Math.fround(LN_EPSILON);
    const lg = this.logits >> 2; const pf = this.pr >> 2;
    for (let b = 0; b < numBlocks; b++) {
      const blk = this.blocks[b];
      const last = b === numBlocks - 1;
      const q0 = last ? n - 1 : 0; // first query row
      const nq = n - q0;
      k.layerNorm(this.x, this.normed, n, d, blk.ln1g, blk.ln1b, eps);
      k.dense(this.normed, n, d, blk.wkv, 2 * d, blk.bkv, this.kv, false);
      k.dense(this.normed + q0 * d * 4, nq, d, blk.wq, d, blk.bq, this.q, false);
      for (let qa = 0; qa < nq; qa++) {
        const a = q0 + qa;
        const nk = a + 1; // causal: keys 0..a
        for (let hh = 0; hh < H; hh++) {
          k.dots(this.q + (qa * d + hh * hd) * 4, this.kv + hh * hd * 4, 2 * d * 4, nk, hd, div, this.logits);
          // Key padding mask (a padding query sees itself only), then softmax.
          let max = -Infinity;
          for (let a2 = 0; a2 < nk; a2++) {
            if (!real[a2] && a2 !== a) { f[lg + a2] = -Infinity; continue; }
            if (f[lg + a2] > max) max = f[lg + a2];
          }
          let sum = 0;
          for (let a2 = 0; a2 < nk; a2++) {
            const e = f[lg + a2] === -Infinity ? 0 : Math.exp(f[lg + a2] - max);
            f[pf + a2] = e;
            sum += e;
          }
          for (let a2 = 0; a2 < nk; a2++) {
            f[pf + a2] /= sum;
            if (last) attention[S[a2]] += f[pf + a2] / H;
          }
          k.mix(this.pr, this.kv + (d + hh * hd) * 4, 2 * d * 4, nk, hd, this.ctx + (qa * d + hh * hd) * 4);
        }
      }
      // x += attnOut(ctx); x += ffn2(relu(ffn1(LN(x)))); x *= mask   (query rows only)
      k.dense(this.ctx, nq, d, blk.wo, d, blk.bo, this.tmp, false);
      const xq = x0 + q0 * d; const tf0 = this.tmp >> 2;
      for (let i = 0; i < nq * d; i++) f[xq + i] += f[tf0 + i];
      k.layerNorm(this.x + q0 * d * 4, this.normed, nq, d, blk.ln2g, blk.ln2b, eps);
      k.dense(this.normed, nq, d, blk.w1, ff, blk.b1, this.h, true);
      k.dense(this.h, nq, ff, blk.w2, d, blk.b2, this.tmp, false);
      for (let i = 0; i < nq * d; i++) f[xq + i] += f[tf0 + i];
      for (let qa = 0; qa < nq; qa++) if (!real[q0 + qa]) f.fill(0, xq + qa * d, xq + (qa + 1) * d);
    }
    k.layerNorm(this.x + (n - 1) * d * 4, this.one, 1, d, this.finalG, this.finalB, eps);
    const hidden = f.slice(this.one >> 2, (this.one >> 2) + d);

    let queries = hidden;
    if (cfg.features && fe) {
      const T = this.heads.length;
      queries = new Float32Array(T * d);
      const o1 = this.one >> 2; const oo = this.oneOut >> 2;
      if (requestScene !== undefined) for (let j = 0; j < d; j++) f[o1 + j] = hidden[j] + fe.request[requestScene * d + j];
      else f.set(hidden, o1);
      for (let t = 0; t < T; t++) {
        k.dense(this.one, 1, d, this.heads[t].w, d, this.heads[t].b, this.oneOut, false);
        for (let j = 0; j < d; j++) queries[t * d + j] = f[o1 + j] + f[oo + j];
      }
    }
    return { hidden, queries, attention };
  }

  /** Item rows of `ids` through TF.js (tables too large to copy). */
  private gather(ids: number[]): Float32Array {
    const out = tf.tidy(() => tf.gather(this.weights.itemEmbedding, tf.tensor1d(ids, 'int32')));
    try { return out.dataSync() as Float32Array; } finally { out.dispose(); }
  }

  /**
   * Compares this path with the TF.js forward (./sasrec.ts) on `ids` (and tokens): the largest
   * absolute difference of the hidden state, the task queries and the attention weights.
   */
  compareWithTfjs(ids: Int32Array, tokens?: Record<keyof FusedTokens, Int32Array>, requestScene?: number): number {
    const cfg = this.config;
    const mine = this.run(ids, tokens, requestScene);
    const ref = tf.tidy(() => {
      const row = (a: Int32Array) => tf.tensor2d(a, [1, a.length], 'int32');
      // Weights without the item tensor (a host table): the TF.js forward reads the same rows from a
      // tensor of only the rows of `ids`, the ids renumbered into it (0, the padding id, stays 0).
      let weights = this.weights;
      let refIds = ids;
      if (!weights.itemEmbedding && this.table) {
        const d = cfg.hiddenDim;
        const at = new Map<number, number>([[0, 0]]);
        refIds = Int32Array.from(ids, (id) => { let j = at.get(id); if (j === undefined) at.set(id, j = at.size); return j; });
        const values = this.table.values;
        const rows = new Float32Array(at.size * d);
        for (const [id, j] of at) rows.set(values.subarray(id * d, (id + 1) * d), j * d);
        weights = { ...weights, itemEmbedding: tf.tensor2d(rows, [at.size, d]) };
      }
      const toks = tokens ? {
        category: row(tokens.category), brand: row(tokens.brand), price: row(tokens.price), behaviour: row(tokens.behaviour), scene: row(tokens.scene),
      } : undefined;
      const { hidden, attention } = lastHidden(cfg, weights, row(refIds) as tf.Tensor2D, { returnAttention: true, tokens: toks });
      const q = taskQueries(cfg, weights, hidden, cfg.features && requestScene !== undefined ? tf.tensor1d([requestScene], 'int32') : undefined);
      const attn = attention!.mean(1).reshape([-1]);
      attention!.dispose();
      return [hidden.dataSync().slice(), q.dataSync().slice(), attn.dataSync().slice()] as Float32Array[];
    });
    let diff = 0;
    const cmp = (a: Float32Array, b: Float32Array) => {
      if (a.length !== b.length) { diff = Infinity; return; }
      for (let i = 0; i < a.length; i++) {
        const e = Math.abs(a[i] - b[i]);
        if (!(e <= diff)) diff = Number.isNaN(e) ? Infinity : e;
      }
    };
    cmp(mine.hidden, ref[0]);
    cmp(mine.queries, ref[1]);
    cmp(mine.attention, ref[2]);
    return diff;
  }
}
