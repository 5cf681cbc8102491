/**
 * `npm run build:lib`: the installable library in dist/ (what `npm pack` ships).
 *
 * - dist/index.js: the page entry (`scenerec`): createRecommender, errors, types. No TF.js, and no
 *   import that leads to it (a bundler would still build an unused TF.js chunk).
 * - dist/engine.js: the engine entry (`scenerec/engine`): createEngine() in this thread and
 *   exposeEngine() for a worker the shop writes; TF.js as bare (peer) imports.
 * - dist/worker.js: the worker entry (`scenerec/worker`): the SDK's worker, one self-contained,
 *   minified file with TF.js inside (core ops, cpu and webgl; webgpu and wasm included, started
 *   lazily). The page entry spawns it with `new Worker(new URL('./worker.js', import.meta.url))`.
 * - dist/*.wasm: TF.js's wasm binaries, next to the worker, which finds them with
 *   `new URL('./file.wasm', import.meta.url)` (src/engine/wasm-assets.ts).
 * - dist/types/: the declarations (tsc).
 *
 * In the page entry, dependencies stay bare imports (TF.js is a peer dependency, comlink and idb
 * dependencies), so a shop's bundler resolves one copy of each for createEngine() and for a worker
 * the shop writes itself around exposeEngine(). rolldown (Vite 8's bundler) builds both: no asset or
 * worker rewriting, so the `new URL(..., import.meta.url)` lines reach the shop's bundler untouched.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { build } from 'rolldown';
import { WASM_FILES } from '../src/contract/protocol.js';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist');
const pkg = createRequire(import.meta.url)(join(root, 'package.json')) as {
  dependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
};
const externals = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
const isExternal = (id: string) => externals.some((d) => id === d || id.startsWith(`${d}/`));

/**
 * Source paths that only hold in this repository, rewritten to their place in dist/. Each must
 * match exactly once, so a moved line fails the build instead of shipping a broken URL.
 */
const REWRITES: Array<{ file: string; from: string; to: string }> = [
  { file: 'src/client/recommender.ts', from: "new URL('../worker.ts', import.meta.url)", to: "new URL('./worker.js', import.meta.url)" },
  ...WASM_FILES.map((f) => ({
    file: 'src/engine/wasm-assets.ts',
    from: `new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/${f}', import.meta.url)`,
    to: `new URL('./${f}', import.meta.url)`,
  })),
];

const rewritePaths = {
  name: 'scenerec-dist-paths',
  transform(code: string, id: string) {
    const mine = REWRITES.filter((r) => id === join(root, r.file));
    if (mine.length === 0) return null;
    for (const r of mine) {
      if (code.split(r.from).length !== 2) throw new Error(`build:lib: expected one \`${r.from}\` in ${r.file}`);
      code = code.replace(r.from, r.to);
    }
    return { code, map: null };
  },
};

const t0 = performance.now();
rmSync(out, { recursive: true, force: true });
// The page entry and the engine entry: dependencies stay bare imports. Readable
// ESM without source maps (the shop's bundler minifies; maps would double the package).
await build({
  input: { index: join(root, 'src/index.ts'), engine: join(root, 'src/engine/index.ts') },
  external: isExternal,
  platform: 'browser',
  plugins: [rewritePaths],
  // The wasm-asset URLs and the worker URL are relative to the chunk: every chunk in dist/ itself.
  output: { dir: out, format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', sourcemap: false },
});
// The worker: one self-contained file (TF.js, comlink, idb inside), so that it runs as is from a
// dev server that does not pre-bundle dependencies inside workers (Vite) or from a static host.
await build({
  input: join(root, 'src/worker.ts'),
  platform: 'browser',
  plugins: [rewritePaths],
  resolve: { alias: { '@tensorflow/tfjs': join(root, 'scripts/tfjs-slim.ts') } },
  // The wasm backend's Emscripten glue reads `__filename` after a typeof check that webpack 5
  // answers 'string' for an ES module while giving it no value (ReferenceError): it is a Node
  // detail, undefined in a browser worker.
  transform: { define: { __filename: 'undefined', __dirname: 'undefined' } },
  output: { file: join(out, 'worker.js'), format: 'es', codeSplitting: false, minify: true, sourcemap: false, comments: { legal: false } },
});
const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
for (const f of WASM_FILES) copyFileSync(join(wasmDir, f), join(out, f));
mkdirSync(join(out, 'types'), { recursive: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.lib.json')], { stdio: 'inherit' });
pruneDeclarations(join(out, 'types'), ['index.d.ts', 'engine/index.d.ts', 'worker.d.ts']);
const kb = (f: string) => `${(statSync(join(out, f)).size / 1024).toFixed(1)} kB`;
console.log(`build:lib: dist/ in ${((performance.now() - t0) / 1000).toFixed(1)} s (index.js ${kb('index.js')}, worker.js ${kb('worker.js')})`);

/**
 * Deletes the declarations no entry's types reach (tsc writes one per source file; most describe
 * internals, such as private members, that the public types never name), so the package ships only
 * what a consumer's type-check reads. tests/consumers type-checks a shop's code against the packed types.
 */
function pruneDeclarations(dir: string, entries: string[]): void {
  const reached = new Set<string>();
  const stack = entries.map((e) => join(dir, e));
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = join(dirname(file), spec.replace(/\.js$/, '.d.ts'));
      if (existsSync(target)) stack.push(target);
      else throw new Error(`build:lib: ${file} imports ${spec}, which tsc did not write`);
    }
  }
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && !reached.has(file)) rmSync(file);
  }
  // Deepest folders first, so a folder whose subfolders all went is empty by its turn.
  const dirs = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(e.parentPath, e.name));
  for (const sub of dirs.sort((a, b) => b.length - a.length)) if (readdirSync(sub).length === 0) rmSync(sub, { recursive: true });
}
