/**
 * float32 storage for CPU backends (wasm, cpu): one copy of the rows in the memory of the float32
 * WebAssembly SIMD kernel (src/kernels/f32.wat; plain JS without SIMD), in blocks of 16 rows
 * (`scoreBlocked`), scored in one sequential pass with a partial top-k; no tensor, no TF.js op per
 * call. Where the kernel has SIMD and the catalog is large, top-n requests go through an exact
 * prefilter, 4-bit where WebAssembly relaxed SIMD runs (see U4Prefilter), else int8 (see Prefilter),
 * and the rows are kept row-major for its rescoring (`dotRows`).
 * The prefilter is only a speed-up (its lists are the full pass's), so it is built in the background
 * after the rows are copied, in slices between which the event loop runs (a worker keeps answering
 * its liveness pings); until it is ready, top-n requests take the full float32 pass.
 */
import type { Tensor } from '@tensorflow/tfjs';
import { blockedIndex, blockRows, createF32Kernel, f32SimdAvailable, F32Layout, type F32Kernel } from '../kernels/f32.js';
import type { HostItemTable } from '../model/item-table.js';
import { yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';
import { checkQueries, MatrixBase, queryValues, type BulkRequest } from './matrix-base.js';
import type { CatalogMatrixInfo, ScoreResult } from './matrix.js';
import { kthLargest, selectTop, TopK } from './topk.js';

/**
 * Exact top-n of a float32 matrix in two passes (CPU backends with WebAssembly SIMD, even d): an
 * int8 copy (per-row scale) is scored first, with a per-row bound on its error, then only the rows
 * that can still be in the top n are scored exactly in float32. The bound, for query q (quantised to
 * int16 with step qscale) and row x (int8 with step s_r):
 *   |approx - exact| <= s_r/2 · Σ|q̃_k| + qscale/2 · Σ|x_k| + 1e-5 · max|q| · Σ|x_k|
 * (quantisation of the row, of the query, and float32 rounding of both sums, with room to spare).
 * Every row whose upper bound reaches the n-th largest lower bound is rescored; no row of the exact
 * top n can be left out, and the rescoring is the arithmetic of this matrix's full float32 pass
 * (dotRows), so the result (rows and scores) is what that pass alone gives.
 *
 * The kernel also lists the rows whose upper bound reaches a threshold, so that the n-th lower bound
 * is found among a few thousand rows instead of all of them. The threshold is estimated per query
 * (nothing carried from one call to the next, so alternating shoppers cost the same as one): the
 * kernel first bounds a sample of blocks spread over the matrix, and the threshold is the sample's
 * lower bound that about `PREFILTER_REACH_FACTOR · n` rows of the whole matrix reach. A poor
 * estimate only costs the slower selection over every row's lower bound (`stats.everyRow`).
 */
interface Prefilter {
  m8: number; scales: number; x1: number; qp: number; lo: number; hi: number; idx: number; sc: number;
  /** The sample blocks' copy, contiguous (their int8 rows, scales, norms, and their bounds): one kernel call bounds them all. */
  s8: number; sScales: number; sX1: number; sLo: number; sHi: number;
  dp: number; cap: number;
  /** Scratch of the calls (the sample's lower bounds, then the listed rows'), kept to spare an allocation per call. */
  scratch: Float64Array;
  /** Blocks bounded first to estimate the threshold (spread evenly over the matrix). */
  sampleBlocks: Int32Array;
  /** Calls served from the threshold's list, and calls that needed the selection over every row. */
  stats: PrefilterStats;
  /** Bytes of the int8 copy, scales, row norms and bounds. */
  bytes: number;
}

export interface PrefilterStats {
  listed: number; everyRow: number;
  /** 4-bit prefilter: rows its kernel listed, and rows scored exactly, summed over its calls. */
  listedRows?: number; rescoredRows?: number;
}

/**
 * Exact top-n of a float32 matrix through a 4-bit copy (WebAssembly relaxed SIMD, d a multiple of
 * 32): half the bytes of the int8 copy a call reads, at the cost of a looser bound. Row r is stored
 * as x̃ (nibbles, per-row step s_r = max|x|/7) with its residual δ = x - s_r·x̃; the query as int8
 * q̃ with step qs. For the approximation A = qs·s_r·(q̃·x̃):
 *   |A - exact| <= ||q||_2 · ||δ||_2 + (qs/2 + 1e-5 · max|q|) · x1_r,   x1_r >= Σ|s_r·x̃| + Σ|δ| >= Σ|x|
 * (Cauchy–Schwarz for the row's residual, the query's rounding against the stored row, and float32
 * rounding of both sums, with room to spare). One call:
 *  1. the kernel lists the rows whose upper bound A + b reaches a threshold t (estimated per query
 *     from a sample of blocks: an exact score that somewhat more than n rows of the matrix reach,
 *     scaled from the sample), with A and A + b;
 *  2. the PREFILTER_U4_PROBE · n listed rows of largest A are scored exactly: the n-th largest of
 *     those scores, L, is at most the n-th largest exact score of the matrix (any rows give such a
 *     bound);
 *  3. when L >= t, every row that can reach L (upper bound >= L) was listed: those are scored
 *     exactly (in row order, so ties go to the lower row as in the full pass) and the top n of them
 *     is the full float32 pass's, rows and scores. Else (t above L, or a list cut at its cap: L from
 *     the rows it holds) the kernel runs again with t = L, and if that list is cut too (or holds
 *     fewer than n rows), the call takes the full pass. `stats.everyRow` counts the calls that
 *     needed the second run or the full pass.
 */
interface U4Prefilter {
  m4: number; scales: number; x1: number; e2: number; q8: number; idx: number; ap: number; up: number; sc: number; tmp: number;
  /** The sample blocks' copy, contiguous (their 4-bit rows, scales, norms): one kernel call bounds them all. */
  s4: number; sScales: number; sX1: number; sE2: number;
  cap: number;
  sampleBlocks: Int32Array;
  stats: PrefilterStats;
  /** Bytes of the 4-bit copy, scales, norms and lists. */
  bytes: number;
}

/** The 4-bit prefilter keeps lists up to this many rows. */
const PREFILTER_U4_CAP = 65_536;
/** Listed rows of largest approximation scored exactly for L, per row of the request (more: a higher L, fewer rows rescored). */
const PREFILTER_U4_PROBE = 2;
/** Its threshold is the sample's K-th largest exact score, K = (the sample's share of n) + this. */
const PREFILTER_U4_SAMPLE_MARGIN = 2;

type U4PrefilterAt = Omit<U4Prefilter, 'bytes' | 'cap' | 'stats' | 'sampleBlocks'>;

/** Bytes the 4-bit prefilter of nb blocks of d columns holds. */
const u4Bytes = (nb: number, d: number) => (nb + prefilterSampleBlocks(nb).length) * 16 * (d / 2 + 12) + Math.min(PREFILTER_U4_CAP, nb * 16) * 16 + d;

/** The 4-bit copy, quantised in slices between which the event loop runs (as buildPrefilter). */
async function buildU4Prefilter(k: F32Kernel, m: number, rows: number, dim: number, nb: number, at: U4PrefilterAt, stopped: () => boolean): Promise<U4Prefilter | null> {
  for (let r0 = 0; r0 < rows; r0 += QUANTIZE_SLICE_ROWS) {
    await yieldToEventLoop();
    if (stopped()) return null;
    k.quantizeRowsU4!(m + r0 * dim * 4, Math.min(QUANTIZE_SLICE_ROWS, rows - r0), dim, at.m4 + (r0 / 16) * 8 * dim, at.scales + r0 * 4, at.x1 + r0 * 4, at.e2 + r0 * 4);
  }
  const sampleBlocks = prefilterSampleBlocks(nb);
  const bytes = new Uint8Array(k.buffer);
  sampleBlocks.forEach((b, i) => {
    bytes.copyWithin(at.s4 + i * 8 * dim, at.m4 + b * 8 * dim, at.m4 + (b + 1) * 8 * dim);
    for (const [to, from] of [[at.sScales, at.scales], [at.sX1, at.x1], [at.sE2, at.e2]]) bytes.copyWithin(to + i * 64, from + b * 64, from + (b + 1) * 64);
  });
  return { ...at, cap: Math.min(PREFILTER_U4_CAP, nb * 16), sampleBlocks, bytes: u4Bytes(nb, dim), stats: { listed: 0, everyRow: 0, listedRows: 0, rescoredRows: 0 } };
}

/** The prefilter keeps candidate lists up to this many rows. */
const PREFILTER_CAP = 16_384;
/** It serves top-n requests up to this n, on matrices above PREFILTER_MIN_ROWS rows. */
const PREFILTER_MAX_N = 2048;
const PREFILTER_MIN_ROWS = 8192;
/**
 * 'auto' takes the 4-bit prefilter only on matrices of at least this many rows: below it the
 * 4-bit bound is too loose for the int8 prefilter's cost to be beaten (its second run or the
 * rescoring of many listed rows costs more than the int8 pass saves; measured in docs/benchmarks.md).
 */
export const PREFILTER_U4_MIN_ROWS = 500_000;
/** Rows the threshold sample bounds: at most this many, and at most an eighth of the matrix. */
const PREFILTER_SAMPLE_ROWS = 8192;
/** The estimated threshold aims at this many times n rows reaching it (more: safer, longer lists). */
const PREFILTER_REACH_FACTOR = 2.5;
/**
 * A tighter factor where the sample itself holds at least PREFILTER_SAMPLE_SURE_COUNT rows above the
 * threshold at that factor (a sample that large misjudges the share by far less than the margin left):
 * fewer rows listed, and the listed rows' bounds and rescoring cost less.
 */
const PREFILTER_REACH_FACTOR_TIGHT = 1.5;
const PREFILTER_SAMPLE_SURE_COUNT = 64;

/** The blocks (of 16 rows) the threshold sample of a matrix of `nb` blocks bounds: evenly spread. */
export function prefilterSampleBlocks(nb: number): Int32Array {
  const sb = Math.max(1, Math.min(Math.floor(PREFILTER_SAMPLE_ROWS / 16), Math.floor(nb / 8)));
  return Int32Array.from({ length: sb }, (_, i) => Math.floor(((i + 0.5) * nb) / sb));
}

/**
 * Rows quantised per slice of the background build: a multiple of 16 (the kernel's blocks), and
 * short, since a request that arrives meanwhile waits for the slice in progress.
 */
const QUANTIZE_SLICE_ROWS = 16_384;

type PrefilterAt = Omit<Prefilter, 'bytes' | 'dp' | 'cap' | 'stats' | 'sampleBlocks' | 'scratch'>;

/**
 * Quantises the rows (at byte offset `m`, row-major) into the prefilter's int8 copy, one slice of
 * QUANTIZE_SLICE_ROWS rows at a time with a yield between slices, and returns the prefilter, or
 * null when `stopped()` turned true meanwhile. A slice starting at row r0 (a multiple of 16) reads
 * the rows from m + r0·d·4, writes its blocks from m8 + (r0/16)·16·d and its scales and norms from
 * r0·4 bytes on: what one call over every row writes (src/kernels/f32.wat quantizeRows).
 */
async function buildPrefilter(k: F32Kernel, m: number, rows: number, dim: number, nb: number, at: PrefilterAt, stopped: () => boolean): Promise<Prefilter | null> {
  for (let r0 = 0; r0 < rows; r0 += QUANTIZE_SLICE_ROWS) {
    await yieldToEventLoop();
    if (stopped()) return null;
    k.quantizeRows!(m + r0 * dim * 4, Math.min(QUANTIZE_SLICE_ROWS, rows - r0), dim, at.m8 + (r0 / 16) * 16 * dim, at.scales + r0 * 4, at.x1 + r0 * 4);
  }
  const sampleBlocks = prefilterSampleBlocks(nb);
  const bytes = new Uint8Array(k.buffer);
  sampleBlocks.forEach((b, i) => {
    bytes.copyWithin(at.s8 + i * 16 * dim, at.m8 + b * 16 * dim, at.m8 + (b + 1) * 16 * dim);
    for (const [to, from] of [[at.sScales, at.scales], [at.sX1, at.x1]]) bytes.copyWithin(to + i * 64, from + b * 64, from + (b + 1) * 64);
  });
  const scratch = new Float64Array(Math.max(sampleBlocks.length * 16, PREFILTER_CAP));
  return { ...at, dp: dim / 2, cap: PREFILTER_CAP, sampleBlocks, scratch, bytes: i8Bytes(nb, dim), stats: { listed: 0, everyRow: 0 } };
}

/** Bytes the int8 prefilter of nb blocks of d columns holds (its copy, scales, norms and bounds, and the sample's). */
const i8Bytes = (nb: number, d: number) => (nb + prefilterSampleBlocks(nb).length) * 16 * (d + 16);

/** Whether a matrix of `rows` × `dim` gets the exact int8 prefilter here (WebAssembly SIMD, d a multiple of 4, large enough). */
export function exactPrefilterApplies(rows: number, dim: number): boolean {
  return f32SimdAvailable() && dim % 4 === 0 && rows > PREFILTER_MIN_ROWS;
}

export interface KernelFloat32Options {
  /** The plain-JS twin of the kernel even where SIMD runs (tests). */
  forceJs?: boolean;
  /** The exact prefilter of top-n requests (default on where it applies). */
  prefilter?: boolean;
  /**
   * Which prefilter: 'auto' is 4-bit where relaxed SIMD runs, d is a multiple of 32 and the matrix
   * has at least PREFILTER_U4_MIN_ROWS rows, else int8; 'u4' takes 4-bit at any size where it can
   * run (int8 elsewhere); 'i8' forces int8.
   */
  prefilterCode?: 'auto' | 'i8' | 'u4';
  /**
   * The rows are rows 1..rows of this table's values (the model's item table; the caller checked
   * it): where the matrix would store them row-major in a SIMD kernel, it scores them in place in the
   * table's memory (its other arrays laid out after the table) instead of copying them, if the
   * table lets it (`claim`: one matrix per table).
   */
  inPlace?: HostItemTable;
}

/**
 * Where a matrix of `rows` × `dim` puts its arrays in kernel `k`'s memory: the rows, the query, the
 * scores and the prefilter that applies. `tableBytes`: in place, after a model item table of that
 * many bytes whose rows 1..rows are the matrix's rows (row-major from byte dim·4).
 */
function matrixLayout(rows: number, dim: number, k: F32Kernel, options: KernelFloat32Options, tableBytes?: number) {
  const wanted = options.prefilter !== false && rows > PREFILTER_MIN_ROWS;
  const code = options.prefilterCode ?? 'auto';
  const u4Size = code === 'u4' || (code === 'auto' && rows >= PREFILTER_U4_MIN_ROWS);
  const withU4 = wanted && u4Size && k.prefilterU4 !== undefined && k.quantizeRowsU4 !== undefined && dim % 32 === 0;
  const withPre = !withU4 && wanted && k.prefilterI8 !== undefined && k.quantizeRows !== undefined && dim % 4 === 0;
  const nb = Math.ceil(rows / 16);
  const lay = new F32Layout();
  // In place the rows start at the table's row 1, and the matrix's arrays follow its padded last block.
  if (tableBytes !== undefined) lay.bytes = dim * 4;
  const m = lay.take(nb * 16 * dim);
  if (tableBytes !== undefined) lay.bytes = Math.max(lay.bytes, Math.ceil(tableBytes / 16) * 16);
  const q = lay.take(dim);
  const out = lay.take(nb * 16);
  const cap4 = Math.min(PREFILTER_U4_CAP, nb * 16);
  const nsb = prefilterSampleBlocks(nb).length;
  const pre4At = withU4 ? {
    m4: lay.take(nb * 2 * dim), scales: lay.take(nb * 16), x1: lay.take(nb * 16), e2: lay.take(nb * 16), q8: lay.take(dim / 4),
    idx: lay.take(cap4), ap: lay.take(cap4), up: lay.take(cap4), sc: lay.take(cap4), tmp: lay.take(8),
    s4: lay.take(nsb * 2 * dim), sScales: lay.take(nsb * 16), sX1: lay.take(nsb * 16), sE2: lay.take(nsb * 16),
  } : null;
  const preAt = withPre ? {
    m8: lay.take(nb * 4 * dim), scales: lay.take(nb * 16), x1: lay.take(nb * 16), qp: lay.take(dim / 2),
    lo: lay.take(nb * 16), hi: lay.take(nb * 16), idx: lay.take(PREFILTER_CAP), sc: lay.take(PREFILTER_CAP),
    s8: lay.take(nsb * 4 * dim), sScales: lay.take(nsb * 16), sX1: lay.take(nsb * 16), sLo: lay.take(nsb * 16), sHi: lay.take(nsb * 16),
  } : null;
  return { lay, m, q, out, preAt, pre4At, withPre, withU4, nb, rowMajor: withPre || withU4 };
}

/**
 * The bytes kernel `k` needs for a model item table of `tableRows` × `dim` followed by the arrays
 * of an in-place matrix of its rows 1.. (default options): reserved with the table, so that the
 * matrix does not grow the memory after the table was written (a grown memory's first pass over
 * the rows was measured several times slower than later ones).
 */
export function inPlaceTableBytes(tableRows: number, dim: number, k: F32Kernel): number {
  const tableBytes = tableRows * dim * 4;
  const l = matrixLayout(tableRows - 1, dim, k, {}, tableBytes);
  return l.rowMajor ? Math.max(tableBytes, l.lay.bytes) : tableBytes;
}

export class KernelFloat32Matrix extends MatrixBase {
  readonly dtype = 'float32';
  /** Rows stored row-major (the prefilter's rescoring reads whole rows), else in blocks of 16. */
  private readonly rowMajor: boolean;
  /** The prefilter once its background build is done (null before, and without one). */
  private pre: Prefilter | null = null;
  /** The 4-bit prefilter once built (null before, and without one). */
  private pre4: U4Prefilter | null = null;
  private disposed = false;
  /** Settles when the prefilter's background build ends (built, stopped by dispose, or none planned); null before it starts. */
  private building: Promise<void> | null = null;

  private constructor(
    rows: number,
    dim: number,
    chunkRows: number,
    private readonly k: F32Kernel,
    /** Byte offsets in the kernel's memory: the rows, the query, the scores. */
    private readonly at: { m: number; q: number; out: number },
    /** Blocks of 16 rows. */
    private readonly nb: number,
    /** The rows in the kernel's memory. */
    private readonly view: Float32Array,
    /** Where the int8 prefilter goes in the kernel's memory, or null without one. */
    private readonly preAt: PrefilterAt | null,
    /** Where the 4-bit prefilter goes, or null without one (at most one of preAt, pre4At is set). */
    private readonly pre4At: U4PrefilterAt | null = null,
    /** True when the rows are the model's item table, scored in place (not a copy). */
    private readonly inPlace = false,
  ) {
    super(rows, dim, chunkRows);
    this.rowMajor = preAt !== null || pre4At !== null;
  }

  /**
   * Starts the prefilter's background build (once; the engine calls it when it is ready, so that the
   * build does not share the thread with the rest of the load).
   */
  startBackgroundWork(): Promise<void> {
    const at = this.preAt;
    const at4 = this.pre4At;
    this.building ??= at4 !== null
      ? buildU4Prefilter(this.k, this.at.m, this.rows, this.dim, this.nb, at4, () => this.disposed).then((pre) => { if (!this.disposed) this.pre4 = pre; })
      : at === null ? Promise.resolve()
        : buildPrefilter(this.k, this.at.m, this.rows, this.dim, this.nb, at, () => this.disposed).then((pre) => { if (!this.disposed) this.pre = pre; });
    return this.building;
  }

  /**
   * Copies the rows into the kernel's memory (in slices, yielding between them) and returns the
   * matrix, ready to score; its prefilter, where it applies, is built in the background once
   * `startBackgroundWork` (or `prefilterReady`) is called.
   */
  static async create(values: Float32Array, rows: number, dim: number, chunkRows: number, options: KernelFloat32Options = {}): Promise<KernelFloat32Matrix> {
    const table = options.inPlace;
    // In place: the table's SIMD kernel, where the rows are stored row-major (a prefilter applies).
    const inPlace = table !== undefined && !options.forceJs && table.kernel.simd && table.dim === dim && table.rows >= rows + 1
      && matrixLayout(rows, dim, table.kernel, options, table.bytes).rowMajor && table.claim();
    const k = inPlace ? table.kernel : createF32Kernel({ forceJs: options.forceJs });
    const { lay, m, q, out, preAt, pre4At, withPre, withU4, nb } = matrixLayout(rows, dim, k, options, inPlace ? table.bytes : undefined);
    k.reserve(lay.bytes);
    const view = new Float32Array(k.buffer, m, withPre || withU4 ? rows * dim : nb * 16 * dim);
    if (inPlace) {
      // Nothing to copy: row-major rows are read up to row `rows` only (the padding of the last block is not).
    } else if (withPre || withU4) {
      for (let r0 = 0; r0 < rows; r0 += YIELD_EVERY_ITEMS) {
        if (r0 > 0) await yieldToEventLoop();
        const r1 = Math.min(rows, r0 + YIELD_EVERY_ITEMS);
        view.set(values.subarray(r0 * dim, r1 * dim), r0 * dim);
      }
    } else blockRows(values, rows, dim, view);
    return new KernelFloat32Matrix(rows, dim, chunkRows, k, { m, q, out }, nb, view, preAt, pre4At, inPlace);
  }

  /**
   * Starts the int8 prefilter's build if it has not started, and settles when it is built (or will
   * not be: none applies, or the matrix was disposed). Until then top-n requests are served by the
   * full float32 pass, with the same lists.
   */
  prefilterReady(): Promise<void> {
    this.startBackgroundWork();
    return this.building!;
  }

  info(): CatalogMatrixInfo {
    // one copy of the rows (+ the prefilter)
    const bytes = this.view.byteLength + (this.preAt ? i8Bytes(this.nb, this.dim) : 0) + (this.pre4At ? u4Bytes(this.nb, this.dim) : 0);
    const kernel = this.k.simd ? (this.pre4At ? 'f32-simd+u4-prefilter' : this.preAt ? 'f32-simd+i8-prefilter' : 'f32-simd') : 'f32-js';
    const ready = this.pre4At ? { prefilterReady: this.pre4 !== null } : this.preAt ? { prefilterReady: this.pre !== null } : {};
    return { ...this.baseInfo(bytes), kernel, ...ready, ...(this.inPlace ? { rowsShared: true } : {}) };
  }

  /** How the prefilter served its calls so far, or null without one (or before it is built). */
  prefilterStats(): PrefilterStats | null {
    const pre = this.pre4 ?? this.pre;
    return pre ? { ...pre.stats } : null;
  }

  /** Stops the prefilter's background build. */
  override dispose(): void {
    this.disposed = true;
    this.pre = null;
    this.pre4 = null;
  }

  protected readRow(r: number, out: Float32Array): void {
    const d = this.dim;
    if (this.rowMajor) out.set(this.view.subarray(r * d, (r + 1) * d));
    else for (let k = 0; k < d; k++) out[k] = this.view[blockedIndex(r, k, d)];
  }

  protected dot(queries: Float32Array, qo: number, r: number): number {
    const d = this.dim;
    const v = this.view;
    const base = this.rowMajor ? r * d : blockedIndex(r, 0, d);
    const step = this.rowMajor ? 1 : 16;
    let s = 0;
    for (let k = 0; k < d; k++) s += queries[qo + k] * v[base + k * step];
    return s;
  }

  protected async scoreBulk(queries: Float32Array | Tensor, request: BulkRequest): Promise<ScoreResult> {
    return this.scoreKernel(await queryValues(queries), request);
  }

  /** One pass of the kernel per query, then `all` or a partial top-k. */
  private scoreKernel(queries: Float32Array, request: BulkRequest): ScoreResult {
    const d = this.dim;
    const nq = checkQueries(queries, d);
    const { k, nb } = this;
    const { m, q, out } = this.at;
    const all = request.kind === 'all';
    const n = this.wanted(request);
    const full: Float32Array[] = [];
    const tops: TopK[] = [];
    const fullPass = () => (this.rowMajor ? k.dotRows!(m, d, q, 0, this.rows, out, 1) : k.scoreBlocked(m, nb, d, q, out));
    for (let qi = 0; qi < nq; qi++) {
      new Float32Array(k.buffer, q, d).set(queries.subarray(qi * d, (qi + 1) * d));
      if (all || nq > 1) fullPass();
      const scores = new Float32Array(k.buffer, out, this.rows);
      if (all) full.push(scores.slice());
      else if (nq === 1) {
        if (this.pre4 && n <= PREFILTER_MAX_N) {
          const top = this.u4Top(this.pre4, queries, n);
          if (top) return top;
        }
        const pre = this.pre;
        if (pre && n <= PREFILTER_MAX_N) {
          const top = this.prefilteredTop(pre, queries, n);
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

  /** The exact top n of one query through the 4-bit prefilter (see U4Prefilter), or null to use the full pass. */
  private u4Top(P: U4Prefilter, query: Float32Array, n: number): ScoreResult | null {
    const { k, nb } = this;
    const { m, q } = this.at;
    const d = this.dim;
    const R = this.rows;
    new Float32Array(k.buffer, q, d).set(query.subarray(0, d));
    let qinf = 0;
    let qq = 0;
    for (let j = 0; j < d; j++) { qinf = Math.max(qinf, Math.abs(query[j])); qq += query[j] * query[j]; }
    // The kernel takes float32 parameters: the step is rounded first (the query is quantised with
    // it), the bound's factors are rounded up by a margin far above float32's relative step.
    const qs = qinf > 0 ? Math.fround(qinf / 127) : 1;
    const q8 = new Int8Array(k.buffer, P.q8, d);
    let qsum = 0;
    for (let j = 0; j < d; j++) { const v = Math.max(-127, Math.min(127, Math.round(query[j] / qs))); q8[j] = v; qsum += v; }
    const corr = 8 * qsum;
    const q2 = Math.fround(Math.sqrt(qq) * (1 + 1e-5));
    const cx = Math.fround((0.5 * qs + 1e-5 * qinf) * (1 + 1e-5));
    const idx = new Int32Array(k.buffer, P.idx, P.cap);
    const ap = new Float32Array(k.buffer, P.ap, P.cap);
    const up = new Float32Array(k.buffer, P.up, P.cap);
    // The sample blocks: every row listed (numbered in the sample's copy), with its approximation and upper bound.
    const sb = P.sampleBlocks;
    const ns = k.prefilterU4!(P.s4, sb.length, d / 8, P.q8, corr, P.sScales, P.sX1, P.sE2, qs, q2, cx, -Infinity, P.idx, P.ap, P.up, P.cap, 0, P.tmp);
    for (let i = 0; i < ns; i++) { const j = idx[i]; idx[i] = sb[j >> 4] * 16 + (j & 15); }
    // t: the K-th largest exact score among the sample's rows, K = ceil(n · ns / R) + the margin:
    // about (K / n) · (R / ns) times n rows of the matrix score above it. Only rows whose upper
    // bound reaches the sample's K-th largest lower bound can score above it; those are scored.
    const sample = new Float64Array(ns);
    let nr = 0;
    for (let i = 0; i < ns; i++) if (idx[i] < R) sample[nr++] = 2 * ap[i] - up[i]; // the lower bound
    let t = -Infinity;
    const K = Math.min(nr, Math.ceil((n * nr) / R) + PREFILTER_U4_SAMPLE_MARGIN);
    if (K > 0) {
      const loK = kthLargest(sample.subarray(0, nr), K);
      const sel = new Int32Array(k.buffer, P.sc, ns);
      let c = 0;
      for (let i = 0; i < ns; i++) if (idx[i] < R && up[i] >= loK) sel[c++] = idx[i];
      k.dotRows!(m, d, q, P.sc, c, P.sc, 0);
      t = c >= K ? kthLargest(Float64Array.from(new Float32Array(k.buffer, P.sc, c)), K) : loK;
    }
    let L = -Infinity;
    for (let run = 0; run < 2; run++) {
      const count = k.prefilterU4!(P.m4, nb, d / 8, P.q8, corr, P.scales, P.x1, P.e2, qs, q2, cx, t, P.idx, P.ap, P.up, P.cap, 0, P.tmp);
      // L: the least exact score of the n listed rows of largest approximation (rows >= R are
      // padding). Any n rows give a bound, so a list cut at the cap gives one too.
      let c = 0;
      for (let i = 0; i < Math.min(count, P.cap); i++) if (idx[i] < R) { idx[c] = idx[i]; ap[c] = ap[i]; up[c++] = up[i]; }
      let known: Float32Array | null = null; // exact scores of the probed listed rows (NaN: not probed)
      if (c >= n) {
        // The n-th largest exact score of the PREFILTER_U4_PROBE · n listed rows of largest approximation.
        const probe = Math.min(c, PREFILTER_U4_PROBE * n);
        const best = selectTop(ap, c, probe);
        const sel = new Int32Array(k.buffer, P.sc, probe); // row numbers, then their exact scores in place
        for (let i = 0; i < probe; i++) sel[i] = idx[best.rows[i]];
        k.dotRows!(m, d, q, P.sc, probe, P.sc, 0);
        const ex = new Float32Array(k.buffer, P.sc, probe);
        known = new Float32Array(c).fill(NaN);
        for (let i = 0; i < probe; i++) known[best.rows[i]] = ex[i];
        L = Math.max(L, kthLargest(Float64Array.from(ex), n)); // each is at most the n-th largest exact score
      }
      if (count <= P.cap && c >= n && L >= t) {
        // Every row whose upper bound reaches L is listed: those are the candidates, in row order,
        // with their exact scores (the probed ones already have theirs).
        const rows = new Int32Array(c);
        const scores = new Float32Array(c);
        const todo = new Int32Array(k.buffer, P.sc, c);
        const at: number[] = [];
        let cand = 0;
        for (let i = 0; i < c; i++) {
          if (!(up[i] >= L)) continue;
          rows[cand] = idx[i];
          const e = known![i];
          if (e === e) scores[cand] = e;
          else { todo[at.length] = idx[i]; at.push(cand); }
          cand++;
        }
        P.stats[run === 0 ? 'listed' : 'everyRow']++;
        P.stats.listedRows! += c;
        P.stats.rescoredRows! += at.length + Math.min(c, PREFILTER_U4_PROBE * n);
        k.dotRows!(m, d, q, P.sc, at.length, P.sc, 0);
        const ex = new Float32Array(k.buffer, P.sc, at.length);
        for (let j = 0; j < at.length; j++) scores[at[j]] = ex[j];
        const top = selectTop(scores, cand, n);
        const out = new Int32Array(top.rows.length);
        for (let i = 0; i < out.length; i++) out[i] = rows[top.rows[i]];
        return { rows: out, scores: [top.scores] };
      }
      // Too high a threshold (L below it), or too low (the list cut at the cap, L above it): once
      // more with t = L, which lists every row that can reach L.
      if (!(L > -Infinity) || L === t || (count > P.cap && L < t)) break;
      t = L;
    }
    P.stats.everyRow++;
    return null;
  }

  /** The exact top n of one query through the int8 prefilter (see Prefilter), or null to use the full pass. */
  private prefilteredTop(P: Prefilter, query: Float32Array, n: number): ScoreResult | null {
    const { k, nb } = this;
    const { m, q } = this.at;
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
    const lo = new Float32Array(k.buffer, P.lo, R);
    // This query's threshold: bound the sample blocks (their contiguous copy, one kernel call), take
    // the lower bound that about PREFILTER_REACH_FACTOR · n rows of the matrix reach (scaled from the
    // sample; PREFILTER_REACH_FACTOR_TIGHT · n where the sample is large enough to be sure of it).
    const sb = P.sampleBlocks;
    k.prefilterI8!(P.s8, sb.length, P.dp, P.qp, P.sScales, P.sX1, qscale, q1half, cx, P.sLo, P.sHi, Infinity, P.idx, 0);
    const sLo = new Float32Array(k.buffer, P.sLo, sb.length * 16);
    const sample = P.scratch;
    let ns = 0;
    for (let i = 0; i < sb.length; i++) {
      const b = sb[i];
      for (let r = b * 16, j = i * 16; r < Math.min(R, b * 16 + 16); r++, j++) sample[ns++] = sLo[j];
    }
    const tight = (PREFILTER_REACH_FACTOR_TIGHT * n * ns) / R;
    const want = Math.min(ns, Math.ceil(tight >= PREFILTER_SAMPLE_SURE_COUNT ? tight : (PREFILTER_REACH_FACTOR * n * ns) / R) + 4);
    const hint = kthLargest(sample.subarray(0, ns), want);
    const count = k.prefilterI8!(P.m8, nb, P.dp, P.qp, P.scales, P.x1, qscale, q1half, cx, P.lo, P.hi, hint, P.idx, P.cap);
    const hi = new Float32Array(k.buffer, P.hi, R);
    const idx = new Int32Array(k.buffer, P.idx, P.cap);
    // L: the n-th largest lower bound. From the listed rows when the hint was low enough to list
    // n rows whose lower bound reaches it (every row with lo >= L has hi >= lo >= hint: listed);
    // else from every row.
    let L: number;
    let listed = count <= P.cap ? count : -1;
    if (listed >= 0) {
      const los = P.scratch.subarray(0, listed);
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
    k.dotRows!(m, d, q, P.idx, c, P.sc, 0);
    const exact = new Float32Array(k.buffer, P.sc, c);
    const top = selectTop(exact, c, n);
    const rows = new Int32Array(top.rows.length);
    for (let i = 0; i < rows.length; i++) rows[i] = idx[top.rows[i]];
    return { rows, scores: [top.scores] };
  }
}
