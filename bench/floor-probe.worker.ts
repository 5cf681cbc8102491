/**
 * The floor probe's worker (./floor-probe.ts): the machine's peak single-core wasm SIMD
 * multiply-add rate, measured the way the engine's own kernels run (a module worker, V8's
 * optimizing tier). The loop is built here as wasm bytes: `acc = acc * m + c` on f32x4 registers
 * (f32x4.mul then f32x4.add, as src/kernels/f32.wat does; no FMA, which wasm SIMD forbids fusing),
 * several independent accumulators so no step waits on the one before, no load or store in the
 * loop. One lane's mul+add is one multiply-add. Nothing else runs in this worker.
 */

/** What the page asks: accumulator counts to try, and how long each timed run should last. */
export interface FloorProbeQuery { accumulators: number[]; runMs: number; runs: number }
export interface FloorProbeVariant { accumulators: number; gmacs: number }
export interface FloorProbeAnswer { gmacs: number; accumulators: number; unroll: number; runs: number; runMs: number; variants: FloorProbeVariant[]; method: string }

const UNROLL = 4;

const leb = (n: number): number[] => {
  const out: number[] = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return out;
};
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const f32x4Const = (v: number) => { const b = new Uint8Array(16); const dv = new DataView(b.buffer); for (let i = 0; i < 4; i++) dv.setFloat32(4 * i, v, true); return [0xfd, 0x0c, ...b]; };
const MUL = [0xfd, ...leb(230)];
const ADD = [0xfd, ...leb(228)];

/** `run(iterations) -> f32`: each iteration is `accumulators * UNROLL` f32x4 multiply-adds. */
function probeModule(accumulators: number): Uint8Array {
  const m = accumulators + 1; // local indices: 0 the count, 1..A accumulators, then m and c
  const c = accumulators + 2;
  const code: number[] = [...f32x4Const(0.9999), 0x21, m, ...f32x4Const(1e-3), 0x21, c];
  for (let a = 0; a < accumulators; a++) code.push(...f32x4Const(0.1 * (a + 1)), 0x21, 1 + a);
  code.push(0x03, 0x40); // loop
  for (let u = 0; u < UNROLL; u++) for (let a = 0; a < accumulators; a++) code.push(0x20, 1 + a, 0x20, m, ...MUL, 0x20, c, ...ADD, 0x21, 1 + a);
  code.push(0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0, 0x0b); // count -= 1; br_if loop; end
  code.push(0x20, 1);
  for (let a = 1; a < accumulators; a++) code.push(0x20, 1 + a, ...ADD); // the sum keeps every accumulator live
  code.push(0xfd, 0x1f, 0, 0x0b); // f32x4.extract_lane 0; end
  const body = [1, ...leb(accumulators + 2), 0x7b, ...code];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7d]),
    ...section(3, [1, 0]),
    ...section(7, [1, 3, ...[...'run'].map((ch) => ch.charCodeAt(0)), 0x00, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

async function measure(accumulators: number, runMs: number, runs: number): Promise<number> {
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(probeModule(accumulators) as BufferSource));
  const run = instance.exports.run as (n: number) => number;
  const macsPerIter = accumulators * UNROLL * 4;
  // Warm up until the optimizing tier has taken the function (V8 tiers up hot wasm functions).
  let iters = 1 << 14;
  for (let t0 = performance.now(); performance.now() - t0 < 3 * runMs;) run(iters);
  const t = performance.now(); run(iters); const once = Math.max(performance.now() - t, 1e-3);
  iters = Math.max(1, Math.round(iters * (runMs / once)));
  let best = 0;
  let sink = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    sink += run(iters);
    const ms = performance.now() - t0;
    best = Math.max(best, (iters * macsPerIter) / (ms * 1e6));
  }
  if (!Number.isFinite(sink)) throw new Error('floor probe: the accumulators overflowed');
  return best;
}

self.onmessage = async (ev: MessageEvent<FloorProbeQuery>) => {
  const { accumulators, runMs, runs } = ev.data;
  try {
    const variants: FloorProbeVariant[] = [];
    for (const a of accumulators) variants.push({ accumulators: a, gmacs: await measure(a, runMs, runs) });
    const best = variants.reduce((x, y) => (y.gmacs > x.gmacs ? y : x));
    const method = `register-only wasm SIMD loop in a Web Worker: acc = acc*m + c (f32x4.mul + f32x4.add, no memory traffic), ` +
      `${best.accumulators} independent f32x4 accumulators (tried ${accumulators.join(', ')}), unrolled ${UNROLL}x, best of ${runs} runs of ~${runMs} ms after warm-up`;
    self.postMessage({ gmacs: best.gmacs, accumulators: best.accumulators, unroll: UNROLL, runs, runMs, variants, method } satisfies FloorProbeAnswer);
  } catch (e) {
    self.postMessage({ error: (e as Error).message });
  }
};
