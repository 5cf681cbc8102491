/** Small helpers shared by the train and eval commands: flags, progress bar, durations. */

export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

/** Parses `--key value` and `--flag` arguments against a list of known keys. */
export function parseFlags(argv: string[], known: Record<string, 'string' | 'number' | 'boolean'>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`);
    const key = a.slice(2);
    const kind = known[key];
    if (!kind) throw new UsageError(`unknown option --${key}; known: ${Object.keys(known).map((k) => `--${k}`).join(' ')}`);
    if (kind === 'boolean') { out[key] = true; continue; }
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`--${key} needs a value`);
    if (kind === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`--${key} must be a number, got "${v}"`);
      out[key] = n;
    } else out[key] = v;
  }
  return out;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * Phase lines for long commands ("  grouping: 400,000 users, 3.1 s (2.9 CPU-s), RSS 812 MB"): each call reports
 * the time since the previous one, so a slow phase shows where a run spends its time.
 */
export function phaseClock(print: (line: string) => void): (phase: string, what?: string) => number {
  let t = performance.now();
  let cpu = process.cpuUsage();
  return (phase, what) => {
    const now = performance.now();
    const s = (now - t) / 1000;
    const c = process.cpuUsage(cpu);
    t = now;
    cpu = process.cpuUsage();
    // CPU seconds beside wall seconds: on a shared machine the wall time says more about the load.
    print(`  ${phase}: ${what ? `${what}, ` : ''}${s.toFixed(1)} s (${((c.user + c.system) / 1e6).toFixed(1)} CPU-s), RSS ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
    return s;
  };
}

/** A one-line progress bar on a TTY; on a pipe (CI) it prints nothing between epochs. */
export class ProgressBar {
  private last = 0;
  constructor(private stream: NodeJS.WriteStream = process.stderr) {}
  update(label: string, done: number, total: number, extra: string, eta: number): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (now - this.last < 200 && done < total) return;
    this.last = now;
    const width = 24;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    this.stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${extra} ETA ${formatDuration(eta)}   `);
  }
  end(): void { if (this.stream.isTTY) this.stream.write('\n'); }
}
