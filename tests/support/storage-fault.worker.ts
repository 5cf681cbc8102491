/**
 * The instrumented worker (./instrumented.worker.ts) with a storage fault applied before the SDK
 * loads: module order, ./storage-faults.ts runs first. The fault is named in the worker's name
 * (see storage-faults.ts); the page side is `faultWorker` in tests/e2e/pages/harness.ts.
 */
import './storage-faults';
import './instrumented.worker';
