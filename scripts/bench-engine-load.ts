/**
 * npm run bench:engine-load [-- --items 1000000] [--no-catalog]
 *
 * The engine's load at a large catalog in Node, without a browser or worker: the synthetic model of
 * `npm run bench` (scripts/bench-models.ts, written to /tmp/scenerec-bench-models once) loaded by
 * `createEngine` on the cpu backend (the fused forward and the float32 kernel, as on wasm) with a
 * catalog of every model item (the bench's catalog rule), or none with --no-catalog. Prints each load
 * stage's time, the process's CPU time until ready, the longest stretch the event loop was blocked (what a worker's liveness pings would
 * wait for: a 5 ms interval timer's largest gap), and when the background prefilter was ready.
 */
import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { makeSyntheticModel } from './bench-models.js';
import { createEngine } from '../src/engine/index.js';
import { benchCatalogItem } from '../bench/catalog.js';

const argv = process.argv.slice(2);
const opt = (name: string, d: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : d; };
const ITEMS = Number(opt('items', '1000000'));
const dir = join('/tmp/scenerec-bench-models', `items-${ITEMS}`);
makeSyntheticModel(dir, ITEMS);
const ids = (JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')).itemIds as string[]).slice(1);
const catalog = argv.includes('--no-catalog') ? undefined : ids.map((id, i) => benchCatalogItem(i, id));
const fileFetch = (async (input: RequestInfo | URL) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  try { return new Response(await readFile(fileURLToPath(url))); } catch { return new Response('not found', { status: 404 }); }
}) as typeof fetch;

// The event loop's longest block: the largest gap between ticks of a 5 ms timer.
let last = performance.now();
let longest = 0;
const timer = setInterval(() => { const t = performance.now(); longest = Math.max(longest, t - last - 5); last = t; }, 5);

const t0 = performance.now();
// The process's CPU time (every thread, GC included): under a loaded machine's time-sharing it moves less than the wall clock.
const cpu0 = process.cpuUsage();
const cpuMs = () => { const u = process.cpuUsage(cpu0); return Math.round((u.user + u.system) / 1000); };
const at = () => Math.round(performance.now() - t0);
const stages: string[] = [];
const engine = await createEngine(
  { modelUrl: pathToFileURL(join(dir, 'model.json')).href, backend: 'cpu', catalog, modelCache: 'off', dbName: `load-${Date.now()}` },
  { fetch: fileFetch, onProgress: (p) => stages.push(`${p.stage} ${at()}`) },
);
const ready = at();
const readyCpu = cpuMs();
// The background prefilter, as EngineInfo reports it (absent where no prefilter applies).
while ((await engine.info()).scoring?.prefilterReady === false) await new Promise((r) => setTimeout(r, 10));
const prefilter = at();
clearInterval(timer);
// A new shopper's first lists (empty history: the popular list), median of 5 calls.
const newShopper: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await engine.recommend('home', { k: 10 });
  newShopper.push(performance.now() - t);
}
const newShopperMs = Math.round(newShopper.sort((a, b) => a - b)[2] * 10) / 10;
console.log(`${ITEMS.toLocaleString('en-US')} model items, catalog ${catalog ? `of ${catalog.length.toLocaleString('en-US')} items` : 'option left out'}, cpu backend, Node ${process.version}`);
console.log(`stages (ms from createEngine): ${stages.join(', ')}`);
console.log(`ready ${ready} ms (process CPU ${readyCpu} ms), prefilter built ${prefilter} ms; longest event-loop block ${longest.toFixed(0)} ms; a new shopper's home list ${newShopperMs} ms (median of 5)`);
console.log(JSON.stringify({ items: ITEMS, catalog: Boolean(catalog), readyMs: ready, readyCpuMs: readyCpu, prefilterMs: prefilter, longestBlockMs: Math.round(longest), newShopperHomeMs: newShopperMs, scoring: (await engine.info()).scoring }));
await engine.dispose();
