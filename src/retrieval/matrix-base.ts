/**
 * What the three catalog-matrix storages share: request checks, the `rows` request (scored row by
 * row through the storage's `dot`), unit rows for diversity, and the union of per-query tops.
 * Each storage scores `all` and `top` its own way (`scoreBulk`).
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidRequestError } from '../contract/errors.js';
import type { Int8Rows } from './int8.js';
import type { CatalogMatrix, CatalogMatrixInfo, EmbeddingDtype, ScoreRequest, ScoreResult } from './matrix.js';
import type { TopK } from './topk.js';

/** Unit rows (diversity) are kept once computed for matrices up to this many rows. */
export const UNIT_CACHE_MAX_ROWS = 65_536;

/** The requests a storage scores its own way (`rows` is scored by the base). */
export type BulkRequest = Exclude<ScoreRequest, { kind: 'rows' }>;

/** Number of query vectors in `queries`, or an InvalidRequestError. */
export function checkQueries(queries: Float32Array, dim: number): number {
  if (queries.length === 0 || queries.length % dim !== 0) {
    throw new InvalidRequestError(`scoring: ${queries.length} query values is not a whole number of ${dim}-dim vectors.`);
  }
  return queries.length / dim;
}

/** The query values in JS (a tensor is read back). */
export async function queryValues(queries: Float32Array | tf.Tensor): Promise<Float32Array> {
  return queries instanceof tf.Tensor ? (await queries.data()) as Float32Array : queries;
}

export abstract class MatrixBase implements CatalogMatrix {
  abstract readonly dtype: EmbeddingDtype;

  constructor(
    readonly rows: number,
    readonly dim: number,
    readonly chunkRows: number,
  ) {}

  abstract info(): CatalogMatrixInfo;

  /** Score of one row for one query (qo: offset of the query in `queries`). */
  protected abstract dot(queries: Float32Array, qo: number, r: number): number;

  /** Row r, or a positive multiple of it (unitRow normalises it), written into `out`. */
  protected abstract readRow(r: number, out: Float32Array): void;

  /** `all` or `top` (n already checked). */
  protected abstract scoreBulk(queries: Float32Array | tf.Tensor, request: BulkRequest): Promise<ScoreResult>;

  int8(): Int8Rows | null {
    return null;
  }

  dispose(): void {}

  async score(queriesIn: Float32Array | tf.Tensor, request: ScoreRequest): Promise<ScoreResult> {
    if (request.kind === 'top' && (!Number.isInteger(request.n) || request.n < 1)) {
      throw new InvalidRequestError(`scoring: top n must be a positive integer (got ${request.n}).`);
    }
    if (request.kind !== 'rows') return this.scoreBulk(queriesIn, request);
    const d = this.dim;
    const queries = await queryValues(queriesIn);
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

  /** Unit rows computed so far (matrices up to UNIT_CACHE_MAX_ROWS rows). */
  private unitCache: Array<Float32Array | undefined> | null = null;

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
    this.readRow(r, v);
    let norm = 0;
    for (let k = 0; k < d; k++) norm += v[k] * v[k];
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < d; k++) v[k] /= norm;
    return v;
  }

  /** The size of a request's result per query: every row, or the top n (at most every row). */
  protected wanted(request: BulkRequest): number {
    return request.kind === 'all' ? this.rows : Math.min(request.n, this.rows);
  }

  /** The info every storage reports; each adds its kernel. */
  protected baseInfo(bytes: number): CatalogMatrixInfo {
    return { dtype: this.dtype, rows: this.rows, dim: this.dim, bytes, chunkRows: this.chunkRows };
  }

  /** The union of each query's top rows (best first, query by query), with every query's score on them. */
  protected rescored(tops: TopK[], queries: Float32Array): ScoreResult {
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
}
