/**
 * A minimal ONNX protobuf writer (no dependency): the messages and fields an inference graph needs
 * (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto), encoded by
 * hand with the field numbers of onnx/onnx.proto. Used by ./sasrec.ts to export a scenerec model
 * for the onnxruntime-web peer of `npm run bench`.
 */

/** TensorProto.DataType values used here. */
export const DT = { FLOAT: 1, INT64: 7, FLOAT16: 10 } as const;
export type DataType = (typeof DT)[keyof typeof DT];

/** Protobuf wire encoding into a growable byte list (large payloads are kept as separate chunks). */
class Writer {
  private chunks: Uint8Array[] = [];
  private buf: number[] = [];
  private flush(): void {
    if (this.buf.length) { this.chunks.push(Uint8Array.from(this.buf)); this.buf = []; }
  }
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) { this.buf.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
    this.buf.push(Number(x));
  }
  tag(field: number, wire: number): void { this.varint((field << 3) | wire); }
  int(field: number, v: number | bigint): void { this.tag(field, 0); this.varint(v); }
  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.buf.push(...b);
  }
  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    if (data.length > 4096) { this.flush(); this.chunks.push(data); } else this.buf.push(...data);
  }
  string(field: number, s: string): void { this.bytes(field, new TextEncoder().encode(s)); }
  /** A nested message; its large chunks are referenced, not copied. */
  message(field: number, m: Writer): void {
    m.flush();
    this.tag(field, 2);
    this.varint(m.length());
    this.flush();
    this.chunks.push(...m.chunks);
  }
  private length(): number { return this.chunks.reduce((n, c) => n + c.length, 0) + this.buf.length; }
  packedInts(field: number, vs: readonly number[]): void {
    const w = new Writer();
    for (const v of vs) w.varint(v);
    this.bytes(field, w.finish());
  }
  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

/** A constant tensor (graph initializer or Constant value). */
export interface Tensor { name: string; dims: number[]; type: DataType; data: Float32Array | BigInt64Array | Uint16Array }
export type Attr = number | number[] | string | { tensor: Tensor } | { float: number };
export interface Node { op: string; inputs: string[]; outputs: string[]; attrs?: Record<string, Attr>; name?: string }
/** A graph input or output: element type and shape (a string is a symbolic dimension). */
export interface ValueInfo { name: string; type: DataType; shape: Array<number | string> }
export interface Graph { name: string; nodes: Node[]; initializers: Tensor[]; inputs: ValueInfo[]; outputs: ValueInfo[] }

function tensorProto(t: Tensor): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.type);
  w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data, little-endian
  return w;
}

function attributeProto(name: string, a: Attr): Writer {
  const w = new Writer();
  w.string(1, name);
  if (typeof a === 'number') {
    if (!Number.isInteger(a)) throw new Error(`attribute ${name}: use { float } for a float`);
    w.int(3, a); w.int(20, 2); // i, INT
  } else if (typeof a === 'string') {
    w.string(4, a); w.int(20, 3); // s, STRING
  } else if (Array.isArray(a)) {
    for (const v of a) w.int(8, v); // ints (unpacked: every reader accepts it)
    w.int(20, 7); // INTS
  } else if ('tensor' in a) {
    w.message(5, tensorProto(a.tensor)); w.int(20, 4); // t, TENSOR
  } else {
    w.float(2, a.float); w.int(20, 1); // f, FLOAT
  }
  return w;
}

function valueInfoProto(v: ValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.shape) {
    const dim = new Writer();
    if (typeof d === 'number') dim.int(1, d); else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new Writer();
  tensorType.int(1, v.type);
  tensorType.message(2, shape);
  const type = new Writer();
  type.message(1, tensorType);
  const w = new Writer();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

/** Encodes a ModelProto (IR version 8) holding `graph`, for the default ONNX domain at `opset`. */
export function encodeModel(graph: Graph, opset: number, producer = 'scenerec'): Uint8Array {
  const g = new Writer();
  graph.nodes.forEach((n, i) => {
    const w = new Writer();
    for (const x of n.inputs) w.string(1, x);
    for (const x of n.outputs) w.string(2, x);
    w.string(3, n.name ?? `${n.op}_${i}`);
    w.string(4, n.op);
    for (const [k, a] of Object.entries(n.attrs ?? {})) w.message(5, attributeProto(k, a));
    g.message(1, w);
  });
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensorProto(t));
  for (const v of graph.inputs) g.message(11, valueInfoProto(v));
  for (const v of graph.outputs) g.message(12, valueInfoProto(v));
  const m = new Writer();
  m.int(1, 8); // ir_version
  m.string(2, producer);
  m.message(7, g);
  const op = new Writer();
  op.string(1, '');
  op.int(2, opset);
  m.message(8, op);
  return m.finish();
}
