/**
 * npx tsx scripts/trace-profile.ts TRACE.json [--top 25] [--window NAME] [--buckets MS]
 *
 * Where each thread's time went in a Chromium trace written by `npm run bench -- --trace DIR`: V8's
 * sampling profiler (ProfileChunk events, one profile per thread: the page, each worker) read within
 * each `performance.measure` window the bench page marks (bench:first-visit, bench:returning-visit,
 * bench:home-calls: the warm home calls back to back),
 * or --window NAME only. Per window and thread: busy ms, then the functions by self time and by
 * inclusive time (a function counted once per sample however deep it recurses), and with --buckets
 * the busiest function in each slice of that many ms, to read the order of the work; and when the
 * first task that began on the thread within the window (for a worker the window's load created:
 * when its thread first ran).
 */
import { readFileSync } from 'node:fs';

interface TraceEvent { name: string; ph: string; ts: number; pid: number; tid: number; id?: string; id2?: { local?: string }; cat?: string; args?: Record<string, any> }
interface CallFrame { functionName: string; url?: string; lineNumber?: number; columnNumber?: number }
interface ProfileNode { id: number; callFrame: CallFrame; parent?: number }
interface Thread { name: string; thread: string; profile: { start: number; nodes: Map<number, ProfileNode>; times: number[]; samples: number[] } }

const argv = process.argv.slice(2);
const file = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
if (!file) { console.error('usage: npx tsx scripts/trace-profile.ts TRACE.json [--top 25] [--window NAME] [--buckets MS]'); process.exit(2); }
const opt = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const TOP = Number(opt('top') ?? 25);
const BUCKET_MS = opt('buckets') ? Number(opt('buckets')) : undefined;
const ONLY = opt('window');

const raw = JSON.parse(readFileSync(file, 'utf8'));
const events: TraceEvent[] = Array.isArray(raw) ? raw : raw.traceEvents;
const key = (e: { pid: number; tid: number }) => `${e.pid}:${e.tid}`;
const threadNames = new Map<string, string>();
for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') threadNames.set(key(e), e.args?.name ?? '?');

// Profiles: 'Profile' starts one (per thread), 'ProfileChunk's carry its nodes and samples.
const profiles = new Map<string, Thread>();
const profileId = (e: TraceEvent) => `${e.pid}:${e.id ?? e.id2?.local}`;
for (const e of events) {
  if (e.name === 'Profile') {
    profiles.set(profileId(e), { name: threadNames.get(key(e)) ?? key(e), thread: key(e), profile: { start: e.args?.data?.startTime ?? e.ts, nodes: new Map(), times: [], samples: [] } });
  }
}
const last = new Map<string, number>();
for (const e of events) {
  if (e.name !== 'ProfileChunk') continue;
  const t = profiles.get(profileId(e));
  if (!t) continue;
  const data = e.args?.data ?? {};
  for (const n of data.cpuProfile?.nodes ?? []) t.profile.nodes.set(n.id, n);
  const samples: number[] = data.cpuProfile?.samples ?? [];
  const deltas: number[] = data.timeDeltas ?? [];
  let at = last.get(profileId(e)) ?? t.profile.start;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    t.profile.samples.push(samples[i]);
    t.profile.times.push(at);
  }
  last.set(profileId(e), at);
}

// Windows: the page's performance.measure spans (async begin/end pairs in blink.user_timing).
const windows: Array<{ name: string; from: number; to: number }> = [];
const open = new Map<string, number>();
for (const e of events) {
  if (!e.cat?.includes('blink.user_timing') || !e.name.startsWith('bench:')) continue;
  if (e.ph === 'b') open.set(e.name, e.ts);
  else if (e.ph === 'e' && open.has(e.name)) { windows.push({ name: e.name, from: open.get(e.name)!, to: e.ts }); open.delete(e.name); }
}
if (windows.length === 0) { console.error('no bench:* performance.measure windows in this trace'); process.exit(1); }

const IDLE = new Set(['(idle)', '(program)', '(root)']);
const label = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${(f.url ?? '').split('/').pop()}:${(f.lineNumber ?? -1) + 1}`;
const fmt = (us: number) => (us / 1000).toFixed(1).padStart(8);

for (const w of windows) {
  if (ONLY && w.name !== ONLY) continue;
  console.log(`\n=== ${w.name}: ${((w.to - w.from) / 1000).toFixed(0)} ms`);
  for (const [, t] of profiles) {
    const { nodes, times, samples } = t.profile;
    const self = new Map<string, number>();
    const incl = new Map<string, number>();
    const buckets = new Map<number, Map<string, number>>();
    let busy = 0;
    for (let i = 0; i + 1 < samples.length; i++) {
      if (times[i] < w.from || times[i] >= w.to) continue;
      const dt = times[i + 1] - times[i];
      const node = nodes.get(samples[i]);
      if (!node) continue;
      const name = node.callFrame.functionName;
      if (IDLE.has(name)) continue;
      busy += dt;
      const l = label(node.callFrame);
      self.set(l, (self.get(l) ?? 0) + dt);
      const seen = new Set<string>();
      for (let n: ProfileNode | undefined = node; n; n = n.parent !== undefined ? nodes.get(n.parent) : undefined) {
        const nl = label(n.callFrame);
        if (seen.has(nl) || IDLE.has(n.callFrame.functionName)) continue;
        seen.add(nl);
        incl.set(nl, (incl.get(nl) ?? 0) + dt);
      }
      if (BUCKET_MS) {
        const b = Math.floor((times[i] - w.from) / (BUCKET_MS * 1000));
        const m = buckets.get(b) ?? new Map<string, number>();
        // The bucket's "doing": the innermost frame of our own code (not a builtin or a TF.js internal) when there is one.
        let own: ProfileNode | undefined = node;
        while (own && !/\/(src|assets)\//.test(own.callFrame.url ?? '') && own.parent !== undefined) own = nodes.get(own.parent);
        const ol = label((own ?? node).callFrame);
        m.set(ol, (m.get(ol) ?? 0) + dt);
        buckets.set(b, m);
      }
    }
    if (busy < 5000) continue;
    // The thread's first task in the window (a worker created at its start: when its thread first ran).
    let first = Infinity;
    for (const e of events) if (e.ph === 'X' && e.name === 'RunTask' && key(e) === t.thread && e.ts >= w.from && e.ts < w.to && e.ts < first) first = e.ts;
    const firstTask = Number.isFinite(first) ? `, first task at ${((first - w.from) / 1000).toFixed(0)} ms` : '';
    console.log(`\n-- ${t.name}: busy ${(busy / 1000).toFixed(0)} ms${firstTask}`);
    const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP);
    console.log('   self ms  function');
    for (const [l, us] of top(self)) console.log(`${fmt(us)}  ${l}`);
    console.log('   incl ms  function');
    for (const [l, us] of top(incl)) console.log(`${fmt(us)}  ${l}`);
    if (BUCKET_MS) {
      console.log(`   per ${BUCKET_MS} ms: busy ms, busiest frame of our code`);
      for (const [b, m] of [...buckets].sort((x, y) => x[0] - y[0])) {
        const total = [...m.values()].reduce((s, v) => s + v, 0);
        const [l, us] = [...m].sort((x, y) => y[1] - x[1])[0];
        console.log(`  ${String(b * BUCKET_MS).padStart(6)}  ${fmt(total)}  ${l} (${(us / 1000).toFixed(0)})`);
      }
    }
  }
}
