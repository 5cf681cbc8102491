/**
 * Page side of the floor probe (./floor-probe.worker.ts): the peak multiply-add rate of one core
 * running wasm SIMD in a Web Worker, which scripts/bench.ts divides each call's multiply-adds by
 * to get the call's arithmetic floor.
 */
import type { FloorProbeAnswer, FloorProbeQuery } from './floor-probe.worker';

export type { FloorProbeAnswer } from './floor-probe.worker';

/** Runs the probe in a fresh module worker and terminates it. */
export function probeFloor(query: Partial<FloorProbeQuery> = {}, timeoutMs = 120_000): Promise<FloorProbeAnswer> {
  const w = new Worker(new URL('./floor-probe.worker.ts', import.meta.url), { type: 'module', name: 'scenerec-floor-probe' });
  const q: FloorProbeQuery = { accumulators: query.accumulators ?? [4, 8, 12, 14], runMs: query.runMs ?? 40, runs: query.runs ?? 15 };
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new Promise<FloorProbeAnswer>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error('the floor probe did not answer')), timeoutMs);
    w.onmessage = (ev: MessageEvent<FloorProbeAnswer | { error: string }>) => {
      if ('error' in ev.data) reject(new Error(`floor probe: ${ev.data.error}`));
      else resolve(ev.data);
    };
    w.onerror = (ev) => reject(new Error(`floor probe worker: ${ev.message}`));
    w.postMessage(q);
  }).finally(() => { clearTimeout(timer); w.terminate(); });
}
