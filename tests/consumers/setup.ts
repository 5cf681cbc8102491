/**
 * Global set-up of the consumer tests (playwright.consumers.config.ts): packs the repository once
 * (`npm run build:lib`, then `npm pack`), installs the tarball into a temporary folder
 * outside the repository (its peer dependencies come with it, from the registry or npm's cache),
 * gives every consumer app a hard-linked copy of that node_modules (as if each had run
 * `npm install scenerec`), builds the apps with the repository's own vite and webpack, and serves
 * them. Servers are stopped by the returned teardown.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CONSUMERS, ISOLATION_HEADERS, type ConsumerUrls } from './env';
import { serveStatic } from './serve';

const repo = resolve(import.meta.dirname, '../..');
const here = import.meta.dirname;
const require = createRequire(import.meta.url);
const node = process.execPath;
const vite = join(repo, 'node_modules/vite/bin/vite.js');

function log(msg: string): void {
  console.log(`[consumers] ${msg}`);
}

function timed<T>(what: string, f: () => T): T {
  const t0 = performance.now();
  const r = f();
  log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

/** Copies a consumer app, the shared page code and the test model into `dir`. */
function prepareApp(name: string, dir: string, store: string, modelDir: string, sharedDir: string): void {
  cpSync(join(here, name), dir, { recursive: true });
  if (sharedDir) cpSync(join(here, 'shared'), join(dir, sharedDir), { recursive: true });
  cpSync(join(repo, 'tests/fixtures/tiny-model'), join(dir, modelDir), { recursive: true });
  // `npm install scenerec` in each app, without installing four times: hard links of one install.
  execFileSync('cp', ['-al', join(store, 'node_modules'), join(dir, 'node_modules')]);
}

async function waitFor(url: string, proc: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (proc.exitCode !== null) throw new Error(`${url}: the server exited (${proc.exitCode})`);
    try {
      if ((await fetch(url)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up within ${timeoutMs} ms`);
}

async function webpackBuild(dir: string, mode: 'production' | 'development', outDir: string): Promise<void> {
  const webpack = require(join(repo, 'node_modules/webpack')) as typeof import('webpack');
  const configFactory = (await import(join(dir, 'webpack.config.js'))).default;
  const config = { ...configFactory({ mode }), context: dir };
  config.output = { ...config.output, path: outDir };
  await new Promise<void>((res, rej) => webpack(config, (err, stats) => {
    if (err) return rej(err);
    if (stats?.hasErrors()) return rej(new Error(stats.toString({ all: false, errors: true })));
    res();
  }));
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'scenerec-consumers-'));
  const store = join(work, 'store');
  mkdirSync(store);
  timed('npm run build:lib', () => execFileSync('npm', ['run', '--silent', 'build:lib'], { cwd: repo, stdio: 'inherit' }));
  timed('npm run build:cli', () => execFileSync('npm', ['run', '--silent', 'build:cli'], { cwd: repo, stdio: 'inherit' }));
  const packOut = timed('npm pack', () => execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  const tarball = join(work, (JSON.parse(packOut) as Array<{ filename: string }>)[0].filename);
  writeFileSync(join(store, 'package.json'), JSON.stringify({ name: 'consumer-store', private: true, type: 'module' }));
  timed('npm install <tarball>', () => execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: store, stdio: ['ignore', 'ignore', 'inherit'] }));
  // The spec runs the installed package's `scenerec` command from here (workers inherit this env).
  process.env.SCENEREC_CONSUMER_STORE = store;

  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  const stop = async () => {
    for (const c of children) c.kill();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  };
  try {
    await buildAndServe(work, store, children, servers);
  } catch (e) {
    await stop();
    throw e;
  }
  log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (${work})`);
  return async () => {
    await stop();
    if (!process.env.SCENEREC_KEEP_CONSUMERS) rmSync(work, { recursive: true, force: true });
  };
}

async function buildAndServe(work: string, store: string, children: ChildProcess[], servers: Server[]): Promise<void> {
  const urls = {} as ConsumerUrls;

  // vite: the dev server, and the production build served as static files.
  const viteDir = join(work, 'vite');
  prepareApp('vite', viteDir, store, 'public/models/tiny', 'src/shared');
  // The model the package ships, served as docs/install.md step 4 says (copied from node_modules).
  cpSync(join(store, 'node_modules/scenerec/models/games-sasrec'), join(viteDir, 'public/models/games-sasrec'), { recursive: true });
  timed('vite build (vite)', () => execFileSync(node, [vite, 'build', '--logLevel', 'warn'], { cwd: viteDir, stdio: 'inherit' }));
  servers.push(await serveStatic(join(viteDir, 'dist'), CONSUMERS.viteBuild.port));
  const dev = spawn(node, [vite, '--port', String(CONSUMERS.viteDev.port), '--strictPort', '--host', 'localhost'], { cwd: viteDir, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(dev);

  // webpack 5: production and development builds.
  const wpDir = join(work, 'webpack');
  prepareApp('webpack', wpDir, store, 'public/models/tiny', 'src/shared');
  for (const [mode, key] of [['production', 'webpackProd'], ['development', 'webpackDev']] as const) {
    const out = join(wpDir, `dist-${mode}`);
    const t = performance.now();
    await webpackBuild(wpDir, mode, out);
    log(`webpack ${mode}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    cpSync(join(wpDir, 'public'), out, { recursive: true });
    servers.push(await serveStatic(out, CONSUMERS[key].port));
  }

  // static: no bundler; the package's dist/ and comlink's ESM file copied under vendor/.
  const stDir = join(work, 'static');
  prepareApp('static', stDir, store, 'models/tiny', '');
  cpSync(join(here, 'shared/app.js'), join(stDir, 'app.js'));
  cpSync(join(stDir, 'node_modules/scenerec/dist'), join(stDir, 'vendor/scenerec'), { recursive: true });
  const comlinkDir = dirname(require.resolve('comlink/dist/esm/comlink.mjs', { paths: [stDir] }));
  mkdirSync(join(stDir, 'vendor/comlink'), { recursive: true });
  cpSync(join(comlinkDir, 'comlink.mjs'), join(stDir, 'vendor/comlink/comlink.mjs'));
  mkdirSync(join(stDir, 'wasm'));
  for (const f of readdirSync(join(stDir, 'vendor/scenerec')).filter((f) => f.endsWith('.wasm'))) cpSync(join(stDir, 'vendor/scenerec', f), join(stDir, 'wasm', f));
  rmSync(join(stDir, 'node_modules'), { recursive: true });
  servers.push(await serveStatic(stDir, CONSUMERS.static.port));

  // isolated: a Vite build served with COOP/COEP and a strict CSP.
  const isoDir = join(work, 'isolated');
  prepareApp('isolated', isoDir, store, 'public/models/tiny', 'src/shared');
  timed('vite build (isolated)', () => execFileSync(node, [vite, 'build', '--logLevel', 'warn'], { cwd: isoDir, stdio: 'inherit' }));
  servers.push(await serveStatic(join(isoDir, 'dist'), CONSUMERS.isolated.port, ISOLATION_HEADERS));

  for (const [key, c] of Object.entries(CONSUMERS)) urls[key as keyof ConsumerUrls] = `http://localhost:${c.port}`;
  await waitFor(`${urls.viteDev}/`, dev);
  writeFileSync(join(here, '.consumers.json'), JSON.stringify({ work, urls }));
}
