/**
 * The satisfaction objective end to end: the favorite head of the multi-task model in training
 * (task weights, its loss falls on a real Tianchi slice), in the artifact (3-head models load and
 * serve as before, 4-head ones are format version 2, malformed heads are refused with a typed
 * error), in both forward paths (fused and TF.js agree on every head), and in the scene blend
 * (the `satisfaction` weight reorders a 4-head model's list and is ignored by a 3-head one).
 */
import 'fake-indexeddb/auto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMtlData, type MtlData } from '../../training/mtl-data.js';
import { DEFAULT_MTL_OPTIONS, parseTaskWeights, taskHeads, trainMtl } from '../../training/mtl-train.js';
import { evaluateMtlScorer, type MtlScorer } from '../../training/mtl-eval.js';
import { saveModel, setNodeBackend } from '../../training/node-io.js';
import { initWeights, type SasRecConfig } from '../../src/model/sasrec.js';
import { FusedForward } from '../../src/model/fused.js';
import { loadModel } from '../../src/model/loader.js';
import { TASKS } from '../../src/model/features.js';
import type { ModelVocab, VocabFeatures } from '../../src/model/artifacts.js';
import { createEngine, type RecommenderEngine } from '../../src/engine/engine.js';
import { blendObjectives } from '../../src/ranking/rank.js';
import { validateRequest } from '../../src/contract/options.js';
import { DEFAULT_REQUESTS } from '../../src/contract/defaults.js';
import { OBJECTIVES, type CatalogItem, type ObjectiveWeights } from '../../src/contract/protocol.js';
import { InvalidRequestError, ModelLoadError } from '../../src/contract/errors.js';
import { fileFetch, freshDbName } from './helpers.js';

const DATA = '../shared/data/tianchi-ecomm';
const hasData = fs.existsSync(path.join(DATA, 'events.tsv'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-sat-'));

beforeAll(async () => {
  await setNodeBackend('wasm');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- a small random-weights multi-task model, with 3 or 4 heads ----

const N = 40;
const ids = ['', ...Array.from({ length: N }, (_, i) => `p${i + 1}`)];
const features: VocabFeatures = {
  categoryIds: ['', 'c1', 'c2', 'c3', 'c4'], brandIds: ['', 'b1', 'b2'], priceEdges: [10, 20, 30],
  itemCategory: ids.map((_, i) => (i === 0 ? 0 : 1 + (i % 4))), itemBrand: ids.map((_, i) => (i === 0 ? 0 : 1 + (i % 2))),
  itemPrice: ids.map((_, i) => (i === 0 ? 0 : 1 + (i % 4))),
};
const vocab: ModelVocab = { itemIds: ids, popularity: ids.map((_, i) => (i === 0 ? 0 : 1 + ((i * 7) % 13))), features };
const catalog: CatalogItem[] = ids.slice(1).map((id, k) => ({ id, category: features.categoryIds[features.itemCategory[k + 1]], price: 5 + k }));

function mtlConfigWith(tasks: string[]): SasRecConfig {
  return {
    numItems: N, maxLen: 12, hiddenDim: 16, numBlocks: 2, numHeads: 2, ffnDim: 16, dropout: 0,
    features: { numCategories: 4, numBrands: 2, numPriceBuckets: 4, numBehaviours: 4, numScenes: 4, tasks },
  };
}

/** Writes a random-weights model with these heads; returns its model.json URL. */
async function writeModel(name: string, tasks: string[], seed = 5): Promise<string> {
  const config = mtlConfigWith(tasks);
  const weights = initWeights(config, seed);
  // Heads start as identity-like towers; distinct random kernels make each head's order its own.
  tasks.forEach((t, i) => {
    weights[`head/${t}/kernel`].dispose();
    weights[`head/${t}/kernel`] = tf.randomNormal([16, 16], 0, 0.5, 'float32', seed * 10 + i);
  });
  const out = path.join(dir, name);
  await saveModel(out, config, weights, vocab, 'float32', name);
  tf.dispose(Object.values(weights));
  return pathToFileURL(path.join(out, 'model.json')).href;
}

/** Copies a model folder with its model.json header edited. */
function editedCopy(src: string, name: string, edit: (h: { formatVersion: number; config: SasRecConfig }) => void): string {
  const from = path.dirname(new URL(src).pathname);
  const to = path.join(dir, name);
  fs.mkdirSync(to, { recursive: true });
  for (const f of ['weights.bin', 'vocab.json']) fs.copyFileSync(path.join(from, f), path.join(to, f));
  const json = JSON.parse(fs.readFileSync(path.join(from, 'model.json'), 'utf8'));
  edit(json.userDefinedMetadata.scenerec);
  fs.writeFileSync(path.join(to, 'model.json'), JSON.stringify(json));
  return pathToFileURL(path.join(to, 'model.json')).href;
}

async function engineFor(url: string, forward: 'auto' | 'tfjs' = 'auto'): Promise<RecommenderEngine> {
  return createEngine({ modelUrl: url, backend: 'wasm', dbName: freshDbName(), catalog }, { fetch: fileFetch(), forward });
}

const HISTORY = [
  { type: 'view' as const, itemId: 'p3' }, { type: 'favorite' as const, itemId: 'p7', scene: 'product' as const },
  { type: 'cart' as const, itemId: 'p11', scene: 'product' as const }, { type: 'view' as const, itemId: 'p18' },
];

describe('task weights and heads (training options)', () => {
  it('parses positional and named task weights; 3 numbers mean the 3-head model, favorite a 4th head', () => {
    expect(parseTaskWeights('1,0.3,0.3')).toEqual([1, 0.3, 0.3]);
    expect(parseTaskWeights('1,0.3,0.3,0.3')).toEqual([1, 0.3, 0.3, 0.3]);
    expect(parseTaskWeights('click=1, favorite=0.5')).toEqual([1, 0, 0, 0.5]);
    expect(parseTaskWeights('click=1,cart=0.3,purchase=0.3')).toEqual([1, 0.3, 0.3]);
    expect(taskHeads([1, 0.3, 0.3])).toEqual(['click', 'cart', 'purchase']);
    expect(taskHeads([1, 0.3, 0.3, 0.3])).toEqual([...TASKS]);
    expect(DEFAULT_MTL_OPTIONS.taskWeights).toHaveLength(TASKS.length);
  });
  it('refuses malformed task weights with a message that says what to write', () => {
    expect(() => parseTaskWeights('1,1')).toThrow(/give 3 or 4 non-negative numbers/);
    expect(() => parseTaskWeights('1,1,1,1,1')).toThrow(/got 5/);
    expect(() => parseTaskWeights('0,0,0,0')).toThrow(/not all 0/);
    expect(() => parseTaskWeights('1,-1,0')).toThrow(/non-negative/);
    expect(() => parseTaskWeights('click=1,favourite=1')).toThrow(/must be one of click, cart, purchase, favorite/);
    expect(() => parseTaskWeights('click=1,click=2')).toThrow(/given twice/);
  });
});

describe('evaluation of the favorite task', () => {
  it('ranks the first favourite of the period with the favorite head; a scorer without it reports the task missing', async () => {
    const cat = { ids: ['a', 'b', 'c'], modelIndex: Int32Array.from([1, 2, 3]), category: new Int32Array(3), brand: new Int32Array(3), price: new Int32Array(3) };
    const ev = (row: number, behaviour: number, date: number) => ({ item: row + 1, row, behaviour, scene: 1, date });
    const hand = { users: ['u'], catalog: cat, trainEnd: 1, validDay: 2, testStart: 3, events: [[ev(0, 1, 1), ev(1, 1, 3), ev(2, 2, 3)]] } as unknown as MtlData;
    const fav = TASKS.indexOf('favorite');
    // The favorite head ranks c first; the others rank b first.
    const withHead: MtlScorer = async (h, t) => h.map(() => (t === fav ? Float32Array.from([0, 1, 2]) : Float32Array.from([0, 2, 1])));
    const m = await evaluateMtlScorer(withHead, hand, { period: 'test', candidates: 'catalog' });
    expect(m.tasks[fav]).toMatchObject({ task: 'favorite', users: 1, 'hr@10': 1, 'ndcg@10': 1 });
    const every = await evaluateMtlScorer(withHead, hand, { period: 'test', candidates: 'catalog', targets: 'every' });
    expect(every.tasks[fav]).toMatchObject({ users: 1, 'ndcg@10': 1 });
    const without: MtlScorer = async (h, t) => (t === fav ? null : h.map(() => Float32Array.from([0, 2, 1])));
    const m3 = await evaluateMtlScorer(without, hand, { period: 'test', candidates: 'catalog' });
    expect(m3.tasks[fav]).toMatchObject({ task: 'favorite', users: 1, missing: true });
    expect(m3.tasks[0]).toMatchObject({ task: 'click', 'ndcg@10': 1 });
    expect(m3.tasks[0].missing).toBeUndefined();
  });
});

describe.skipIf(!hasData)('the favorite head trains on a Tianchi slice', () => {
  it('a favorite-only model: its loss falls; the 4-head artifact is format version 2 and a 3-weight model has 3 heads', async () => {
    const tdir = path.join(dir, 'slice');
    fs.mkdirSync(tdir, { recursive: true });
    // The first 60 users of the real file (lines are grouped by user), and the item table.
    const lines = fs.readFileSync(path.join(DATA, 'events.tsv'), 'utf8').split('\n');
    const users = new Set<string>();
    const keep = lines.filter((l) => { const u = l.split('\t')[0]; if (users.size < 60) users.add(u); return l && users.has(u); });
    fs.writeFileSync(path.join(tdir, 'events.tsv'), keep.join('\n'));
    const data = readMtlData(path.join(tdir, 'events.tsv'), path.join(DATA, 'items.tsv'));
    const favourites = data.events.flat().filter((e) => e.behaviour === 2 && e.date <= data.trainEnd).length;
    expect(favourites).toBeGreaterThan(20);
    const small = { ...DEFAULT_MTL_OPTIONS, hiddenDim: 16, ffnDim: 16, negatives: 32, batchSize: 16, epochs: 5, patience: 0, learningRate: 5e-3 };
    const losses: number[] = [];
    const fav = await trainMtl(data, { ...small, taskWeights: [0, 0, 0, 1] }, { onEpoch: (log) => losses.push(log.loss) });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(fav.config.features!.tasks).toEqual([...TASKS]);
    // Validation scores the trained head only.
    const last = fav.log[fav.log.length - 1];
    expect(last.score).toBeCloseTo(last.valid!.tasks[TASKS.indexOf('favorite')].ndcg10, 10);
    const { header } = await saveModel(path.join(tdir, 'fav'), fav.config, fav.weights, data.vocab, 'float32', 'fav');
    tf.dispose(Object.values(fav.weights));
    expect(header.formatVersion).toBe(2);

    const three = await trainMtl(data, { ...small, epochs: 1, maxSteps: 2, taskWeights: [1, 0.3, 0.3] });
    expect(three.config.features!.tasks).toEqual(['click', 'cart', 'purchase']);
    expect(three.weights.repeatWeights.shape).toEqual([3, 4]);
    const saved3 = await saveModel(path.join(tdir, 'three'), three.config, three.weights, data.vocab, 'float32', 'three');
    tf.dispose(Object.values(three.weights));
    expect(saved3.header.formatVersion).toBe(1);
  }, 240_000);
});

describe('artifacts: 3-head and 4-head models', () => {
  let url3: string;
  let url4: string;
  beforeAll(async () => {
    url3 = await writeModel('mtl3', ['click', 'cart', 'purchase']);
    url4 = await writeModel('mtl4', [...TASKS]);
  });

  it('loads both; the 4-head one is format version 2 with a [4, F] repeat table', async () => {
    const m3 = await loadModel(url3, { fetch: fileFetch() });
    const m4 = await loadModel(url4, { fetch: fileFetch() });
    try {
      expect(m3.header.formatVersion).toBe(1);
      expect(m4.header.formatVersion).toBe(2);
      expect(m4.header.config.features!.tasks).toEqual(['click', 'cart', 'purchase', 'favorite']);
      expect(m4.weights.repeatWeights.shape).toEqual([4, 4]);
      expect(m4.weights['head/favorite/kernel'].shape).toEqual([16, 16]);
    } finally {
      tf.dispose([...Object.values(m3.weights), ...Object.values(m4.weights)]);
    }
  });

  it('refuses malformed heads with ModelLoadError saying what is wrong', async () => {
    const cases: Array<[string, (h: { formatVersion: number; config: SasRecConfig }) => void, RegExp]> = [
      ['bad-name', (h) => { h.config.features!.tasks[3] = 'favourite'; }, /tasks\[3\] is "favourite": each head must be one of click, cart, purchase, favorite/],
      ['twice', (h) => { h.config.features!.tasks = ['click', 'cart', 'cart', 'favorite']; }, /lists the head "cart" twice/],
      ['no-click-first', (h) => { h.config.features!.tasks = ['cart', 'click', 'purchase', 'favorite']; }, /must start with the click head/],
      ['old-version', (h) => { h.formatVersion = 1; }, /favorite head but format version 1/],
      ['newer', (h) => { h.formatVersion = 3; }, /newer than this SDK understands/],
    ];
    for (const [name, edit, message] of cases) {
      const url = editedCopy(url4, name, edit);
      const err = await loadModel(url, { fetch: fileFetch() }).then(() => null, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(ModelLoadError);
      expect((err as ModelLoadError).code).toBe('MODEL_LOAD_FAILED');
      expect((err as Error).message, name).toMatch(message);
    }
    // A header that names a head its weights lack: the weights check refuses it.
    const lacking = editedCopy(url3, 'lacking', (h) => { h.formatVersion = 2; h.config.features!.tasks.push('favorite'); });
    const err = await loadModel(lacking, { fetch: fileFetch() }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/head\/favorite\/kernel/);
  });

  it('fused and TF.js forwards agree on all four heads (and on the 3-head model)', async () => {
    for (const url of [url3, url4]) {
      const m = await loadModel(url, { fetch: fileFetch() });
      try {
        const fused = FusedForward.create(m.header.config, m.weights);
        const L = m.header.config.maxLen;
        let worst = 0;
        for (const n of [1, 5, L]) {
          const row = new Int32Array(L);
          for (let j = 0; j < n; j++) row[L - n + j] = 1 + ((j * 13 + n) % N);
          const tok = (mod: number, off: number) => Int32Array.from(row, (id, j) => (id === 0 ? 0 : 1 + ((j + off) % mod)));
          const tokens = { category: tok(4, 0), brand: tok(2, 1), price: tok(4, 2), behaviour: tok(4, 3), scene: tok(4, 1) };
          for (const scene of [1, 2, 3, 4]) worst = Math.max(worst, fused.compareWithTfjs(row, tokens, scene));
          expect(fused.run(row, tokens, 2).queries).toHaveLength(m.header.config.features!.tasks.length * 16);
        }
        expect(worst).toBeLessThan(1e-4);
      } finally {
        tf.dispose(Object.values(m.weights));
      }
    }
  });

  it('the engine serves the satisfaction weight on a 4-head model: raising it reorders the list; both forward paths give the same lists', async () => {
    const before = tf.memory().numTensors;
    const fused = await engineFor(url4);
    const plain = await engineFor(url4, 'tfjs');
    try {
      const info = await fused.info();
      expect(info.forward?.path).toBe('fused');
      expect((await plain.info()).forward?.path).toBe('tfjs');
      expect(info.objectives).toEqual(['click', 'cart', 'purchase', 'satisfaction']);
      for (const e of [fused, plain]) await e.track(HISTORY);
      const ask = (e: RecommenderEngine, objectives: ObjectiveWeights) => e.recommend('home', { k: 15, diversity: 0, objectives, rules: { excludeInCart: false } });
      const base: ObjectiveWeights = { click: 1, cart: 0.5, purchase: 0.5, satisfaction: 0 };
      const without = await ask(fused, base);
      const raised = await ask(fused, { ...base, satisfaction: 4 });
      const only = await ask(fused, { click: 0, cart: 0, purchase: 0, satisfaction: 1 });
      const order = (r: { items: Array<{ itemId: string }> }) => r.items.map((i) => i.itemId);
      expect(order(raised)).not.toEqual(order(without));
      expect(order(only)).not.toEqual(order(without));
      // The TF.js path: the same lists, scores within float error.
      for (const [objectives, fusedList] of [[base, without], [{ ...base, satisfaction: 4 }, raised], [{ click: 0, cart: 0, purchase: 0, satisfaction: 1 }, only]] as const) {
        const r = await ask(plain, objectives);
        expect(order(r)).toEqual(order(fusedList));
        r.items.forEach((it, j) => expect(it.score).toBeCloseTo(fusedList.items[j].score, 4));
      }
    } finally {
      await fused.dispose();
      await plain.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a 3-head model ignores the satisfaction weight (documented rule) and says so in EngineInfo', async () => {
    const e = await engineFor(url3);
    try {
      const info = await e.info();
      expect(info.objectives).toEqual(['click', 'cart', 'purchase']);
      await e.track(HISTORY);
      const ask = (objectives: ObjectiveWeights) => e.recommend('home', { k: 15, diversity: 0, objectives });
      const base = await ask({ click: 1, cart: 0.5, purchase: 0.5 });
      const withSat = await ask({ click: 1, cart: 0.5, purchase: 0.5, satisfaction: 5 });
      expect(withSat.items).toEqual(base.items);
      // Only a weight the model lacks: nothing left to blend, so the list ranks by the click head.
      const satOnly = await ask({ click: 0, satisfaction: 1 });
      const clickOnly = await ask({ click: 1, cart: 0, purchase: 0 });
      expect(satOnly.items.map((i) => i.itemId)).toEqual(clickOnly.items.map((i) => i.itemId));
      // The scene defaults (satisfaction > 0 on home) serve unchanged.
      const byDefault = await e.recommend('home', { k: 15, diversity: 0 });
      expect(byDefault.items).toEqual(base.items);
    } finally {
      await e.dispose();
    }
  });
});

describe('the satisfaction weight in the request contract and the blend', () => {
  it('is in every scene default, browsing scenes above 0', () => {
    for (const objectives of Object.values(DEFAULT_REQUESTS).map((d) => d.objectives)) {
      expect(Object.keys(objectives)).toEqual([...OBJECTIVES]);
    }
    expect(DEFAULT_REQUESTS.home.objectives.satisfaction).toBeGreaterThan(0);
    expect(DEFAULT_REQUESTS.product.objectives.satisfaction).toBeGreaterThan(0);
    expect(DEFAULT_REQUESTS.cart.objectives.satisfaction).toBe(0);
    expect(DEFAULT_REQUESTS.search.objectives.satisfaction).toBe(0);
  });
  it('validates with "must be one of" errors and points a head name to its objective', () => {
    const ok = validateRequest('home', { objectives: { satisfaction: 1 } });
    expect(ok.objectives).toEqual({ click: 0, cart: 0, purchase: 0, satisfaction: 1 });
    const bad = (objectives: unknown) => { try { validateRequest('home', { objectives } as never); return null; } catch (e) { return e as Error; } };
    const fav = bad({ favorite: 1 });
    expect(fav).toBeInstanceOf(InvalidRequestError);
    expect(fav!.message).toMatch(/objectives\.favorite is not an objective \(the favorite head serves the objective "satisfaction"\): each key must be one of click, cart, purchase, satisfaction/);
    expect(bad({ revenue: 1 })!.message).toMatch(/must be one of click, cart, purchase, satisfaction/);
    expect(bad({ satisfaction: -1 })).toBeInstanceOf(InvalidRequestError);
    expect(bad({ click: 0, satisfaction: 0 })!.message).toMatch(/at least one weight above 0/);
  });
  it('blends a satisfaction head like the others and ignores a weight without a head', () => {
    const heads = { click: [0, 1, 2], cart: [2, 1, 0], satisfaction: [0, 0, 4] };
    expect([...blendObjectives(heads, { click: 1, satisfaction: 1 })]).toEqual([0, 0.25, 1]);
    expect([...blendObjectives({ click: [0, 1, 2], cart: [2, 1, 0] }, { click: 1, cart: 1, satisfaction: 9 })]).toEqual([0.5, 0.5, 0.5]);
  });
});
