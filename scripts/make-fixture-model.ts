/**
 * Builds the tiny random-weights TEST FIXTURE model in tests/fixtures/tiny-model/.
 * It is never a default model: it only exists so unit tests can load a real model quickly.
 *
 *   npx tsx scripts/make-fixture-model.ts
 *
 * 60 items (item-01 .. item-60) in 6 clusters of 10 (cluster c = items 10c+1 .. 10c+10).
 * The item embeddings are cluster centroid + noise, so the model's scores favour items of the
 * cluster of the most recent history item; everything else is initWeights(seed). Deterministic.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { formatVersionOf, MODEL_FORMAT, serializeModel, type ModelHeader } from '../src/model/artifacts.js';
import { initWeights, weightShapes, type SasRecConfig } from '../src/model/sasrec.js';

export const FIXTURE_CONFIG: SasRecConfig = {
  numItems: 60, maxLen: 10, hiddenDim: 16, numBlocks: 1, numHeads: 2, ffnDim: 32, dropout: 0,
};
const CLUSTERS = 6;
const SEED = 7;

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const cfg = FIXTURE_CONFIG;
  const weights = initWeights(cfg, SEED);

  const d = cfg.hiddenDim;
  const clusterOf = (i: number) => Math.floor((i - 1) / (cfg.numItems / CLUSTERS));
  const emb = tf.tidy(() => {
    const centroids = tf.randomNormal([CLUSTERS, d], 0, 1, 'float32', SEED + 100).mul(0.05);
    const noise = tf.randomNormal([cfg.numItems + 1, d], 0, 0.01, 'float32', SEED + 200);
    const idx = [0, ...Array.from({ length: cfg.numItems }, (_, k) => clusterOf(k + 1))];
    const rows = tf.gather(centroids, tf.tensor1d(idx, 'int32')).add(noise);
    const padMask = tf.concat([tf.zeros([1, 1]), tf.ones([cfg.numItems, 1])]);
    return rows.mul(padMask);
  });
  weights.itemEmbedding.dispose();
  weights.itemEmbedding = emb;

  const itemIds = ['', ...Array.from({ length: cfg.numItems }, (_, k) => `item-${String(k + 1).padStart(2, '0')}`)];
  const popularity = [0, ...Array.from({ length: cfg.numItems }, (_, k) => ((k + 1) * 37) % cfg.numItems + 1)];
  const header: ModelHeader = {
    format: MODEL_FORMAT,
    formatVersion: formatVersionOf(cfg),
    modelVersion: 'tiny-fixture-1',
    architecture: 'sasrec',
    config: cfg,
    vocabPath: 'vocab.json',
    weightDtype: 'float32',
  };
  const files = await serializeModel(header, { itemIds, popularity }, weights, weightShapes(cfg).map(([n]) => n));
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'fixtures', 'tiny-model');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.json'), files['model.json']);
  writeFileSync(join(out, 'vocab.json'), files['vocab.json']);
  writeFileSync(join(out, 'weights.bin'), files['weights.bin']);
  tf.dispose(Object.values(weights));
  console.log(`wrote ${out} (${files['weights.bin'].byteLength} weight bytes)`);
}

await main();
