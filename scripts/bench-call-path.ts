/**
 * npm run bench:call-path [-- --calls 2000] [--alloc N] [--base DIR] [--engine | --wake]
 *
 * Where the page's time of a hot call goes outside the engine (issue #18: "as the page sees it ≤
 * worker time + 0.15 ms"), measured in Debian's Chromium (cross-origin isolated, so the timers are
 * fine-grained). The worker runs the SDK's own host (src/engine/host.ts: direct calls, pings and
 * Comlink on one endpoint) over a stand-in engine whose `recommend` returns a result shaped like the
 * bench's 24k home answer (10 items with their catalog entries and reasons), so the figures are the
 * message path alone. Interleaved, per call, medians:
 *   - `postMessage, tiny`: a bare round trip to a second worker, `{ n }` each way (the floor of any path);
 *   - `postMessage, result`: the same, answered with the result (its structured clone both ways);
 *   - `direct message, bare`: the SDK's direct-call message posted by hand to a worker running the
 *     SDK's host (no supervisor; a worker of its own);
 *   - `sdk`: `rec.scene('home').recommend({ k: 10 })` through createRecommender's client and supervisor.
 * Also printed: the sdk call minus the latencyMs it reports (what `npm run bench` calls page - worker),
 * the page-side synchronous part of the sdk call (until it posted: on 2
 * busy cores the woken worker may run inside it), the worker-side time from the direct message
 * event to the reply posted (the bare variant's worker), and the result's structured clone alone. --alloc N makes the
 * stand-in engine leave N floats of garbage per call, as the real scoring does: on a loaded machine
 * the garbage collector's work then lands outside the engine's own timing.
 *
 * --engine: the SDK's real worker (`exposeEngine`) and engine instead of the stand-in, on the bundled
 * Games model (wasm backend, its 23,715 items as the catalog, a 20-view history), `home.recommend({ k:
 * 10 })` timed against the `--base` revision's (needs --base) in the same page, calls alternated;
 * printed per side: the page's time, the engine's latencyMs and their difference per call.
 *
 * --wake: no SDK; what the wake of each side costs. A bare worker answers after spinning 0, 0.1,
 * 0.3 or 0.7 ms (the page's thread asleep that long), by postMessage both ways, or through shared
 * memory with the worker waiting in `Atomics.waitAsync` or blocked in `Atomics.wait` (the page in
 * `Atomics.waitAsync`); printed: the round trip beyond the spin, interleaved. (The measurement behind
 * the decision not to put the hot calls on shared memory: docs/benchmarks.md.)
 */
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { chromium } from '@playwright/test';

const argv = process.argv.slice(2);
const opt = (name: string, d: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : d; };
const CALLS = Number(opt('calls', '2000'));
/** --alloc N: the stand-in engine also allocates and fills N floats per call (garbage like the real scoring's), inside its own timing. */
const ALLOC = Number(opt('alloc', '0'));
const root = resolve(import.meta.dirname, '..').replaceAll('\\', '/');
/** --base DIR: a copy of another revision's src/ (e.g. `git archive main src | tar -x -C DIR`), timed as `sdk (base)` beside this one. */
const BASE = argv.includes('--base') ? resolve(opt('base', '')).replaceAll('\\', '/') : null;
const ENGINE = argv.includes('--engine');
const WAKE = argv.includes('--wake');
if (ENGINE && !BASE) throw new Error('--engine compares two revisions: give --base DIR too');

// The stand-in result: the bench's catalog entries (bench/catalog.ts) and a personal reason.
const resultSrc = `
export function fakeResult(latencyMs) {
  const items = [];
  for (let r = 0; r < 10; r++) {
    const i = 300 + r * 17;
    items.push({ itemId: 'B00' + (1000000 + i), score: 3.25 - r * 0.1, rank: r,
      reason: { kind: 'personal', becauseOf: ['B00' + (1000100 + r), 'B00' + (1000200 + r)] },
      item: { id: 'B00' + (1000000 + i), category: 'c' + (i % 37), brand: 'b' + (i % 101), price: 5 + (i % 200), available: true } });
  }
  return { scene: 'home', items, backend: 'wasm', modelVersion: 'games-sasrec-1', latencyMs, historyUsed: 20 };
}`;

const workerSrc = (src: string) => `
import * as Comlink from 'comlink';
import * as host from '${src}/engine/host.ts';
import { registerErrorTransfer } from '${src}/contract/transfer.ts';
import { fakeResult } from 'virtual:result';
const hostMs = [];
let t0 = 0;
self.addEventListener('message', (ev) => { if (ev.data && ev.data.scenerecDirect) t0 = performance.now(); });
const origPost = self.postMessage.bind(self);
self.postMessage = (m, t) => { if (m && m.scenerecDirectReply) hostMs.push(performance.now() - t0); return origPost(m, t); };
self.addEventListener('message', (ev) => { if (ev.data && ev.data.callPathHost) origPost({ callPathHost: hostMs.splice(0) }); });
const run = async (f) => { try { return await f(); } catch (e) { throw e; } };
const api = {
  init: async () => ({ backend: 'wasm', modelVersion: 'games-sasrec-1', catalogSize: 23715 }),
  dispose: async () => {},
  recommend: (...a) => run(async () => { const s = performance.now(); if (${ALLOC} > 0) new Float32Array(${ALLOC}).fill(1); return fakeResult(performance.now() - s); }),
};
registerErrorTransfer();
host.answerDirectCalls(self, api);
if (host.answerHotCalls) host.answerHotCalls(self, api);
host.answerPings(self, true, true);
Comlink.expose(api, self);`;

const rawWorkerSrc = `
import { fakeResult } from 'virtual:result';
self.onmessage = (ev) => { self.postMessage(ev.data.tiny ? { n: ev.data.n } : { n: ev.data.n, value: fakeResult(0.01) }); };`;

const pageSrc = `
import { createRecommender } from '${root}/src/index.ts';
${BASE ? `import { createRecommender as createBase } from '${BASE}/src/index.ts';` : 'const createBase = null;'}
import { fakeResult } from 'virtual:result';
const raw = new Worker('/raw.js', { type: 'module' });
const sdkWorker = new Worker('/worker.js', { type: 'module' });
// The bare direct message goes to a worker of its own, so its calls never queue behind the sdk's.
const bareWorker = new Worker('/worker.js', { type: 'module' });
const baseWorker = createBase ? new Worker('/base-worker.js', { type: 'module' }) : null;
let n = 0;
const waiters = new Map();
raw.onmessage = (ev) => { waiters.get(ev.data.n)(); waiters.delete(ev.data.n); };
const rawCall = (tiny) => new Promise((done) => { const id = ++n; waiters.set(id, done); raw.postMessage(tiny ? { tiny, n: id } : { n: id, method: 'recommend', args: ['home', { k: 10 }] }); });
let dn = 1e9;
const directWaiters = new Map();
bareWorker.addEventListener('message', (ev) => { const r = ev.data && ev.data.scenerecDirectReply; if (r && directWaiters.has(r)) { directWaiters.get(r)(); directWaiters.delete(r); } });
const directCall = () => new Promise((done) => { const id = ++dn; directWaiters.set(id, done); bareWorker.postMessage({ scenerecDirect: id, method: 'recommend', args: ['home', { k: 10 }] }); });
window.run = async (calls) => {
  const rec = await createRecommender({ worker: sdkWorker, modelUrl: '/model/manifest.json' });
  const home = rec.scene('home');
  const base = createBase ? await createBase({ worker: baseWorker, modelUrl: '/model/manifest.json' }) : null;
  const variants = {
    'postMessage, tiny': () => rawCall(true),
    'postMessage, result': () => rawCall(false),
    'direct message, bare': directCall,
    sdk: () => home.recommend({ k: 10 }),
    // As the bench and a shop call it: the handle asked for on each call.
    'sdk, scene() each call': () => rec.scene('home').recommend({ k: 10 }),
  };
  if (base) variants['sdk (base), scene() each call'] = () => base.scene('home').recommend({ k: 10 });
  const names = Object.keys(variants);
  const out = Object.fromEntries(names.map((k) => [k, []]));
  const sync = [];
  const gap = [];
  const baseSync = [];
  for (let i = 0; i < 50; i++) for (const k of names) await variants[k]();
  for (let i = 0; i < calls; i++) {
    for (let j = 0; j < names.length; j++) {
      const k = names[(i + j) % names.length];
      const t = performance.now();
      const p = variants[k]();
      if (k === 'sdk') sync.push(performance.now() - t);
      else if (k.startsWith('sdk (base)')) baseSync.push(performance.now() - t);
      const v = await p;
      out[k].push(performance.now() - t);
      if (k === 'sdk') gap.push(performance.now() - t - v.latencyMs);
    }
  }
  const host = await new Promise((done) => {
    const on = (ev) => { if (ev.data && ev.data.callPathHost) { bareWorker.removeEventListener('message', on); done(ev.data.callPathHost); } };
    bareWorker.addEventListener('message', on);
    bareWorker.postMessage({ callPathHost: true });
  });
  const clone = [];
  const res = fakeResult(0.5);
  for (let i = 0; i < calls; i++) { const t = performance.now(); structuredClone(res); clone.push(performance.now() - t); }
  await rec.dispose();
  await base?.dispose();
  return { out, sync, gap, baseSync, host, clone, bytes: JSON.stringify(res).length, isolated: self.crossOriginIsolated };
};`;

const engineWorkerSrc = (src: string) => `
import { exposeEngine } from '${src}/engine/host.ts';
exposeEngine();`;

const enginePageSrc = `
import { createRecommender } from '${root}/src/index.ts';
import { createRecommender as createBase } from '${BASE}/src/index.ts';
window.run = async (calls) => {
  const vocab = await (await fetch('/models/games-sasrec/vocab.json')).json();
  const ids = (vocab.itemIds ?? vocab.ids ?? vocab).slice(101, 121);
  const opts = (dbName) => ({ modelUrl: '/models/games-sasrec/model.json', backend: 'wasm', wasmPaths: '/tfjs/', dbName, modelCache: 'off' });
  const rec = await createRecommender({ ...opts('cp-sdk-' + Date.now()), worker: new Worker('/worker.js', { type: 'module' }) });
  const base = await createBase({ ...opts('cp-base-' + Date.now()), worker: new Worker('/base-worker.js', { type: 'module' }) });
  for (const r of [rec, base]) await r.track(ids.map((itemId) => ({ type: 'view', itemId })));
  const variants = { sdk: () => rec.scene('home').recommend({ k: 10 }), 'sdk (base)': () => base.scene('home').recommend({ k: 10 }) };
  const names = Object.keys(variants);
  const page = Object.fromEntries(names.map((k) => [k, []]));
  const worker = Object.fromEntries(names.map((k) => [k, []]));
  const gap = Object.fromEntries(names.map((k) => [k, []]));
  let same = true;
  for (let i = 0; i < 50; i++) for (const k of names) await variants[k]();
  for (let i = 0; i < calls; i++) {
    let first = null;
    for (let j = 0; j < names.length; j++) {
      const k = names[(i + j) % names.length];
      const t = performance.now();
      const v = await variants[k]();
      const ms = performance.now() - t;
      page[k].push(ms); worker[k].push(v.latencyMs); gap[k].push(ms - v.latencyMs);
      const ids = v.items.map((x) => x.itemId).join();
      if (first === null) first = ids; else if (first !== ids) same = false;
    }
  }
  await rec.dispose(); await base.dispose();
  return { page, worker, gap, same, isolated: self.crossOriginIsolated };
};`;

const wakeWorkerSrc = `
let i32;
const spin = (ms) => { const t = performance.now(); while (performance.now() - t < ms) { /* busy */ } };
const answer = () => { const n = Atomics.load(i32, 0); spin(i32[2] / 1000); Atomics.store(i32, 1, n); Atomics.notify(i32, 1); return n; };
function blocked() { let last = 0; for (;;) { Atomics.wait(i32, 0, last); if (Atomics.load(i32, 0) < 0) return; last = answer(); } }
function waiting(last) { const w = Atomics.waitAsync(i32, 0, last); const go = () => { if (Atomics.load(i32, 0) >= 0) waiting(answer()); }; if (w.async) w.value.then(go); else go(); }
self.onmessage = (ev) => {
  const d = ev.data;
  if (d.sab) { i32 = new Int32Array(d.sab); if (d.blocked) blocked(); else waiting(0); return; }
  spin(d.spin); self.postMessage({ n: d.n });
};`;

const wakePageSrc = `
const message = new Worker('/wake.js');
let n = 0, done = null;
message.onmessage = () => done();
const viaMessage = (spin) => new Promise((r) => { done = r; message.postMessage({ n: ++n, spin }); });
function channel(blocked) {
  const w = new Worker('/wake.js');
  const i32 = new Int32Array(new SharedArrayBuffer(16));
  w.postMessage({ sab: i32.buffer, blocked });
  let seq = 0;
  return { i32, call: async (spin) => {
    const s = ++seq; i32[2] = Math.round(spin * 1000); Atomics.store(i32, 0, s); Atomics.notify(i32, 0);
    while (Atomics.load(i32, 1) !== s) { const r = Atomics.waitAsync(i32, 1, Atomics.load(i32, 1)); if (r.async) await r.value; }
  } };
}
const waiting = channel(false), blocked = channel(true);
window.run = async (calls) => {
  const v = {};
  for (const spin of [0, 0.1, 0.3, 0.7]) {
    v['postMessage both ways, worker busy ' + spin + ' ms'] = [spin, () => viaMessage(spin)];
    v['shared memory, worker in Atomics.waitAsync, busy ' + spin + ' ms'] = [spin, () => waiting.call(spin)];
    v['shared memory, worker blocked in Atomics.wait, busy ' + spin + ' ms'] = [spin, () => blocked.call(spin)];
  }
  const names = Object.keys(v);
  const out = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < 50; i++) for (const k of names) await v[k][1]();
  for (let i = 0; i < calls; i++) for (let j = 0; j < names.length; j++) {
    const k = names[(i + j) % names.length];
    const t = performance.now();
    await v[k][1]();
    out[k].push(performance.now() - t - v[k][0]);
  }
  for (const c of [waiting, blocked]) { Atomics.store(c.i32, 0, -1); Atomics.notify(c.i32, 0); }
  return { out, isolated: self.crossOriginIsolated };
};`;

const virtualResult = {
  name: 'virtual-result',
  setup(b: import('esbuild').PluginBuild) {
    b.onResolve({ filter: /^virtual:result$/ }, () => ({ path: 'result', namespace: 'virtual' }));
    b.onLoad({ filter: /.*/, namespace: 'virtual' }, () => ({ contents: resultSrc, loader: 'js' }));
  },
};

async function bundle(contents: string): Promise<string> {
  const r = await build({ stdin: { contents, resolveDir: root, loader: 'ts' }, bundle: true, format: 'esm', write: false, target: 'es2022', plugins: [virtualResult] });
  return r.outputFiles[0].text;
}

const [worker, baseWorker, rawWorker, page] = WAKE
  ? await Promise.all([bundle(wakeWorkerSrc), '', '', bundle(wakePageSrc)])
  : ENGINE
  ? await Promise.all([bundle(engineWorkerSrc(`${root}/src`)), bundle(engineWorkerSrc(`${BASE}/src`)), '', bundle(enginePageSrc)])
  : await Promise.all([bundle(workerSrc(`${root}/src`)), BASE ? bundle(workerSrc(`${BASE}/src`)) : '', bundle(rawWorkerSrc), bundle(pageSrc)]);
const browser = await chromium.launch({ executablePath: process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
try {
  const tab = await browser.newPage();
  const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  await tab.route('http://localhost:5361/**', (route) => {
    const path = new URL(route.request().url()).pathname;
    const js = (body: string) => route.fulfill({ body, contentType: 'text/javascript', headers: isolation });
    if (path === '/worker.js') return js(worker);
    if (path === '/raw.js') return js(rawWorker);
    if (path === '/base-worker.js') return js(baseWorker);
    if (path === '/page.js') return js(page);
    if (path === '/wake.js') return js(worker);
    if (path.startsWith('/models/games-sasrec/')) return route.fulfill({ path: resolve(root, path.slice(1)), headers: isolation });
    if (path.startsWith('/tfjs/')) {
      return route.fulfill({ path: resolve(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', path.slice(6)), contentType: 'application/wasm', headers: isolation });
    }
    return route.fulfill({ body: '<!doctype html><script type="module" src="/page.js"></script>', contentType: 'text/html', headers: isolation });
  });
  await tab.goto('http://localhost:5361/');
  await tab.waitForFunction(() => typeof (window as unknown as { run?: unknown }).run === 'function', undefined, { timeout: 120_000 });
  if (WAKE) {
    type WakeOut = { out: Record<string, number[]>; isolated: boolean };
    const e = await tab.evaluate((calls) => (window as unknown as { run(c: number): Promise<WakeOut> }).run(calls), CALLS);
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)];
    const f = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
    console.log(`round trip beyond the worker's busy time, ${CALLS} per form, interleaved (Chromium ${browser.version()}, cross-origin isolated: ${e.isolated})`);
    console.log('| form | median | p25 | p75 |');
    console.log('|---|---|---|---|');
    for (const [k, xs] of Object.entries(e.out)) console.log(`| ${k} | ${f(q(xs, 0.5))} | ${f(q(xs, 0.25))} | ${f(q(xs, 0.75))} |`);
  } else if (ENGINE) {
    type EngineOut = { page: Record<string, number[]>; worker: Record<string, number[]>; gap: Record<string, number[]>; same: boolean; isolated: boolean };
    const e = await tab.evaluate((calls) => (window as unknown as { run(c: number): Promise<EngineOut> }).run(calls), CALLS);
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)];
    const f = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
    console.log(`real engine, Games 24k, wasm backend, home k = 10: ${CALLS} calls per side, alternated (Chromium ${browser.version()}, cross-origin isolated: ${e.isolated}); same lists both sides: ${e.same}`);
    console.log('| side | page median | latencyMs median | page - latencyMs: median | p25 | p75 |');
    console.log('|---|---|---|---|---|---|');
    for (const k of Object.keys(e.page)) console.log(`| ${k} | ${f(q(e.page[k], 0.5))} | ${f(q(e.worker[k], 0.5))} | ${f(q(e.gap[k], 0.5))} | ${f(q(e.gap[k], 0.25))} | ${f(q(e.gap[k], 0.75))} |`);
  } else {
  type Out = { out: Record<string, number[]>; sync: number[]; gap: number[]; baseSync: number[]; host: number[]; clone: number[]; bytes: number; isolated: boolean };
  const r = await tab.evaluate((calls) => (window as unknown as { run(c: number): Promise<Out> }).run(calls), CALLS);
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)];
  const f = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
  if (ALLOC) console.log(`stand-in engine allocates ${ALLOC} floats per call`);
  console.log(`${CALLS} interleaved calls per variant (Chromium ${browser.version()}, cross-origin isolated: ${r.isolated})`);
  console.log('| path | median | p25 | p75 |');
  console.log('|---|---|---|---|');
  for (const [k, xs] of Object.entries(r.out)) console.log(`| ${k} | ${f(q(xs, 0.5))} | ${f(q(xs, 0.25))} | ${f(q(xs, 0.75))} |`);
  console.log(`| sdk call minus its latencyMs (the bench's page - worker) | ${f(q(r.gap, 0.5))} | ${f(q(r.gap, 0.25))} | ${f(q(r.gap, 0.75))} |`);
  console.log(`| sdk call, page-side synchronous part (until posted) | ${f(q(r.sync, 0.5))} | ${f(q(r.sync, 0.25))} | ${f(q(r.sync, 0.75))} |`);
  if (BASE) console.log(`| sdk (base) call, page-side synchronous part | ${f(q(r.baseSync, 0.5))} | ${f(q(r.baseSync, 0.25))} | ${f(q(r.baseSync, 0.75))} |`);
  console.log(`| worker: direct message event -> reply posted (host + stand-in engine, the bare variant's worker) | ${f(q(r.host, 0.5))} | ${f(q(r.host, 0.25))} | ${f(q(r.host, 0.75))} |`);
  console.log(`| structuredClone of the result alone (${r.bytes} bytes as JSON) | ${f(q(r.clone, 0.5))} | ${f(q(r.clone, 0.25))} | ${f(q(r.clone, 0.75))} |`);
  }
} finally {
  await browser.close();
}
