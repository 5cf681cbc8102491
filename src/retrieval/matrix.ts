/**
 * Scoring: query vectors · catalog matrix -> scores, or the top-N catalog rows.
 *
 * Generic on purpose: it knows nothing about the model. Give it the catalog's item vectors
 * ([rows, d], one row per scorable catalog item) once, then per call one query vector ([1, d]) or a
 * few (one per objective head, [q, d]). It answers
 *  - `all`:  every row's score, per query (small catalogs: ranking sees every item);
 *  - `top`:  the union of each query's best `n` rows, with every query's score on those rows
 *            (large catalogs: ranking sees a few hundred candidates instead of a million);
 *  - `rows`: the scores of given rows (search reranks the shop's candidates).
 *
 * Two storages of the matrix:
 *  - `float32` on a GPU backend: a TF.js tensor on the device (transposed, [d, rows], split into
 *    column chunks), scored with matMul + on-device top-k per chunk, merged on the CPU. Plus a
 *    float32 copy in JS for diversity vectors and rescoring.
 *  - `float32` on a CPU backend (wasm, cpu): one copy in blocks of 16 rows in the memory of the
 *    float32 WebAssembly SIMD kernel (src/kernels/f32.wat, `scoreBlocked`; plain JS without SIMD),
 *    scored in one sequential pass with a partial top-k; no tensor, no TF.js op per call.
 *  - `int8`: symmetric per-row int8 quantisation (value = int8 * rowScale) in JS memory, a quarter
 *    of the bytes; scored chunk by chunk by a WebAssembly SIMD kernel (src/kernels/dot-i8.wat; plain
 *    JS where SIMD is missing) against an int16-quantised query, with a partial top-k (a min-heap)
 *    per query, so no full score vector is ever kept.
 * `auto` picks float32 up to AUTO_INT8_MIN_ROWS rows and int8 above.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidOptionsError, InvalidRequestError } from '../contract/errors.js';
import { isCpuBackend } from '../contract/protocol.js';
import { DOT_I8_WASM_BASE64 } from '../kernels/dot-i8.wasm.js';
import { blockedIndex, blockRows, createF32Kernel, F32Layout, type F32Kernel } from '../kernels/f32.js';
import { decodeBase64 } from '../util/base64.js';
import { quantizeInt8, type Int8Rows } from './int8.js';
import { kthLargest, selectTop, TopK } from './topk.js';

export type EmbeddingDtype = 'float32' | 'int8';
export type EmbeddingDtypeOption = EmbeddingDtype | 'auto';

/** Catalogs with at least this many rows are stored as int8 under `auto`. */
export const AUTO_INT8_MIN_ROWS = 200_000;

/** Unit rows (diversity) are kept once computed for matrices up to this many rows. */
export const UNIT_CACHE_MAX_ROWS = 65_536;
/** Rows per scoring chunk (bounds the temporary score buffer and each matMul). */
export const DEFAULT_CHUNK_ROWS = 131_072;

export type ScoreRequest =
  | { kind: 'all' }
  | { kind: 'top'; n: number }
  | { kind: 'rows'; rows: ArrayLike<number> };

export interface ScoreResult {
  /**
   * The catalog rows scored, or null for every row in order (`all`). `top`: the best rows, best first
   * or (float32 on a CPU backend) in row order; either way ties are broken towards the lower row.
   */
  rows: Int32Array | null;
  /** One array per query, aligned with `rows` (or with every row). */
  scores: Float32Array[];
}

export interface CatalogMatrixInfo {
  dtype: EmbeddingDtype;
  /** How float32 rows are scored: TF.js matMul on the device, or the blocked float32 kernel (CPU backends). */
  kernel?: 'tfjs' | 'f32-simd' | 'f32-simd+i8-prefilter' | 'f32-js';
  rows: number;
  dim: number;
  /** Bytes held for the matrix (device tensor + JS copies). */
  bytes: number;
  chunkRows: number;
  /** True when the int8 kernel runs in WebAssembly SIMD (false: plain JS). */
  simd?: boolean;
}


// ---------------------------------------------------------------------------------------------
// the int8 kernel

interface Kernel {
  memory: WebAssembly.Memory;
  dotI8: (mat: number, n: number, d: number, q: number, scales: number, qscale: number, out: number) => void;
}

let kernelPromise: Promise<Kernel | null> | undefined;

/** The WebAssembly SIMD kernel, or null where SIMD (or WebAssembly) is missing. */
function loadKernel(): Promise<Kernel | null> {
  kernelPromise ??= (async () => {
    try {
      if (typeof WebAssembly === 'undefined') return null;
      const bytes = decodeBase64(DOT_I8_WASM_BASE64);
      if (!WebAssembly.validate(bytes)) return null;
      const { instance } = await WebAssembly.instantiate(bytes);
      return instance.exports as unknown as Kernel;
    } catch {
      return null;
    }
  })();
  return kernelPromise;
}

/** Byte layout in the kernel's memory: [matrix int8][scales f32][query i16][out f32]. */
const align = (x: number, a = 16) => Math.ceil(x / a) * a;

// ---------------------------------------------------------------------------------------------
// the matrix

export interface CatalogMatrixOptions {
  dtype?: EmbeddingDtypeOption;
  chunkRows?: number;
  /**
   * float32 scoring: 'tfjs' (matMul on the active backend) or 'f32' (the blocked float32 kernel);
   * default 'f32' on the CPU backends (wasm, cpu), 'tfjs' on the GPU ones. `f32Js` forces its plain-JS twin.
   */
  float32Kernel?: 'tfjs' | 'f32';
  f32Js?: boolean;
  /** The int8 prefilter of exact top-n scoring (Prefilter; default on where it applies). */
  prefilter?: boolean;
}

/** float32 rows in the blocked layout of the f32 kernel, with its scratch. */
/**
 * float32 rows in the f32 kernel's memory: blocks of 16 rows (scoreBlocked), or row-major when the
 * int8 prefilter serves top-n requests (its exact rescoring reads whole rows: dotRows).
 */
interface Blocked { k: F32Kernel; m: number; q: number; out: number; nb: number; view: Float32Array; pre: Prefilter | null; rowMajor: boolean }

/**
 * Exact top-n of a float32 matrix in two passes (CPU backends with WebAssembly SIMD, even d): an
 * int8 copy (per-row scale) is scored first, with a per-row bound on its error, then only the rows
 * that can still be in the top n are scored exactly in float32. The bound, for query q (quantised to
 * int16 with step qscale) and row x (int8 with step s_r):
 *   |approx - exact| <= s_r/2 · Σ|q̃_k| + qscale/2 · Σ|x_k| + 1e-5 · max|q| · Σ|x_k|
 * (quantisation of the row, of the query, and float32 rounding of both sums, with room to spare).
 * Every row whose upper bound reaches the n-th largest lower bound is rescored; no row of the exact
 * top n can be left out, and the rescoring is the arithmetic of this matrix's full float32 pass
 * (dotRows), so the result (rows and scores) is what that pass alone gives. The kernel also lists the rows above a threshold
 * guessed from the previous call (`hint`); a wrong guess only costs a slower pass over every row.
 */
interface Prefilter {
  m8: number; scales: number; x1: number; qp: number; lo: number; hi: number; idx: number; sc: number;
  dp: number; cap: number; hint: Map<number, number>;
  /** Calls served from the guessed threshold's list, and calls that needed the pass over every row. */
  stats: { listed: number; everyRow: number };
  /** Bytes of the int8 copy, scales and row norms. */
  bytes: number;
}

/** The prefilter keeps candidate lists up to this many rows (top-n requests up to half of it). */
const PREFILTER_CAP = 4096;

function buildPrefilter(k: F32Kernel, values: Float32Array, rows: number, dim: number, nb: number, at: Omit<Prefilter, 'hint' | 'bytes' | 'dp' | 'cap' | 'stats'>): Prefilter {
  const dp = dim / 2;
  const m8 = new Int8Array(k.buffer, at.m8, nb * 16 * dim);
  const scales = new Float32Array(k.buffer, at.scales, nb * 16);
  const x1 = new Float32Array(k.buffer, at.x1, nb * 16);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let max = 0;
    let sum = 0;
    for (let j = 0; j < dim; j++) { const a = Math.abs(values[o + j]); if (a > max) max = a; sum += a; }
    const scale = max > 0 ? max / 127 : 1;
    scales[r] = scale;
    x1[r] = sum * (1 + 1e-6); // rounded up: it is a bound
    const base = (r >> 4) * dp * 32 + (r & 15) * 2;
    for (let j = 0; j < dim; j++) m8[base + (j >> 1) * 32 + (j & 1)] = Math.max(-127, Math.min(127, Math.round(values[o + j] / scale)));
  }
  return { ...at, dp, cap: PREFILTER_CAP, hint: new Map(), bytes: nb * 16 * (dim + 8), stats: { listed: 0, everyRow: 0 } };
}

/** The storage `auto` (or an explicit choice) means for a matrix of `rows` rows. */
export function resolveEmbeddingDtype(option: EmbeddingDtypeOption, rows: number): EmbeddingDtype {
  return option === 'auto' ? (rows >= AUTO_INT8_MIN_ROWS ? 'int8' : 'float32') : option;
}

function checkQueries(queries: Float32Array, dim: number): number {
  if (queries.length === 0 || queries.length % dim !== 0) {
    throw new InvalidRequestError(`scoring: ${queries.length} query values is not a whole number of ${dim}-dim vectors.`);
  }
  return queries.length / dim;
}

/**
 * The catalog's item vectors, ready to score. Create with `CatalogMatrix.create`; `dispose()`
 * releases the device tensors (the JS arrays go with the object).
 */
export class CatalogMatrix {
  private constructor(
    readonly dtype: EmbeddingDtype,
    readonly rows: number,
    readonly dim: number,
    readonly chunkRows: number,
    /** float32: [d, chunk] tensors; int8: none. */
    private readonly chunksT: tf.Tensor2D[],
    /** float32: the rows in JS, row-major. */
    private readonly f32: Float32Array | null,
    /** int8: the rows quantised. */
    private readonly i8: Int8Rows | null,
    private readonly kernel: Kernel | null,
    /** Byte offsets in the kernel memory (int8 with kernel). */
    private readonly layout: { mat: number; scales: number; q: number; out: number } | null,
    /** float32 on a CPU backend: the blocked rows in the f32 kernel's memory. */
    private readonly blocked: Blocked | null = null,
  ) {}

  /**
   * Builds the matrix from the row-major item vectors `[rows, dim]`. `precomputed` (a cached int8
   * matrix) skips the quantisation.
   */
  static async create(values: Float32Array | null, rows: number, dim: number, options: CatalogMatrixOptions = {}, precomputed?: Int8Rows): Promise<CatalogMatrix> {
    const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new InvalidOptionsError(`chunkRows must be a positive integer (got ${chunkRows}).`, { field: 'chunkRows' });
    const wanted = options.dtype ?? 'auto';
    if (wanted !== 'auto' && wanted !== 'float32' && wanted !== 'int8') {
      throw new InvalidOptionsError(`embeddingDtype must be 'auto', 'float32' or 'int8' (got ${String(wanted)}).`, { field: 'embeddingDtype' });
    }
    const dtype: EmbeddingDtype = precomputed ? 'int8' : resolveEmbeddingDtype(wanted, rows);
    if (dtype === 'float32') {
      if (!values) throw new InvalidOptionsError('CatalogMatrix: float32 storage needs the values.');
      if ((options.float32Kernel ?? (isCpuBackend(tf.getBackend()) ? 'f32' : 'tfjs')) === 'f32') {
        const k = createF32Kernel({ forceJs: options.f32Js });
        const nb = Math.ceil(rows / 16);
        const lay = new F32Layout();
        const m = lay.take(nb * 16 * dim);
        const q = lay.take(dim);
        const out = lay.take(nb * 16);
        const withPre = k.prefilterI8 !== undefined && dim % 4 === 0 && options.prefilter !== false && rows > 2 * PREFILTER_CAP;
        const preAt = withPre ? {
          m8: lay.take(nb * 4 * dim), scales: lay.take(nb * 16), x1: lay.take(nb * 16), qp: lay.take(dim / 2),
          lo: lay.take(nb * 16), hi: lay.take(nb * 16), idx: lay.take(PREFILTER_CAP), sc: lay.take(PREFILTER_CAP),
        } : null;
        k.reserve(lay.bytes);
        const view = new Float32Array(k.buffer, m, withPre ? rows * dim : nb * 16 * dim);
        if (withPre) view.set(values.subarray(0, rows * dim));
        else blockRows(values, rows, dim, view);
        const pre = preAt ? buildPrefilter(k, values, rows, dim, nb, preAt) : null;
        return new CatalogMatrix('float32', rows, dim, chunkRows, [], null, null, null, null, { k, m, q, out, nb, view, pre, rowMajor: withPre });
      }
      const chunks: tf.Tensor2D[] = [];
      try {
        for (let start = 0; start < rows; start += chunkRows) {
          const n = Math.min(chunkRows, rows - start);
          chunks.push(tf.tidy(() => tf.tensor2d(values.subarray(start * dim, (start + n) * dim), [n, dim]).transpose() as tf.Tensor2D));
        }
      } catch (e) {
        tf.dispose(chunks);
        throw e;
      }
      return new CatalogMatrix('float32', rows, dim, chunkRows, chunks, values, null, null, null);
    }
    const q = precomputed ?? quantizeInt8(values!, rows, dim);
    const kernel = dim % 16 === 0 ? await loadKernel() : null;
    let layout: CatalogMatrix['layout'] = null;
    if (kernel) {
      const mat = 0;
      const scales = align(rows * dim);
      const qOff = align(scales + rows * 4);
      const out = align(qOff + dim * 2);
      const need = out + Math.min(chunkRows, rows) * 4;
      // Each matrix gets its own kernel instance (its own memory).
      const own = (await WebAssembly.instantiate(decodeBase64(DOT_I8_WASM_BASE64))).instance.exports as unknown as Kernel;
      const pages = Math.ceil(need / 65536) - own.memory.buffer.byteLength / 65536;
      if (pages > 0) own.memory.grow(pages);
      // The rows live in the kernel's memory only (views; the memory never grows after this).
      const data = new Int8Array(own.memory.buffer, mat, rows * dim);
      data.set(q.data);
      const sc = new Float32Array(own.memory.buffer, scales, rows);
      sc.set(q.scales);
      layout = { mat, scales, q: qOff, out };
      return new CatalogMatrix('int8', rows, dim, chunkRows, [], null, { data, scales: sc, rows, dim }, own, layout);
    }
    return new CatalogMatrix('int8', rows, dim, chunkRows, [], null, q, null, null);
  }

  info(): CatalogMatrixInfo {
    const bytes = this.blocked ? this.blocked.view.byteLength + (this.blocked.pre?.bytes ?? 0) // one blocked copy (+ the int8 prefilter)
      : this.dtype === 'float32' ? this.rows * this.dim * 4 * 2 // device tensor + JS copy
        : this.rows * (this.dim + 4); // int8 rows + row scales (in the kernel's memory when it runs)
    const out: CatalogMatrixInfo = { dtype: this.dtype, rows: this.rows, dim: this.dim, bytes, chunkRows: this.chunkRows };
    if (this.dtype === 'float32') out.kernel = this.blocked ? (this.blocked.k.simd ? (this.blocked.pre ? 'f32-simd+i8-prefilter' : 'f32-simd') : 'f32-js') : 'tfjs';
    if (this.dtype === 'int8') out.simd = this.kernel !== null;
    return out;
  }

  /** The int8 matrix (to cache it), or null for float32 storage. */
  int8(): Int8Rows | null {
    return this.i8;
  }

  /** Unit rows computed so far (matrices up to UNIT_CACHE_MAX_ROWS rows). */
  private unitCache: Array<Float32Array | undefined> | null = null;

  /** Unit-length vector of a row (diversity), computed on demand (and kept, for small matrices). */
  unitRow(r: number): Float32Array {
    if (this.rows <= UNIT_CACHE_MAX_ROWS) {
      this.unitCache ??= new Array(this.rows);
      return (this.unitCache[r] ??= this.computeUnitRow(r));
    }
    return this.computeUnitRow(r);
  }

  private computeUnitRow(r: number): Float32Array {
    const d = this.dim;
    const v = new Float32Array(d);
    if (this.f32) v.set(this.f32.subarray(r * d, (r + 1) * d));
    else if (this.blocked?.rowMajor) v.set(this.blocked.view.subarray(r * d, (r + 1) * d));
    else if (this.blocked) for (let k = 0; k < d; k++) v[k] = this.blocked.view[blockedIndex(r, k, d)];
    else for (let k = 0; k < d; k++) v[k] = this.i8!.data[r * d + k]; // the row scale cancels
    let norm = 0;
    for (let k = 0; k < d; k++) norm += v[k] * v[k];
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < d; k++) v[k] /= norm;
    return v;
  }

  /** Score of one row for one query (q: offset of the query in `queries`). */
  private dot(queries: Float32Array, qo: number, r: number): number {
    const d = this.dim;
    let s = 0;
    if (this.f32) {
      const o = r * d;
      for (let k = 0; k < d; k++) s += queries[qo + k] * this.f32[o + k];
      return s;
    }
    if (this.blocked) {
      const v = this.blocked.view;
      const base = this.blocked.rowMajor ? r * d : blockedIndex(r, 0, d);
      const step = this.blocked.rowMajor ? 1 : 16;
      for (let k = 0; k < d; k++) s += queries[qo + k] * v[base + k * step];
      return s;
    }
    const { data, scales } = this.i8!;
    const o = r * d;
    for (let k = 0; k < d; k++) s += queries[qo + k] * data[o + k];
    return s * scales[r];
  }

  /**
   * Scores queries ([q, dim] row-major, or a tensor of that shape) against the catalog.
   * Leaves no tensors behind.
   */
  async score(queriesIn: Float32Array | tf.Tensor, request: ScoreRequest): Promise<ScoreResult> {
    const d = this.dim;
    if (request.kind === 'top' && (!Number.isInteger(request.n) || request.n < 1)) {
      throw new InvalidRequestError(`scoring: top n must be a positive integer (got ${request.n}).`);
    }
    if (request.kind === 'rows') {
      const queries = queriesIn instanceof tf.Tensor ? (await queriesIn.data()) as Float32Array : queriesIn;
      const nq = checkQueries(queries, d);
      const rows = Int32Array.from(request.rows);
      for (const r of rows) if (!(r >= 0 && r < this.rows)) throw new InvalidRequestError(`scoring: row ${r} is outside 0..${this.rows - 1}.`);
      const scores = Array.from({ length: nq }, (_, qi) => {
        const out = new Float32Array(rows.length);
        for (let j = 0; j < rows.length; j++) out[j] = this.dot(queries, qi * d, rows[j]);
        return out;
      });
      return { rows, scores };
    }
    if (this.blocked) {
      const queries = queriesIn instanceof tf.Tensor ? (await queriesIn.data()) as Float32Array : queriesIn;
      return this.scoreBlocked(queries, request);
    }
    if (this.dtype === 'float32') return this.scoreFloat32(queriesIn, request);
    const queries = queriesIn instanceof tf.Tensor ? (await queriesIn.data()) as Float32Array : queriesIn;
    return this.scoreInt8(queries, request);
  }

  private async scoreFloat32(queriesIn: Float32Array | tf.Tensor, request: ScoreRequest): Promise<ScoreResult> {
    const d = this.dim;
    const qT = tf.tidy(() => (queriesIn instanceof tf.Tensor ? queriesIn : tf.tensor1d(queriesIn)).reshape([-1, d]) as tf.Tensor2D);
    const nq = qT.shape[0];
    try {
      if (request.kind === 'all') {
        const s = tf.tidy(() => (this.chunksT.length === 1 ? tf.matMul(qT, this.chunksT[0]) : tf.concat(this.chunksT.map((c) => tf.matMul(qT, c)), 1)));
        try {
          const flat = (await s.data()) as Float32Array;
          return { rows: null, scores: Array.from({ length: nq }, (_, i) => flat.slice(i * this.rows, (i + 1) * this.rows)) };
        } finally {
          s.dispose();
        }
      }
      const n = Math.min((request as { n: number }).n, this.rows);
      if (isCpuBackend(tf.getBackend())) {
        // Scores already live in CPU memory: read each chunk's and keep a partial top-k here.
        const tops = Array.from({ length: nq }, () => new TopK(n));
        for (let ci = 0; ci < this.chunksT.length; ci++) {
          const s = tf.matMul(qT, this.chunksT[ci]);
          let flat: Float32Array;
          try { flat = (await s.data()) as Float32Array; } finally { s.dispose(); }
          const cols = this.chunksT[ci].shape[1];
          for (let qi = 0; qi < nq; qi++) tops[qi].pushAll(flat.subarray(qi * cols, (qi + 1) * cols), cols, ci * this.chunkRows);
        }
        return this.rescored(tops, await qT.data() as Float32Array);
      }
      // GPU: per chunk, matMul and top-k on the device (small read-backs); the chunks are merged here.
      const parts = this.chunksT.map((c, ci) => tf.tidy(() => {
        const { values, indices } = tf.topk(tf.matMul(qT, c), Math.min(n, c.shape[1]));
        return { values, indices, offset: ci * this.chunkRows };
      }));
      let data: Array<{ v: Float32Array; i: Int32Array; k: number; offset: number }>;
      try {
        data = await Promise.all(parts.map(async (p) => ({
          v: (await p.values.data()) as Float32Array, i: (await p.indices.data()) as Int32Array, k: p.values.shape[1]!, offset: p.offset,
        })));
      } finally {
        for (const p of parts) { p.values.dispose(); p.indices.dispose(); }
      }
      const tops = Array.from({ length: nq }, (_, qi) => {
        const top = new TopK(n);
        for (const p of data) for (let j = 0; j < p.k; j++) top.push(p.v[qi * p.k + j], p.offset + p.i[qi * p.k + j]);
        return top;
      });
      return this.rescored(tops, (await qT.data()) as Float32Array);
    } finally {
      if (qT !== queriesIn) qT.dispose();
    }
  }

  /** float32 on a CPU backend: one pass of the blocked kernel per query, then `all` or a partial top-k. */
  private scoreBlocked(queries: Float32Array, request: ScoreRequest): ScoreResult {
    const d = this.dim;
    const nq = checkQueries(queries, d);
    const { k, m, q, out, nb } = this.blocked!;
    const all = request.kind === 'all';
    const n = all ? this.rows : Math.min((request as { n: number }).n, this.rows);
    const full: Float32Array[] = [];
    const tops: TopK[] = [];
    const fullPass = () => (this.blocked!.rowMajor ? k.dotRows!(m, d, q, 0, this.rows, out, 1) : k.scoreBlocked(m, nb, d, q, out));
    for (let qi = 0; qi < nq; qi++) {
      new Float32Array(k.buffer, q, d).set(queries.subarray(qi * d, (qi + 1) * d));
      if (all || nq > 1) fullPass();
      const scores = new Float32Array(k.buffer, out, this.rows);
      if (all) full.push(scores.slice());
      else if (nq === 1) {
        const pre = this.blocked!.pre;
        if (pre && n <= pre.cap / 2) {
          const top = this.prefilteredTop(queries, n);
          if (top) return top;
        }
        fullPass();
        const top = selectTop(scores, this.rows, n);
        return { rows: top.rows, scores: [top.scores] };
      }
      else {
        const top = new TopK(n);
        top.pushAll(scores, this.rows, 0);
        tops.push(top);
      }
    }
    return all ? { rows: null, scores: full } : this.rescored(tops, queries);
  }

  /** The exact top n of one query through the int8 prefilter (see Prefilter), or null to use the full pass. */
  private prefilteredTop(query: Float32Array, n: number): ScoreResult | null {
    const { k, m, q, nb } = this.blocked!;
    const P = this.blocked!.pre!;
    const d = this.dim;
    const R = this.rows;
    new Float32Array(k.buffer, q, d).set(query.subarray(0, d));
    let qinf = 0;
    for (let j = 0; j < d; j++) qinf = Math.max(qinf, Math.abs(query[j]));
    const qmax = Math.min(32767, Math.floor(2 ** 31 / (128 * d)));
    const qscale = qinf > 0 ? qinf / qmax : 1;
    const qi = new Int16Array(k.buffer, P.qp, d);
    let q1 = 0;
    for (let j = 0; j < d; j++) {
      const v = Math.max(-qmax, Math.min(qmax, Math.round(query[j] / qscale)));
      qi[j] = v;
      q1 += Math.abs(v) * qscale;
    }
    const q1half = 0.5 * q1 * (1 + 1e-6);
    const cx = 0.5 * qscale + 1e-5 * qinf;
    const hint = P.hint.get(n) ?? Infinity;
    const count = k.prefilterI8!(P.m8, nb, P.dp, P.qp, P.scales, P.x1, qscale, q1half, cx, P.lo, P.hi, hint, P.idx, P.cap);
    const lo = new Float32Array(k.buffer, P.lo, R);
    const hi = new Float32Array(k.buffer, P.hi, R);
    const idx = new Int32Array(k.buffer, P.idx, P.cap);
    // L: the n-th largest lower bound. From the listed rows when the hint was low enough to list
    // n rows whose lower bound reaches it (every row with lo >= L has hi >= lo >= hint: listed);
    // else from every row.
    let L: number;
    let listed = count <= P.cap ? count : -1;
    if (listed >= 0) {
      const los = new Float64Array(listed);
      let reach = 0;
      for (let i = 0; i < listed; i++) { const r = idx[i]; los[i] = r < R ? lo[r] : -Infinity; if (los[i] >= hint) reach++; }
      if (reach >= n) L = kthLargest(los, n);
      else listed = -1;
    }
    if (listed < 0) {
      const top = selectTop(lo, R, n);
      L = Infinity;
      for (let i = 0; i < top.scores.length; i++) if (top.scores[i] < L) L = top.scores[i];
    }
    if (listed >= 0) P.stats.listed++; else P.stats.everyRow++;
    // Candidates: rows whose upper bound reaches L, in row order.
    let c = 0;
    if (listed >= 0) {
      for (let i = 0; i < listed; i++) { const r = idx[i]; if (r < R && hi[r] >= L!) idx[c++] = r; }
    } else {
      for (let r = 0; r < R; r++) {
        if (hi[r] >= L!) { if (c === P.cap) return null; idx[c++] = r; }
      }
    }
    // Next call's guess: a little below this L (a lower guess lists more rows; a higher one than the
    // next L falls back to the pass over every row).
    P.hint.set(n, L! - 0.1 * Math.abs(L!) - 1e-6);
    k.dotRows!(m, d, q, P.idx, c, P.sc, 0);
    const exact = new Float32Array(k.buffer, P.sc, c);
    const top = selectTop(exact, c, n);
    const rows = new Int32Array(top.rows.length);
    for (let i = 0; i < rows.length; i++) rows[i] = idx[top.rows[i]];
    return { rows, scores: [top.scores] };
  }

  private scoreInt8(queries: Float32Array, request: ScoreRequest): ScoreResult {
    const d = this.dim;
    const nq = checkQueries(queries, d);
    const all = request.kind === 'all';
    const n = all ? this.rows : Math.min((request as { n: number }).n, this.rows);
    const full = all ? Array.from({ length: nq }, () => new Float32Array(this.rows)) : [];
    const tops = all ? [] : Array.from({ length: nq }, () => new TopK(n));
    const k = this.kernel;
    const L = this.layout;
    const tmp = k ? null : new Float32Array(Math.min(this.chunkRows, this.rows));
    for (let qi = 0; qi < nq; qi++) {
      // The query in int16: scale = max|q| / 32767 (the loss is the matrix's int8, not the query's).
      let qmax = 0;
      for (let j = 0; j < d; j++) qmax = Math.max(qmax, Math.abs(queries[qi * d + j]));
      const qscale = qmax > 0 ? qmax / 32767 : 1;
      if (k && L) new Int16Array(k.memory.buffer, L.q, d).set(Array.from({ length: d }, (_, j) => Math.round(queries[qi * d + j] / qscale)));
      for (let start = 0; start < this.rows; start += this.chunkRows) {
        const len = Math.min(this.chunkRows, this.rows - start);
        let out: Float32Array;
        if (k && L) {
          k.dotI8(L.mat + start * d, len, d, L.q, L.scales + start * 4, qscale, L.out);
          out = new Float32Array(k.memory.buffer, L.out, len);
        } else {
          out = tmp!.subarray(0, len);
          for (let r = 0; r < len; r++) out[r] = this.dot(queries, qi * d, start + r);
        }
        if (all) full[qi].set(out, start);
        else tops[qi].pushAll(out, len, start);
      }
    }
    if (all) return { rows: null, scores: full };
    return this.rescored(tops, queries);
  }

  /** The union of each query's top rows (best first, query by query), with every query's score on them. */
  private rescored(tops: TopK[], queries: Float32Array): ScoreResult {
    const d = this.dim;
    if (tops.length === 1) {
      const rows = tops[0].sortedIndices();
      return { rows, scores: [Float32Array.from(rows, (r) => this.dot(queries, 0, r))] };
    }
    const union = new Set<number>();
    for (const t of tops) for (const r of t.sortedIndices()) union.add(r);
    const rows = Int32Array.from(union);
    return { rows, scores: tops.map((_, qi) => Float32Array.from(rows, (r) => this.dot(queries, qi * d, r))) };
  }

  dispose(): void {
    tf.dispose(this.chunksT);
    this.chunksT.length = 0;
  }
}
