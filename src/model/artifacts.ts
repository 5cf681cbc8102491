/**
 * The on-disk model format: standard TF.js artifacts (model.json with a
 * weightsManifest, binary weight shards) whose userDefinedMetadata carries the
 * scenerec header, plus vocab.json mapping model item indices to shop item ids.
 * Works the same in Node (trainer, evaluator) and the browser (worker).
 */
import * as tf from '@tensorflow/tfjs';
import type { SasRecConfig, WeightMap } from './sasrec.js';
import { TASKS } from './features.js';
import { yieldToEventLoop } from '../util/clock.js';
import { HostItemTable } from './item-table.js';
import type { F32Kernel } from '../kernels/f32.js';

export const MODEL_FORMAT = 'scenerec-sasrec';
/**
 * The newest format version this SDK reads. 1: single-head models and the 3-head multi-task model
 * (click, cart, purchase); 2: the multi-task model may also hold the favorite (satisfaction) head.
 * A model is written with the lowest version that describes it, so SDKs that read only version 1
 * keep loading every model without the favorite head, and refuse one with it (upgrade scenerec).
 */
export const MODEL_FORMAT_VERSION = 2;

/** The format version a model with this config is written with (see MODEL_FORMAT_VERSION). */
export function formatVersionOf(config: SasRecConfig): number {
  return config.features?.tasks.includes('favorite') ? 2 : 1;
}

/** What model.json's userDefinedMetadata.scenerec holds. */
export interface ModelHeader {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  /** Unique per trained artifact; used as the cache key so an upgrade never reuses stale data. */
  modelVersion: string;
  /** 'sasrec-mtl': the multi-task variant with item features, behaviour and scene inputs (config.features). */
  architecture: 'sasrec' | 'sasrec-mtl';
  config: SasRecConfig;
  /** Relative to model.json. */
  vocabPath: string;
  /** How weights are stored: float32 or float16 (dequantised to float32 on load). */
  weightDtype: 'float32' | 'float16';
}

/** vocab.json */
export interface ModelVocab {
  /** itemIds[i] is the shop item id of model index i; itemIds[0] is '' (padding). */
  itemIds: string[];
  /** Interaction count per model index in the training data (cold-start popularity). */
  popularity: number[];
  /** Content vocabularies of a feature model (architecture 'sasrec-mtl'). */
  features?: VocabFeatures;
}

/** How shop metadata maps to the feature tables; index 0 of each table is "unknown". */
export interface VocabFeatures {
  /** categoryIds[c] = shop category id of category index c; [0] = ''. */
  categoryIds: string[];
  brandIds: string[];
  /** Ascending price bucket edges: bucket = 1 + number of edges <= price; 0 = no price. */
  priceEdges: number[];
  /** Per model item index: category, brand and price bucket indices. */
  itemCategory: number[];
  itemBrand: number[];
  itemPrice: number[];
}

export interface LoadedModel {
  header: ModelHeader;
  vocab: ModelVocab;
  weights: WeightMap;
  /** Bytes of weight data as stored (what was downloaded). */
  weightBytes: number;
  /**
   * The item embedding's float32 values as decoded (the same values as `weights.itemEmbedding`), so
   * the first catalog matrix is built without reading the tensor back; absent for other storages.
   */
  itemTable?: Float32Array;
  /**
   * The item embedding held once in a float32 kernel's memory, in place of `weights.itemEmbedding`
   * (loaded with `hostItemTable`: the CPU backends' fused path; see ./item-table.ts).
   */
  hostItemTable?: HostItemTable;
}

export interface SavedFiles {
  'model.json': string;
  'vocab.json': string;
  'weights.bin': Uint8Array;
}

/** Converts float32 values to IEEE half-precision bit patterns (round to nearest even). */
export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    let exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    exp = exp - 127 + 15;
    if (exp >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (exp <= 0) {
      if (exp < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - exp;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && (half & 1))) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (exp << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
    out[i] = sign | half;
  }
  return out;
}

/** Serialises a model into the three files of the format. */
export async function serializeModel(
  header: ModelHeader,
  vocab: ModelVocab,
  weights: WeightMap,
  order: string[],
): Promise<SavedFiles> {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const name of order) {
    const t = weights[name];
    const values = (await t.data()) as Float32Array;
    if (header.weightDtype === 'float16') {
      const bits = float32ToFloat16Bits(values);
      chunks.push(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength));
      specs.push({ name, shape: t.shape, dtype: 'float32', quantization: { dtype: 'float16' } });
    } else {
      chunks.push(new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)));
      specs.push({ name, shape: t.shape, dtype: 'float32' });
    }
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) { data.set(c, offset); offset += c.byteLength; }
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'scenerec',
    convertedBy: null,
    userDefinedMetadata: { scenerec: header },
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  return {
    'model.json': JSON.stringify(modelJson, null, 1),
    'vocab.json': JSON.stringify(vocab),
    'weights.bin': data,
  };
}

/** Checks a parsed header; throws an Error whose message says what is wrong. */
export function validateHeader(meta: unknown): ModelHeader {
  const h = (meta as { scenerec?: ModelHeader } | undefined)?.scenerec;
  if (!h || h.format !== MODEL_FORMAT) {
    throw new Error('model.json has no userDefinedMetadata.scenerec header: not a scenerec model');
  }
  if (h.formatVersion > MODEL_FORMAT_VERSION) {
    throw new Error(`model format version ${h.formatVersion} is newer than this SDK understands (${MODEL_FORMAT_VERSION}); upgrade scenerec`);
  }
  const c = h.config;
  for (const key of ['numItems', 'maxLen', 'hiddenDim', 'numBlocks', 'numHeads', 'ffnDim'] as const) {
    if (!Number.isInteger(c?.[key]) || c[key] <= 0) throw new Error(`model.json config.${key} must be a positive integer`);
  }
  if (c.hiddenDim % c.numHeads !== 0) throw new Error('model.json config.hiddenDim must be divisible by numHeads');
  if (h.architecture === 'sasrec-mtl') {
    const f = c.features;
    if (!f) throw new Error('a sasrec-mtl model needs config.features');
    // An item file without a category or brand column gives 0 of them (their tables keep row 0, "none").
    for (const key of ['numCategories', 'numBrands'] as const) {
      if (!Number.isInteger(f[key]) || f[key] < 0) throw new Error(`model.json config.features.${key} must be a non-negative integer`);
    }
    for (const key of ['numPriceBuckets', 'numBehaviours', 'numScenes'] as const) {
      if (!Number.isInteger(f[key]) || f[key] <= 0) throw new Error(`model.json config.features.${key} must be a positive integer`);
    }
    if (!Array.isArray(f.tasks) || f.tasks.length === 0 || !f.tasks.every((t) => typeof t === 'string')) {
      throw new Error('model.json config.features.tasks must list the task heads');
    }
    const heads = f.tasks as string[];
    for (const [i, t] of heads.entries()) {
      if (!(TASKS as readonly string[]).includes(t)) throw new Error(`model.json config.features.tasks[${i}] is "${t}": each head must be one of ${TASKS.join(', ')}`);
      if (heads.indexOf(t) !== i) throw new Error(`model.json config.features.tasks lists the head "${t}" twice`);
    }
    if (heads[0] !== 'click') throw new Error(`model.json config.features.tasks must start with the click head (got ${heads.join(', ')})`);
    if (heads.includes('favorite') && !(h.formatVersion >= 2)) {
      throw new Error(`model.json has a favorite head but format version ${String(h.formatVersion)}; a model with that head is format version 2: re-export it`);
    }
  } else if (h.architecture !== undefined && h.architecture !== 'sasrec') {
    throw new Error(`unknown architecture "${String(h.architecture)}"; upgrade scenerec`);
  } else if (c.features) {
    throw new Error('config.features is only valid with architecture "sasrec-mtl"');
  }
  return h;
}

const ELEMENT_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, float16: 2, uint16: 2, uint8: 1 };

/** Bytes one weight takes in the weight data (its quantised size when quantised). */
export function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const per = ELEMENT_BYTES[spec.quantization?.dtype ?? spec.dtype];
  if (per === undefined) throw new Error(`model weight "${spec.name}" has dtype ${spec.dtype}, which scenerec does not read`);
  return spec.shape.reduce((a, b) => a * b, 1) * per;
}

/** A weight value that is NaN or infinite: the tensor, its row (first index) and column (the rest, flattened). */
export interface NonFiniteWeight {
  name: string;
  row: number;
  column: number;
  value: number;
  /** Rows of this tensor with at least one non-finite value. */
  rows: number;
}

/**
 * The first weight tensor (in manifest order) holding a NaN or an infinity, read from the raw
 * weight data before decoding (float32 and float16 weights; affine-quantised ones cannot hold one).
 */
export function findNonFinite(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): NonFiniteWeight | undefined {
  const view = new DataView(data);
  let offset = 0;
  for (const spec of specs) {
    const bytes = specBytes(spec);
    const q = spec.quantization?.dtype;
    const kind = q === 'float16' ? 'f16' : !q && spec.dtype === 'float32' ? 'f32' : undefined;
    if (kind && offset + bytes <= data.byteLength) {
      const n = kind === 'f32' ? bytes / 4 : bytes / 2;
      const width = spec.shape.length > 1 ? spec.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
      let first: NonFiniteWeight | undefined;
      let lastRow = -1;
      let rows = 0;
      // Typed-array views where the offset allows (the usual case, several times faster than DataView).
      const f32 = kind === 'f32' && offset % 4 === 0 ? new Float32Array(data, offset, n) : undefined;
      const u16 = kind === 'f16' && offset % 2 === 0 ? new Uint16Array(data, offset, n) : undefined;
      for (let i = 0; i < n; i++) {
        let value: number;
        if (kind === 'f32') {
          value = f32 ? f32[i] : view.getFloat32(offset + i * 4, true);
          if (value - value === 0) continue; // finite (NaN and ±Infinity give NaN)
        } else {
          const h = u16 ? u16[i] : view.getUint16(offset + i * 2, true);
          if ((h & 0x7c00) !== 0x7c00) continue;
          value = h & 0x3ff ? NaN : h & 0x8000 ? -Infinity : Infinity;
        }
        const row = Math.floor(i / width);
        first ??= { name: spec.name, row, column: i % width, value, rows: 0 };
        if (row !== lastRow) { rows++; lastRow = row; }
      }
      if (first) return { ...first, rows };
    }
    offset += bytes;
  }
  return undefined;
}

/** float16 bit pattern -> float32 bit pattern, all 65,536 of them (built on first use). */
let f16Bits: Uint32Array | undefined;
function f16ToF32Bits(): Uint32Array {
  if (f16Bits) return f16Bits;
  const f = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    f[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (f16Bits = new Uint32Array(f.buffer));
}

/**
 * bits[i] = table[h[i]] for i in [i0, i1); returns the OR of (exponent + 0x400) over the slice, whose
 * bit 15 is set when some value is NaN or ±Infinity. A plain function, not inlined in the generator
 * below: V8 optimises a hot loop in a plain function much better than one in a generator body.
 */
function decodeF16Slice(h: Uint16Array, bits: Uint32Array, table: Uint32Array, i0: number, i1: number): number {
  let top = 0;
  for (let i = i0; i < i1; i++) { const x = h[i]; bits[i] = table[x]; top |= (x & 0x7c00) + 0x400; }
  return top;
}

/** Values a weight decode handles between two yields (a few tens of ms of work at most). */
const DECODE_SLICE_VALUES = 1 << 22;

/**
 * One weight's values as float32, for the two storages scenerec writes (float32, float16); undefined
 * for any other (TF.js decodes those). float16 is decoded by table lookup: the same values as
 * tf.io.decodeWeights (every float16 is a float32), several times faster on a large item table.
 */

function* decodeFloatWeight(buffer: ArrayBuffer, offset: number, spec: tf.io.WeightsManifestEntry, target?: Float32Array, kernel?: F32Kernel): Generator<void, Float32Array | undefined> {
  const q = spec.quantization?.dtype;
  const n = spec.shape.reduce((a, b) => a * b, 1);
  let nonFinite = false;
  let out: Float32Array;
  // A million-item table is tens of millions of values: decoded in slices, with a step between them
  // where weightsFromArtifactsInSlices lets the event loop run (a worker keeps answering its pings).
  if (!q && spec.dtype === 'float32') {
    if (target) {
      target.set(offset % 4 === 0 ? new Float32Array(buffer, offset, n) : new Float32Array(buffer.slice(offset, offset + n * 4)));
      out = target;
    } else out = offset % 4 === 0 ? new Float32Array(buffer, offset, n).slice() : new Float32Array(buffer.slice(offset, offset + n * 4));
    for (let i0 = 0; i0 < n && !nonFinite; i0 += DECODE_SLICE_VALUES) {
      if (i0 > 0) yield;
      const i1 = Math.min(n, i0 + DECODE_SLICE_VALUES);
      for (let i = i0; i < i1 && !nonFinite; i++) nonFinite = out[i] - out[i] !== 0; // NaN and ±Infinity give NaN
    }
  } else if (q === 'float16' && spec.dtype === 'float32') {
    const h = offset % 2 === 0 ? new Uint16Array(buffer, offset, n) : new Uint16Array(buffer.slice(offset, offset + n * 2));
    const table = f16ToF32Bits();
    const bits = target ? new Uint32Array(target.buffer, target.byteOffset, n) : new Uint32Array(n);
    let top = 0; // bit 15 set when some exponent is all ones (NaN, ±Infinity)
    // Into a SIMD kernel's memory: each slice's float16 bits are copied into the second half of its
    // float32 destination and decoded there, in place, by the kernel (the same values as the table).
    const inKernel = target && kernel?.decodeF16 && target.buffer === kernel.buffer ? kernel.decodeF16 : undefined;
    for (let i0 = 0; i0 < n; i0 += DECODE_SLICE_VALUES) {
      if (i0 > 0) yield;
      const i1 = Math.min(n, i0 + DECODE_SLICE_VALUES);
      const wide = inKernel ? (i1 - i0) & ~7 : 0;
      if (wide > 0) {
        const dst = target!.byteOffset + i0 * 4;
        new Uint16Array(kernel!.buffer, dst + wide * 2, wide).set(h.subarray(i0, i0 + wide));
        if (inKernel!(dst + wide * 2, dst, wide) !== 0) top |= 0x8000;
      }
      if (i0 + wide < i1) top |= decodeF16Slice(h, bits, table, i0 + wide, i1);
    }
    nonFinite = (top & 0x8000) !== 0;
    out = target ?? new Float32Array(bits.buffer);
  } else return undefined;
  if (nonFinite) throw new NonFiniteWeightsError(spec.name);
  return out;
}

/** A decoded weight holds NaN or ±Infinity (findNonFinite then says where). */
export class NonFiniteWeightsError extends Error {
  constructor(readonly weight: string) {
    super(`model weight "${weight}" has a non-finite value`);
    this.name = 'NonFiniteWeightsError';
  }
}

/**
 * Builds the weight map from decoded artifacts and checks every expected weight is present with the
 * right shape; throws NonFiniteWeightsError (before any shape check) when a float32 or float16
 * weight holds NaN or ±Infinity, found while decoding. `itemTable`: the item embedding's float32 values as decoded (the catalog matrix is
 * built from them without reading the tensor back), when it is stored as float32 or float16.
 */
export function weightsFromArtifacts(artifacts: tf.io.ModelArtifacts, expected: Array<[string, number[]]>, options: DecodeOptions = {}): DecodedWeights {
  const steps = weightSteps(artifacts, expected, options);
  for (;;) { const s = steps.next(); if (s.done) return s.value; }
}

/** `weightsFromArtifacts`, letting the event loop run between slices of the decode (a worker keeps answering its liveness pings). */
export async function weightsFromArtifactsInSlices(artifacts: tf.io.ModelArtifacts, expected: Array<[string, number[]]>, options: DecodeOptions = {}): Promise<DecodedWeights> {
  const steps = weightSteps(artifacts, expected, options);
  for (;;) { const s = steps.next(); if (s.done) return s.value; await yieldToEventLoop(); }
}

/**
 * `hostItemTable`: decode a float32 or float16 `itemEmbedding` [rows, d] straight into a
 * HostItemTable (./item-table.ts) and make no tensor of it: the weight map then lacks
 * `itemEmbedding`, and the result's `hostItemTable` holds it (the CPU backends' fused path).
 */
export interface DecodeOptions {
  hostItemTable?: boolean;
}

type DecodedWeights = { weights: WeightMap; weightBytes: number; itemTable?: Float32Array; hostItemTable?: HostItemTable };

function* weightSteps(artifacts: tf.io.ModelArtifacts, expected: Array<[string, number[]]>, options: DecodeOptions = {}): Generator<void, DecodedWeights> {
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error('model has no weights');
  // One buffer is read as it is (join would copy it whole).
  const data = artifacts.weightData;
  const buffer = data instanceof ArrayBuffer ? data : tf.io.CompositeArrayBuffer.join(data);
  const named: Record<string, tf.Tensor> = {};
  let itemTable: Float32Array | undefined;
  let host: HostItemTable | undefined;
  let offset = 0;
  try {
    for (const spec of artifacts.weightSpecs) {
      const bytes = specBytes(spec);
      if (offset + bytes > buffer.byteLength) throw new Error(`model weights end before "${spec.name}" (${buffer.byteLength} bytes)`);
      const toHost = options.hostItemTable === true && spec.name === 'itemEmbedding' && spec.shape.length === 2 && spec.dtype === 'float32'
        && (spec.quantization === undefined || spec.quantization.dtype === 'float16');
      const table = toHost ? HostItemTable.allocate(spec.shape[0], spec.shape[1]) : undefined;
      const values = yield* decodeFloatWeight(buffer, offset, spec, table?.values, table?.kernel);
      if (named[spec.name]) named[spec.name].dispose();
      if (table) {
        delete named[spec.name];
        host = table;
      } else if (values) {
        named[spec.name] = tf.tensor(values, spec.shape, 'float32');
        if (spec.name === 'itemEmbedding') itemTable = values;
      } else {
        named[spec.name] = tf.io.decodeWeights(buffer.slice(offset, offset + bytes), [spec])[spec.name];
      }
      offset += bytes;
    }
  } catch (e) {
    for (const x of Object.values(named)) x.dispose();
    throw e;
  }
  const weights: WeightMap = {};
  for (const [name, shape] of expected) {
    const t: { shape: number[] } | undefined = name === 'itemEmbedding' && host && !named[name] ? { shape: [host.rows, host.dim] } : named[name];
    const problem = !t
      ? `model weights lack "${name}"`
      : t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])
        ? `model weight "${name}" has shape [${t.shape}], expected [${shape}]`
        : undefined;
    if (problem) {
      // Nothing decoded may outlive a refused model.
      for (const x of Object.values(named)) x.dispose();
      throw new Error(problem);
    }
    if (named[name]) weights[name] = named[name];
  }
  for (const [name, t] of Object.entries(named)) if (!(name in weights)) t.dispose();
  return {
    weights, weightBytes: buffer.byteLength, itemTable: weights.itemEmbedding && itemTable ? itemTable : undefined,
    ...(host && !weights.itemEmbedding ? { hostItemTable: host } : {}),
  };
}

export function validateVocab(vocab: unknown, numItems: number, features?: SasRecConfig['features']): ModelVocab {
  const v = vocab as ModelVocab;
  if (!v || !Array.isArray(v.itemIds) || v.itemIds.length !== numItems + 1) {
    throw new Error(`vocab.json must list numItems + 1 = ${numItems + 1} item ids`);
  }
  if (!Array.isArray(v.popularity) || v.popularity.length !== numItems + 1) {
    throw new Error(`vocab.json must give popularity for numItems + 1 = ${numItems + 1} entries`);
  }
  if (features) {
    const vf = v.features;
    if (!vf) throw new Error('vocab.json lacks the "features" section this model needs');
    const tables: Array<[keyof VocabFeatures, number]> = [
      ['itemCategory', features.numCategories], ['itemBrand', features.numBrands], ['itemPrice', features.numPriceBuckets],
    ];
    for (const [key, size] of tables) {
      const arr = vf[key] as number[];
      if (!Array.isArray(arr) || arr.length !== numItems + 1) throw new Error(`vocab.json features.${key} must have numItems + 1 entries`);
      for (const x of arr) if (!Number.isInteger(x) || x < 0 || x > size) throw new Error(`vocab.json features.${key} has an index outside 0..${size}`);
    }
    if (!Array.isArray(vf.categoryIds) || vf.categoryIds.length !== features.numCategories + 1) throw new Error('vocab.json features.categoryIds must have numCategories + 1 entries');
    if (!Array.isArray(vf.brandIds) || vf.brandIds.length !== features.numBrands + 1) throw new Error('vocab.json features.brandIds must have numBrands + 1 entries');
    if (!Array.isArray(vf.priceEdges) || vf.priceEdges.length !== features.numPriceBuckets - 1) throw new Error('vocab.json features.priceEdges must have numPriceBuckets - 1 entries');
  }
  return v;
}
