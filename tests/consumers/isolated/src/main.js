// A Vite app served with COOP/COEP (crossOriginIsolated, SharedArrayBuffer) and a strict CSP.
// ?threads=1 lets the wasm backend use its multi-threaded build (options.wasmThreads).
import { run } from './shared/app.js';

const threads = new URLSearchParams(location.search).get('threads') === '1';
run(threads ? { wasmThreads: true } : {});
