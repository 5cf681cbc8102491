/**
 * Where the TF.js wasm binaries are: next to the built worker (`npm run build:lib` copies them
 * into dist/), found with literal `new URL('./file.wasm', import.meta.url)` so that a shop's
 * bundler (Vite, webpack 5) emits them as assets, and a static host serves them from dist/ as is.
 * `wasmPaths` (EngineConfig) replaces them when the shop hosts the binaries elsewhere.
 * Imported lazily, and only in browsers: Node's wasm backend finds its binaries itself.
 */
export function bundledWasmPaths(): Record<string, string> {
  return {
    'tfjs-backend-wasm.wasm': new URL('./tfjs-backend-wasm.wasm', import.meta.url).href,
    'tfjs-backend-wasm-simd.wasm': new URL('./tfjs-backend-wasm-simd.wasm', import.meta.url).href,
    'tfjs-backend-wasm-threaded-simd.wasm': new URL('./tfjs-backend-wasm-threaded-simd.wasm', import.meta.url).href,
  };
}
