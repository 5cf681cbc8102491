/**
 * Typed errors across the worker boundary. Comlink's default 'throw' handler turns every
 * error into a plain Error; this one sends `serializeError(err)` and rebuilds the same class
 * with `deserializeError`, so `instanceof InvalidEventError` and `err.code` work on the page.
 * Register on both sides (the client and the worker host do it).
 */
import * as Comlink from 'comlink';
import { deserializeError, serializeError } from './errors.js';
import type { SerializedError } from './protocol.js';

interface ThrownValue { value: unknown }
interface SerializedThrow { isError: true; value: SerializedError }

let registered = false;

/** Installs the error transfer handler in this realm (idempotent). */
export function registerErrorTransfer(): void {
  if (registered) return;
  const base = Comlink.transferHandlers.get('throw');
  if (!base) throw new Error('Comlink has no built-in throw handler to replace');
  const handler: Comlink.TransferHandler<ThrownValue, SerializedThrow> = {
    // Comlink marks thrown values with a private symbol; reuse its own check.
    canHandle: base.canHandle as (v: unknown) => v is ThrownValue,
    serialize: ({ value }) => [{ isError: true, value: serializeError(value) }, []],
    deserialize: (s) => {
      const v = s.value as Partial<SerializedError> & { message?: string; name?: string };
      throw deserializeError({ name: v.name ?? 'Error', code: v.code ?? 'INTERNAL', message: v.message ?? 'Unknown error', details: v.details });
    },
  };
  Comlink.transferHandlers.set('throw', handler as Comlink.TransferHandler<unknown, unknown>);
  registered = true;
}
