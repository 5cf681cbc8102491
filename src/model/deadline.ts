/**
 * The bound of one load: the caller's AbortSignal and the `timeoutMs` clock as one AbortSignal,
 * and the typed error each ends the load with (AbortError for the signal, ModelLoadError for the
 * clock). No TF.js here.
 */
import { AbortError, ModelLoadError, type ScenerecError } from '../contract/errors.js';

export class LoadDeadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onOuterAbort = () => this.end('aborted');
  private ended: 'aborted' | 'timeout' | 'failed' | undefined;
  /** The error of a load ended by `fail`. */
  private failure: ScenerecError | undefined;

  constructor(readonly timeoutMs: number = Infinity, private readonly outer?: AbortSignal) {
    if (outer?.aborted) this.end('aborted');
    else outer?.addEventListener('abort', this.onOuterAbort, { once: true });
    if (Number.isFinite(timeoutMs) && !this.ended) this.timer = setTimeout(() => this.end('timeout'), timeoutMs);
  }

  /**
   * Ends the load with `error`: work the load runs beside the download failed (the catalog's
   * check), so the download stops and every later check of this deadline throws `error`.
   */
  fail(error: ScenerecError): void {
    if (this.ended) return;
    this.failure = error;
    this.end('failed');
  }

  private end(why: 'aborted' | 'timeout' | 'failed'): void {
    if (this.ended) return;
    this.ended = why;
    this.controller.abort(why);
  }

  /** Aborts when the caller's signal aborts or the time is up. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the load ended, if it did. */
  get reason(): 'aborted' | 'timeout' | 'failed' | undefined {
    return this.ended;
  }

  /** The error of an ended load; `what` says what it was doing ("downloading <url>: 1024 of 13568 bytes received"). */
  error(what: string, details: Record<string, unknown> = {}): ScenerecError {
    if (this.failure) return this.failure;
    if (this.ended === 'aborted') {
      return new AbortError(`The model load was aborted by its signal while ${what}.`, { ...details, reason: String(this.outer?.reason ?? 'aborted') });
    }
    return new ModelLoadError(
      `The model did not finish loading within timeoutMs = ${this.timeoutMs} ms (while ${what}). Check the connection and the model URL, or raise timeoutMs.`,
      { ...details, timeoutMs: this.timeoutMs },
    );
  }

  /** Throws the typed error when the load has ended. */
  check(what: string): void {
    if (this.ended) throw this.error(what);
  }

  /** `work`, or the typed error as soon as the load ends (the work itself is left to finish). */
  race<T>(work: Promise<T>, what: string): Promise<T> {
    this.check(what);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.error(what));
      this.signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => this.signal.removeEventListener('abort', onAbort));
    });
  }

  /** Stops the clock and lets go of the caller's signal. */
  clear(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }
}
