/**
 * Vite config for the demo shop (demo/) and the browser test pages (tests/e2e/pages/).
 *
 * - Multi-page: /demo/ is the shop, /tests/e2e/pages/harness.html the e2e test harness,
 *   /bench/ the benchmark page (`npm run bench`, scripts/bench.ts).
 *   "/" redirects to /demo/.
 * - The SDK's worker is an ES module worker (`worker.format: 'es'`).
 * - Model files are static: `models/` is served at /models/ and `tests/fixtures/` at /fixtures/,
 *   by a middleware in dev and by copying them into dist-site/ at build (so `vite preview` and any
 *   static host serve them). Nothing is fetched from a CDN: the TF.js wasm binaries are bundled
 *   assets (src/engine/wasm-assets.ts). The site builds into dist-site/: dist/ is the library
 *   (`npm run build:lib`, what `npm pack` ships).
 * - /faults/<variant>/ serves broken variants of the fixture model (a stalled body, NaN weights, a
 *   missing weights file) for the e2e fault tests (tests/e2e/fault-server.ts).
 * - appType 'mpa': an unknown path is a 404, never index.html (a model URL typo then fails
 *   with a clear ModelLoadError instead of "cannot parse model JSON").
 */
/// <reference types="vitest/config" />
import { cpSync, createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vite';
import { configDefaults } from 'vitest/config';
import { faultRoutes } from './tests/e2e/fault-server';

const root = import.meta.dirname;

/** URL prefix -> folder served there (and copied to dist-site/<prefix> at build). */
const STATIC_DIRS: Record<string, string> = {
  '/models/': resolve(root, 'models'),
  '/fixtures/': resolve(root, 'tests/fixtures'),
};

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.md': 'text/markdown; charset=utf-8',
};

/** Serves STATIC_DIRS (dev), redirects "/" to the demo (dev and preview), copies STATIC_DIRS into dist (build). */
function staticModels(): Plugin {
  let outDir = resolve(root, 'dist-site');

  const serve: Connect.NextHandleFunction = (req, res, next) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]);
    for (const [prefix, dir] of Object.entries(STATIC_DIRS)) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
        res.statusCode = 404;
        res.end('Not found');
        return;
      }
      res.setHeader('Content-Type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream');
      res.setHeader('Content-Length', statSync(file).size);
      res.setHeader('Cache-Control', 'no-cache');
      createReadStream(file).pipe(res);
      return;
    }
    next();
  };

  const redirectRoot: Connect.NextHandleFunction = (req, res, next) => {
    const [path, query] = (req.url ?? '').split('?');
    if (path === '/' || path === '/index.html') {
      res.statusCode = 302;
      res.setHeader('Location', `/demo/${query ? `?${query}` : ''}`);
      res.end();
      return;
    }
    next();
  };

  return {
    name: 'scenerec-static-models',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use(redirectRoot);
      server.middlewares.use(serve);
    },
    configurePreviewServer(server) {
      server.middlewares.use(redirectRoot);
    },
    closeBundle() {
      if (!existsSync(outDir)) return;
      for (const [prefix, dir] of Object.entries(STATIC_DIRS)) {
        if (existsSync(dir)) cpSync(dir, join(outDir, prefix), { recursive: true });
      }
    },
  };
}

export default defineConfig({
  root,
  appType: 'mpa',
  // No public/ folder: the static folders above are handled by the plugin.
  publicDir: false,
  plugins: [staticModels(), faultRoutes()],
  worker: { format: 'es' },
  build: {
    outDir: 'dist-site',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      input: {
        demo: resolve(root, 'demo/index.html'),
        harness: resolve(root, 'tests/e2e/pages/harness.html'),
        bench: resolve(root, 'bench/index.html'),
      },
    },
  },
  // The wasm backend stays in dependency pre-bundling (its ESM build imports a CommonJS worker
  // file, which only works pre-bundled); its .wasm binaries are `new URL` assets
  // (src/engine/wasm-assets.ts), served from node_modules in dev and emitted as assets at build.
  // This is for the repository's own pages, which compile the source; the package's dist/worker.js
  // is self-contained and needs none of it (tests/consumers/vite has no config).
  // Listed up front: the dev optimizer does not crawl into workers, and discovering these
  // late would reload the page mid-session.
  optimizeDeps: {
    include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm', 'comlink', 'idb'],
  },
  // Vitest reads this file too: unit tests only (tests/e2e/*.spec.ts are Playwright's).
  test: {
    exclude: [...configDefaults.exclude, 'tests/e2e/**', 'tests/consumers/**', 'tmp/**'],
    // Many cases load TF.js and a model: vitest's 5 s default fails them on a busy machine, not on a hang
    // (the bounds the SDK promises are asserted by the tests themselves, with the elapsed time).
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
  server: { port: 5173, strictPort: true, host: 'localhost' },
  preview: { port: 5173, strictPort: true, host: 'localhost' },
});
