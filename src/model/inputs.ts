/**
 * History -> model input: the one place that turns events into what the model reads. Plain typed
 * arrays (no TF.js), shared by the engine (worker), the trainers and the evaluators (Node).
 * tests/unit/inputs.test.ts feeds the same events through the serving path and the training
 * readers and asserts identical rows.
 *
 * Known differences between the training readers and this serving rule (not yet unified; each
 * changes what a model is trained or evaluated on, so each needs its own measured change):
 * - `pairs`/`lines` logs are not collapsed for repeats when training (only `tianchi` logs are);
 *   serving always collapses consecutive repeats.
 * - `remapToVocab` (evaluating on another model's vocabulary) collapses repeats before dropping
 *   unknown items; serving drops unknown items first (A, unknown, A is one step here, two there).
 * - the multi-task evaluator keeps history items the model never saw (id 0, with content) as
 *   masked positions; `featureInput` leaves them out.
 * - training logs have no scenes: the multi-task reader simulates them (training/mtl-data.ts).
 */
import type { EventType, SceneName } from '../contract/protocol.js';
import { BEHAVIOUR_CODES, sceneCode, type ContentIndexer } from './features.js';
import { padHistory } from './sasrec.js';

/** Event types that count as an interaction for the model (search events do not). */
export const INTERACTIONS: ReadonlySet<EventType> = new Set<EventType>(['view', 'click', 'favorite', 'cart', 'purchase']);

/** One interaction as feature models read it. `m` is the model index, 0 for an item the model does not know. */
export interface HistoryStep { itemId: string; m: number; behaviour: number; scene: number }

/** What a recommend call reads from the history. */
export interface HistoryView {
  /** Model indices of interactions, oldest first, unknown items dropped, consecutive repeats collapsed. */
  sequence: number[];
  /** Interactions with their event type and scene, oldest first, consecutive repeats of item + type collapsed. */
  steps: HistoryStep[];
  purchased: Set<string>;
  /** Items with a cart event not followed by a purchase, in the order added. */
  cart: string[];
}

/** An event as far as the featuriser cares (a stored event, or a row of a training log). */
export interface InputEvent { type: EventType; itemId?: string; scene?: SceneName }

/** Drops consecutive repeats. */
export function collapseRepeats(ids: readonly number[]): number[] {
  const out: number[] = [];
  for (const id of ids) if (out[out.length - 1] !== id) out.push(id);
  return out;
}

/** Appends a step unless it repeats the last one (same item and event type). */
export function withStep(steps: HistoryStep[], step: HistoryStep): HistoryStep[] {
  const last = steps[steps.length - 1];
  return last && last.itemId === step.itemId && last.behaviour === step.behaviour ? steps : [...steps, step];
}

/** The sequence with model items appended (the product page's item, the cart), repeats collapsed. */
export function appendItems(sequence: readonly number[], items: readonly number[]): number[] {
  return collapseRepeats([...sequence, ...items]);
}

/** Builds the view of a history, oldest event first. */
export function historyView(events: Iterable<InputEvent>, modelIndex: ReadonlyMap<string, number>): HistoryView {
  const seq: number[] = [];
  const steps: HistoryStep[] = [];
  const purchased = new Set<string>();
  const cart = new Map<string, true>();
  for (const ev of events) {
    if (!ev.itemId) continue;
    if (ev.type === 'purchase') { purchased.add(ev.itemId); cart.delete(ev.itemId); }
    if (ev.type === 'cart') { cart.delete(ev.itemId); cart.set(ev.itemId, true); }
    if (INTERACTIONS.has(ev.type)) {
      const m = modelIndex.get(ev.itemId);
      if (m !== undefined) seq.push(m);
      const behaviour = BEHAVIOUR_CODES[ev.type as keyof typeof BEHAVIOUR_CODES];
      const last = steps[steps.length - 1];
      if (!last || last.itemId !== ev.itemId || last.behaviour !== behaviour) {
        steps.push({ itemId: ev.itemId, m: m ?? 0, behaviour, scene: sceneCode(ev.scene) });
      }
    }
  }
  return { sequence: collapseRepeats(seq), steps, purchased, cart: [...cart.keys()] };
}

/** A single-objective model's input row: the most recent `maxLen` ids, left-padded with 0. */
export function sequenceInput(sequence: ArrayLike<number>, maxLen: number): Int32Array {
  return padHistory(sequence, maxLen);
}

/** A feature model's input rows (left-padded, most recent `maxLen` known steps) and the steps they came from. */
export interface FeatureInput {
  ids: Int32Array;
  category: Int32Array;
  brand: Int32Array;
  price: Int32Array;
  behaviour: Int32Array;
  scene: Int32Array;
  /** The steps the rows hold (items the model knows), oldest first. */
  known: HistoryStep[];
  /** Real (non-padding) positions. */
  length: number;
}

/** Feature-model input: items the model knows, with their training-time content indices. */
export function featureInput(steps: readonly HistoryStep[], maxLen: number, content: ContentIndexer): FeatureInput {
  const known = steps.filter((s) => s.m > 0).slice(-maxLen);
  const idx = known.map((s) => content.ofModelItem(s.m));
  const pad = (xs: number[]) => padHistory(xs, maxLen);
  return {
    ids: pad(known.map((s) => s.m)),
    category: pad(idx.map((x) => x.category)),
    brand: pad(idx.map((x) => x.brand)),
    price: pad(idx.map((x) => x.price)),
    behaviour: pad(known.map((s) => s.behaviour)),
    scene: pad(known.map((s) => s.scene)),
    known,
    length: known.length,
  };
}
