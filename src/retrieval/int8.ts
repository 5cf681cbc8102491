/** Symmetric per-row int8 quantisation of a catalog matrix, shared by serving and the offline evaluation (both measure the same thing). */
import { InvalidOptionsError } from '../contract/errors.js';

export interface Int8Rows {
  data: Int8Array;
  /** Per-row scale: value = data * scale. */
  scales: Float32Array;
  rows: number;
  dim: number;
}

/** Symmetric per-row int8 quantisation: scale = max|x| / 127, q = round(x / scale). */
export function quantizeInt8(values: Float32Array, rows: number, dim: number): Int8Rows {
  if (values.length !== rows * dim) throw new InvalidOptionsError(`quantizeInt8: ${values.length} values is not ${rows} x ${dim}.`);
  const data = new Int8Array(rows * dim);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let max = 0;
    for (let k = 0; k < dim; k++) { const a = Math.abs(values[o + k]); if (a > max) max = a; }
    const scale = max > 0 ? max / 127 : 1;
    scales[r] = scale;
    const inv = 1 / scale;
    for (let k = 0; k < dim; k++) data[o + k] = Math.round(values[o + k] * inv);
  }
  return { data, scales, rows, dim };
}

/** The float32 values an int8 matrix stands for. */
export function dequantizeInt8(q: Int8Rows): Float32Array {
  const out = new Float32Array(q.rows * q.dim);
  for (let r = 0; r < q.rows; r++) {
    const s = q.scales[r];
    const o = r * q.dim;
    for (let k = 0; k < q.dim; k++) out[o + k] = q.data[o + k] * s;
  }
  return out;
}
