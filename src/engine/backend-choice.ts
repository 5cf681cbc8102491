/**
 * The backend-choice policy (worker side): for 'auto', a measured probe (src/engine/backend.ts)
 * whose verdict is kept in IndexedDB and reused on this browser for PROBE_CACHE_MS, since the probe
 * of the software GPU backends costs seconds; for a name or a list, the first that starts.
 */
import { PROBE_CACHE_MS, PROBE_DIM, PROBE_ROWS, PROBE_SEQ_LEN } from '../contract/defaults.js';
import type { ResolvedEngineConfig } from '../contract/options.js';
import type { LoadProgress } from '../contract/protocol.js';
import { selectBackend, type BackendSelection } from './backend.js';
import type { BackendMeta } from './store/meta.js';

/** Where the verdict is remembered (soft: a failing store only costs the next load a probe). */
export interface ProbeVerdictStore {
  get(): Promise<BackendMeta | undefined>;
  put(verdict: BackendMeta): Promise<void>;
}

/** Bumped when the probe changes, so an older verdict is not reused. */
const PROBE_VERSION = 'probe-v1';

export async function chooseBackend(config: ResolvedEngineConfig, verdicts: ProbeVerdictStore, report: (p: LoadProgress) => void): Promise<BackendSelection> {
  const wasm = { paths: config.wasmPaths };
  if (!config.autoBackend) return selectBackend(config.backends, report, { wasm });
  const nav = (globalThis as { navigator?: { userAgent?: string; hardwareConcurrency?: number } }).navigator;
  const env = `${nav?.userAgent ?? 'unknown'}|${nav?.hardwareConcurrency ?? 0}|${PROBE_VERSION}`;
  const cached = await verdicts.get().catch(() => undefined);
  if (cached && cached.env === env && Date.now() - cached.at < PROBE_CACHE_MS && config.backends.includes(cached.backend)) {
    try {
      const sel = await selectBackend([cached.backend], report, { wasm });
      const rejected = cached.probe.filter((p) => p.backend !== cached.backend && p.ms !== undefined)
        .map((p) => ({ backend: p.backend, reason: `slower in the probe of ${new Date(cached.at).toISOString()}: ${p.ms!.toFixed(2)} ms` }));
      return { ...sel, rejected, reason: `${cached.reason} (probe of ${new Date(cached.at).toISOString()}, reused)`, probe: cached.probe };
    } catch {
      // The remembered backend no longer starts: probe again.
    }
  }
  const probe = { dim: PROBE_DIM, seqLen: PROBE_SEQ_LEN, rows: config.catalog?.length ?? PROBE_ROWS };
  const sel = await selectBackend(config.backends, report, { probe, wasm });
  await verdicts.put({ key: 'backend', env, backend: sel.backend, reason: sel.reason, probe: sel.probe ?? [], at: Date.now() }).catch(() => undefined);
  return sel;
}
