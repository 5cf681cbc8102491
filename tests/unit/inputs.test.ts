/**
 * The featuriser (src/model/inputs.ts): its rules, and the same events through the serving path
 * (events as the store hands them -> historyView -> sequenceInput / featureInput) and through the
 * trainers' and evaluators' own code (the events as a training log -> their readers -> the rows
 * they feed the model) give identical arrays.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventType, SceneName } from '../../src/contract/protocol.js';
import { BEHAVIOUR_CODES, ContentIndexer, SCENE_CODES } from '../../src/model/features.js';
import {
  appendItems, featureInput, historyView, modelSequence, sequenceInput, withStep, type HistoryStep, type InputEvent,
} from '../../src/model/inputs.js';
import { leaveOneOut, parseDataset } from '../../training/data.js';
import { evaluateScorer, inputRows, type Scorer } from '../../training/evaluate.js';
import { readMtlData, simulatedScene, type MtlDataOptions } from '../../training/mtl-data.js';
import { evaluateMtlScorer, mtlInputs, type MtlScorer } from '../../training/mtl-eval.js';
import { trainingWindows, windowInputs } from '../../training/mtl-train.js';
import { modelSequences, trainingSequences } from '../../training/node-io.js';
import { batchRows, buildExamples } from '../../training/train.js';

const index = (ids: string[]) => new Map(ids.map((id, i) => [id, i + 1]));

describe('historyView', () => {
  it('collapses consecutive repeats, drops unknown items from the sequence and keeps them as m = 0 steps', () => {
    const events: InputEvent[] = [
      { type: 'view', itemId: 'a', scene: 'home' }, { type: 'click', itemId: 'a', scene: 'product' },
      { type: 'cart', itemId: 'a', scene: 'product' }, { type: 'view', itemId: 'x', scene: 'search' },
      { type: 'view', itemId: 'b' }, { type: 'search' } as InputEvent, { type: 'purchase', itemId: 'b', scene: 'cart' },
    ];
    const v = historyView(events, index(['a', 'b']));
    expect(v.sequence).toEqual([1, 2]);
    // view and click of one item are one step (both behaviour 1); the cart of it is another.
    expect(v.steps.map((s) => [s.itemId, s.m, s.behaviour, s.scene])).toEqual([
      ['a', 1, 1, SCENE_CODES.home], ['a', 1, 3, SCENE_CODES.product], ['x', 0, 1, SCENE_CODES.search],
      ['b', 2, 1, SCENE_CODES.home], ['b', 2, 4, SCENE_CODES.cart],
    ]);
    expect([...v.purchased]).toEqual(['b']);
    expect(v.cart).toEqual(['a']);
  });

  it('keeps the cart in the order added: a re-added item moves to the end, a purchase takes it out', () => {
    const ev = (type: EventType, itemId: string): InputEvent => ({ type, itemId });
    const v = historyView([ev('cart', 'a'), ev('cart', 'b'), ev('cart', 'a'), ev('cart', 'c'), ev('purchase', 'c')], index(['a', 'b', 'c']));
    expect(v.cart).toEqual(['b', 'a']);
  });

  it('cuts to the most recent maxLen and left-pads', () => {
    expect([...sequenceInput([1, 2, 3], 5)]).toEqual([0, 0, 1, 2, 3]);
    expect([...sequenceInput([1, 2, 3, 4, 5, 6], 4)]).toEqual([3, 4, 5, 6]);
    expect(appendItems([1, 2], [2, 3])).toEqual([1, 2, 3]);
    const steps = [{ itemId: 'a', m: 1, behaviour: 1, scene: 1 }];
    expect(withStep(steps, { itemId: 'a', m: 1, behaviour: 1, scene: 2 })).toBe(steps);
    expect(withStep(steps, { itemId: 'a', m: 1, behaviour: 3, scene: 2 })).toHaveLength(2);
  });
});

const TIANCHI_CODE: Record<string, number> = { view: 1, click: 1, favorite: 2, cart: 3, purchase: 4 };
const EVENT_OF_CODE: Record<number, EventType> = { 1: 'click', 2: 'favorite', 3: 'cart', 4: 'purchase' };
type LogRow = [user: string, item: string, type: EventType, day: number];
const tianchiLog = (rows: LogRow[]) => `${rows.map(([u, item, type, day]) => `${u}\t${item}\t${TIANCHI_CODE[type]}\t${day}`).join('\n')}\n`;
const eventsOf = (rows: LogRow[], user: string): InputEvent[] => rows.filter((r) => r[0] === user).map(([, itemId, type]) => ({ type, itemId }));
const indexOf = (itemIds: readonly string[]) => new Map(itemIds.map((id, i) => [id, i] as [string, number]).filter(([, i]) => i > 0));

/** The served sequence just before the event that makes step `k` (0-based) of the whole history: what the engine reads when that step is next. */
function servedBefore(events: InputEvent[], modelIndex: ReadonlyMap<string, number>, k: number): number[] {
  for (let i = 0; i < events.length; i++) {
    if (historyView(events.slice(0, i + 1), modelIndex).sequence.length === k + 1) return historyView(events.slice(0, i), modelIndex).sequence;
  }
  throw new Error(`the history has no step ${k}`);
}

/** The served steps just before the event that makes step `k` of the whole history. */
function servedStepsBefore(events: InputEvent[], modelIndex: ReadonlyMap<string, number>, k: number): HistoryStep[] {
  for (let i = 0; i < events.length; i++) {
    if (historyView(events.slice(0, i + 1), modelIndex).steps.length === k + 1) return historyView(events.slice(0, i), modelIndex).steps;
  }
  throw new Error(`the history has no step ${k}`);
}

/**
 * Two shoppers in the Tianchi layout. u1 has repeats of one item (a view then a cart of `a`; `d`
 * twice) and `a, x, a` where `x` occurs once in the log: the trainer's --min-item-count 2 leaves it
 * out of the vocabulary, so to the model it is an unknown item between two `a`. u2's `e` is one step
 * (twice in a row), so it is left out too.
 */
const SEQ_LOG: LogRow[] = [
  ['u1', 'a', 'view', 20190610], ['u1', 'a', 'cart', 20190610], ['u1', 'b', 'view', 20190610], ['u1', 'a', 'view', 20190611],
  ['u1', 'x', 'view', 20190611], ['u1', 'a', 'view', 20190611], ['u1', 'c', 'view', 20190612], ['u1', 'c', 'purchase', 20190612],
  ['u1', 'b', 'view', 20190612], ['u1', 'd', 'view', 20190613], ['u1', 'd', 'view', 20190613],
  ['u2', 'b', 'view', 20190610], ['u2', 'c', 'view', 20190610], ['u2', 'd', 'favorite', 20190611], ['u2', 'a', 'view', 20190611],
  ['u2', 'e', 'view', 20190612], ['u2', 'e', 'view', 20190612], ['u2', 'b', 'view', 20190613],
];

describe('single-objective model: the trainer and the evaluator read what serving reads', () => {
  const raw = parseDataset(tianchiLog(SEQ_LOG), 'tianchi', 'log.tsv');
  // The trainer's reader (scripts/train.ts), with the bundled model's --min-item-count 2.
  const ds = trainingSequences(raw, 2);
  const modelIndex = indexOf(ds.itemIds);
  const users = ['u1', 'u2'];
  const names = (ids: ArrayLike<number>) => Array.from(ids, (i) => ds.itemIds[i]);

  it('the reader gives each shopper the served sequence; A, unknown, A is one step; behaviours follow the kept steps', () => {
    expect(modelIndex.has('x')).toBe(false);
    users.forEach((u, r) => expect([...ds.sequences[r]]).toEqual(historyView(eventsOf(SEQ_LOG, u), modelIndex).sequence));
    expect(names(ds.sequences[0])).toEqual(['a', 'b', 'a', 'c', 'b', 'd']);
    // One behaviour per step, the highest of the step's events (a's cart, c's purchase).
    expect([...ds.behaviours[0]]).toEqual([3, 1, 1, 4, 1, 1]);
    ds.sequences.forEach((s, r) => expect(ds.behaviours[r]).toHaveLength(s.length));
    // The evaluator's reader (scripts/eval.ts, eval-by-count) over the model's vocabulary: the same.
    const evalRead = modelSequences(raw, { itemIds: ds.itemIds });
    expect(evalRead.dataset.sequences.map((s) => [...s])).toEqual(ds.sequences.map((s) => [...s]));
    expect(evalRead.dataset.behaviours.map((b) => [...b])).toEqual(ds.behaviours.map((b) => [...b]));
    // x once; e twice in a row (one step, so below --min-item-count 2 too).
    expect(evalRead.unknownItems).toBe(3);
  });

  it('the named options that reproduce the published models differ from serving only where they say', () => {
    const legacy = trainingSequences(raw, 2, { repeats: 'collapse-raw' });
    expect(names(legacy.sequences[0])).toEqual(['a', 'b', 'a', 'a', 'c', 'b', 'd']);
    expect(legacy.behaviours[0]).toHaveLength(7);
    expect(names(trainingSequences(raw, 2, { repeats: 'keep' }).sequences[0])).toEqual(['a', 'a', 'b', 'a', 'a', 'c', 'c', 'b', 'd', 'd']);
    expect(modelSequence(['a', 'x', 'a'], (id) => modelIndex.get(id)).ids).toEqual([modelIndex.get('a')]);
    expect(modelSequence(['a', 'x', 'a'], (id) => modelIndex.get(id), { repeats: 'collapse-raw' }).ids).toEqual([modelIndex.get('a'), modelIndex.get('a')]);
  });

  it("the trainer's batch rows are the served rows at each example's last input step", () => {
    const split = leaveOneOut(ds.sequences);
    for (const maxLen of [2, 50]) {
      const examples = buildExamples(split, maxLen);
      expect(examples).toHaveLength(2);
      examples.forEach((e, r) => {
        const rows = batchRows([e]);
        // The example's last target is the last training step: the input is what serving held before it.
        const k = split.train[r].length - 1;
        expect([...rows.inputs], `${users[r]} maxLen ${maxLen}`).toEqual([...sequenceInput(servedBefore(eventsOf(SEQ_LOG, users[r]), modelIndex, k), rows.len)]);
        expect(rows.len).toBe(Math.min(k, maxLen));
      });
    }
  });

  it("the evaluator's model rows (test and validation targets) are the served rows before the target", async () => {
    const split = leaveOneOut(ds.sequences);
    for (const target of ['test', 'valid'] as const) {
      const seen: Array<{ user: number; input: Int32Array }> = [];
      const recording: Scorer = async (us, inputs, candidates) => {
        us.forEach((user, j) => seen.push({ user, input: inputs[j] }));
        return inputs.map((_, j) => new Float32Array(candidates ? candidates[j].length : ds.numItems + 1));
      };
      await evaluateScorer(recording, ds.numItems, split, { protocol: 'full', seed: 1, target });
      expect(seen.map((x) => x.user)).toEqual([0, 1]);
      for (const maxLen of [3, 50]) {
        const rows = inputRows(seen.map((x) => x.input), maxLen);
        seen.forEach(({ user }, r) => {
          const k = ds.sequences[user].length - (target === 'test' ? 1 : 2);
          expect([...rows.subarray(r * maxLen, (r + 1) * maxLen)], `${target} ${users[user]} L=${maxLen}`)
            .toEqual([...sequenceInput(servedBefore(eventsOf(SEQ_LOG, users[user]), modelIndex, k), maxLen)]);
        });
      }
    }
  });

  it('a pairs log with repeats: the trainer and the evaluator collapse them as serving does (keep reads every line)', () => {
    const text = ['u1 a', 'u1 a', 'u1 b', 'u1 a', 'u1 a', 'u1 c', 'u1 c', 'u2 b', 'u2 b', 'u2 c', 'u2 a'].join('\n');
    const pairs = parseDataset(text, 'pairs', 'games.txt');
    const trained = trainingSequences(pairs, 1);
    const index = indexOf(trained.itemIds);
    ['u1', 'u2'].forEach((u, r) => {
      const events: InputEvent[] = text.split('\n').filter((l) => l.startsWith(`${u} `)).map((l) => ({ type: 'click', itemId: l.split(' ')[1] }));
      expect([...trained.sequences[r]]).toEqual(historyView(events, index).sequence);
    });
    expect(trained.sequences[0].length).toBe(4);
    expect([...modelSequences(pairs, { itemIds: trained.itemIds }).dataset.sequences[0]]).toEqual([...trained.sequences[0]]);
    expect(trainingSequences(pairs, 1, { repeats: 'keep' }).sequences[0].length).toBe(7);
  });
});

/** A shopper's events with the behaviours of the Tianchi log (1 click, 2 favourite, 3 cart, 4 purchase). */
const SHOPPER: LogRow[] = [
  ['u1', 'i1', 'view', 20190610], ['u1', 'i1', 'view', 20190610], ['u1', 'i2', 'view', 20190610], ['u1', 'i2', 'cart', 20190610],
  ['u1', 'i3', 'favorite', 20190611], ['u1', 'i1', 'view', 20190611], ['u1', 'i4', 'view', 20190612], ['u1', 'i4', 'purchase', 20190612],
  ['u1', 'i2', 'view', 20190613], ['u1', 'i5', 'view', 20190613], ['u1', 'i5', 'view', 20190613],
];
const ITEMS = ['i1\t1\tc1\tb1\t10', 'i2\t1\tc2\tb1\t20', 'i3\t1\tc1\tb2\t30', 'i4\t1\tc3\t0\t40', 'i5\t1\tc2\tb2\t50'].join('\n');
const SCENE_NAME = Object.fromEntries(Object.entries(SCENE_CODES).map(([k, v]) => [v, k])) as Record<number, SceneName>;

/**
 * The shopper's events as a shop would track them. A training log has no scenes: the trainer
 * simulates them (simulatedScene); here the page reports the trainer's, so every column compares.
 */
function servedEvents(rows: LogRow[]): InputEvent[] {
  let day = -1;
  return rows.map(([, itemId, type, date]) => {
    const opensDay = date !== day;
    day = date;
    return { type: EVENT_OF_CODE[TIANCHI_CODE[type]], itemId, scene: SCENE_NAME[simulatedScene(TIANCHI_CODE[type], opensDay)] };
  });
}

function mtlData(options?: MtlDataOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'scenerec-inputs-'));
  writeFileSync(join(dir, 'events.tsv'), tianchiLog(SHOPPER));
  writeFileSync(join(dir, 'items.tsv'), ITEMS);
  const data = readMtlData(join(dir, 'events.tsv'), join(dir, 'items.tsv'), options);
  return { data, content: new ContentIndexer(data.vocab.features), modelIndex: indexOf(data.vocab.itemIds) };
}

const COLUMNS = ['ids', 'category', 'brand', 'price', 'behaviour', 'scene'] as const;

describe('multi-task model: the trainer and the evaluator read what serving reads', () => {
  it('readMtlData (train, eval) and historyView give the same steps', () => {
    const { data, modelIndex } = mtlData();
    const trainSteps = data.events[0].map((e) => ({ itemId: data.catalog.ids[e.row], m: e.item, behaviour: e.behaviour, scene: e.scene }));
    expect(historyView(servedEvents(SHOPPER), modelIndex).steps).toEqual(trainSteps);
    // view and view of i1 are one step; view and cart of i2 two.
    expect(trainSteps.map((s) => s.itemId)).toEqual(['i1', 'i2', 'i2', 'i3', 'i1', 'i4', 'i4', 'i2', 'i5']);
  });

  it("the trainer's window rows are the served feature rows before each window's last step", () => {
    const { data, content, modelIndex } = mtlData();
    const events = servedEvents(SHOPPER);
    for (const maxLen of [3, 50]) {
      const windows = trainingWindows(data, maxLen);
      expect(windows.length).toBeGreaterThan(0);
      for (const w of windows) {
        const x = windowInputs(data, [w], content);
        const k = data.events[0].indexOf(w[w.length - 1]);
        const served = featureInput(servedStepsBefore(events, modelIndex, k), x.len, content);
        for (const c of COLUMNS) expect([...x[c]], `${c} maxLen ${maxLen} window to step ${k}`).toEqual([...served[c]]);
      }
    }
  });

  it("the evaluator's rows are the served rows before the hold-out, an item unseen in training a masked position with its content (drop leaves it out)", async () => {
    // Training days up to the 11th: i4 (first seen on the 12th) is a history item the model never saw.
    const { data, content, modelIndex } = mtlData({ trainEnd: 20190611, validDay: 20190612, testStart: 20190613, priceBuckets: 10 });
    expect(modelIndex.has('i4')).toBe(false);
    const histories: Array<ReturnType<typeof data.events[0]['slice']>> = [];
    const recording: MtlScorer = async (hs) => { histories.push(...hs); return hs.map(() => new Float32Array(data.catalog.ids.length)); };
    await evaluateMtlScorer(recording, data, { period: 'test', candidates: 'catalog' });
    expect(histories.length).toBeGreaterThan(0);
    const before = servedEvents(SHOPPER.filter((r) => r[3] < 20190613));
    const servedSteps = historyView(before, modelIndex).steps;
    // The engine reads an unknown history item's content from the shop's catalog entry (src/engine/forward.ts).
    const shopCatalog = new Map([['i4', { id: 'i4', category: 'c3', price: 40 }]]);
    const unknownContent = (st: HistoryStep) => content.ofMetadata(shopCatalog.get(st.itemId)!);
    for (const L of [3, 50]) {
      const served = featureInput(servedSteps, L, content, { unknownContent });
      const [evaluated] = mtlInputs(data, [histories[0]], L);
      for (const c of COLUMNS) expect([...evaluated[c]], `${c} L=${L}`).toEqual([...served[c]]);
      // 'drop' (how the SDK served before): left out, on both sides.
      const servedDrop = featureInput(servedSteps, L, content, { unknown: 'drop' });
      const [drop] = mtlInputs(data, [histories[0]], L, { unknown: 'drop' });
      for (const c of COLUMNS) expect([...drop[c]], `drop ${c} L=${L}`).toEqual([...servedDrop[c]]);
      expect(drop.known.some((s) => s.itemId === 'i4')).toBe(false);
    }
    // 'mask' (the default, the published figures): i4's two steps are id-0 positions that carry its content.
    const [mask] = mtlInputs(data, [histories[0]], 50);
    const at = mask.known.map((s, i) => (s.itemId === 'i4' ? 50 - mask.length + i : -1)).filter((i) => i >= 0);
    expect(at).toHaveLength(2);
    for (const i of at) { expect(mask.ids[i]).toBe(0); expect(mask.category[i]).toBeGreaterThan(0); expect(mask.price[i]).toBeGreaterThan(0); }
  });
});
