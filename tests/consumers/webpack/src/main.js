// A webpack 5 app: webpack bundles the SDK's module worker and emits its wasm files by itself.
import { run } from './shared/app.js';

run();
