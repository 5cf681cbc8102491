// A fresh Vite app: no vite.config, the SDK's worker and wasm come from the package itself.
import { run } from './shared/app.js';

run();
