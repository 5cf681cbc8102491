/**
 * Storage faults for the fault suite (tests/e2e/faults/storage.spec.ts), applied in the worker
 * before the SDK loads (./storage-fault.worker.ts imports this module first). The fault is named
 * in the worker's name, `scenerec-fault:<fault>`:
 *   idb-missing      `indexedDB` is undefined (some private modes)
 *   idb-open-throws  `indexedDB.open` throws SecurityError (locked-down browsers, opaque origins)
 */
export const STORAGE_FAULTS = ['idb-missing', 'idb-open-throws'] as const;
export type StorageFault = (typeof STORAGE_FAULTS)[number];

const PREFIX = 'scenerec-fault:';

const FAULTS: Record<StorageFault, () => void> = {
  'idb-missing': () => {
    // An own property shadows WorkerGlobalScope.prototype's getter.
    Object.defineProperty(self, 'indexedDB', { value: undefined, configurable: true });
  },
  'idb-open-throws': () => {
    IDBFactory.prototype.open = () => {
      throw new DOMException('The user denied permission to access the database.', 'SecurityError');
    };
  },
};

/** The worker name that applies `fault`. */
export const faultWorkerName = (fault: StorageFault): string => PREFIX + fault;

const name = (self as unknown as { name?: string }).name ?? '';
if (name.startsWith(PREFIX)) {
  const fault = name.slice(PREFIX.length) as StorageFault;
  if (!FAULTS[fault]) throw new Error(`unknown storage fault "${fault}"; one of ${STORAGE_FAULTS.join(', ')}`);
  FAULTS[fault]();
}
