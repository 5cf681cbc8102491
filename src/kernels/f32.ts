/**
 * The float32 kernels of src/kernels/f32.wat behind one small interface, with a plain-JS twin where
 * WebAssembly SIMD is missing (or when asked for, in tests). Each kernel object owns its memory:
 * the caller reserves the bytes it needs once (`reserve`), lays out its arrays in that buffer
 * (views stay valid: the memory never grows again) and passes byte offsets to the functions.
 */
import { decodeBase64 } from '../util/base64.js';
import { F32_WASM_BASE64 } from './f32.wasm.js';
import { F32_RELAXED_WASM_BASE64 } from './f32-relaxed.wasm.js';

export interface F32Kernel {
  /** True when the functions run in WebAssembly SIMD. */
  readonly simd: boolean;
  /** The memory the offsets point into (valid after `reserve`). */
  readonly buffer: ArrayBuffer;
  /** Makes the memory at least `bytes` long. Call once, before taking views. */
  reserve(bytes: number): ArrayBuffer;
  /** out[i, j] = bias[j] + Σ_k x[i, k] · w[k, j] (relu: max(., 0)); x [n, inDim], w [inDim, o], row-major. */
  dense(x: number, n: number, inDim: number, w: number, o: number, bias: number, out: number, relu: boolean): void;
  /** out[b*16 + r] = Σ_k q[k] · m[(b*d + k)*16 + r]: a matrix stored in blocks of 16 rows (see blockRows). */
  scoreBlocked(m: number, nb: number, d: number, q: number, out: number): void;
  /** Layer norm of n rows of d floats: (x - mean) / sqrt(var + eps) · g + b. */
  layerNorm(src: number, dst: number, n: number, d: number, g: number, b: number, eps: number): void;
  /** out[j] = (q · k_j) / div, k_j at k + j·kstride bytes, hd floats each, j < nk. */
  dots(q: number, k: number, kstride: number, nk: number, hd: number, div: number, out: number): void;
  /** out = Σ_j p[j] · v_j, v_j at v + j·vstride bytes, hd floats each, j < nk. */
  mix(p: number, v: number, vstride: number, nk: number, hd: number, out: number): void;
  /** WebAssembly SIMD only: the int8 prefilter of exact top-k scoring (see f32.wat and src/retrieval/kernel-float32.ts). */
  prefilterI8?: (m8: number, nb: number, dp: number, q: number, scales: number, x1: number, qscale: number, q1half: number, cx: number,
    lo: number, hi: number, t: number, idx: number, cap: number) => number;
  /** WebAssembly SIMD only: out[i] = q · row(idx[i]) (or row i when direct) of a row-major matrix, d a multiple of 4. */
  dotRows?: (m: number, d: number, q: number, idx: number, count: number, out: number, direct: number) => void;
  /** WebAssembly SIMD only: the int8 copy, row scales and row L1 norms prefilterI8 reads, from row-major float32 rows (see f32.wat). */
  quantizeRows?: (src: number, rows: number, d: number, m8: number, scales: number, x1: number) => void;
  /**
   * WebAssembly SIMD only: float16 bit patterns at `src` to float32 at `dst` (byte offsets), n a
   * multiple of 8, in place when src = dst + 2n (see f32.wat); returns 1 when some value is NaN or ±Infinity.
   */
  decodeF16?: (src: number, dst: number, n: number) => number;
  /** WebAssembly relaxed SIMD only: the 4-bit prefilter (see f32-relaxed.wat and src/retrieval/kernel-float32.ts). */
  prefilterU4?: (m4: number, nb: number, d8: number, q: number, corr: number, scales: number, x1: number, e2: number, qscale: number,
    q2: number, cx: number, t: number, idx: number, ap: number, up: number, cap: number, row0: number, tmp: number) => number;
  /** WebAssembly relaxed SIMD only: the 4-bit copy, row scales, L1 norms and residual L2 norms prefilterU4 reads (see f32-relaxed.wat). */
  quantizeRowsU4?: (src: number, rows: number, d: number, m4: number, scales: number, x1: number, e2: number) => void;
}

interface RelaxedExports {
  prefilterU4: NonNullable<F32Kernel['prefilterU4']>;
  quantizeRowsU4: NonNullable<F32Kernel['quantizeRowsU4']>;
}

interface Exports {
  memory: WebAssembly.Memory;
  dense: (x: number, n: number, inDim: number, w: number, o: number, bias: number, out: number, relu: number) => void;
  scoreBlocked: (m: number, nb: number, d: number, q: number, out: number) => void;
  layerNorm: (src: number, dst: number, n: number, d: number, g: number, b: number, eps: number) => void;
  dots: (q: number, k: number, kstride: number, nk: number, hd: number, div: number, out: number) => void;
  mix: (p: number, v: number, vstride: number, nk: number, hd: number, out: number) => void;
  prefilterI8: NonNullable<F32Kernel['prefilterI8']>;
  dotRows: NonNullable<F32Kernel['dotRows']>;
  quantizeRows: NonNullable<F32Kernel['quantizeRows']>;
  decodeF16: NonNullable<F32Kernel['decodeF16']>;
}

function layerNormJs(f: Float32Array, src: number, dst: number, n: number, d: number, g: number, b: number, eps: number): void {
  for (let i = 0; i < n; i++) {
    const s = (src >> 2) + i * d; const o = (dst >> 2) + i * d;
    let mean = 0;
    for (let k = 0; k < d; k++) mean += f[s + k];
    mean /= d;
    let v = 0;
    for (let k = 0; k < d; k++) { const c = f[s + k] - mean; v += c * c; }
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let k = 0; k < d; k++) f[o + k] = (f[s + k] - mean) * inv * f[(g >> 2) + k] + f[(b >> 2) + k];
  }
}

function dotsJs(f: Float32Array, q: number, k: number, kstride: number, nk: number, hd: number, div: number, out: number): void {
  const qo = q >> 2;
  for (let j = 0; j < nk; j++) {
    const ko = (k + j * kstride) >> 2;
    let s = 0;
    for (let e = 0; e < hd; e++) s += f[qo + e] * f[ko + e];
    f[(out >> 2) + j] = s / div;
  }
}

function mixJs(f: Float32Array, p: number, v: number, vstride: number, nk: number, hd: number, out: number): void {
  const oo = out >> 2;
  for (let e = 0; e < hd; e++) f[oo + e] = 0;
  for (let j = 0; j < nk; j++) {
    const w = f[(p >> 2) + j];
    if (w === 0) continue;
    const vo = (v + j * vstride) >> 2;
    for (let e = 0; e < hd; e++) f[oo + e] += w * f[vo + e];
  }
}

let moduleCache: WebAssembly.Module | null | undefined;

/** The compiled module, or null where WebAssembly (SIMD) is missing. Compiled once (751 bytes: synchronous is fine). */
function wasmModule(): WebAssembly.Module | null {
  if (moduleCache !== undefined) return moduleCache;
  try {
    const bytes = decodeBase64(F32_WASM_BASE64);
    moduleCache = typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    moduleCache = null;
  }
  return moduleCache;
}

let relaxedCache: WebAssembly.Module | null | undefined;

/** The relaxed-SIMD module (the 4-bit prefilter), or null where relaxed SIMD is missing. */
function relaxedModule(): WebAssembly.Module | null {
  if (relaxedCache !== undefined) return relaxedCache;
  try {
    const bytes = decodeBase64(F32_RELAXED_WASM_BASE64);
    relaxedCache = typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    relaxedCache = null;
  }
  return relaxedCache;
}

/** Whether the relaxed-SIMD 4-bit prefilter runs in this realm. */
export function f32RelaxedAvailable(): boolean {
  return wasmModule() !== null && relaxedModule() !== null;
}

/** Plain-JS dense on a float32 view (offsets in bytes). Also the wasm kernel's path for o % 16 != 0. */
function denseJs(f: Float32Array, x: number, n: number, inDim: number, w: number, o: number, bias: number, out: number, relu: boolean): void {
  const xo = x >> 2; const wo = w >> 2; const bo = bias >> 2; const oo = out >> 2;
  for (let i = 0; i < n; i++) {
    const row = oo + i * o;
    for (let j = 0; j < o; j++) f[row + j] = f[bo + j];
    for (let k = 0; k < inDim; k++) {
      const s = f[xo + i * inDim + k];
      const wr = wo + k * o;
      for (let j = 0; j < o; j++) f[row + j] += s * f[wr + j];
    }
    if (relu) for (let j = 0; j < o; j++) if (!(f[row + j] > 0)) f[row + j] = 0;
  }
}

function scoreBlockedJs(f: Float32Array, m: number, nb: number, d: number, q: number, out: number): void {
  let mo = m >> 2; const qo = q >> 2; let oo = out >> 2;
  const acc = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    acc.fill(0);
    for (let k = 0; k < d; k++) {
      const s = f[qo + k];
      for (let r = 0; r < 16; r++) acc[r] += s * f[mo + r];
      mo += 16;
    }
    f.set(acc, oo);
    oo += 16;
  }
}

/** Whether the WebAssembly SIMD kernels run in this realm. */
export function f32SimdAvailable(): boolean {
  return wasmModule() !== null;
}

/**
 * A kernel with its own memory: WebAssembly SIMD unless `forceJs` or it is unavailable; with the
 * relaxed-SIMD functions where they run, unless `noRelaxed`.
 */
export function createF32Kernel(options: { forceJs?: boolean; noRelaxed?: boolean } = {}): F32Kernel {
  const mod = options.forceJs ? null : wasmModule();
  if (mod) {
    const ex = new WebAssembly.Instance(mod).exports as unknown as Exports;
    const rmod = options.noRelaxed ? null : relaxedModule();
    const rx = rmod ? new WebAssembly.Instance(rmod, { env: { memory: ex.memory } }).exports as unknown as RelaxedExports : null;
    let view = new Float32Array(ex.memory.buffer);
    return {
      simd: true,
      get buffer() { return ex.memory.buffer; },
      reserve(bytes: number) {
        const pages = Math.ceil(bytes / 65536) - ex.memory.buffer.byteLength / 65536;
        if (pages > 0) ex.memory.grow(pages);
        view = new Float32Array(ex.memory.buffer);
        return ex.memory.buffer;
      },
      dense(x, n, inDim, w, o, bias, out, relu) {
        if (o % 16 === 0) ex.dense(x, n, inDim, w, o, bias, out, relu ? 1 : 0);
        else denseJs(view, x, n, inDim, w, o, bias, out, relu);
      },
      scoreBlocked(m, nb, d, q, out) { ex.scoreBlocked(m, nb, d, q, out); },
      layerNorm(src, dst, n, d, g, b, eps) {
        if (d % 4 === 0) ex.layerNorm(src, dst, n, d, g, b, eps); else layerNormJs(view, src, dst, n, d, g, b, eps);
      },
      dots(q, k, kstride, nk, hd, div, out) {
        if (hd % 4 === 0 && q % 16 === 0 && k % 16 === 0 && kstride % 16 === 0) ex.dots(q, k, kstride, nk, hd, div, out);
        else dotsJs(view, q, k, kstride, nk, hd, div, out);
      },
      mix(p, v, vstride, nk, hd, out) {
        if (hd % 4 === 0) ex.mix(p, v, vstride, nk, hd, out); else mixJs(view, p, v, vstride, nk, hd, out);
      },
      prefilterI8: ex.prefilterI8,
      dotRows: ex.dotRows,
      quantizeRows: ex.quantizeRows,
      decodeF16: ex.decodeF16,
      ...(rx ? { prefilterU4: rx.prefilterU4, quantizeRowsU4: rx.quantizeRowsU4 } : {}),
    };
  }
  let buf = new ArrayBuffer(0);
  let view = new Float32Array(buf);
  return {
    simd: false,
    get buffer() { return buf; },
    reserve(bytes: number) {
      if (bytes > buf.byteLength) {
        const next = new ArrayBuffer(Math.ceil(bytes / 16) * 16);
        new Uint8Array(next).set(new Uint8Array(buf));
        buf = next;
        view = new Float32Array(buf);
      }
      return buf;
    },
    dense(x, n, inDim, w, o, bias, out, relu) { denseJs(view, x, n, inDim, w, o, bias, out, relu); },
    scoreBlocked(m, nb, d, q, out) { scoreBlockedJs(view, m, nb, d, q, out); },
    layerNorm(src, dst, n, d, g, b, eps) { layerNormJs(view, src, dst, n, d, g, b, eps); },
    dots(q, k, kstride, nk, hd, div, out) { dotsJs(view, q, k, kstride, nk, hd, div, out); },
    mix(p, v, vstride, nk, hd, out) { mixJs(view, p, v, vstride, nk, hd, out); },
  };
}

/** Bump allocation of 16-byte aligned float32 arrays, laid out before `reserve`. */
export class F32Layout {
  bytes = 0;
  /** Reserves `count` floats; returns the byte offset. */
  take(count: number): number {
    const at = this.bytes;
    this.bytes += Math.ceil((count * 4) / 16) * 16;
    return at;
  }
}

/**
 * Writes row-major rows [rows, d] into the blocked layout of `scoreBlocked`: blocks of 16 rows, each
 * block k-major (16 values of column k, then of k + 1, ...); the last block is padded with zero rows.
 * `dst` is a float32 view of ceil(rows / 16) * 16 * d values.
 */
export function blockRows(src: Float32Array, rows: number, d: number, dst: Float32Array): void {
  dst.fill(0);
  for (let r = 0; r < rows; r++) {
    const base = (r >> 4) * 16 * d + (r & 15);
    const so = r * d;
    for (let k = 0; k < d; k++) dst[base + k * 16] = src[so + k];
  }
}

/** Index of row r, column k in the blocked layout. */
export const blockedIndex = (r: number, k: number, d: number): number => (r >> 4) * 16 * d + k * 16 + (r & 15);
