/**
 * backend 'auto' with a WebGPU adapter present (a stand-in navigator.gpu): a software adapter
 * (SwiftShader, isFallbackAdapter) is not initialised once wasm has a probe time, so no device is
 * created and no shader compiled; a hardware adapter still gets its measured probe.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { gpuProbePlan, selectBackend } from '../../src/engine/backend.js';
import { PROBE_FIRST_RUN_BUDGET_MS, PROBE_GPU_BUDGET_MS, PROBE_SOFTWARE_GPU_BUDGET_MS } from '../../src/contract/defaults.js';

const SWIFTSHADER = { vendor: 'google', architecture: 'swiftshader', description: '', isFallbackAdapter: true };
const HARDWARE = { vendor: 'nvidia', architecture: 'ada', description: 'NVIDIA GeForce', isFallbackAdapter: false };

/** A navigator.gpu whose adapter reports `info` and whose requestDevice fails (Node has no GPU); counts calls. */
function fakeGpu(info: typeof SWIFTSHADER) {
  const calls = { requestAdapter: 0, requestDevice: 0 };
  const adapter = {
    info, features: new Set(), limits: {},
    requestDevice: async () => { calls.requestDevice++; throw new Error('no device in this test'); },
  };
  vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => { calls.requestAdapter++; return adapter; }, getPreferredCanvasFormat: () => 'rgba8unorm' } });
  return calls;
}

afterEach(() => { vi.unstubAllGlobals(); });

describe('gpuProbePlan', () => {
  it('skips a software adapter or renderer once wasm has a time, and says why', () => {
    const p = gpuProbePlan('webgpu', SWIFTSHADER, 1.9);
    expect(p.probe).toBe(false);
    if (!p.probe) expect(p.reason).toMatch(/^not probed: software adapter \(google swiftshader, isFallbackAdapter\).*wasm probe 1\.90 ms.*no shader compilation/);
    expect(gpuProbePlan('webgpu', { ...SWIFTSHADER, architecture: '', isFallbackAdapter: true }, 2).probe).toBe(false); // the flag alone
    expect(gpuProbePlan('webgpu', { ...SWIFTSHADER, isFallbackAdapter: false }, 2).probe).toBe(false); // the name alone
    const gl = gpuProbePlan('webgl', { description: 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)' }, 2);
    expect(gl.probe).toBe(false);
    if (!gl.probe) expect(gl.reason).toMatch(/software renderer.*synchronously/);
  });

  it('probes a software GPU with the short budget when wasm has no time, and a hardware GPU always', () => {
    expect(gpuProbePlan('webgpu', SWIFTSHADER, undefined)).toEqual({ probe: true, budgetMs: PROBE_SOFTWARE_GPU_BUDGET_MS, software: true });
    expect(gpuProbePlan('webgpu', HARDWARE, 1.9)).toEqual({ probe: true, budgetMs: PROBE_GPU_BUDGET_MS, software: false });
    expect(gpuProbePlan('webgpu', HARDWARE, undefined)).toEqual({ probe: true, budgetMs: PROBE_FIRST_RUN_BUDGET_MS, software: false });
    expect(gpuProbePlan('webgl', { description: 'NVIDIA GeForce RTX 4090/PCIe/SSE2' }, 1.9).probe).toBe(true);
    expect(gpuProbePlan('webgl', undefined, 1.9).probe).toBe(true); // unknown renderer: measured
  });
});

describe("backend 'auto' with a WebGPU adapter", () => {
  it('a software adapter: read, reported, never initialised (no device, no shaders); wasm wins', { timeout: 30_000 }, async () => {
    const calls = fakeGpu(SWIFTSHADER);
    const sel = await selectBackend(['webgpu', 'wasm', 'cpu'], undefined, { probe: { dim: 16, seqLen: 8, rows: 500 } });
    expect(sel.backend).toBe('wasm');
    expect(calls.requestAdapter).toBe(1);
    expect(calls.requestDevice).toBe(0);
    expect(tf.findBackend('webgpu')).toBeNull();
    const webgpu = sel.probe!.find((p) => p.backend === 'webgpu')!;
    expect(webgpu.ms).toBeUndefined();
    expect(webgpu.error).toMatch(/^not probed: software adapter \(google swiftshader, isFallbackAdapter\)/);
    expect(sel.reason).toMatch(/^wasm: the only backend that finished the load-time probe \(\d+\.\d+ ms\); webgpu \(not probed: software adapter/);
    expect(sel.rejected.map((r) => r.backend)).toEqual(['webgpu']);
  });

  it('a hardware adapter: initialised and probed (here its device fails, which the reason says)', { timeout: 30_000 }, async () => {
    const calls = fakeGpu(HARDWARE);
    const sel = await selectBackend(['webgpu', 'wasm'], undefined, { probe: { dim: 16, seqLen: 8, rows: 500 } });
    expect(sel.backend).toBe('wasm');
    expect(calls.requestDevice).toBeGreaterThan(0); // TF.js tried to create the device for the probe
    const webgpu = sel.probe!.find((p) => p.backend === 'webgpu')!;
    expect(webgpu.error).toMatch(/^probe failed/);
    expect(sel.reason).toMatch(/webgpu \(probe failed/);
  });
});
