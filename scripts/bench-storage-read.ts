/**
 * npx tsx scripts/bench-storage-read.ts [--mb 128] [--sessions 3] [--port 5390] [--busy-ms 40]
 *
 * How fast a Web Worker reads a large file back from Cache Storage and from the origin-private file
 * system (as a File, and through a synchronous access handle), in Chromium: the choice of where the
 * model cache keeps weight files (src/model/file-store.ts). The first browser session writes the
 * same bytes to each store; every later session (a new browser process on the same profile, as a
 * shopper's next visit) reads each three times and prints the times in ms. Reads right after a
 * write in one session differ from reads in a new session (see tests/e2e/faults/loading.spec.ts,
 * measure), so this reads only in new ones. `opfsFileBusy`: the File read while the worker's thread works in
 * slices of --busy-ms with a yield between them (as a model load's does); `opfsFileHelperBusy`: the same
 * read made by a second worker the first one started, its buffer transferred back, the first thread as busy.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';

const argv = process.argv.slice(2);
const opt = (name: string, d: number) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? Number(argv[i + 1]) : d; };
const MB = opt('mb', 128), SESSIONS = opt('sessions', 3), PORT = opt('port', 5390), BUSY_MS = opt('busy-ms', 40);

const worker = `(async () => {
  const N = ${MB} << 20;
  const url = location.origin + '/big';
  const c = await caches.open('probe');
  const root = await navigator.storage.getDirectory();
  if (!(await c.match(url))) {
    const buf = new Uint8Array(N);
    for (let i = 0; i < N; i += 4096) buf[i] = i >>> 12;
    await c.put(url, new Response(buf));
    const w = await (await root.getFileHandle('big.bin', { create: true })).createWritable();
    await w.write(buf);
    await w.close();
    postMessage({ wrote: N });
    return;
  }
  const out = { cacheStorage: [], opfsFile: [], opfsSyncHandle: [], opfsFileBusy: [], opfsFileHelperBusy: [] };
  // This thread busy meanwhile, as a model load's is (the catalog check, the vocabulary): slices of
  // BUSY_MS of work with a message-channel yield between them, until the read settles.
  const yieldNow = () => new Promise((r) => { const ch = new MessageChannel(); ch.port1.onmessage = () => r(); ch.port2.postMessage(0); });
  const busyUntil = async (p) => {
    let done = false; p.then(() => { done = true; }, () => { done = true; });
    let x = 0;
    while (!done) { const t = performance.now(); while (performance.now() - t < ${BUSY_MS}) x += Math.sqrt(x + 1); await yieldNow(); }
    return x;
  };
  const helper = new Worker(URL.createObjectURL(new Blob([\`onmessage = async () => {
    const b = await (await (await (await navigator.storage.getDirectory()).getFileHandle('big.bin')).getFile()).arrayBuffer();
    postMessage(b, [b]);
  };\`], { type: 'text/javascript' })));
  for (let k = 0; k < 3; k++) {
    let t = performance.now();
    const a = await (await c.match(url)).arrayBuffer();
    out.cacheStorage.push(Math.round(performance.now() - t));
    t = performance.now();
    const b = await (await (await root.getFileHandle('big.bin')).getFile()).arrayBuffer();
    out.opfsFile.push(Math.round(performance.now() - t));
    t = performance.now();
    const h = await (await root.getFileHandle('big.bin')).createSyncAccessHandle();
    const dst = new Uint8Array(h.getSize());
    h.read(dst, { at: 0 });
    h.close();
    out.opfsSyncHandle.push(Math.round(performance.now() - t));
    t = performance.now();
    const busyRead = (await (await root.getFileHandle('big.bin')).getFile()).arrayBuffer();
    await busyUntil(busyRead);
    out.opfsFileBusy.push(Math.round(performance.now() - t));
    t = performance.now();
    const viaHelper = new Promise((r) => { helper.onmessage = (e) => r(e.data); });
    helper.postMessage(0);
    await busyUntil(viaHelper);
    if ((await viaHelper).byteLength !== N) throw new Error('short read (helper)');
    out.opfsFileHelperBusy.push(Math.round(performance.now() - t));
    if (a.byteLength !== N || b.byteLength !== N) throw new Error('short read');
  }
  postMessage(out);
})().catch((e) => postMessage({ error: String(e) }));`;

const server = createServer((req, res) => {
  if (req.url === '/w.js') { res.setHeader('content-type', 'text/javascript'); res.end(worker); return; }
  if (req.url === '/') { res.setHeader('content-type', 'text/html'); res.end('<!doctype html>'); return; }
  res.statusCode = 404;
  res.end();
}).listen(PORT);
const profile = mkdtempSync(join(tmpdir(), 'scenerec-storage-read-'));
try {
  for (let s = 0; s <= SESSIONS; s++) {
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    const page = await ctx.newPage();
    await page.goto(`http://localhost:${PORT}/`);
    const r = await page.evaluate(() => new Promise((resolve) => { const w = new Worker('/w.js'); w.onmessage = (e) => resolve(e.data); }));
    console.log(s === 0 ? `session 0: wrote ${MB} MB to Cache Storage and OPFS` : `session ${s}, ${MB} MB read in a worker, ms: ${JSON.stringify(r)}`);
    await ctx.close();
  }
} finally {
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
