/**
 * npm run bench [-- --quick] [--backends wasm,cpu] [--sizes 1k,24k] [--calls 40] [--no-build] [--out docs]
 *   [--peer-sizes 24k,1m] [--peer-calls 100] [--no-peer] [--goals-doc docs/benchmarks.md] [--trace DIR]
 *
 * Builds the app, starts `vite preview`, launches Debian's Chromium headless (Playwright, the e2e
 * flags, --enable-unsafe-webgpu) and runs bench/index.html once per case: backend x catalog size.
 * Catalogs: 1k and 24k items of the bundled Games model (models/games-sasrec, 23,715 items), and
 * 100k / 1M items of synthetic models generated here (scripts/bench-models.ts, into dist-site/, the site build).
 * Prints a table and writes <out>/benchmarks.json, <out>/benchmarks.md and SVG charts
 * (--quick writes to tmp/bench-quick/ unless --out is given: a few-second CI smoke).
 * The onnxruntime-web peer (bench/peer.ts, scripts/bench-peer.ts) runs in the wasm cases of
 * --peer-sizes, interleaved with scenerec's home calls. After the run the goals of issue #18 are
 * printed with their figures and met / not met (scripts/bench-goals.ts); --goals-doc FILE also
 * writes that table into FILE between its `<!-- bench:goals -->` markers. --trace DIR records a
 * Chromium trace per case (V8's sampling profiler on every thread, page and workers) into
 * DIR/trace-<case>.json: `npx tsx scripts/trace-profile.ts DIR/trace-<case>.json` says where each
 * thread's time went in each load.
 *
 * Every figure is measured in this run; nothing is hard-coded. The cost floor of a call is the
 * multiply-adds it really needs (callMacs: the forward over the real history positions only, the
 * last block at the last position only, plus the catalog scoring) divided by the peak rate of the
 * floor probe (bench/floor-probe.worker.ts: a register-only wasm SIMD multiply-add loop in a Web
 * Worker, best of several runs), measured once at the start of the run. The best TF.js matMul rate
 * per backend is still measured and printed beside it, for reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from '@playwright/test';
import { preview } from 'vite';
import type { BenchCase, BenchResult } from '../bench/main';
import type { FloorProbeAnswer } from '../bench/floor-probe';
import { makeSyntheticModel } from './bench-models.js';
import { evaluateGoals, goalsTable, writeGoalsDoc } from './bench-goals.js';
import { peerLines, writeOrtFiles, writePeerModel } from './bench-peer.js';
import { workerHeap } from './worker-heap.js';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const USAGE = `usage: npm run bench [-- --quick] [--backends wasm,cpu] [--sizes 1k,24k] [--calls 40] [--no-build] [--out docs]
  [--peer-sizes 24k,1m] [--peer-calls 100] [--no-peer] [--goals-doc docs/benchmarks.md] [--from <benchmarks.json>] [--trace DIR]`;
const BOOLEAN_FLAGS = ['quick', 'no-build', 'no-peer', 'help'];
const VALUE_FLAGS = ['backends', 'sizes', 'calls', 'out', 'peer-sizes', 'peer-calls', 'goals-doc', 'from', 'trace'];
for (let i = 0; i < argv.length; i++) {
  const name = argv[i].replace(/^--/, '');
  if (VALUE_FLAGS.includes(name)) { i++; continue; }
  if (BOOLEAN_FLAGS.includes(name)) continue;
  console.error(`unknown option ${argv[i]}\n${USAGE}`);
  process.exit(2);
}
if (flag('help')) { console.log(USAGE); process.exit(0); }

const QUICK = flag('quick');
const BACKENDS = (opt('backends') ?? (QUICK ? 'wasm' : 'auto,webgpu,webgl,wasm,cpu')).split(',') as BenchCase['backend'][];
const SIZES = (opt('sizes') ?? (QUICK ? '1k,24k' : '1k,24k,100k,1m')).split(',');
const CALLS = Number(opt('calls') ?? (QUICK ? 8 : 40));
const PEER_SIZES = flag('no-peer') ? [] : (opt('peer-sizes') ?? '24k,1m').split(',');
const LEAK_CALLS = 10_000;
const TRACE_DIR = opt('trace');
/** What --trace records: the timeline, and V8's sampling profiler (its ProfileChunk events, per thread). */
const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'disabled-by-default-v8.cpu_profiler', 'blink.user_timing'];
const PEER_CALLS = Number(opt('peer-calls') ?? (QUICK ? 20 : 100));
const OUT = resolve(root, opt('out') ?? (QUICK ? 'tmp/bench-quick' : 'docs'));
const PORT = Number(process.env.SCENEREC_BENCH_PORT ?? 4329);
const BASE = `http://localhost:${PORT}`;
const CHROMIUM = process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--enable-precise-memory-info', '--js-flags=--expose-gc'];

const SIZE_ITEMS: Record<string, number> = { '1k': 1000, '24k': 23_715, '100k': 100_000, '1m': 1_000_000 };
/** Slow software backends skip the largest catalogs (SwiftShader WebGPU: 5 minutes for 100k, 3 s a call). */
const SKIP: Record<string, string[]> = { webgpu: ['100k', '1m'], webgl: ['1m'], auto: ['1k', '100k', '1m'] };

interface Row extends BenchResult { backendAsked: string; size: string; items: number; macs?: number; floorMs?: number }

function sh(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

async function waitForServer(url: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not come up`);
}

/**
 * Multiply-adds one home call needs, for `n` real history positions (padding positions cannot change
 * the last position's state, so they are not counted): every block but the last over all n positions
 * (q, k, v and output projections 4·n·d², causal attention n(n+1)·d, feed-forward 2·n·d·ffn); the last
 * block only keys and values for all n (2·n·d²) and the rest for the last position (2·d² + 2·n·d +
 * 2·d·ffn); then scoring rows·d. Layer norms, softmax and ranking are not counted.
 */
export function callMacs(cfg: { maxLen: number; hiddenDim: number; numBlocks: number; ffnDim: number }, rows: number, n = cfg.maxLen): { forward: number; scoring: number } {
  const { hiddenDim: d, numBlocks, ffnDim } = cfg;
  const full = 4 * n * d * d + n * (n + 1) * d + 2 * n * d * ffnDim;
  const last = 2 * n * d * d + 2 * d * d + 2 * n * d + 2 * d * ffnDim;
  return { forward: (numBlocks - 1) * full + last, scoring: rows * d };
}

/** The benchmark worker's JS heap (window.benchWorkerHeap() on the page); null where it cannot be read. */
function benchWorkerHeap(browser: Browser): Promise<number | null> {
  return workerHeap(browser, 'instrumented.worker').catch(() => null);
}

// ---------------------------------------------------------------------------------------------
// SVG charts (hand-written, no dependencies)

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];

/** Grouped horizontal bars on a log axis: groups (rows) x series (colours). */
function barChart(title: string, unit: string, groups: string[], series: string[], value: (g: string, s: string) => number | undefined, refLine?: { label: string; value: (g: string) => number | undefined }): string {
  const barH = 12;
  const gap = 10;
  const left = 150;
  const width = 760;
  const plotW = width - left - 90;
  const vals = groups.flatMap((g) => series.map((s) => value(g, s))).filter((v): v is number => v !== undefined && v > 0);
  if (refLine) for (const g of groups) { const v = refLine.value(g); if (v) vals.push(v); }
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...vals))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...vals))));
  const x = (v: number) => left + (Math.log10(v / lo) / Math.log10(hi / lo)) * plotW;
  const groupH = series.length * barH + gap;
  const top = 40;
  const height = top + groups.length * groupH + 40 + series.length * 0;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 20}" font-family="sans-serif" font-size="11">`,
    `<text x="10" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`];
  for (let p = lo; p <= hi; p *= 10) {
    out.push(`<line x1="${x(p)}" y1="${top - 5}" x2="${x(p)}" y2="${top + groups.length * groupH}" stroke="#ddd"/>`,
      `<text x="${x(p)}" y="${top + groups.length * groupH + 14}" text-anchor="middle">${p >= 1 ? p : p.toPrecision(1)} ${unit}</text>`);
  }
  groups.forEach((g, gi) => {
    const y0 = top + gi * groupH;
    out.push(`<text x="${left - 6}" y="${y0 + (series.length * barH) / 2 + 4}" text-anchor="end">${esc(g)}</text>`);
    series.forEach((s, si) => {
      const v = value(g, s);
      const y = y0 + si * barH;
      if (v === undefined || !(v > 0)) { out.push(`<text x="${left + 4}" y="${y + barH - 2}" fill="#999">${esc(s)}: n/a</text>`); return; }
      out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left)}" height="${barH - 2}" fill="${COLORS[si % COLORS.length]}"/>`,
        `<text x="${x(v) + 4}" y="${y + barH - 3}">${v < 10 ? v.toFixed(2) : v.toFixed(v < 100 ? 1 : 0)}</text>`);
    });
    const r = refLine?.value(g);
    if (r) out.push(`<line x1="${x(r)}" y1="${y0 - 2}" x2="${x(r)}" y2="${y0 + series.length * barH}" stroke="#000" stroke-dasharray="3,2"/>`);
  });
  const ly = height;
  series.forEach((s, si) => out.push(`<rect x="${left + si * 110}" y="${ly}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/>`,
    `<text x="${left + si * 110 + 14}" y="${ly + 9}">${esc(s)}</text>`));
  if (refLine) out.push(`<line x1="${left + series.length * 110}" y1="${ly + 5}" x2="${left + series.length * 110 + 18}" y2="${ly + 5}" stroke="#000" stroke-dasharray="3,2"/>`,
    `<text x="${left + series.length * 110 + 22}" y="${ly + 9}">${esc(refLine.label)}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

const f = (ms: number | undefined, digits = 1) => (ms === undefined ? '–' : ms < 10 ? ms.toFixed(2) : ms.toFixed(digits));
const mb = (b: number | undefined) => (b === undefined ? '–' : (b / 1048576).toFixed(1));
/** A cold start's stage ends (ms since createRecommender), as one line. */
const phases = (p: BenchResult['coldPhases']) => (p ? Object.entries(p).map(([k, v]) => `${k} ${v}`).join(', ') : '–');

async function main() {
  const t0 = Date.now();
  const cfg = JSON.parse(readFileSync(join(root, 'models/games-sasrec/model.json'), 'utf8')).userDefinedMetadata.scenerec.config;
  let rows: Row[] = [];
  let chromiumVersion: string | undefined;
  let floor: FloorProbeAnswer | undefined;
  let meta: RunMeta | undefined;
  const from = opt('from');
  if (from) {
    // Re-render the table and charts of an earlier run.
    const old = JSON.parse(readFileSync(resolve(root, from), 'utf8')) as { rows: Row[]; machine: { chromium?: string }; floor?: FloorProbeAnswer; run?: RunMeta; seconds?: number };
    meta = old.run && { ...old.run, seconds: old.run.seconds ?? old.seconds };
    rows = old.rows;
    chromiumVersion = old.machine.chromium;
    floor = old.floor;
  } else {
    ({ rows, chromiumVersion, floor } = await runCases(cfg));
  }
  await report(rows, chromiumVersion, floor, t0, meta);
}

/** The floor probe, in a page of its own before any case (nothing else running in the browser). */
async function runFloorProbe(browser: Browser): Promise<FloorProbeAnswer> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${BASE}/bench/index.html`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    return await page.evaluate(() => window.bench.probeFloor());
  } finally {
    await context.close().catch(() => undefined);
  }
}

async function runCases(cfg: Parameters<typeof callMacs>[0]): Promise<{ rows: Row[]; chromiumVersion?: string; floor?: FloorProbeAnswer }> {
  if (!flag('no-build')) sh(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn']);
  const models: Record<string, string> = { '1k': '/models/games-sasrec/model.json', '24k': '/models/games-sasrec/model.json' };
  const modelDirs: Record<string, string> = { '1k': join(root, 'models/games-sasrec'), '24k': join(root, 'models/games-sasrec') };
  for (const size of SIZES) {
    if (size === '1k' || size === '24k') continue;
    const n = SIZE_ITEMS[size];
    if (!n) throw new Error(`unknown size ${size} (1k, 24k, 100k, 1m)`);
    const dir = join(root, 'dist-site', 'bench-models', `games-${size}`);
    const ts = Date.now();
    makeSyntheticModel(dir, n);
    console.log(`synthetic model ${size}: ${dir} (${((Date.now() - ts) / 1000).toFixed(1)} s)`);
    models[size] = `/bench-models/games-${size}/model.json`;
    modelDirs[size] = dir;
  }
  // The peer: onnxruntime-web's files and the model exported for each peer size's catalog.
  const peerUrls: Record<string, string> = {};
  if (BACKENDS.includes('wasm')) {
    writeOrtFiles(join(root, 'dist-site'));
    for (const size of SIZES.filter((s) => PEER_SIZES.includes(s))) {
      const e = writePeerModel(modelDirs[size], SIZE_ITEMS[size], join(root, 'dist-site', 'bench-models', `peer-${size}.onnx`));
      console.log(`peer model ${size}: ${(e.bytes / 1048576).toFixed(1)} MB ONNX exported in ${(e.ms / 1000).toFixed(1)} s`);
      peerUrls[size] = `/bench-models/peer-${size}.onnx`;
    }
  }

  // Cross-origin isolated (COOP + COEP): Chromium's performance.now() then ticks in microseconds
  // instead of 100 µs steps, in the page and in the workers. Neither scenerec (single-threaded
  // wasm regardless) nor the peer (one thread) uses the SharedArrayBuffer this also allows.
  const server = await preview({
    root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn',
    preview: { port: PORT, strictPort: true, headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
  });
  let browser: Browser | undefined;
  let chromiumVersion: string | undefined;
  let floor: FloorProbeAnswer | undefined;
  const rows: Row[] = [];
  try {
    await waitForServer(`${BASE}/bench/index.html`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    chromiumVersion = browser.version();
    floor = await runFloorProbe(browser);
    console.log(`floor probe: ${floor.gmacs.toFixed(2)} GMAC/s (${floor.variants.map((v) => `${v.accumulators} acc ${v.gmacs.toFixed(2)}`).join(', ')}); ${floor.method}`);
    const peaked = new Set<string>();
    for (const size of SIZES) {
      for (const backend of BACKENDS) {
        if (SKIP[backend]?.includes(size)) continue;
        const items = SIZE_ITEMS[size];
        const slow = backend === 'webgpu' || backend === 'webgl' || backend === 'cpu';
      // 1M: also without the catalog option (the model's items), which leaves out sending a million
      // entries to the worker: the rest of the cold start, measured on its own.
      for (const modelCatalog of size === '1m' ? [false, true] : [false]) {
        const c: BenchCase = {
          label: `${backend}-${size}${modelCatalog ? '-vocab' : ''}`, backend, modelUrl: models[size], catalogSize: items, modelCatalog,
          warmCalls: slow ? Math.max(5, Math.round(CALLS / 2)) : CALLS,
          throughputSeconds: QUICK ? 0.5 : 2,
          leakCalls: !QUICK && backend === 'wasm' && size === '24k' ? LEAK_CALLS : undefined,
          peer: backend === 'wasm' && !modelCatalog && peerUrls[size] ? { onnxUrl: peerUrls[size], calls: PEER_CALLS, historyLengths: [20, 50] } : undefined,
        };
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.exposeFunction('benchWorkerHeap', () => benchWorkerHeap(browser!));
        page.on('pageerror', (e) => console.error(`[${c.label}] pageerror: ${e.message}`));
        const ts = Date.now();
        let r: BenchResult;
        try {
          await page.goto(`${BASE}/bench/index.html`);
          await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
          const peak = !peaked.has(backend) && backend !== 'auto' && size === '24k';
          if (TRACE_DIR) {
            mkdirSync(TRACE_DIR, { recursive: true });
            await browser.startTracing(page, { path: join(TRACE_DIR, `trace-${c.label}.json`), categories: TRACE_CATEGORIES });
          }
          let timer: ReturnType<typeof setTimeout> | undefined;
          r = await Promise.race([
            page.evaluate(({ c, peak }) => window.bench.run(c, { peak }), { c, peak }),
            new Promise<BenchResult>((_, rej) => { timer = setTimeout(() => rej(new Error('case timed out after 480 s')), 480_000); }),
          ]).finally(async () => {
            clearTimeout(timer);
            // Stopped however the case ended: the next case starts its own trace.
            if (TRACE_DIR) await browser!.stopTracing().catch(() => undefined);
          });
          if (r.peak) peaked.add(backend);
        } catch (e) {
          r = { label: c.label, ok: false, error: (e as Error).message };
        }
        await context.close().catch(() => undefined);
        const row: Row = { ...r, backendAsked: backend, size: modelCatalog ? `${size} (no catalog option)` : size, items };
        if (r.info) {
          const macs = callMacs(cfg, r.info.scoring?.rows ?? items, r.homeHistoryUsed ?? cfg.maxLen);
          row.macs = macs.forward + macs.scoring;
        }
        rows.push(row);
        const home = r.scenes?.home?.worker;
        console.log(`${c.label.padEnd(12)} ${r.ok ? 'ok ' : 'ERR'} ${((Date.now() - ts) / 1000).toFixed(0).padStart(4)} s` +
          (r.ok ? `  ${r.crossOriginIsolated ? 'isolated' : 'NOT isolated (100 µs timers)'}  backend ${r.info?.backend} (${r.info?.scoring?.dtype}, ${r.info?.scoring?.mode})  cold ${f(r.coldFirstResultMs, 0)} ms  home ${f(home?.median)} / ${f(home?.p95)} ms` : `  ${r.error}`));
        if (r.peer) console.log(peerLines(r.peer).map((l) => `${''.padEnd(12)} ${l}`).join('\n'));
        if (r.ok) console.log(`${''.padEnd(12)} cold phases ${phases(r.coldPhases)}; reload ${phases(r.reloadPhases)}; matrix ${mb(r.info?.scoring?.bytes)} MB (${r.info?.scoring?.kernel ?? r.info?.scoring?.dtype}), built in ${f(r.info?.scoring?.buildMs, 0)} ms`);
      }
      }
    }
  } finally {
    await browser?.close().catch(() => undefined);
    await server.close();
  }
  return { rows, chromiumVersion, floor };
}

interface RunMeta { date: string; command: string; load: string; seconds?: number }

async function report(rows: Row[], chromiumVersion: string | undefined, floor: FloorProbeAnswer | undefined, t0: number, meta?: RunMeta): Promise<void> {
  const cfg = JSON.parse(readFileSync(join(root, 'models/games-sasrec/model.json'), 'utf8')).userDefinedMetadata.scenerec.config;
  // Cost floor: the call's multiply-adds at the floor probe's peak rate.
  const peaks = rows.filter((r) => r.peak).map((r) => ({ backend: r.info!.backend, ...r.peak! }));
  const best = peaks.length > 0 ? peaks.reduce((a, b) => (b.gmacs > a.gmacs ? b : a)) : undefined;
  for (const r of rows) if (floor && r.macs) r.floorMs = r.macs / (floor.gmacs * 1e6);

  const homeOf = (r: Row | undefined) => r?.scenes?.home?.worker;
  const lines: string[] = [];
  lines.push('| backend asked → used | catalog | matrix | cold: create → 1st result (reload) | warm home median / p95 | product | cart | search | round trip home | calls/s (1 / 8 in flight) | floor | home ÷ floor | tf bytes | catalog matrix | worker heap |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (!r.ok) { lines.push(`| ${r.backendAsked} | ${r.size} | | failed: ${esc(r.error ?? '').slice(0, 160)} ||||||||||||`); continue; }
    const s = r.scenes!;
    const m = (x?: { median: number }) => f(x?.median);
    lines.push(`| ${r.backendAsked}${r.backendAsked !== r.info!.backend ? ` → ${r.info!.backend}` : ''} | ${r.items.toLocaleString('en')} | ${r.info!.scoring?.dtype}${r.info!.scoring?.fromCache ? ' (cache)' : ''}, ${r.info!.scoring?.mode} | ${f(r.coldFirstResultMs, 0)} ms (${f(r.reloadFirstResultMs, 0)} ms) | ${f(homeOf(r)?.median)} / ${f(homeOf(r)?.p95)} ms | ${m(s.product?.worker)} | ${m(s.cart?.worker)} | ${m(s.search?.worker)} | ${m(s.home?.roundTrip)} ms | ${r.throughput!.sequential.toFixed(0)} / ${r.throughput!.concurrent8.toFixed(0)} | ${f(r.floorMs)} ms | ${r.floorMs ? (homeOf(r)!.median / r.floorMs).toFixed(1) : '–'}× | ${mb(r.memory?.tfBytes)} MB | ${mb(r.info!.scoring?.bytes)} MB | ${mb(r.memory?.workerHeap)} MB |`);
  }
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  if (floor) console.log(`floor: ${floor.gmacs.toFixed(2)} GMAC/s peak, ${floor.method}`);
  if (best) console.log(`TF.js matMul, for reference: ${best.gmacs.toFixed(2)} GMAC/s on ${best.backend} (${best.shape}); all: ${peaks.map((p) => `${p.backend} ${p.gmacs.toFixed(2)}`).join(', ')}`);
  for (const r of rows) if (r.leak) console.log(`leak check ${r.label}: ${r.leak.calls} calls, tensors ${r.leak.tensorsBefore} -> ${r.leak.tensorsAfter}, tf bytes ${r.leak.bytesBefore} -> ${r.leak.bytesAfter}, worker heap ${mb(r.leak.heapBefore)} -> ${mb(r.leak.heapAfter)} MB`);
  const auto = rows.find((r) => r.backendAsked === 'auto' && r.ok);
  if (auto) console.log(`auto: ${auto.info!.backendReason}`);
  for (const r of rows) if (r.peer) console.log([`${r.label}:`, ...peerLines(r.peer)].join('\n  '));

  const goals = evaluateGoals(rows, floor, { leakRun: !QUICK });
  const load = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(', ');
  const runMeta = meta ?? { date: new Date().toISOString(), command: `npm run bench -- ${argv.join(' ')}`, load, seconds: Math.round((Date.now() - t0) / 1000) };
  const goalsBlock = `Run of ${runMeta.date.slice(0, 16).replace('T', ' ')} UTC, \`${runMeta.command}\`, load average (1, 5, 15 min) at the end ${runMeta.load} ` +
    `(${(await import('node:os')).cpus().length} CPUs). Floor method: ${floor?.method ?? 'not run'}.\n\n${goalsTable(goals)}`;
  console.log(`\ngoals of issue #18:\n${goalsBlock}\n`);
  const goalsDoc = opt('goals-doc');
  if (goalsDoc) { writeGoalsDoc(resolve(root, goalsDoc), goalsBlock); console.log(`wrote the goals into ${goalsDoc}`); }

  mkdirSync(OUT, { recursive: true });
  const doc = {
    generatedBy: 'npm run bench', date: runMeta.date, quick: QUICK, seconds: runMeta.seconds ?? Math.round((Date.now() - t0) / 1000),
    machine: { cpus: (await import('node:os')).cpus().length, chromium: chromiumVersion, note: 'no GPU: webgpu and webgl run on SwiftShader (software)' },
    model: { url: '/models/games-sasrec/model.json', config: cfg },
    floor: floor ?? null,
    goals,
    run: runMeta,
    peak: best ? { best, all: peaks } : null,
    rows,
  };
  writeFileSync(join(OUT, 'benchmarks.json'), `${JSON.stringify(doc, null, 1)}\n`);
  const sizes = SIZES.filter((s) => rows.some((r) => r.size === s));
  const backends = BACKENDS.filter((b) => b !== 'auto');
  const get = (size: string, b: string) => rows.find((r) => r.size === size && r.backendAsked === b && r.ok);
  writeFileSync(join(OUT, 'bench-warm.svg'), barChart('Warm home recommend, worker median (log scale); dashed: cost floor', 'ms',
    sizes.map((s) => `${SIZE_ITEMS[s].toLocaleString('en')} items`), backends,
    (g, b) => homeOf(get(sizes[sizes.map((s) => `${SIZE_ITEMS[s].toLocaleString('en')} items`).indexOf(g)], b))?.median,
    { label: 'floor', value: (g) => rows.find((r) => `${r.items.toLocaleString('en')} items` === g && r.floorMs)?.floorMs }));
  writeFileSync(join(OUT, 'bench-cold.svg'), barChart('Cold start: createRecommender → first result, first visit (log scale)', 'ms',
    sizes.map((s) => `${SIZE_ITEMS[s].toLocaleString('en')} items`), [...backends, ...(BACKENDS.includes('auto') ? ['auto'] : [])],
    (g, b) => get(sizes[sizes.map((s) => `${SIZE_ITEMS[s].toLocaleString('en')} items`).indexOf(g)], b)?.coldFirstResultMs));
  writeFileSync(join(OUT, 'bench-memory.svg'), barChart('TF.js tensor bytes in the worker after load (log scale)', 'MB',
    sizes.map((s) => `${SIZE_ITEMS[s].toLocaleString('en')} items`), backends,
    (g, b) => { const r = get(sizes[sizes.map((s) => `${SIZE_ITEMS[s].toLocaleString('en')} items`).indexOf(g)], b); return r?.memory ? r.memory.tfBytes / 1048576 : undefined; }));
  writeFileSync(join(OUT, 'bench-table.md'), `${table}\n`);
  console.log(`wrote ${OUT}/benchmarks.json, bench-*.svg, bench-table.md (${doc.seconds} s)`);
}

main().catch((e) => { console.error(e); process.exit(1); });
