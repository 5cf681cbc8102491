// A Vite app served with COOP/COEP (crossOriginIsolated, SharedArrayBuffer) and a strict CSP.
import { run } from './shared/app.js';

run();
