/**
 * int8 storage: symmetric per-row int8 quantisation (value = int8 * rowScale, src/retrieval/int8.ts),
 * a quarter of the bytes; scored chunk by chunk by a WebAssembly SIMD kernel (src/kernels/dot-i8.wat;
 * plain JS where SIMD is missing or d is not a multiple of 16) against an int16-quantised query, with
 * a partial top-k (a min-heap) per query, so no full score vector is ever kept.
 */
import type { Tensor } from '@tensorflow/tfjs';
import { DOT_I8_WASM_BASE64 } from '../kernels/dot-i8.wasm.js';
import { decodeBase64 } from '../util/base64.js';
import type { Int8Rows } from './int8.js';
import { checkQueries, MatrixBase, queryValues, type BulkRequest } from './matrix-base.js';
import type { CatalogMatrixInfo, ScoreResult } from './matrix.js';
import { TopK } from './topk.js';

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

const align = (x: number, a = 16) => Math.ceil(x / a) * a;

/** A matrix's own kernel instance and its byte layout: [matrix int8][scales f32][query i16][out f32]. */
interface Wasm { kernel: Kernel; mat: number; scales: number; q: number; out: number }

export class Int8Matrix extends MatrixBase {
  readonly dtype = 'int8';

  private constructor(
    rows: number,
    dim: number,
    chunkRows: number,
    /** The rows quantised (views into the kernel's memory when it runs). */
    private readonly i8: Int8Rows,
    private readonly wasm: Wasm | null,
  ) {
    super(rows, dim, chunkRows);
  }

  /** Stores the quantised rows `q` (`[rows, dim]`), in the SIMD kernel's memory where it runs. */
  static async create(q: Int8Rows, rows: number, dim: number, chunkRows: number): Promise<Int8Matrix> {
    const kernel = dim % 16 === 0 ? await loadKernel() : null;
    if (!kernel) return new Int8Matrix(rows, dim, chunkRows, q, null);
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
    return new Int8Matrix(rows, dim, chunkRows, { data, scales: sc, rows, dim }, { kernel: own, mat, scales, q: qOff, out });
  }

  info(): CatalogMatrixInfo {
    return { ...this.baseInfo(this.rows * (this.dim + 4)), simd: this.wasm !== null }; // int8 rows + row scales
  }

  override int8(): Int8Rows {
    return this.i8;
  }

  protected readRow(r: number, out: Float32Array): void {
    const d = this.dim;
    for (let k = 0; k < d; k++) out[k] = this.i8.data[r * d + k]; // the row scale cancels
  }

  protected dot(queries: Float32Array, qo: number, r: number): number {
    const d = this.dim;
    const { data, scales } = this.i8;
    const o = r * d;
    let s = 0;
    for (let k = 0; k < d; k++) s += queries[qo + k] * data[o + k];
    return s * scales[r];
  }

  protected async scoreBulk(queries: Float32Array | Tensor, request: BulkRequest): Promise<ScoreResult> {
    return this.scoreInt8(await queryValues(queries), request);
  }

  private scoreInt8(queries: Float32Array, request: BulkRequest): ScoreResult {
    const d = this.dim;
    const nq = checkQueries(queries, d);
    const all = request.kind === 'all';
    const n = this.wanted(request);
    const full = all ? Array.from({ length: nq }, () => new Float32Array(this.rows)) : [];
    const tops = all ? [] : Array.from({ length: nq }, () => new TopK(n));
    const w = this.wasm;
    const tmp = w ? null : new Float32Array(Math.min(this.chunkRows, this.rows));
    for (let qi = 0; qi < nq; qi++) {
      // The query in int16: scale = max|q| / 32767 (the loss is the matrix's int8, not the query's).
      let qmax = 0;
      for (let j = 0; j < d; j++) qmax = Math.max(qmax, Math.abs(queries[qi * d + j]));
      const qscale = qmax > 0 ? qmax / 32767 : 1;
      if (w) new Int16Array(w.kernel.memory.buffer, w.q, d).set(Array.from({ length: d }, (_, j) => Math.round(queries[qi * d + j] / qscale)));
      for (let start = 0; start < this.rows; start += this.chunkRows) {
        const len = Math.min(this.chunkRows, this.rows - start);
        let out: Float32Array;
        if (w) {
          w.kernel.dotI8(w.mat + start * d, len, d, w.q, w.scales + start * 4, qscale, w.out);
          out = new Float32Array(w.kernel.memory.buffer, w.out, len);
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
}
