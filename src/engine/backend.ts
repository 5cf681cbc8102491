/**
 * TF.js backend selection. An explicit backend (or list) is an ordered choice: the first that
 * initialises wins. `backend: 'auto'` measures instead (`probe`): every backend of the list that
 * starts runs a small op chain shaped like the model (a few [L,d]x[d,d] layers, then the scoring
 * matMul [1,d]x[d,rows]) and the fastest median wins, so a software GPU (a WebGPU fallback adapter,
 * SwiftShader WebGL) loses to wasm by measurement, and a real GPU wins where it is faster.
 * The webgpu and wasm backends are imported lazily, so an unused one costs nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { PROBE_FIRST_RUN_BUDGET_MS, PROBE_GPU_BUDGET_MS, PROBE_RUNS, PROBE_SOFTWARE_GPU_BUDGET_MS } from '../contract/defaults.js';
import { NoBackendError } from '../contract/errors.js';
import type { AdapterInfo, BackendName, BackendProbe, LoadProgress } from '../contract/protocol.js';
import { now } from '../util/clock.js';
import { bundledWasmPaths } from './wasm-assets.js';

export interface BackendSelection {
  backend: BackendName;
  /** WebGPU adapter, when the backend is webgpu. */
  adapter?: AdapterInfo;
  /** Backends tried before this one, with why they failed. */
  rejected: Array<{ backend: BackendName; reason: string }>;
  /** Settles with a description when the GPU device is lost (webgpu only; never settles otherwise). */
  deviceLost: Promise<string>;
  /** Why this backend (the probe's verdict for 'auto'). */
  reason: string;
  /** 'auto': the probe's figures per backend. */
  probe?: BackendProbe[];
}

const NEVER = new Promise<string>(() => undefined);

/** Backends whose device can be lost under the engine (BackendSelection.deviceLost settles). */
export function canLoseDevice(backend: BackendName): boolean {
  return backend === 'webgpu';
}

/** True in a browser page or worker (not in Node, where wasm finds its binaries by itself). */
function isBrowserLike(): boolean {
  const g = globalThis as { window?: unknown; WorkerGlobalScope?: unknown; process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node) return false;
  return g.window !== undefined || g.WorkerGlobalScope !== undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function activate(name: BackendName): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    throw new Error(`initialisation failed: ${message(e)}`);
  }
  if (!ok || tf.getBackend() !== name) throw new Error('initialisation failed (see the console for the TF.js warning)');
}

type Attempt = {
  adapter?: AdapterInfo;
  deviceLost?: Promise<string>;
  /** 'auto': a GPU backend inspected (adapter / renderer read) but not yet initialised in TF.js. */
  deferred?: boolean;
};

export interface SelectOptions {
  /**
   * Reject GPU backends that run on a software renderer (WebGPU fallback adapter, SwiftShader or
   * llvmpipe WebGL): they are slower than wasm. Used for backend 'auto'; an explicit choice is honoured.
   */
  skipSoftwareGpu?: boolean;
  /**
   * Start every backend of the list and keep the fastest in a measured probe (backend 'auto').
   * The shapes are the model's: hidden size `dim`, sequence length `seqLen`, `rows` catalog rows.
   */
  probe?: ProbeShape;
  /** The wasm backend's binaries and threads. */
  wasm?: WasmSetup;
}

export interface ProbeShape { dim: number; seqLen: number; rows: number }

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

function isSoftwareAdapter(info: AdapterInfo | undefined): boolean {
  return !!info && (!!info.isFallbackAdapter || SOFTWARE_RENDERER.test(`${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`));
}

/** The WebGPU adapter's identity, read without creating a device or any TF.js state. */
async function inspectWebGpu(): Promise<AdapterInfo> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error('navigator.gpu is missing (no WebGPU in this browser, or not a secure context)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() found no adapter (GPU unavailable or blocklisted)');
  const raw = (adapter as { info?: GPUAdapterInfo }).info;
  return {
    vendor: raw?.vendor || undefined,
    architecture: raw?.architecture || undefined,
    description: raw?.description || undefined,
    isFallbackAdapter: (raw as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter
      ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  };
}

/** Initialises the TF.js webgpu backend (device, pipelines on first use). */
async function activateWebGpu(info: AdapterInfo | undefined): Promise<Attempt> {
  await import('@tensorflow/tfjs-backend-webgpu');
  await activate('webgpu');
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  const deviceLost = device?.lost
    ? device.lost.then((l) => `${l.reason ?? 'unknown'}${l.message ? `: ${l.message}` : ''}`)
    : NEVER;
  return { adapter: info, deviceLost };
}

/**
 * The WebGL renderer string from a throw-away context (no TF.js backend, no shader), or undefined
 * when it cannot be read. Throws when there is no canvas or no WebGL at all.
 */
function inspectWebGl(): string | undefined {
  const g = globalThis as { OffscreenCanvas?: new (w: number, h: number) => { getContext(t: string): unknown }; document?: { createElement(t: string): { getContext(t: string): unknown } } };
  if (g.OffscreenCanvas === undefined && g.document === undefined) {
    throw new Error('no canvas here (neither document nor OffscreenCanvas)');
  }
  const canvas = g.OffscreenCanvas ? new g.OffscreenCanvas(1, 1) : g.document!.createElement('canvas');
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
  if (!gl) throw new Error('initialisation failed: no WebGL context');
  try {
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return undefined;
  } finally {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

async function tryWebGpu(opts: SelectOptions): Promise<Attempt> {
  const info = await inspectWebGpu();
  if (opts.skipSoftwareGpu && isSoftwareAdapter(info)) {
    throw new Error(`the adapter is a software fallback (${info.vendor ?? '?'} ${info.architecture ?? ''}), slower than wasm; name 'webgpu' explicitly to use it anyway`);
  }
  return activateWebGpu(info);
}

/** The WebGL renderer string of the active webgl backend, if it can be read. */
function webGlRenderer(): string | undefined {
  try {
    const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
    if (!gl) return undefined;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return undefined;
  }
}

async function tryWebGl(opts: SelectOptions): Promise<Attempt> {
  const g = globalThis as { OffscreenCanvas?: unknown; document?: unknown };
  if (g.OffscreenCanvas === undefined && g.document === undefined) {
    throw new Error('no canvas here (neither document nor OffscreenCanvas)');
  }
  await activate('webgl');
  const renderer = webGlRenderer();
  if (opts.skipSoftwareGpu && renderer && SOFTWARE_RENDERER.test(renderer)) {
    tf.removeBackend('webgl');
    throw new Error(`WebGL runs on a software renderer (${renderer}), slower than wasm; name 'webgl' explicitly to use it anyway`);
  }
  return renderer ? { adapter: { description: renderer } } : {};
}

/** Where the wasm backend finds its binaries. */
export interface WasmSetup {
  /** A folder URL ending in '/', or a URL per binary; default: next to the built worker (./wasm-assets.ts). */
  paths?: string | Readonly<Record<string, string>>;
}

let wasmConfigured = false;
async function tryWasm(opts: SelectOptions): Promise<Attempt> {
  if (typeof WebAssembly === 'undefined') throw new Error('WebAssembly is not available');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Set once per realm, before the backend first initialises (TF.js reads them only then).
  if (isBrowserLike() && !wasmConfigured) {
    const setup = opts.wasm ?? {};
    // The single-threaded build, also on cross-origin-isolated pages: the threaded one starts its
    // helper workers from a Blob of the backend's own source, which breaks once bundled or minified
    // (and needs worker-src blob: in a CSP).
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    if (typeof setup.paths === 'string') wasm.setWasmPaths(setup.paths);
    else wasm.setWasmPaths({ ...bundledWasmPaths(), ...setup.paths });
    wasmConfigured = true;
  }
  await activate('wasm');
  return {};
}

async function tryCpu(): Promise<Attempt> {
  await activate('cpu');
  return {};
}

const ATTEMPTS: Record<BackendName, (opts: SelectOptions) => Promise<Attempt>> = {
  webgpu: tryWebGpu,
  webgl: tryWebGl,
  wasm: tryWasm,
  cpu: tryCpu,
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Times the probe op chain on the active backend: one first run (compilation) within `budgetMs`,
 * then PROBE_RUNS timed runs. Leaves no tensors behind.
 */
async function probeActive(shape: ProbeShape, budgetMs: number): Promise<{ ms: number; firstMs: number }> {
  const { dim, seqLen } = shape;
  const rows = Math.max(1, Math.min(shape.rows, 65_536));
  const x = tf.randomUniform([seqLen, dim], -1, 1);
  const w = tf.randomUniform([dim, dim], -0.2, 0.2);
  const c = tf.randomUniform([dim, rows], -1, 1);
  const once = async () => {
    const out = tf.tidy(() => {
      let h = x as tf.Tensor2D;
      for (let i = 0; i < 4; i++) h = tf.relu(tf.matMul(h, w as tf.Tensor2D).add(h)) as tf.Tensor2D;
      return tf.matMul(h.slice([seqLen - 1, 0], [1, dim]), c as tf.Tensor2D);
    });
    try { await out.data(); } finally { out.dispose(); }
  };
  try {
    const t0 = now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const first = once();
    first.catch(() => undefined);
    await Promise.race([first, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`gave up: the first probe run took over ${budgetMs} ms`)), budgetMs); })])
      .finally(() => clearTimeout(timer));
    const firstMs = now() - t0;
    const times: number[] = [];
    for (let i = 0; i < PROBE_RUNS; i++) {
      const t = now();
      await once();
      times.push(now() - t);
    }
    return { ms: median(times), firstMs };
  } finally {
    tf.dispose([x, w, c]);
  }
}

const fmt = (ms: number) => `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;

/** How an adapter or renderer reads in a reason: vendor, architecture, description, fallback flag. */
function describeAdapter(info: AdapterInfo | undefined): string {
  const s = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || '?';
  return info?.isFallbackAdapter ? `${s}, isFallbackAdapter` : s;
}

export type GpuProbePlan = { probe: false; reason: string } | { probe: true; budgetMs: number; software: boolean };

/**
 * 'auto': whether a GPU backend is worth initialising and probing, decided from what is known before
 * any TF.js state exists: its adapter (WebGPU `info`, `isFallbackAdapter`) or renderer string (WebGL),
 * and wasm's probe time. A software GPU (fallback adapter, SwiftShader, llvmpipe) is not initialised
 * at all when wasm has a time: creating the device, compiling shaders and probing cost this machine
 * ~0.6-0.8 s on a first visit, to lose anyway (SwiftShader WebGPU ran the probe ~70x slower than wasm,
 * docs/benchmarks.md). Without a wasm time it is probed with a short first-run budget; a hardware GPU
 * always gets a time-boxed measured probe.
 */
export function gpuProbePlan(backend: 'webgpu' | 'webgl', info: AdapterInfo | undefined, wasmMs: number | undefined): GpuProbePlan {
  const software = backend === 'webgpu' ? isSoftwareAdapter(info) : SOFTWARE_RENDERER.test(info?.description ?? '');
  if (software && wasmMs !== undefined) {
    const what = backend === 'webgpu' ? 'adapter' : 'renderer';
    return {
      probe: false,
      reason: `not probed: software ${what} (${describeAdapter(info)}), far slower than wasm on a CPU (wasm probe ${fmt(wasmMs)}); ` +
        `not initialised, so no shader compilation at load${backend === 'webgl' ? ' (WebGL compiles synchronously: it could not be time-boxed)' : ''}`,
    };
  }
  if (software) return { probe: true, budgetMs: PROBE_SOFTWARE_GPU_BUDGET_MS, software };
  return { probe: true, budgetMs: wasmMs !== undefined ? PROBE_GPU_BUDGET_MS : PROBE_FIRST_RUN_BUDGET_MS, software };
}

/**
 * 'auto': starts every backend of `order` that can start (in order; GPU backends are only inspected,
 * adapter or renderer read, not initialised yet), then probes them: wasm first, then the GPU backends
 * that `gpuProbePlan` keeps, initialised only now, whose first run (shader compilation included) must
 * finish within its budget. cpu is probed only when wasm did not start (the same kernels in plain JS
 * are never faster). The fastest median wins; losing GPU backends are removed (their device released).
 */
async function selectByProbe(
  order: readonly BackendName[], shape: ProbeShape, report?: (p: LoadProgress) => void, wasmSetup?: WasmSetup,
): Promise<BackendSelection> {
  const rejected: Array<{ backend: BackendName; reason: string }> = [];
  const probes = new Map<BackendName, BackendProbe>();
  const attempts = new Map<BackendName, Attempt>();
  for (const backend of order) {
    if (backend === 'cpu' && attempts.has('wasm')) {
      probes.set(backend, { backend, error: 'not probed: wasm started (cpu runs the same kernels in plain JS)' });
      continue;
    }
    report?.({ stage: 'backend', backend, status: 'trying' });
    try {
      if (backend === 'webgpu') attempts.set(backend, { adapter: await inspectWebGpu(), deferred: true });
      else if (backend === 'webgl') {
        const renderer = inspectWebGl();
        attempts.set(backend, { adapter: renderer ? { description: renderer } : undefined, deferred: true });
      } else attempts.set(backend, await ATTEMPTS[backend]({ wasm: wasmSetup }));
    } catch (e) {
      const reason = message(e);
      rejected.push({ backend, reason });
      probes.set(backend, { backend, error: reason });
      report?.({ stage: 'backend', backend, status: 'failed', detail: reason });
    }
  }
  const started: Array<{ backend: BackendName; attempt: Attempt; ms: number }> = [];
  const probeOrder = [...attempts.keys()].sort((a, b) => Number(b === 'wasm') - Number(a === 'wasm'));
  for (const backend of probeOrder) {
    let attempt = attempts.get(backend)!;
    const gpu = backend === 'webgpu' || backend === 'webgl';
    const plan = gpu ? gpuProbePlan(backend, attempt.adapter, started.find((s) => s.backend === 'wasm')?.ms) : undefined;
    if (plan && !plan.probe) {
      probes.set(backend, { backend, error: plan.reason });
      rejected.push({ backend, reason: plan.reason });
      report?.({ stage: 'backend', backend, status: 'failed', detail: plan.reason });
      continue;
    }
    const software = plan?.probe === true && plan.software;
    const budget = plan?.probe ? plan.budgetMs : PROBE_FIRST_RUN_BUDGET_MS;
    let initialised = !attempt.deferred;
    try {
      if (attempt.deferred) {
        if (backend === 'webgpu') attempt = await activateWebGpu(attempt.adapter);
        else {
          await activate('webgl');
          const renderer = webGlRenderer();
          attempt = renderer ? { adapter: { description: renderer } } : { adapter: attempt.adapter };
        }
        attempts.set(backend, attempt);
      }
      initialised = true;
      await activate(backend);
      const { ms, firstMs } = await probeActive(shape, budget);
      probes.set(backend, { backend, ms, firstMs });
      started.push({ backend, attempt, ms });
      report?.({ stage: 'backend', backend, status: 'ready', detail: `probe ${fmt(ms)} (first run ${fmt(firstMs)})` });
    } catch (e) {
      const reason = `${initialised ? 'probe failed' : 'probe failed: initialisation'}: ${message(e)}${software ? ` (software ${backend === 'webgpu' ? 'adapter' : 'renderer'})` : ''}`;
      probes.set(backend, { backend, error: reason });
      rejected.push({ backend, reason });
      report?.({ stage: 'backend', backend, status: 'failed', detail: reason });
      if (gpu) dropBackend(backend);
    }
  }
  if (started.length === 0) {
    throw new NoBackendError(
      `No TF.js backend could start. ${rejected.map((r) => `${r.backend}: ${r.reason}`).join('; ')}.`, { rejected });
  }
  const best = started.reduce((a, b) => (b.ms < a.ms ? b : a));
  const soft = (s: { backend: BackendName; attempt: Attempt }) => (isSoftware(s.backend, s.attempt) ? ` (software ${s.backend === 'webgpu' ? 'adapter' : 'renderer'})` : '');
  const others = started.filter((s) => s !== best).map((s) => `${s.backend}${soft(s)} ${fmt(s.ms)}`);
  const gaveUp = [...probes.values()].filter((p) => p.error?.startsWith('probe failed') || p.error?.startsWith('not probed: software'))
    .map((p) => `${p.backend} (${p.error})`);
  const reason = (started.length === 1
    ? `${best.backend}: the only backend that finished the load-time probe (${fmt(best.ms)})`
    : `${best.backend}: fastest in the load-time probe, ${fmt(best.ms)} vs ${others.join(', ')}`)
    + (gaveUp.length > 0 ? `; ${gaveUp.join('; ')}` : '');
  for (const s of started) {
    if (s === best) continue;
    rejected.push({ backend: s.backend, reason: `slower in the probe: ${fmt(s.ms)} vs ${best.backend} ${fmt(best.ms)}${soft(s)}` });
    if (s.backend === 'webgpu' || s.backend === 'webgl') dropBackend(s.backend);
  }
  // rejected in the order of `order` (a failed start and a lost probe read the same way).
  rejected.sort((a, b) => order.indexOf(a.backend) - order.indexOf(b.backend));
  await activate(best.backend);
  report?.({ stage: 'backend', backend: best.backend, status: 'ready', detail: reason });
  return {
    backend: best.backend,
    adapter: best.backend === 'webgpu' ? best.attempt.adapter : undefined,
    rejected, deviceLost: best.attempt.deviceLost ?? NEVER, reason,
    probe: order.map((b) => probes.get(b)).filter((p): p is BackendProbe => p !== undefined),
  };
}

/**
 * Removes a losing GPU backend; a WebGPU device is destroyed too, which also stops a probe left running.
 * Also releases a backend whose device was lost (its factory goes too: this realm never starts it again).
 */
export function dropBackend(backend: 'webgpu' | 'webgl'): void {
  try {
    const device = (tf.findBackend(backend) as unknown as { device?: GPUDevice } | null)?.device;
    device?.destroy();
  } catch { /* already gone */ }
  try { tf.removeBackend(backend); } catch { /* never registered */ }
}

function isSoftware(backend: BackendName, attempt: Attempt): boolean {
  return backend === 'webgpu' ? isSoftwareAdapter(attempt.adapter) : backend === 'webgl' && SOFTWARE_RENDERER.test(attempt.adapter?.description ?? '');
}

/**
 * Tries each backend in order and makes the first that works the global TF.js backend.
 * Reports every try through `report`.
 * @throws NoBackendError listing why each backend failed.
 */
export async function selectBackend(
  order: readonly BackendName[],
  report?: (p: LoadProgress) => void,
  options: SelectOptions = {},
): Promise<BackendSelection> {
  if (options.probe) return selectByProbe(order, options.probe, report, options.wasm);
  const rejected: Array<{ backend: BackendName; reason: string }> = [];
  for (const backend of order) {
    report?.({ stage: 'backend', backend, status: 'trying' });
    try {
      const { adapter, deviceLost } = await ATTEMPTS[backend](options);
      const detail = adapter ? [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' ') : '';
      report?.({ stage: 'backend', backend, status: 'ready', detail: detail || undefined });
      // Adapter info is reported for webgpu only (EngineInfo.adapter); the webgl renderer goes into the progress detail.
      const reason = order.length === 1 ? `${backend}: chosen by name` : `${backend}: the first of [${order.join(', ')}] that started`;
      return { backend, adapter: backend === 'webgpu' ? adapter : undefined, rejected, deviceLost: deviceLost ?? NEVER, reason };
    } catch (e) {
      const reason = message(e);
      rejected.push({ backend, reason });
      report?.({ stage: 'backend', backend, status: 'failed', detail: reason });
    }
  }
  throw new NoBackendError(
    `No TF.js backend could start. ${rejected.map((r) => `${r.backend}: ${r.reason}`).join('; ')}. ` +
    "Add 'wasm' or 'cpu' to the backend option, or use backend: 'auto'.",
    { rejected });
}
