/**
 * The backend-choice policy (worker side): for 'auto', a measured probe (src/engine/backend.ts)
 * whose verdict is kept in IndexedDB and reused on this browser for PROBE_CACHE_MS, since the probe
 * of the software GPU backends costs seconds; for a name or a list, the first that starts.
 * After a GPU device loss: the backends to fall back to (`fallbackOrder`), and a verdict that keeps
 * 'auto' off the lost GPU for DEVICE_LOST_AVOID_MS (`rememberDeviceLoss`).
 */
import { AUTO_BACKENDS, DEVICE_LOST_AVOID_MS, PROBE_CACHE_MS, PROBE_DIM, PROBE_ROWS, PROBE_SEQ_LEN } from '../contract/defaults.js';
import type { ResolvedEngineConfig } from '../contract/options.js';
import { isCpuBackend, type BackendName, type LoadProgress } from '../contract/protocol.js';
import { selectBackend, type BackendSelection } from './backend.js';
import type { BackendMeta } from './store/meta.js';

/** Where the verdict is remembered (soft: a failing store only costs the next load a probe). */
export interface ProbeVerdictStore {
  get(): Promise<BackendMeta | undefined>;
  put(verdict: BackendMeta): Promise<void>;
}

/** Bumped when the probe changes, so an older verdict is not reused. */
const PROBE_VERSION = 'probe-v1';

/** How a verdict written after a device loss marks the lost backend's probe entry. */
const DEVICE_LOST_MARK = 'device lost';

/** Browser identity a verdict holds for (user agent, cores, probe version). */
function verdictEnv(): string {
  const nav = (globalThis as { navigator?: { userAgent?: string; hardwareConcurrency?: number } }).navigator;
  return `${nav?.userAgent ?? 'unknown'}|${nav?.hardwareConcurrency ?? 0}|${PROBE_VERSION}`;
}

/** True for a verdict written after a device loss (reused for DEVICE_LOST_AVOID_MS only). */
function isLossVerdict(v: BackendMeta): boolean {
  return v.probe.some((p) => p.error?.startsWith(DEVICE_LOST_MARK));
}

/** `catalogRows`: the catalog's size when `config.catalog` is still being checked (the probe scores min(rows, 65,536) rows). */
export async function chooseBackend(config: ResolvedEngineConfig, verdicts: ProbeVerdictStore, report: (p: LoadProgress) => void, catalogRows?: number): Promise<BackendSelection> {
  const wasm = { paths: config.wasmPaths };
  if (!config.autoBackend) return selectBackend(config.backends, report, { wasm });
  const env = verdictEnv();
  const cached = await verdicts.get().catch(() => undefined);
  const ttl = cached && isLossVerdict(cached) ? DEVICE_LOST_AVOID_MS : PROBE_CACHE_MS;
  if (cached && cached.env === env && Date.now() - cached.at < ttl && config.backends.includes(cached.backend)) {
    try {
      const sel = await selectBackend([cached.backend], report, { wasm });
      const rejected = cached.probe.filter((p) => p.backend !== cached.backend && (p.ms !== undefined || p.error?.startsWith(DEVICE_LOST_MARK)))
        .map((p) => ({
          backend: p.backend,
          reason: p.ms !== undefined ? `slower in the probe of ${new Date(cached.at).toISOString()}: ${p.ms.toFixed(2)} ms` : `${p.error!} (at ${new Date(cached.at).toISOString()})`,
        }));
      return { ...sel, rejected, reason: `${cached.reason} (probe of ${new Date(cached.at).toISOString()}, reused)`, probe: cached.probe };
    } catch {
      // The remembered backend no longer starts: probe again.
    }
  }
  const probe = { dim: PROBE_DIM, seqLen: PROBE_SEQ_LEN, rows: catalogRows ?? config.catalog?.length ?? PROBE_ROWS };
  const sel = await selectBackend(config.backends, report, { probe, wasm });
  await verdicts.put({ key: 'backend', env, backend: sel.backend, reason: sel.reason, probe: sel.probe ?? [], at: Date.now() }).catch(() => undefined);
  return sel;
}

/**
 * The backends to try after `lost` lost its device: the CPU backends, those of the configured list
 * first, then the rest of the 'auto' order. Other GPU backends are left out: a lost device often
 * means the browser's GPU process went (taking WebGL contexts with it), and a CPU backend cannot
 * lose its device.
 */
export function fallbackOrder(configured: readonly BackendName[], lost: BackendName): BackendName[] {
  return [...new Set([...configured, ...AUTO_BACKENDS])].filter((b) => b !== lost && isCpuBackend(b));
}

/**
 * 'auto': remembers that `lost` lost its device and `next` took over, so the next loads on this
 * browser start on `next` (no probe, no new device on the GPU that just failed) for
 * DEVICE_LOST_AVOID_MS; after that a fresh probe decides again. Soft: a failing store only costs that.
 */
export async function rememberDeviceLoss(verdicts: ProbeVerdictStore, lost: BackendName, reason: string, next: BackendName): Promise<void> {
  const cached = await verdicts.get().catch(() => undefined);
  const at = Date.now();
  const until = new Date(at + DEVICE_LOST_AVOID_MS).toISOString();
  await verdicts.put({
    key: 'backend', env: verdictEnv(), backend: next,
    reason: `${next}: ${lost} lost its device (${reason}); ${next} took over, and 'auto' keeps it until ${until}`,
    probe: [{ backend: lost, error: `${DEVICE_LOST_MARK}: ${reason}` }, ...(cached?.probe ?? []).filter((p) => p.backend !== lost)],
    at,
  }).catch(() => undefined);
}
