/**
 * The featuriser (src/model/inputs.ts): its rules, and the same events through the serving path
 * (events as the store hands them -> historyView -> sequenceInput / featureInput) and through the
 * training path (the events as a training log -> the trainers' readers) give identical arrays.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventType, SceneName } from '../../src/contract/protocol.js';
import { BEHAVIOUR_CODES, ContentIndexer, SCENE_CODES } from '../../src/model/features.js';
import { appendItems, featureInput, historyView, sequenceInput, withStep, type InputEvent } from '../../src/model/inputs.js';
import { parseDataset } from '../../training/data.js';
import { readMtlData } from '../../training/mtl-data.js';
import { collapseRepeats } from '../../training/node-io.js';

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

/** A shopper's events with the behaviours of the Tianchi log (1 click, 2 favourite, 3 cart, 4 purchase). */
const SHOPPER: Array<[string, EventType, number]> = [
  ['i1', 'view', 20190610], ['i1', 'view', 20190610], ['i2', 'view', 20190610], ['i2', 'cart', 20190610],
  ['i3', 'favorite', 20190611], ['i1', 'view', 20190611], ['i4', 'view', 20190612], ['i4', 'purchase', 20190612],
  ['i2', 'view', 20190613], ['i5', 'view', 20190613], ['i5', 'view', 20190613],
];
const TIANCHI_CODE: Record<string, number> = { view: 1, favorite: 2, cart: 3, purchase: 4 };

describe('serving and training build the same model input from the same events', () => {
  it('sequence model: the Tianchi reader + collapseRepeats (train, eval) and historyView give the same row', () => {
    const text = SHOPPER.map(([item, type, day]) => `u1\t${item}\t${TIANCHI_CODE[type]}\t${day}`).join('\n');
    const ds = collapseRepeats(parseDataset(text, 'tianchi', 'log.tsv'));
    const modelIndex = new Map(ds.itemIds.map((id, i) => [id, i] as [string, number]).filter(([, i]) => i > 0));
    const served = historyView(SHOPPER.map(([itemId, type]) => ({ type, itemId, scene: 'home' as SceneName })), modelIndex);
    for (const L of [4, 50]) expect([...sequenceInput(served.sequence, L)]).toEqual([...sequenceInput(ds.sequences[0], L)]);
  });

  it('multi-task model: readMtlData (train, eval) and historyView give the same ids, content, behaviour and scene rows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenerec-inputs-'));
    writeFileSync(join(dir, 'events.tsv'), `${SHOPPER.map(([item, type, day]) => `u1\t${item}\t${TIANCHI_CODE[type]}\t${day}`).join('\n')}\n`);
    writeFileSync(join(dir, 'items.tsv'), ['i1\t1\tc1\tb1\t10', 'i2\t1\tc2\tb1\t20', 'i3\t1\tc1\tb2\t30', 'i4\t1\tc3\t0\t40', 'i5\t1\tc2\tb2\t50'].join('\n'));
    const data = readMtlData(join(dir, 'events.tsv'), join(dir, 'items.tsv'));
    const content = new ContentIndexer(data.vocab.features);
    const modelIndex = new Map(data.vocab.itemIds.map((id, i) => [id, i] as [string, number]).filter(([, i]) => i > 0));
    // A training log has no scenes: the trainer simulates them (simulatedScene). Serving events
    // carry the scene the page reported; here they report the trainer's, so every column compares.
    const sceneName = Object.fromEntries(Object.entries(SCENE_CODES).map(([k, v]) => [v, k])) as Record<number, SceneName>;
    const trainSteps = data.events[0].map((e) => ({ itemId: data.catalog.ids[e.row], m: e.item, behaviour: e.behaviour, scene: e.scene }));
    // The reader collapsed repeats; the served history has them (historyView collapses them the same way).
    let j = -1;
    const servedEvents: InputEvent[] = SHOPPER.map(([itemId, type]) => {
      const next = trainSteps[j + 1];
      if (next && next.itemId === itemId && next.behaviour === BEHAVIOUR_CODES[type as keyof typeof BEHAVIOUR_CODES]) j++;
      return { type, itemId, scene: sceneName[trainSteps[j].scene] };
    });
    const served = historyView(servedEvents, modelIndex);
    expect(served.steps).toEqual(trainSteps);
    for (const L of [3, 50]) {
      const a = featureInput(served.steps, L, content);
      const b = featureInput(trainSteps, L, content);
      for (const k of ['ids', 'category', 'brand', 'price', 'behaviour', 'scene'] as const) expect([...a[k]], `${k} L=${L}`).toEqual([...b[k]]);
    }
  });
});
