/**
 * Training/eval smoke: a tiny model on a real slice of Amazon Games, plus metric
 * checks on hand-made cases whose answers are known.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataFormatError, leaveOneOut, parseDataset } from '../../training/data.js';
import { MetricAccumulator, rankOfFirst, topK } from '../../training/metrics.js';
import { evaluateScorer, sampleNegatives, popularScorer, itemKnnScorer, evaluateModel } from '../../training/evaluate.js';
import {
  afterValidation, batchNegatives, DEFAULT_TRAIN_OPTIONS, fittedSplit, heldOutSplit, formatEstimate, positionNegatives, replaceIds, train, validationLabel,
  type TrainEstimate, type TrainOptions, type Checkpoint,
} from '../../training/train.js';
import { forward, initWeights, lastHidden, type SasRecConfig } from '../../src/model/sasrec.js';
import { DEFAULT_LOSS_OPTIONS, sampledSoftmaxLoss } from '../../training/loss.js';
import { padHistory } from '../../src/model/sasrec.js';
import { Rng } from '../../training/rng.js';
import { loadModelDir, saveModel, setNodeBackend, vocabFor } from '../../training/node-io.js';

const GAMES = path.resolve(__dirname, '../../../shared/data/amazon-games/games.txt');

/** The first `users` users of the Games file (lines are grouped by user). */
function gamesSlice(users: number): string {
  const lines = fs.readFileSync(GAMES, 'utf8').split('\n');
  const out: string[] = [];
  const seen = new Set<string>();
  for (const l of lines) {
    const u = l.split(' ')[0];
    if (!seen.has(u)) { if (seen.size === users) break; seen.add(u); }
    out.push(l);
  }
  return out.join('\n');
}

const TINY: TrainOptions = {
  ...DEFAULT_TRAIN_OPTIONS, maxLen: 20, hiddenDim: 16, numBlocks: 1, numHeads: 2, ffnDim: 16, dropout: 0.1,
  batchSize: 64, learningRate: 5e-3, negatives: 64, epochs: 8, evalEvery: 0, evalUsers: 0, patience: 0,
};

beforeAll(async () => { await setNodeBackend('wasm'); });

describe('dataset parsing', () => {
  it('reads pairs, lines and tianchi into the same sequences', () => {
    const pairs = parseDataset('u1 a\nu1 b\nu1 c\nu2 b\nu2 c\n', 'pairs', 'p.txt');
    const lines = parseDataset('u1 a b c\nu2 b c\n', 'lines', 'l.txt');
    const tianchi = parseDataset('u1\tb\t1\t20190611\nu1\ta\t1\t20190610\nu2\tb\t3\t20190610\nu1\tc\t4\t20190612\nu2\tc\t1\t20190611\n', 'tianchi', 't.tsv');
    for (const ds of [pairs, lines, tianchi]) {
      expect(ds.users).toEqual(ds === tianchi ? ['u1', 'u2'] : ['u1', 'u2']);
      expect(ds.sequences.map((s) => [...s].map((i) => ds.itemIds[i]))).toEqual([['a', 'b', 'c'], ['b', 'c']]);
    }
    expect([...tianchi.behaviours[0]]).toEqual([1, 1, 4]);
  });

  it('names the file and line of a malformed line, and rejects unknown formats', () => {
    expect(() => parseDataset('u1 a\nu1 a b\n', 'pairs', 'bad.txt')).toThrow(/bad\.txt:2:/);
    expect(() => parseDataset('u1\ta\t9\t20190610\n', 'tianchi', 'ev.tsv')).toThrow(/ev\.tsv:1: behaviour/);
    expect(() => parseDataset('u1 a\nu2 b\nu1 c\n', 'pairs', 'g.txt')).toThrow(/g\.txt:3: .*grouped by user/);
    expect(() => parseDataset('u1 a\n', 'csv', 'x')).toThrow(DataFormatError);
    expect(() => parseDataset('u1 a\n', 'csv', 'x')).toThrow(/unknown format "csv"/);
  });

  it('splits leave-one-out like the SASRec paper', () => {
    const s = leaveOneOut([Int32Array.from([1, 2, 3, 4]), Int32Array.from([5, 6])]);
    expect([...s.train[0]]).toEqual([1, 2]);
    expect(s.valid[0]).toBe(3);
    expect(s.test[0]).toBe(4);
    expect([...s.train[1]]).toEqual([5, 6]);
    expect(s.test[1]).toBe(0);
  });
});

describe('metrics on hand-made cases', () => {
  it('computes HR, NDCG and MRR from known ranks', () => {
    const acc = new MetricAccumulator(10);
    acc.add(0); // hit at 1
    acc.add(3); // hit at 4
    acc.add(12); // miss at 10, hit at 20
    const m = acc.result();
    expect(m['hr@1']).toBeCloseTo(1 / 3, 4);
    expect(m['hr@5']).toBeCloseTo(2 / 3, 4);
    expect(m['hr@10']).toBeCloseTo(2 / 3, 4);
    expect(m['hr@20']).toBeCloseTo(1, 4);
    expect(m['ndcg@10']).toBeCloseTo((1 + 1 / Math.log2(5)) / 3, 4);
    expect(m['ndcg@20']).toBeCloseTo((1 + 1 / Math.log2(5) + 1 / Math.log2(14)) / 3, 4);
    expect(m.mrr).toBeCloseTo((1 + 1 / 4 + 1 / 13) / 3, 4);
  });

  it('ranks the first candidate and finds the top k', () => {
    expect(rankOfFirst([0.5, 0.9, 0.1, 0.7])).toBe(2);
    expect(rankOfFirst([0.5, 0.9, 0.1, 0.7], (i) => i === 1)).toBe(1);
    expect(topK([3, 9, 1, 7, 5], 3)).toEqual([1, 3, 4]);
    expect(topK([3, 9, 1, 7, 5], 2, (i) => i === 1)).toEqual([3, 4]);
  });

  it('samples 100 distinct unseen negatives', () => {
    const seen = new Set([1, 2, 3]);
    const c = sampleNegatives(new Rng(7), 500, seen, 4);
    expect(c[0]).toBe(4);
    expect(c.length).toBe(101);
    expect(new Set(c).size).toBe(101);
    for (const x of c.subarray(1)) { expect(seen.has(x)).toBe(false); expect(x).not.toBe(4); }
  });

  it('scores a perfect and a useless scorer as expected under both protocols', async () => {
    // Every user's test item is item 1, the most popular item: full ranking gives HR@1 = 1.
    const seqs = Array.from({ length: 20 }, (_, u) => Int32Array.from([2 + (u % 5), 7 + (u % 3), 1]));
    for (let u = 0; u < 10; u++) seqs.push(Int32Array.from([1, 1, 1, 1, 1]));
    const split = leaveOneOut(seqs);
    const pop = popularScorer(split, 12, 'test');
    const full = await evaluateScorer(pop, 12, split, { protocol: 'full', seed: 1, target: 'test' });
    expect(full.users).toBe(30);
    expect(full['hr@1']).toBe(1);
    const reverse = async (_u: number[], inputs: Int32Array[], c: Int32Array[] | null) =>
      inputs.map((_, r) => Float32Array.from(c![r], (x) => -x));
    const worst = await evaluateScorer(reverse, 200, leaveOneOut([Int32Array.from([5, 6, 200])]), { protocol: 'sampled-100', seed: 1, target: 'test' });
    expect(worst['hr@20']).toBe(0);
    expect(worst.mrr).toBeCloseTo(1 / 101, 4);
  });
});

describe('baselines fitted on the training items only', () => {
  it('count no validation item for the test items, while the test histories still end with it', async () => {
    // Item 9 is every user's validation item and appears nowhere else; item 3 is each test item.
    const seqs = Array.from({ length: 6 }, (_, u) => Int32Array.from([1 + (u % 2), 4 + (u % 3), 9, 3]));
    const split = leaveOneOut(seqs);
    const o = { protocol: 'full' as const, seed: 1, target: 'test' as const };
    const score = async (s: ReturnType<typeof popularScorer>) => (await s([0], [Int32Array.from([1, 4, 9])], null))[0];
    expect((await score(popularScorer(split, 9, 'test')))[9]).toBeGreaterThan(5);
    expect((await score(popularScorer(split, 9, 'test', false)))[9]).toBeLessThan(1);
    // Item-KNN: fitted on training items only, item 9 has no neighbours, so the history's 9 adds nothing.
    const withValid = await score(itemKnnScorer(split, 9, 'test'));
    const trainOnly = await score(itemKnnScorer(split, 9, 'test', 200, false));
    expect(withValid[3]).toBeLessThan(1); // the test item is never in anyone's fitted items
    expect(withValid[1]).toBeGreaterThan(trainOnly[1]); // 9 co-occurs with 1 only when validation items are fitted
    const m = await evaluateScorer(itemKnnScorer(split, 9, 'test', 200, false), 9, split, o);
    expect(m.users).toBe(6);
  });
});

describe('training smoke on a real slice of Amazon Games', () => {
  const ds = parseDataset(gamesSlice(2000), 'pairs', 'games-slice');

  it('the loss falls, the trained model beats random on held-out items, and nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const result = await train(ds, TINY);
    const losses = result.state.log.map((l) => l.loss);
    expect(losses.length).toBe(TINY.epochs);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.3);
    const split = leaveOneOut(ds.sequences);
    const opts = { protocol: 'sampled-100' as const, seed: 3, target: 'test' as const };
    const model = await evaluateModel(result.config, result.weights, split, opts);
    const pop = await evaluateScorer(popularScorer(split, ds.numItems, 'test'), ds.numItems, split, opts);
    expect(model.users).toBeGreaterThan(1500);
    console.log(`smoke: model HR@10 ${model['hr@10']}, popular HR@10 ${pop['hr@10']}`);
    expect(model['hr@10']).toBeGreaterThan(0.2); // random would be ~0.1
    expect(Number.isFinite(pop['hr@10'])).toBe(true);
    const knn = await evaluateScorer(itemKnnScorer(split, ds.numItems, 'test'), ds.numItems, split, opts);
    expect(knn.users).toBe(model.users);

    // Round trip through the artifact format (float16): metrics barely move.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-'));
    await saveModel(dir, result.config, result.weights, vocabFor(ds), 'float16', 'smoke');
    const loaded = loadModelDir(dir);
    expect(loaded.header.modelVersion).toMatch(/^smoke-[0-9a-f]{12}$/);
    const again = await evaluateModel(loaded.header.config, loaded.weights, split, opts);
    expect(Math.abs(again['hr@10'] - model['hr@10'])).toBeLessThan(0.03);
    tf.dispose(Object.values(loaded.weights));
    tf.dispose(Object.values(result.weights));
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('a fixed seed gives the same model, and a resumed run ends where a straight run ends', async () => {
    // Constant rate: the first run here is a 1-epoch run, and a cosine schedule's length is the epoch count.
    const opts = { ...TINY, epochs: 2, maxSteps: 0, lrSchedule: 'constant' as const };
    const straight = await train(ds, opts);
    const sameSeed = await train(ds, opts);
    const w1 = await straight.weights['block0/ffn1/kernel'].data();
    expect(await sameSeed.weights['block0/ffn1/kernel'].data()).toEqual(w1);

    let saved: Checkpoint | undefined;
    const first = await train(ds, { ...opts, epochs: 1 }, {
      saveCheckpoint: async (c) => {
        const keep = (m: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(m).map(([k, t]) => [k, tf.keep(t.clone())]));
        saved = { state: c.state, weights: keep(c.weights), best: keep(c.best), optimizer: c.optimizer.map((n) => ({ name: n.name, tensor: tf.keep(n.tensor.clone()) })) };
      },
    });
    const resumed = await train(ds, opts, {}, saved);
    expect(resumed.state.epoch).toBe(2);
    expect(resumed.state.step).toBe(straight.state.step);
    const w2 = await resumed.weights['block0/ffn1/kernel'].data();
    let maxDiff = 0;
    for (let i = 0; i < w1.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w1[i] - w2[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    for (const r of [straight, sameSeed, first, resumed]) tf.dispose(Object.values(r.weights));
  }, 120_000);

  it('trains with the paper BCE and the pairwise loss (alone and mixed into softmax), SSE and a cosine schedule: the loss falls', async () => {
    for (const extra of [{ loss: 'bce' as const }, { loss: 'bpr' as const }, { bceWeight: 1, bprWeight: 1, sse: 0.1, lrSchedule: 'cosine' as const }]) {
      const before = tf.memory().numTensors;
      const result = await train(ds, { ...TINY, epochs: 4, ...extra });
      const losses = result.state.log.map((l) => l.loss);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.05);
      tf.dispose(Object.values(result.weights));
      expect(tf.memory().numTensors).toBe(before);
    }
  }, 120_000);
});

describe('training regularisers', () => {
  it('SSE replaces ids at about the asked rate and never touches padding', () => {
    const ids = new Int32Array(20000);
    for (let i = 0; i < ids.length; i++) ids[i] = i % 4 === 0 ? 0 : 7;
    replaceIds(ids, 0.25, 1000, new Rng(1));
    const real = ids.filter((_, i) => i % 4 !== 0);
    expect(ids.filter((_, i) => i % 4 === 0).every((x) => x === 0)).toBe(true);
    const changed = real.filter((x) => x !== 7).length / real.length;
    expect(changed).toBeGreaterThan(0.22);
    expect(changed).toBeLessThan(0.28);
    const untouched = Int32Array.from([0, 3, 5]);
    replaceIds(untouched, 0, 10, new Rng(1));
    expect([...untouched]).toEqual([0, 3, 5]);
  });

  it('negatives at or above the number of items are every item once, and the loss is then the full softmax', () => {
    const rng = new Rng(3);
    expect([...batchNegatives(6, 6, rng)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...batchNegatives(50, 6, rng)]).toEqual([1, 2, 3, 4, 5, 6]);
    const drawn = batchNegatives(4, 6, rng);
    expect(drawn.length).toBe(4);
    expect([...drawn].every((x) => x >= 1 && x <= 6)).toBe(true);
    // The softmax loss over every item (the positive's own column masked as an accidental hit)
    // equals -log softmax of the positive over the whole table, computed directly.
    const config: SasRecConfig = { numItems: 6, maxLen: 4, hiddenDim: 8, numBlocks: 1, numHeads: 2, ffnDim: 8, dropout: 0 };
    const w = initWeights(config, 11);
    const inputs = tf.tensor2d([[0, 2, 5, 1]], [1, 4], 'int32');
    const targets = tf.tensor2d([[0, 5, 1, 3]], [1, 4], 'int32');
    const negs = batchNegatives(6, 6, rng);
    const hits = new Float32Array(4 * 6);
    [0, 5, 1, 3].forEach((t, p) => { if (t) hits[p * 6 + t - 1] = 1; });
    const batch = { inputs, targets, negatives: tf.tensor1d(negs, 'int32'), accidentalHits: tf.tensor2d(hits, [4, 6]) };
    const loss = sampledSoftmaxLoss(config, w, batch, 1).dataSync()[0];
    const h = forward(config, w, inputs, { training: true, dropoutSeed: 1 }).sequence.reshape([4, 8]);
    const logits = tf.matMul(h, (w.itemEmbedding as tf.Tensor2D).slice([1, 0], [6, 8]), false, true).arraySync() as number[][];
    let direct = 0;
    [0, 5, 1, 3].forEach((t, p) => {
      if (!t) return;
      const row = logits[p];
      const m = Math.max(...row);
      direct += Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0)) + m - row[t - 1];
    });
    expect(loss).toBeCloseTo(direct / 3, 5);
    // Without the mask (what the trainer passes for the full softmax): the same loss.
    const unmasked = sampledSoftmaxLoss(config, w, { inputs, targets, negatives: batch.negatives }, 1).dataSync()[0];
    expect(unmasked).toBeCloseTo(direct / 3, 5);
    expect(() => sampledSoftmaxLoss(config, w, { inputs, targets, negatives: batch.negatives }, 1, { ...DEFAULT_LOSS_OPTIONS, kind: 'bpr' })).toThrow(/accidental hits/);
    tf.dispose([inputs, targets, batch.negatives, batch.accidentalHits, h, ...Object.values(w)]);
  });

  it('per-position negatives avoid the user own items and padding positions', () => {
    const batch = [
      { inputs: Int32Array.from([1, 2]), targets: Int32Array.from([2, 3]) },
      { inputs: Int32Array.from([4]), targets: Int32Array.from([5]) },
    ];
    const len = 2;
    const targets = Int32Array.from([2, 3, 0, 5]); // row 2 is left-padded
    for (let seed = 0; seed < 50; seed++) {
      const negs = positionNegatives(batch, len, targets, 6, new Rng(seed));
      expect(negs[2]).toBe(0);
      for (const p of [0, 1]) expect([4, 5, 6]).toContain(negs[p]);
      expect([1, 2, 3, 6]).toContain(negs[3]);
    }
  });

  it('the validation-sample hold-out keeps only the sampled users\' last two items out; every other user trains on all of them', () => {
    const seqs = Array.from({ length: 40 }, (_, u) => Int32Array.from({ length: 3 + (u % 4) }, (_, k) => 1 + ((u + k) % 30)));
    seqs.push(Int32Array.from([5, 6])); // too short for a validation item: all training either way
    const every = heldOutSplit(seqs, { evalUsers: 10, seed: 7, holdOut: 'every-user' });
    const plain = leaveOneOut(seqs);
    expect(every.split.train.map((t) => [...t])).toEqual(plain.train.map((t) => [...t]));
    expect([...every.split.test]).toEqual([...plain.test]);
    expect(every.sampled).toBe(true);
    expect(every.validUsers).toHaveLength(10);
    const sample = heldOutSplit(seqs, { evalUsers: 10, seed: 7, holdOut: 'validation-sample' });
    expect(sample.validUsers).toEqual(every.validUsers); // the same seeded sample
    const held = new Set(sample.validUsers);
    seqs.forEach((s, u) => {
      if (held.has(u)) {
        expect([...sample.split.train[u]]).toEqual([...plain.train[u]]);
        expect(sample.split.valid[u]).toBe(plain.valid[u]);
        expect(sample.split.test[u]).toBe(plain.test[u]);
      } else {
        expect([...sample.split.train[u]]).toEqual([...s]);
        expect(sample.split.valid[u]).toBe(0);
        expect(sample.split.test[u]).toBe(0);
      }
    });
    // Every user in the sample: nothing more to train on, the split is leave-one-out.
    const all = heldOutSplit(seqs, { evalUsers: 0, seed: 7, holdOut: 'validation-sample' });
    expect([...all.split.test]).toEqual([...plain.test]);
    expect(all.sampled).toBe(false);
  });

  it('a refit adds each user validation item to the training items, never the test item, and refuses validation', async () => {
    const split = leaveOneOut([Int32Array.from([1, 2, 3, 4]), Int32Array.from([5, 6]), Int32Array.from([7, 8, 9])]);
    expect(fittedSplit(split, false)).toBe(split);
    const fitted = fittedSplit(split, true);
    expect(fitted.train.map((s) => [...s])).toEqual([[1, 2, 3], [5, 6], [7, 8]]);
    expect([...fitted.test]).toEqual([...split.test]);
    const ds = parseDataset('u1 a\nu1 b\nu1 c\nu1 d\n', 'pairs', 'x');
    await expect(train(ds, { ...TINY, fitValidation: true, evalEvery: 1 })).rejects.toThrow(/evalEvery to 0/);
  });
});

describe('validation on full ranking and the stopping rule', () => {
  it('full-ranking HR@10 / NDCG@10 of the validation items equal a brute-force ranking on a tiny model', async () => {
    const config: SasRecConfig = { numItems: 40, maxLen: 6, hiddenDim: 8, numBlocks: 1, numHeads: 2, ffnDim: 8, dropout: 0 };
    const rng = new Rng(5);
    // Histories of 3 to 14 distinct items: some longer than maxLen (truncated to the most recent), no repeats.
    const seqs = Array.from({ length: 60 }, () => {
      const items = rng.shuffle(Array.from({ length: 40 }, (_, i) => i + 1));
      return Int32Array.from(items.slice(0, rng.int(3, 15)));
    });
    const split = leaveOneOut(seqs);
    const weights = initWeights(config, 11);
    // Large enough scores that ranks differ between users (a fresh init is near zero everywhere).
    const table = weights.itemEmbedding;
    weights.itemEmbedding = tf.tidy(() => table.mul(50));
    table.dispose();

    let hr = 0;
    let ndcg = 0;
    let users = 0;
    for (let u = 0; u < seqs.length; u++) {
      const target = split.valid[u];
      if (!target) continue;
      const history = split.train[u];
      const row = tf.tensor2d(padHistory(history, config.maxLen), [1, config.maxLen], 'int32');
      const { hidden } = lastHidden(config, weights, row);
      const scores = tf.matMul(hidden, weights.itemEmbedding, false, true);
      const s = (await scores.data()) as Float32Array;
      tf.dispose([row, hidden, scores]);
      // Every item the user never interacted with, plus the target, sorted by score: the target's place.
      const candidates = Array.from({ length: config.numItems }, (_, i) => i + 1).filter((it) => it === target || !history.includes(it));
      candidates.sort((a, b) => s[b] - s[a]);
      const place = candidates.indexOf(target);
      if (place < 10) { hr++; ndcg += 1 / Math.log2(place + 2); }
      users++;
    }
    expect(users).toBeGreaterThan(50);
    expect(hr).toBeGreaterThan(0);
    expect(hr).toBeLessThan(users); // neither trivial case
    for (const trimPadding of [false, true]) {
      const m = await evaluateModel(config, weights, split, { protocol: 'full', seed: 1, target: 'valid' }, { trimPadding });
      expect(m.users).toBe(users);
      expect(m['hr@10']).toBeCloseTo(hr / users, 4);
      expect(m['ndcg@10']).toBeCloseTo(ndcg / users, 4);
    }
    tf.dispose(Object.values(weights));
  });

  it('the stopping rule keeps the best validation and stops only with patience', () => {
    const curve = [0.10, 0.30, 0.20, 0.25, 0.29, 0.31, 0.28];
    const run = (patience: number) => {
      const state = { epoch: 0, bestNdcg: -1, bestEpoch: 0, stale: 0 };
      for (const v of curve) {
        state.epoch++;
        if (afterValidation(state, v, patience).stop) break;
      }
      return state;
    };
    expect(DEFAULT_TRAIN_OPTIONS.patience).toBe(0);
    expect(run(0)).toMatchObject({ epoch: 7, bestEpoch: 6, bestNdcg: 0.31 }); // no early stopping: the late best is found
    expect(run(3)).toMatchObject({ epoch: 5, bestEpoch: 2, bestNdcg: 0.30 }); // patience 3 stops before it
    expect(validationLabel('full', 5000, true)).toBe('validation: full-ranking NDCG@10 over 5,000 sampled users');
    expect(validationLabel('full', 812, false)).toBe('validation: full-ranking NDCG@10 over all 812 users with a validation item');
    const e: TrainEstimate = { epochs: 32, stepsPerEpoch: 240, secondsPerStep: 0.2, measuredSteps: 20, validations: 16, secondsPerValidation: 10, totalSeconds: 32 * 240 * 0.2 + 160 };
    expect(formatEstimate(e)).toBe('≈ 28 min for 32 epochs of 240 steps (0.200 s a step over 20 measured steps; 16 validations of ≈ 10.0 s)');
  });

  it('with the default patience a run takes every epoch, validates on full ranking and returns the best epoch weights', async () => {
    const ds = parseDataset(gamesSlice(600), 'pairs', 'games-slice');
    const opts: TrainOptions = { ...TINY, epochs: 5, evalEvery: 1, evalUsers: 0, patience: DEFAULT_TRAIN_OPTIONS.patience, learningRate: 2e-2, lrSchedule: 'constant' };
    const snapshots: Record<string, tf.Tensor>[] = [];
    const plans: Array<string | null> = [];
    const estimates: TrainEstimate[] = [];
    const result = await train(ds, opts, {
      onPlan: (p) => plans.push(p.validation),
      onEstimate: (e) => estimates.push(e),
      saveCheckpoint: async (c) => { snapshots.push(Object.fromEntries(Object.entries(c.weights).map(([k, t]) => [k, tf.keep(t.clone())]))); },
    });
    expect(result.state.epoch).toBe(5);
    expect(plans).toEqual([expect.stringMatching(/^validation: full-ranking NDCG@10 over all \d+ users with a validation item$/)]);
    expect(estimates).toHaveLength(1);
    expect(estimates[0]).toMatchObject({ epochs: 5, validations: 5 });
    expect(estimates[0].totalSeconds).toBeGreaterThan(0);
    const curve = result.state.log.map((l) => l.valid!['ndcg@10']);
    console.log(`stopping rule: validation full NDCG@10 by epoch ${curve.join(' ')}; best epoch ${result.state.bestEpoch}`);
    const best = curve.indexOf(Math.max(...curve)) + 1;
    expect(result.state.bestEpoch).toBe(best);
    // The validation figure is the full-ranking one over every user with a validation item.
    const split = leaveOneOut(ds.sequences);
    const again = await evaluateModel(result.config, snapshots[best - 1], split, { protocol: 'full', seed: opts.seed + 2, target: 'valid' }, { trimPadding: true });
    expect(again['ndcg@10']).toBe(curve[best - 1]);
    // The weights returned are that epoch's, not the last one's.
    for (const name of ['itemEmbedding', 'block0/ffn1/kernel']) {
      expect(await result.weights[name].data()).toEqual(await snapshots[best - 1][name].data());
    }
    for (const s of snapshots) tf.dispose(Object.values(s));
    tf.dispose(Object.values(result.weights));
  }, 120_000);
});
