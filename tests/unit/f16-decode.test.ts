import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { NonFiniteWeightsError, setFloat16ArrayForTests, weightsFromArtifacts } from '../../src/model/artifacts.js';

/** A stand-in Float16Array (Node 20 has none): converts each value arithmetically, not by the loader's table. */
class Float16Stand implements ArrayLike<number> {
  [i: number]: number;
  readonly length: number;
  constructor(buffer: ArrayBufferLike, byteOffset: number, length: number) {
    const h = new Uint16Array(buffer, byteOffset, length);
    this.length = length;
    for (let i = 0; i < length; i++) {
      const x = h[i], s = x & 0x8000 ? -1 : 1, e = (x >> 10) & 31, m = x & 1023;
      this[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
  }
}

afterEach(() => setFloat16ArrayForTests(undefined));

function artifacts(bits: Uint16Array, shape: number[], pad = 0): tf.io.ModelArtifacts {
  const data = new Uint8Array(pad + bits.byteLength);
  data.set(new Uint8Array(bits.buffer), pad);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  if (pad) weightSpecs.push({ name: 'pad', shape: [pad / 2], dtype: 'float32', quantization: { dtype: 'float16' } });
  weightSpecs.push({ name: 'w', shape, dtype: 'float32', quantization: { dtype: 'float16' } });
  return { weightSpecs, weightData: data.buffer };
}

describe('float16 weights through the realm\'s Float16Array', () => {
  it('decode to the same values as the table, at word-aligned and unaligned offsets, odd lengths included', () => {
    const n = 3 * 7 * 13; // odd
    const bits = new Uint16Array(n);
    for (let i = 0; i < n; i++) bits[i] = (i * 2654435761) & 0xffff & ~0x4000 | (i % 5 === 0 ? 0 : 0x3c00); // finite: exponent never all ones
    for (const pad of [0, 2]) {
      setFloat16ArrayForTests(false);
      const byTable = weightsFromArtifacts(artifacts(bits, [3, 7, 13], pad), [['w', [3, 7, 13]]]);
      setFloat16ArrayForTests(Float16Stand);
      const native = weightsFromArtifacts(artifacts(bits, [3, 7, 13], pad), [['w', [3, 7, 13]]]);
      expect(Array.from(native.weights.w.dataSync())).toEqual(Array.from(byTable.weights.w.dataSync()));
      tf.dispose([byTable.weights.w, native.weights.w]);
    }
  });

  it('find a NaN or an infinity in either half of a word and in the last odd value', () => {
    setFloat16ArrayForTests(Float16Stand);
    for (const [at, value] of [[0, 0x7c00], [1, 0xfc00], [10, 0x7e00], [20, 0x7c00]] as const) {
      const bits = new Uint16Array(21).fill(0x3c00);
      bits[at] = value;
      expect(() => weightsFromArtifacts(artifacts(bits, [21]), [['w', [21]]])).toThrow(NonFiniteWeightsError);
    }
  });
});
