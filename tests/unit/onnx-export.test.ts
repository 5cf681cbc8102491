/**
 * The ONNX export of the bench's onnxruntime-web peer (scripts/onnx/): the graph, run by
 * onnxruntime-web's wasm backend in Node, gives the TF.js forward's hidden state (the SDK's loader
 * reads the same folder) and the exact top-k of hidden · itemEmbedding with the excluded rows left
 * out. On the bundled Games model (1 head) and the fixture model (2 heads, short maxLen).
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/loader.js';
import { lastHidden, padHistory } from '../../src/model/sasrec.js';
import { exportSasrecOnnx, onnxInputs } from '../../scripts/onnx/sasrec.js';
import { fileFetch } from './helpers.js';

const ROOT = path.resolve(__dirname, '../..');

describe.each([
  ['models/games-sasrec', [1, 5, 20, 50, 70]],
  ['tests/fixtures/tiny-model', [1, 3, 10, 14]],
])('ONNX export of %s', (dir, lengths) => {
  let session: ort.InferenceSession;
  let model: Awaited<ReturnType<typeof loadModel>>;
  let table: Float32Array;
  const excluded = new Set<number>();

  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = await loadModel(pathToFileURL(path.join(ROOT, dir, 'model.json')).href, { fetch: fileFetch(), caches: null });
    const rows = model.header.config.numItems + 1;
    for (let r = 3; r < rows; r += 7) excluded.add(r);
    ort.env.wasm.numThreads = 1;
    session = await ort.InferenceSession.create(exportSasrecOnnx(path.join(ROOT, dir), { excludedRows: excluded }), { executionProviders: ['wasm'], logSeverityLevel: 3 });
    table = (await model.weights.itemEmbedding.data()) as Float32Array;
  }, 120_000);

  it.each(lengths)('gives the TF.js forward\'s hidden state and exact top-10 (history of %i items)', async (len) => {
    const cfg = model.header.config;
    const sequence = Array.from({ length: len }, (_, i) => 1 + ((i * 37 + len * 11) % cfg.numItems));
    const { ids, pos } = onnxInputs(sequence, cfg.maxLen);
    const out = await session.run({
      ids: new ort.Tensor('int64', ids, [ids.length]), pos: new ort.Tensor('int64', pos, [pos.length]), k: new ort.Tensor('int64', BigInt64Array.of(10n), [1]),
    });
    const input = tf.tensor2d(padHistory(sequence, cfg.maxLen), [1, cfg.maxLen], 'int32');
    const { hidden } = lastHidden(cfg, model.weights, input);
    const want = (await hidden.data()) as Float32Array;
    tf.dispose([input, hidden]);
    const got = out.hidden.data as Float32Array;
    expect(got.length).toBe(cfg.hiddenDim);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);

    // Exact top-10 over the table with the ONNX hidden state (float64 sums).
    const d = cfg.hiddenDim;
    const scores: Array<[number, number]> = [];
    for (let r = 1; r <= cfg.numItems; r++) {
      if (excluded.has(r)) continue;
      let s = 0;
      for (let j = 0; j < d; j++) s += got[j] * table[r * d + j];
      scores.push([r, s]);
    }
    scores.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const rows = Array.from(out.indices.data as BigInt64Array, Number);
    expect(rows).toEqual(scores.slice(0, 10).map((s) => s[0]));
    const values = out.values.data as Float32Array;
    for (let i = 0; i < 10; i++) expect(Math.abs(values[i] - scores[i][1])).toBeLessThan(1e-4);
  });
});
