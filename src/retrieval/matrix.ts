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
 * This file holds the `CatalogMatrix` interface and `createCatalogMatrix`, which picks one of three
 * storages, one class each:
 *  - `TfjsFloat32Matrix` (tfjs-float32.ts): float32 on a GPU backend, a TF.js tensor on the device
 *    scored with matMul + on-device top-k per chunk;
 *  - `KernelFloat32Matrix` (kernel-float32.ts): float32 on a CPU backend (wasm, cpu), the rows in the
 *    memory of the float32 WebAssembly SIMD kernel, with an exact int8 prefilter for top-n;
 *  - `Int8Matrix` (int8-matrix.ts): symmetric per-row int8 rows scored by the int8 SIMD kernel.
 * What they share (the `rows` request, unit rows, merging per-query tops) is in matrix-base.ts.
 * `auto` picks float32 wherever its top-n is exact and fast (CPU backends with the SIMD kernel and
 * its int8 prefilter: `exactPrefilterApplies`), else float32 below AUTO_INT8_MIN_ROWS rows and int8
 * from there (int8 lists are approximate: an explicit choice there).
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidOptionsError } from '../contract/errors.js';
import { isCpuBackend, type ScoringInfo } from '../contract/protocol.js';
import { Int8Matrix } from './int8-matrix.js';
import { quantizeInt8, type Int8Rows } from './int8.js';
import { exactPrefilterApplies, KernelFloat32Matrix } from './kernel-float32.js';
import { TfjsFloat32Matrix } from './tfjs-float32.js';
import type { HostItemTable } from '../model/item-table.js';

export type EmbeddingDtype = 'float32' | 'int8';
export type EmbeddingDtypeOption = EmbeddingDtype | 'auto';

/** Catalogs with at least this many rows are stored as int8 under `auto`, where float32's exact prefilter does not run. */
export const AUTO_INT8_MIN_ROWS = 200_000;

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

/** The matrix's part of the engine's ScoringInfo (storage, kernel, size). */
export type CatalogMatrixInfo = Pick<ScoringInfo, 'dtype' | 'kernel' | 'prefilterReady' | 'rows' | 'dim' | 'bytes' | 'chunkRows' | 'simd' | 'rowsShared'>;

export interface CatalogMatrixOptions {
  dtype?: EmbeddingDtypeOption;
  chunkRows?: number;
  /**
   * float32 scoring: 'tfjs' (matMul on the active backend) or 'f32' (the blocked float32 kernel);
   * default 'f32' on the CPU backends (wasm, cpu), 'tfjs' on the GPU ones. `f32Js` forces its plain-JS twin.
   */
  float32Kernel?: 'tfjs' | 'f32';
  f32Js?: boolean;
  /** The exact prefilter of top-n scoring (see kernel-float32.ts; default on where it applies). */
  prefilter?: boolean;
  /** Which exact prefilter: 'auto' (4-bit on large matrices where relaxed SIMD runs, else int8), 'u4' or 'i8' (see kernel-float32.ts). */
  prefilterCode?: 'auto' | 'i8' | 'u4';
  /** float32 on the kernel: the rows are rows 1..rows of this model item table, scored in place where they can be (kernel-float32.ts). */
  inPlace?: HostItemTable;
}

/**
 * The catalog's item vectors, ready to score. Build one with `createCatalogMatrix`; `dispose()`
 * releases the device tensors (the JS arrays go with the object).
 */
export interface CatalogMatrix {
  readonly dtype: EmbeddingDtype;
  readonly rows: number;
  readonly dim: number;
  /**
   * Scores queries ([q, dim] row-major, or a tensor of that shape) against the catalog.
   * Leaves no tensors behind.
   */
  score(queries: Float32Array | tf.Tensor, request: ScoreRequest): Promise<ScoreResult>;
  /** Unit-length vector of a row (diversity), computed on demand (and kept, for small matrices). */
  unitRow(r: number): Float32Array;
  info(): CatalogMatrixInfo;
  /** The int8 matrix (to cache it), or null for float32 storage. */
  int8(): Int8Rows | null;
  /**
   * Starts what the matrix builds in the background once it serves (the float32 kernel's int8
   * prefilter): called when the engine is ready, or when it swaps this matrix in. Settles when that
   * work is done (every later call returns the same promise).
   */
  startBackgroundWork?(): Promise<void>;
  dispose(): void;
}

/**
 * The storage `auto` (or an explicit choice) means for a matrix of `rows` × `dim` on `backend`
 * (default: the active TF.js backend): float32 on a CPU backend where its exact int8 prefilter runs
 * (exact lists, and faster than int8 scoring alone), else int8 from AUTO_INT8_MIN_ROWS rows.
 */
export function resolveEmbeddingDtype(option: EmbeddingDtypeOption, rows: number, dim: number, backend: string = tf.getBackend()): EmbeddingDtype {
  if (option !== 'auto') return option;
  if (rows < AUTO_INT8_MIN_ROWS) return 'float32';
  return isCpuBackend(backend) && exactPrefilterApplies(rows, dim) ? 'float32' : 'int8';
}

/**
 * Builds the matrix from the row-major item vectors `[rows, dim]`. `cached` (an int8 matrix from
 * the catalog cache) skips the quantisation and means int8 storage.
 */
export async function createCatalogMatrix(values: Float32Array | null, rows: number, dim: number, options: CatalogMatrixOptions = {}, cached?: Int8Rows): Promise<CatalogMatrix> {
  const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new InvalidOptionsError(`chunkRows must be a positive integer (got ${chunkRows}).`, { field: 'chunkRows' });
  const wanted = options.dtype ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'float32' && wanted !== 'int8') {
    throw new InvalidOptionsError(`embeddingDtype must be 'auto', 'float32' or 'int8' (got ${String(wanted)}).`, { field: 'embeddingDtype' });
  }
  const dtype: EmbeddingDtype = cached ? 'int8' : resolveEmbeddingDtype(wanted, rows, dim);
  if (dtype === 'int8') return Int8Matrix.create(cached ?? quantizeInt8(values!, rows, dim), rows, dim, chunkRows);
  if (!values) throw new InvalidOptionsError('CatalogMatrix: float32 storage needs the values.');
  if ((options.float32Kernel ?? (isCpuBackend(tf.getBackend()) ? 'f32' : 'tfjs')) === 'f32') {
    return KernelFloat32Matrix.create(values, rows, dim, chunkRows, { forceJs: options.f32Js, prefilter: options.prefilter, prefilterCode: options.prefilterCode, inPlace: options.inPlace });
  }
  return TfjsFloat32Matrix.create(values, rows, dim, chunkRows);
}
