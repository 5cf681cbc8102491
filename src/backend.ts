/**
 * TF.js backend selection as an ordered choice. Each backend is checked for availability
 * (cheaply, before the model download) and initialised; the first that works wins.
 * The webgpu and wasm backends are imported lazily, so an unused one costs nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { NoBackendError } from './errors.js';
import type { AdapterInfo, BackendName, LoadProgress } from './protocol.js';

export interface BackendSelection {
  backend: BackendName;
  /** WebGPU adapter, when the backend is webgpu. */
  adapter?: AdapterInfo;
  /** Backends tried before this one, with why they failed. */
  rejected: Array<{ backend: BackendName; reason: string }>;
  /** Settles with a description when the GPU device is lost (webgpu only; never settles otherwise). */
  deviceLost: Promise<string>;
}

const NEVER = new Promise<string>(() => undefined);

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

type Attempt = { adapter?: AdapterInfo; deviceLost?: Promise<string> };

export interface SelectOptions {
  /**
   * Reject GPU backends that run on a software renderer (WebGPU fallback adapter, SwiftShader or
   * llvmpipe WebGL): they are slower than wasm. Used for backend 'auto'; an explicit choice is honoured.
   */
  skipSoftwareGpu?: boolean;
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

async function tryWebGpu(opts: SelectOptions): Promise<Attempt> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error('navigator.gpu is missing (no WebGPU in this browser, or not a secure context)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() found no adapter (GPU unavailable or blocklisted)');
  const raw = (adapter as { info?: GPUAdapterInfo }).info;
  const info: AdapterInfo = {
    vendor: raw?.vendor || undefined,
    architecture: raw?.architecture || undefined,
    description: raw?.description || undefined,
    isFallbackAdapter: (raw as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter
      ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  };
  if (opts.skipSoftwareGpu && (info.isFallbackAdapter || SOFTWARE_RENDERER.test(`${info.architecture ?? ''} ${info.description ?? ''}`))) {
    throw new Error(`the adapter is a software fallback (${info.vendor ?? '?'} ${info.architecture ?? ''}), slower than wasm; name 'webgpu' explicitly to use it anyway`);
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  await activate('webgpu');
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  const deviceLost = device?.lost
    ? device.lost.then((l) => `${l.reason ?? 'unknown'}${l.message ? `: ${l.message}` : ''}`)
    : NEVER;
  return { adapter: info, deviceLost };
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

let wasmPathsSet = false;
async function tryWasm(): Promise<Attempt> {
  if (typeof WebAssembly === 'undefined') throw new Error('WebAssembly is not available');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (isBrowserLike() && !wasmPathsSet) {
    const { WASM_PATHS } = await import('./wasm-assets.js');
    wasm.setWasmPaths(WASM_PATHS);
    wasmPathsSet = true;
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
  const rejected: Array<{ backend: BackendName; reason: string }> = [];
  for (const backend of order) {
    report?.({ stage: 'backend', backend, status: 'trying' });
    try {
      const { adapter, deviceLost } = await ATTEMPTS[backend](options);
      const detail = adapter ? [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' ') : '';
      report?.({ stage: 'backend', backend, status: 'ready', detail: detail || undefined });
      // Adapter info is reported for webgpu only (EngineInfo.adapter); the webgl renderer goes into the progress detail.
      return { backend, adapter: backend === 'webgpu' ? adapter : undefined, rejected, deviceLost: deviceLost ?? NEVER };
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
