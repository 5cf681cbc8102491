/**
 * npm run bench:catalog-wire [-- --items 1000000 --reps 5]
 *
 * What the packed catalog form (src/contract/catalog-wire.ts) saves on the way from the page to the
 * worker, measured in Debian's Chromium: a catalog like the bench's (id, title, category, brand,
 * price; one item in a hundred with meta) sent to a worker as the plain array (structured clone) and
 * packed (pack on the page, buffers transferred, unpacked and checked in the worker in slices as the
 * SDK's engine does), the two interleaved. (The plain array is not checked here; the SDK's engine
 * checks it too, so the packed form's lead is larger than printed.)
 * Prints, per form, the page's main-thread time (pack + postMessage) and the time until the worker
 * holds the items (the message event fired, and unpacked).
 */
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { chromium } from '@playwright/test';

const argv = process.argv.slice(2);
const opt = (name: string, d: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : d; };
const ITEMS = Number(opt('items', '1000000'));
const REPS = Number(opt('reps', '5'));
const root = resolve(import.meta.dirname, '..');
const wire = resolve(root, 'src/contract/catalog-wire.ts').replaceAll('\\', '/');

const workerSrc = `
import { isPackedCatalog, unpackCheckedCatalog } from '${wire}';
self.onmessage = async (ev) => {
  const got = performance.timeOrigin + performance.now();
  const items = isPackedCatalog(ev.data) ? await unpackCheckedCatalog(ev.data, 'options.catalog') : ev.data; // as the SDK's engine does (unpacked and checked in one pass)
  self.postMessage({ got, held: performance.timeOrigin + performance.now(), n: items.length });
};`;
const pageSrc = `
import { packCatalog, packedBuffers } from '${wire}';
const catalog = [];
for (let i = 0; i < ${ITEMS}; i++) {
  const item = { id: 'item-' + i, title: 'Product ' + i, category: 'cat-' + (i % 500), brand: 'brand-' + (i % 2000), price: 1 + (i % 997) / 10 };
  if (i % 100 === 0) item.meta = { image: '/img/' + i + '.jpg' };
  catalog.push(item);
}
const worker = new Worker('/worker.js', { type: 'module' });
const send = (packed) => new Promise((done) => {
  const t0 = performance.timeOrigin + performance.now();
  let posted;
  worker.onmessage = (ev) => done({ page: posted - t0, held: ev.data.held - t0, n: ev.data.n });
  if (packed) { const p = packCatalog(catalog); worker.postMessage(p, packedBuffers(p)); }
  else worker.postMessage(catalog);
  posted = performance.timeOrigin + performance.now();
});
window.run = async (reps) => {
  const out = { plain: [], packed: [] };
  await send(true); await send(false); // warm-up
  for (let r = 0; r < reps; r++) for (const packed of r % 2 ? [true, false] : [false, true]) out[packed ? 'packed' : 'plain'].push(await send(packed));
  return out;
};`;

async function bundle(contents: string): Promise<string> {
  const r = await build({ stdin: { contents, resolveDir: root, loader: 'ts' }, bundle: true, format: 'esm', write: false, target: 'es2022' });
  return r.outputFiles[0].text;
}

const [worker, page] = await Promise.all([bundle(workerSrc), bundle(pageSrc)]);
const browser = await chromium.launch({ executablePath: process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
try {
  const tab = await browser.newPage();
  await tab.route('http://bench.local/**', (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/worker.js') return route.fulfill({ body: worker, contentType: 'text/javascript' });
    if (path === '/page.js') return route.fulfill({ body: page, contentType: 'text/javascript' });
    return route.fulfill({ body: '<!doctype html><script type="module" src="/page.js"></script>', contentType: 'text/html' });
  });
  await tab.goto('http://bench.local/');
  await tab.waitForFunction(() => typeof (window as unknown as { run?: unknown }).run === 'function', undefined, { timeout: 120_000 });
  type Sample = { page: number; held: number; n: number };
  const out = await tab.evaluate((reps) => (window as unknown as { run(r: number): Promise<Record<'plain' | 'packed', Sample[]>> }).run(reps), REPS);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`catalog of ${ITEMS.toLocaleString('en')} items, ${REPS} interleaved sends per form (Chromium ${browser.version()})`);
  console.log('| form | page main thread (pack + postMessage), median | until the worker holds the items, median |');
  console.log('|---|---|---|');
  for (const form of ['plain', 'packed'] as const) {
    const s = out[form];
    if (s.some((x) => x.n !== ITEMS)) throw new Error(`the worker got ${s.map((x) => x.n).join(', ')} items, not ${ITEMS}`);
    console.log(`| ${form} | ${median(s.map((x) => x.page)).toFixed(0)} ms | ${median(s.map((x) => x.held)).toFixed(0)} ms |`);
  }
} finally {
  await browser.close();
}
