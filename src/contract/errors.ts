/**
 * Typed errors with a stable `name` and `code`. They cross the worker boundary
 * through a Comlink transfer handler (see `registerErrorTransfer`) and arrive as
 * instances of the same classes, so `err instanceof UnknownSceneError` works on the page.
 */
import type { SerializedError } from './protocol.js';

export type ErrorCode =
  | 'UNKNOWN_SCENE'
  | 'INVALID_EVENT'
  | 'INVALID_REQUEST'
  | 'INVALID_OPTIONS'
  | 'UNKNOWN_ITEM'
  | 'MODEL_LOAD_FAILED'
  | 'NO_BACKEND'
  | 'DEVICE_LOST'
  | 'QUOTA_EXCEEDED'
  | 'STORAGE_BLOCKED'
  | 'STORAGE_FAILED'
  | 'DISPOSED'
  | 'WORKER_LOST'
  | 'ABORTED'
  | 'INTERNAL';

export class ScenerecError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ScenerecError';
    this.code = code;
    this.details = details;
  }
  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

function define(name: string, code: ErrorCode) {
  const cls = class extends ScenerecError {
    constructor(message: string, details?: Record<string, unknown>) {
      super(code, message, details);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** `scene(name)` with a name that is not home, product, cart or search. */
export const UnknownSceneError = define('UnknownSceneError', 'UNKNOWN_SCENE');
export type UnknownSceneError = InstanceType<typeof UnknownSceneError>;
/** A tracked event that is malformed (bad type, missing item id, bad timestamp...). Nothing of the call is stored. */
export const InvalidEventError = define('InvalidEventError', 'INVALID_EVENT');
export type InvalidEventError = InstanceType<typeof InvalidEventError>;
/** A recommend request with bad fields (k out of range, candidates not a list, ...). */
export const InvalidRequestError = define('InvalidRequestError', 'INVALID_REQUEST');
export type InvalidRequestError = InstanceType<typeof InvalidRequestError>;
/** Bad options to createRecommender. */
export const InvalidOptionsError = define('InvalidOptionsError', 'INVALID_OPTIONS');
export type InvalidOptionsError = InstanceType<typeof InvalidOptionsError>;
/** An item id that the request needs (the product page's item) is neither in the catalog nor the model. */
export const UnknownItemError = define('UnknownItemError', 'UNKNOWN_ITEM');
export type UnknownItemError = InstanceType<typeof UnknownItemError>;
/** The model files could not be fetched or are not a valid scenerec model. */
export const ModelLoadError = define('ModelLoadError', 'MODEL_LOAD_FAILED');
export type ModelLoadError = InstanceType<typeof ModelLoadError>;
/** None of the requested TF.js backends could be initialised. */
export const NoBackendError = define('NoBackendError', 'NO_BACKEND');
export type NoBackendError = InstanceType<typeof NoBackendError>;
/**
 * The GPU device was lost (driver reset, GPU process crash) and a model call could not finish on
 * the backend that took over, or none could take over (`details.fallbackError`): see
 * EngineInfo.fallbacks. The history is intact and its controls keep working.
 */
export const DeviceLostError = define('DeviceLostError', 'DEVICE_LOST');
export type DeviceLostError = InstanceType<typeof DeviceLostError>;
/** The browser refused to store more data. History written before is intact. */
export const QuotaExceededError = define('QuotaExceededError', 'QUOTA_EXCEEDED');
export type QuotaExceededError = InstanceType<typeof QuotaExceededError>;
/** Another tab holds an older version of the database open; close it or reload it. */
export const StorageBlockedError = define('StorageBlockedError', 'STORAGE_BLOCKED');
export type StorageBlockedError = InstanceType<typeof StorageBlockedError>;
/** Any other IndexedDB failure. */
export const StorageError = define('StorageError', 'STORAGE_FAILED');
export type StorageError = InstanceType<typeof StorageError>;
/** The recommender was disposed; create a new one. */
export const DisposedError = define('DisposedError', 'DISPOSED');
export type DisposedError = InstanceType<typeof DisposedError>;
/**
 * The recommender's worker died or stopped answering (terminated, closed itself, crashed, hung).
 * A read in flight rejects with it; the SDK restarts the worker and replays the writes in flight,
 * so retrying the call is safe. `details.reason` says what was seen; `details.permanent` is true
 * when no restart will follow (then create a new recommender).
 */
export const WorkerLostError = define('WorkerLostError', 'WORKER_LOST');
export type WorkerLostError = InstanceType<typeof WorkerLostError>;
/**
 * The caller's `signal` aborted the load. Named like the DOM's AbortError, so `err.name === 'AbortError'`
 * checks work; nothing of the load is kept (the SDK's worker is terminated).
 */
export const AbortError = define('AbortError', 'ABORTED');
export type AbortError = InstanceType<typeof AbortError>;

const BY_NAME: Record<string, new (message: string, details?: Record<string, unknown>) => ScenerecError> = {
  UnknownSceneError, InvalidEventError, InvalidRequestError, InvalidOptionsError, UnknownItemError,
  ModelLoadError, NoBackendError, DeviceLostError, QuotaExceededError, StorageBlockedError,
  StorageError, DisposedError, WorkerLostError, AbortError,
};

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ScenerecError) return err.toJSON();
  const e = err as { name?: string; message?: string } | undefined;
  return { name: 'ScenerecError', code: 'INTERNAL', message: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}` };
}

export function deserializeError(s: SerializedError): ScenerecError {
  const cls = BY_NAME[s.name];
  if (cls) return new cls(s.message, s.details);
  return new ScenerecError((s.code as ErrorCode) ?? 'INTERNAL', s.message, s.details);
}

export function isScenerecError(err: unknown): err is ScenerecError {
  return err instanceof ScenerecError;
}
