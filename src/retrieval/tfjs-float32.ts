/**
 * float32 storage for GPU backends: a TF.js tensor on the device (transposed, [d, rows], split into
 * column chunks), scored with matMul + on-device top-k per chunk, merged on the CPU. Plus a float32
 * copy in JS for diversity vectors and rescoring. (Also runs on the CPU backends when asked for.)
 */
import * as tf from '@tensorflow/tfjs';
import { isCpuBackend } from '../contract/protocol.js';
import { MatrixBase, type BulkRequest } from './matrix-base.js';
import type { CatalogMatrixInfo, ScoreResult } from './matrix.js';
import { TopK } from './topk.js';

export class TfjsFloat32Matrix extends MatrixBase {
  readonly dtype = 'float32';

  private constructor(
    rows: number,
    dim: number,
    chunkRows: number,
    /** [d, chunk] tensors. */
    private readonly chunksT: tf.Tensor2D[],
    /** The rows in JS, row-major. */
    private readonly f32: Float32Array,
  ) {
    super(rows, dim, chunkRows);
  }

  static create(values: Float32Array, rows: number, dim: number, chunkRows: number): TfjsFloat32Matrix {
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
    return new TfjsFloat32Matrix(rows, dim, chunkRows, chunks, values);
  }

  info(): CatalogMatrixInfo {
    return { ...this.baseInfo(this.rows * this.dim * 4 * 2), kernel: 'tfjs' }; // device tensor + JS copy
  }

  protected readRow(r: number, out: Float32Array): void {
    const d = this.dim;
    out.set(this.f32.subarray(r * d, (r + 1) * d));
  }

  protected dot(queries: Float32Array, qo: number, r: number): number {
    const d = this.dim;
    const o = r * d;
    let s = 0;
    for (let k = 0; k < d; k++) s += queries[qo + k] * this.f32[o + k];
    return s;
  }

  protected async scoreBulk(queriesIn: Float32Array | tf.Tensor, request: BulkRequest): Promise<ScoreResult> {
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
      const n = this.wanted(request);
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

  override dispose(): void {
    tf.dispose(this.chunksT);
    this.chunksT.length = 0;
  }
}
