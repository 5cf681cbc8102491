/**
 * Where the TF.js wasm binaries are, found with literal URL constructors relative to import.meta.url
 * so that a bundler (Vite, webpack 5) emits them as assets. The paths here are the repository's
 * (this source served or built by Vite for the demo and the tests); `npm run build:lib` rewrites
 * them to './file.wasm', next to dist/worker.js, where it copies the binaries
 * (scripts/build-lib.ts). `wasmPaths` (EngineConfig) replaces them when the shop hosts them elsewhere.
 * Only called in browsers: Node's wasm backend finds its binaries itself.
 */
export function bundledWasmPaths(): Record<string, string> {
  const simd = new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm', import.meta.url).href;
  return {
    'tfjs-backend-wasm.wasm': new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm', import.meta.url).href,
    'tfjs-backend-wasm-simd.wasm': simd,
    // TF.js's setWasmPaths wants all three names; the threaded build is never used (threads are off).
    'tfjs-backend-wasm-threaded-simd.wasm': simd,
  };
}
