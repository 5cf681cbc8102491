import * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import * as errors from '../../src/contract/errors.js';
import { ScenerecError, deserializeError, serializeError } from '../../src/contract/errors.js';
import { registerErrorTransfer } from '../../src/contract/transfer.js';

const CLASSES = Object.entries(errors).filter(
  ([name, v]) => typeof v === 'function' && name.endsWith('Error') && name !== 'ScenerecError' && (v as { prototype?: unknown }).prototype instanceof ScenerecError,
) as Array<[string, new (m: string, d?: Record<string, unknown>) => ScenerecError]>;

describe('serializeError / deserializeError', () => {
  it('covers every error class', () => {
    expect(CLASSES.map(([n]) => n).sort()).toEqual([
      'AbortError', 'DeviceLostError', 'DisposedError', 'InvalidEventError', 'InvalidOptionsError', 'InvalidRequestError', 'ModelLoadError',
      'NoBackendError', 'QuotaExceededError', 'StorageBlockedError', 'StorageError', 'UnknownItemError', 'UnknownSceneError', 'WorkerLostError',
    ]);
  });

  it.each(CLASSES)('%s round-trips with name, code, message, details and class', (name, Cls) => {
    const original = new Cls('something broke', { field: 'x', n: 1 });
    const wire = structuredClone(serializeError(original));
    const back = deserializeError(wire);
    expect(back).toBeInstanceOf(Cls);
    expect(back).toBeInstanceOf(ScenerecError);
    expect(back).toBeInstanceOf(Error);
    expect(back.name).toBe(name);
    expect(back.code).toBe(original.code);
    expect(back.message).toBe('something broke');
    expect(back.details).toEqual({ field: 'x', n: 1 });
  });

  it('turns foreign errors into INTERNAL', () => {
    const back = deserializeError(serializeError(new TypeError('bad thing')));
    expect(back.code).toBe('INTERNAL');
    expect(back.message).toBe('TypeError: bad thing');
  });
});

describe('Comlink error transfer', () => {
  const { port1, port2 } = new MessageChannel();
  afterAll(() => { port1.close(); port2.close(); });
  registerErrorTransfer();
  registerErrorTransfer(); // idempotent
  Comlink.expose({
    fail(kind: string) {
      if (kind === 'event') throw new errors.InvalidEventError('bad event', { index: 2 });
      if (kind === 'plain') throw new RangeError('oops');
      return 'ok';
    },
  }, port1 as unknown as Comlink.Endpoint);
  const remote = Comlink.wrap<{ fail(kind: string): string }>(port2 as unknown as Comlink.Endpoint);

  it('rebuilds typed errors on the other side', async () => {
    const err = await remote.fail('event').catch((e) => e);
    expect(err).toBeInstanceOf(errors.InvalidEventError);
    expect(err.code).toBe('INVALID_EVENT');
    expect(err.details).toEqual({ index: 2 });
    expect(await remote.fail('none')).toBe('ok');
  });

  it('sends other errors as INTERNAL ScenerecErrors', async () => {
    const err = await remote.fail('plain').catch((e) => e);
    expect(err).toBeInstanceOf(ScenerecError);
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toContain('RangeError: oops');
  });
});
