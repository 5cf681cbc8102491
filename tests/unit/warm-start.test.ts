/** Warm start (training/warm-start.ts): rows matched by id, new ids as a cold start, typed refusals, and the trainers starting from the given weights. */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initWeights, type SasRecConfig } from '../../src/model/sasrec.js';
import type { ModelVocab } from '../../src/model/artifacts.js';
import { loadModelDir, saveModel, setNodeBackend } from '../../training/node-io.js';
import { readInitModel, warmStartWeights, WarmStartError } from '../../training/warm-start.js';
import { DEFAULT_TRAIN_OPTIONS, train } from '../../training/train.js';
import { UsageError } from '../../training/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-warm-'));
const SHAPE = { maxLen: 6, hiddenDim: 8, numBlocks: 1, numHeads: 2, ffnDim: 8, dropout: 0.1 };
const FEATURES = (cats: number, brands: number) => ({ numCategories: cats, numBrands: brands, numPriceBuckets: 3, numBehaviours: 4, numScenes: 4, tasks: ['click', 'cart', 'purchase'] });

const rows = (t: tf.Tensor, r: number) => Array.from((t.arraySync() as number[][])[r]);

/** Saves a model whose weights are random (seed) so rows differ from a fresh initialisation. */
async function saved(name: string, config: SasRecConfig, vocab: ModelVocab, seed = 7): Promise<string> {
  const out = path.join(dir, name);
  const w = tf.tidy(() => Object.fromEntries(Object.entries(initWeights(config, seed)).map(([k, t]) => [k, t.add(tf.randomUniform(t.shape, -0.5, 0.5, 'float32', seed + k.length))])));
  await saveModel(out, config, w, vocab, 'float16', name);
  tf.dispose(Object.values(w));
  return out;
}

beforeAll(async () => { await setNodeBackend('wasm'); });

describe('warm start', () => {
  it('keeps known item vectors exactly, adds new ones as a cold start, copies the rest', async () => {
    const old = await saved('seq', { ...SHAPE, numItems: 4 }, { itemIds: ['', 'a', 'b', 'c', 'd'], popularity: [0, 1, 1, 1, 1] });
    const prev = readInitModel(old);
    const next: SasRecConfig = { ...SHAPE, numItems: 4, dropout: 0.3 };
    const ids = ['', 'c', 'x', 'a', 'y'];
    const { weights, report } = warmStartWeights(prev, next, { itemIds: ids, popularity: [] }, 42, old);
    expect(report.items).toEqual({ kept: 2, added: 2, dropped: 2 });
    expect(report.remapped).toEqual(['itemEmbedding']);
    expect(report.fresh).toEqual([]);
    const cold = initWeights(next, 42);
    // Known: the earlier model's rows bit for bit (as loaded); new: the cold start's rows.
    expect(rows(weights.itemEmbedding, 1)).toEqual(rows(prev.weights.itemEmbedding, 3));
    expect(rows(weights.itemEmbedding, 3)).toEqual(rows(prev.weights.itemEmbedding, 1));
    expect(rows(weights.itemEmbedding, 2)).toEqual(rows(cold.itemEmbedding, 2));
    expect(rows(weights.itemEmbedding, 4)).toEqual(rows(cold.itemEmbedding, 4));
    expect(rows(weights.itemEmbedding, 2)).not.toEqual(rows(prev.weights.itemEmbedding, 2));
    for (const k of Object.keys(prev.weights)) {
      if (k === 'itemEmbedding') continue;
      expect(Array.from(weights[k].dataSync()), k).toEqual(Array.from(prev.weights[k].dataSync()));
    }
    tf.dispose([...Object.values(weights), ...Object.values(cold), ...Object.values(prev.weights)]);
  });

  it('multi-task model: items, categories and brands matched by id; a new item starts from its content', async () => {
    const f = (cats: string[], brands: string[], n: number) => ({ categoryIds: ['', ...cats], brandIds: ['', ...brands], priceEdges: [1, 2], itemCategory: new Array(n + 1).fill(1), itemBrand: new Array(n + 1).fill(1), itemPrice: new Array(n + 1).fill(1) });
    const old = await saved('mtl', { ...SHAPE, numItems: 2, features: FEATURES(2, 1) }, { itemIds: ['', 'a', 'b'], popularity: [0, 1, 1], features: f(['k1', 'k2'], ['b1'], 2) });
    const prev = readInitModel(old);
    const next: SasRecConfig = { ...SHAPE, numItems: 3, features: FEATURES(3, 2) };
    const { weights, report } = warmStartWeights(prev, next, { itemIds: ['', 'b', 'n1', 'a'], popularity: [], features: f(['k0', 'k2', 'k1'], ['b1', 'b2'], 3) }, 42, old);
    expect(report.items).toEqual({ kept: 2, added: 1, dropped: 0 });
    expect(report.categories).toEqual({ kept: 2, added: 1, dropped: 0 });
    expect(report.brands).toEqual({ kept: 1, added: 1, dropped: 0 });
    expect(report.remapped).toEqual(['itemEmbedding', 'categoryEmbedding', 'brandEmbedding']);
    expect(rows(weights.itemEmbedding, 1)).toEqual(rows(prev.weights.itemEmbedding, 2));
    expect(rows(weights.categoryEmbedding, 2)).toEqual(rows(prev.weights.categoryEmbedding, 2));
    expect(rows(weights.categoryEmbedding, 3)).toEqual(rows(prev.weights.categoryEmbedding, 1));
    expect(rows(weights.brandEmbedding, 1)).toEqual(rows(prev.weights.brandEmbedding, 1));
    for (const k of ['priceEmbedding', 'head/cart/kernel', 'repeatWeights', 'block0/ffn1/kernel']) {
      expect(Array.from(weights[k].dataSync()), k).toEqual(Array.from(prev.weights[k].dataSync()));
    }
    tf.dispose([...Object.values(weights), ...Object.values(prev.weights)]);
  });

  it('refuses another architecture, another shape, or a folder without a model, with a typed error', async () => {
    const old = path.join(dir, 'seq');
    const prev = readInitModel(old);
    const vocab = { itemIds: ['', 'a'], popularity: [] };
    const err = (fn: () => unknown) => { try { fn(); } catch (e) { return e as WarmStartError; } throw new Error('did not throw'); };
    const shape = err(() => warmStartWeights(prev, { ...SHAPE, hiddenDim: 16, numItems: 1 }, vocab, 1, old));
    expect(shape).toBeInstanceOf(WarmStartError);
    expect(shape).toBeInstanceOf(UsageError); // exit code 2 in the commands
    expect(shape.name).toBe('WarmStartError');
    expect(shape.code).toBe('WARM_START_SHAPE');
    expect(shape.message).toContain('pass --hidden 8');
    const arch = err(() => warmStartWeights(prev, { ...SHAPE, numItems: 1, features: FEATURES(1, 1) }, vocab, 1, old));
    expect(arch.code).toBe('WARM_START_ARCHITECTURE');
    expect(arch.message).toContain('--model sasrec');
    const none = err(() => readInitModel(dir));
    expect(none.code).toBe('WARM_START_NOT_A_MODEL');
    tf.dispose(Object.values(prev.weights));
  });

  it('the trainer starts from the given weights and validates them as epoch 0', async () => {
    const seqs = Array.from({ length: 40 }, (_, u) => Int32Array.from({ length: 6 }, (_, k) => 1 + ((u + k * 3) % 9)));
    const ds = { users: seqs.map((_, u) => `u${u}`), sequences: seqs, behaviours: seqs.map((s) => new Uint8Array(s.length).fill(1)), itemIds: ['', ...Array.from({ length: 9 }, (_, i) => `i${i}`)], numItems: 9, numInteractions: 240 };
    const o = { ...DEFAULT_TRAIN_OPTIONS, ...SHAPE, negatives: 8, batchSize: 16, epochs: 1, evalEvery: 1, evalUsers: 0, learningRate: 0 };
    const init = initWeights({ ...SHAPE, numItems: 9 }, 5);
    const expected = Array.from(init.itemEmbedding.dataSync());
    const r = await train(ds, o, {}, undefined, init);
    expect(r.state.log[0].epoch).toBe(0);
    expect(r.state.log[0].valid).toBeDefined();
    expect(r.state.log).toHaveLength(2);
    // Learning rate 0: the weights stay where they started (the given ones, not a fresh initialisation).
    expect(Array.from(r.weights.itemEmbedding.dataSync())).toEqual(expected);
    tf.dispose(Object.values(r.weights));
  });
});
