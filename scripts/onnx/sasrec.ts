/**
 * Exports a scenerec SASRec model folder (TF.js format, docs/model-format.md) to an ONNX graph that
 * computes what a scenerec home call computes before ranking: the forward pass over the history's
 * real positions, the scores of every model row against the last position's state, the rows the
 * catalog cannot show pushed to -Infinity, and the top-k (TopK). Same weights, same math as
 * src/model/sasrec.ts `forward` (pre-LN blocks, causal attention, ReLU feed-forward, final
 * layer norm, epsilon 1e-6, item embedding scaled by sqrt(d), tied output layer).
 *
 * Graph inputs (one history, its n real positions only, as scenerec's fused forward reads it):
 *   ids  int64 [n]  model rows, oldest first (src/model/inputs.ts historyView().sequence, last maxLen)
 *   pos  int64 [n]  their position rows, maxLen-n .. maxLen-1
 *   k    int64 [1]  list length
 * Outputs: values float32 [1, k], indices int64 [1, k] (model rows), hidden float32 [1, d].
 * Opset 17 (LayerNormalization, Trilu). Multi-task models (`config.features`) are not exported.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DT, encodeModel, type Graph, type Node, type Tensor } from './proto.js';

interface ManifestWeight { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }
export interface SasrecHeader {
  config: { numItems: number; maxLen: number; hiddenDim: number; numBlocks: number; numHeads: number; ffnDim: number; features?: unknown };
  modelVersion: string;
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Reads every weight of a model folder as float32 (float16 weights decoded as tf.io.decodeWeights does). */
export function readModelWeights(dir: string): { header: SasrecHeader; weights: Map<string, { shape: number[]; data: Float32Array }> } {
  const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const header = model.userDefinedMetadata.scenerec as SasrecHeader;
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const group of model.weightsManifest as Array<{ paths: string[]; weights: ManifestWeight[] }>) {
    const bin = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let off = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const stored = w.quantization?.dtype ?? w.dtype;
      const data = new Float32Array(n);
      if (stored === 'float16') {
        for (let i = 0; i < n; i++) data[i] = f16(bin.readUInt16LE(off + 2 * i));
        off += 2 * n;
      } else if (stored === 'float32') {
        for (let i = 0; i < n; i++) data[i] = bin.readFloatLE(off + 4 * i);
        off += 4 * n;
      } else throw new Error(`weight ${w.name}: stored dtype ${stored} is not supported by the ONNX export`);
      weights.set(w.name, { shape: w.shape, data });
    }
  }
  return { header, weights };
}

export interface ExportOptions {
  /** Model rows the list must never show (row 0, the padding row, always): their score becomes -Infinity. */
  excludedRows?: Iterable<number>;
}

/** Builds the ONNX model bytes for the model folder `dir`. */
export function exportSasrecOnnx(dir: string, options: ExportOptions = {}): Uint8Array {
  const { header, weights } = readModelWeights(dir);
  const cfg = header.config;
  if (cfg.features) throw new Error('the ONNX export covers the single-objective sasrec architecture only');
  const d = cfg.hiddenDim;
  const h = cfg.numHeads;
  const hd = d / h;
  const rows = cfg.numItems + 1;
  const init: Tensor[] = [];
  const nodes: Node[] = [];
  const f32 = (name: string, dims: number[], data: Float32Array | number[]) => {
    init.push({ name, dims, type: DT.FLOAT, data: data instanceof Float32Array ? data : Float32Array.from(data) });
    return name;
  };
  const i64 = (name: string, dims: number[], data: number[]) => {
    init.push({ name, dims, type: DT.INT64, data: BigInt64Array.from(data.map(BigInt)) });
    return name;
  };
  const w = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`model ${dir} has no weight ${name}`);
    return f32(name, t.shape, t.data);
  };
  let tmp = 0;
  const op = (type: string, inputs: string[], attrs?: Node['attrs'], outName?: string): string => {
    const out = outName ?? `t${tmp++}`;
    nodes.push({ op: type, inputs, outputs: [out], attrs });
    return out;
  };
  const dense = (x: string, p: string) => op('Add', [op('MatMul', [x, w(`${p}/kernel`)]), w(`${p}/bias`)]);
  const norm = (x: string, p: string) => op('LayerNormalization', [x, w(`${p}/gamma`), w(`${p}/beta`)], { axis: -1, epsilon: { float: 1e-6 } });

  const E = w('itemEmbedding');
  const P = w('positionEmbedding');
  f32('sqrtD', [], [Math.sqrt(d)]);
  f32('invSqrtHd', [], [1 / Math.sqrt(hd)]);
  i64('one', [], [1]);
  i64('lastIndex', [1], [-1]);
  if (h > 1) {
    i64('headsShape', [3], [-1, h, hd]);
    i64('flatShape', [2], [-1, d]);
  }
  const bias = new Float32Array(rows);
  bias[0] = -Infinity;
  for (const r of options.excludedRows ?? []) if (r >= 0 && r < rows) bias[r] = -Infinity;
  f32('rowBias', [rows], bias);

  let x = op('Add', [op('Mul', [op('Gather', [E, 'ids'], { axis: 0 }), 'sqrtD']), op('Gather', [P, 'pos'], { axis: 0 })]);
  const n = op('Shape', ['ids']);
  const nn = op('Concat', [n, n], { axis: 0 });
  const big = op('ConstantOfShape', [nn], { value: { tensor: { name: 'v', dims: [1], type: DT.FLOAT, data: Float32Array.of(-1e9) } } });
  const causal = op('Trilu', [big, 'one'], { upper: 1 }); // -1e9 above the diagonal: no attention to later steps
  for (let b = 0; b < cfg.numBlocks; b++) {
    const p = `block${b}`;
    const a = norm(x, `${p}/attnNorm`);
    let q = dense(a, `${p}/query`);
    let k = dense(a, `${p}/key`);
    let v = dense(a, `${p}/value`);
    let kT: string;
    if (h > 1) {
      q = op('Transpose', [op('Reshape', [q, 'headsShape'])], { perm: [1, 0, 2] });
      kT = op('Transpose', [op('Reshape', [k, 'headsShape'])], { perm: [1, 2, 0] });
      v = op('Transpose', [op('Reshape', [v, 'headsShape'])], { perm: [1, 0, 2] });
    } else kT = op('Transpose', [k], { perm: [1, 0] });
    const logits = op('Add', [op('Mul', [op('MatMul', [q, kT]), 'invSqrtHd']), causal]);
    let ctx = op('MatMul', [op('Softmax', [logits], { axis: -1 }), v]);
    if (h > 1) ctx = op('Reshape', [op('Transpose', [ctx], { perm: [1, 0, 2] }), 'flatShape']);
    x = op('Add', [x, dense(ctx, `${p}/attnOut`)]);
    const f = op('Relu', [dense(norm(x, `${p}/ffnNorm`), `${p}/ffn1`)]);
    x = op('Add', [x, dense(f, `${p}/ffn2`)]);
  }
  const hidden = op('Gather', [norm(x, 'finalNorm'), 'lastIndex'], { axis: 0 }, 'hidden');
  const scores = op('Add', [op('Gemm', [hidden, E], { transB: 1 }), 'rowBias']);
  nodes.push({ op: 'TopK', inputs: [scores, 'k'], outputs: ['values', 'indices'], attrs: { axis: -1, largest: 1, sorted: 1 } });

  const graph: Graph = {
    name: `scenerec-${header.modelVersion}`,
    nodes,
    initializers: init,
    inputs: [
      { name: 'ids', type: DT.INT64, shape: ['n'] },
      { name: 'pos', type: DT.INT64, shape: ['n'] },
      { name: 'k', type: DT.INT64, shape: [1] },
    ],
    outputs: [
      { name: 'values', type: DT.FLOAT, shape: [1, 'k'] },
      { name: 'indices', type: DT.INT64, shape: [1, 'k'] },
      { name: 'hidden', type: DT.FLOAT, shape: [1, d] },
    ],
  };
  return encodeModel(graph, 17);
}

/** The `ids` and `pos` inputs for a history sequence (model rows, oldest first): its last maxLen rows. */
export function onnxInputs(sequence: readonly number[], maxLen: number): { ids: BigInt64Array; pos: BigInt64Array } {
  const s = sequence.slice(-maxLen);
  return {
    ids: BigInt64Array.from(s.map(BigInt)),
    pos: BigInt64Array.from(s.map((_, i) => BigInt(maxLen - s.length + i))),
  };
}
