/**
 * History -> model input: the one place that turns events into what the model reads. Plain typed
 * arrays (no TF.js), shared by the engine (worker), the trainers and the evaluators (Node).
 * tests/unit/inputs.test.ts feeds the same events through the serving path and the trainers' and
 * evaluators' own code paths and asserts identical rows.
 *
 * The defaults are the serving rule. Training and evaluation differ from it only through the named
 * options below, each documented where it is declared:
 * - `SequenceOptions.repeats`: 'collapse-raw' and 'keep' reproduce how the bundled single-objective
 *   models were trained and published (Tianchi: repeats collapsed before unknown items were dropped;
 *   pairs / lines: no collapse).
 * - `FeatureInputOptions.unknown`: 'drop' reproduces how the SDK served feature models before
 *   issue #15 (history items the model never saw left out); the default, 'mask', is how the
 *   multi-task model's figures were published and what the engine serves.
 * Training logs have no scenes: the multi-task reader simulates them (training/mtl-data.ts
 * `simulatedScene`) and hands them in as the events' scenes.
 */
import type { EventType, SceneName } from '../contract/protocol.js';
import { BEHAVIOUR_CODES, sceneCode, type ContentIndexer, type ContentIndices } from './features.js';
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

/**
 * How consecutive repeats of one item become steps of a single-objective model's sequence.
 * - 'collapse' (serving): items the model does not know are dropped first, then consecutive repeats
 *   of one model item are one step (A, unknown, A is one step A).
 * - 'collapse-raw': repeats of the log's own items are collapsed first, then unknown items dropped
 *   (A, unknown, A stays A, A). How `tianchi-sasrec` was trained (rare items dropped after the
 *   collapse) and its published figures measured; kept so they can be reproduced.
 * - 'keep': every interaction is a step. How `pairs` / `lines` logs were read before (the Games
 *   log has no consecutive repeats, so its model is unaffected); kept for logs whose repeats matter.
 */
export type RepeatRule = 'collapse' | 'collapse-raw' | 'keep';
export const REPEAT_RULES: readonly RepeatRule[] = ['collapse', 'collapse-raw', 'keep'];

/** Options of `modelSequence`. */
export interface SequenceOptions { repeats: RepeatRule }
export const DEFAULT_SEQUENCE_OPTIONS: Readonly<SequenceOptions> = { repeats: 'collapse' };

/** A log's interactions as a single-objective model's sequence. */
export interface ModelSequence {
  /** Model indices, oldest first. */
  ids: number[];
  /** Per input item: the index into `ids` of the step it belongs to, -1 for an item the model does not know. */
  stepOf: Int32Array;
}

/**
 * Interactions (oldest first, any item key) -> a single-objective model's sequence. `modelOf` gives
 * an item's model index, undefined for an item the model does not know. `stepOf` lets a caller
 * carry its own per-event columns (behaviour, date) onto the steps.
 */
export function modelSequence<K>(
  items: ArrayLike<K>, modelOf: (item: K) => number | undefined, options: Partial<SequenceOptions> = {},
): ModelSequence {
  const { repeats } = { ...DEFAULT_SEQUENCE_OPTIONS, ...options };
  const ids: number[] = [];
  const stepOf = new Int32Array(items.length).fill(-1);
  for (let i = 0; i < items.length; i++) {
    const m = modelOf(items[i]);
    if (m === undefined) continue;
    const repeat = repeats === 'collapse' ? ids[ids.length - 1] === m
      : repeats === 'collapse-raw' ? i > 0 && items[i - 1] === items[i]
        : false;
    if (!repeat) ids.push(m);
    stepOf[i] = ids.length - 1;
  }
  return { ids, stepOf };
}

/** Interaction steps of a history, consecutive repeats of item + event type collapsed. */
export interface HistorySteps {
  steps: HistoryStep[];
  /** Per input event: the index into `steps` of the step it belongs to, -1 for an event that is not an interaction. */
  stepOf: Int32Array;
}

/**
 * Events (oldest first) -> a feature model's steps: interactions only, consecutive repeats of item +
 * event type one step (with the first event's scene; no scene: home), unknown items kept as m = 0.
 */
export function historySteps(events: ArrayLike<InputEvent>, modelIndex: ReadonlyMap<string, number>): HistorySteps {
  const steps: HistoryStep[] = [];
  const stepOf = new Int32Array(events.length).fill(-1);
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if (!ev.itemId || !INTERACTIONS.has(ev.type)) continue;
    const behaviour = BEHAVIOUR_CODES[ev.type as keyof typeof BEHAVIOUR_CODES];
    const last = steps[steps.length - 1];
    if (!last || last.itemId !== ev.itemId || last.behaviour !== behaviour) {
      steps.push({ itemId: ev.itemId, m: modelIndex.get(ev.itemId) ?? 0, behaviour, scene: sceneCode(ev.scene) });
    }
    stepOf[i] = steps.length - 1;
  }
  return { steps, stepOf };
}

/** Builds the view of a history, oldest event first (the serving rule: every option at its default). */
export function historyView(events: Iterable<InputEvent>, modelIndex: ReadonlyMap<string, number>): HistoryView {
  const list = Array.isArray(events) ? (events as readonly InputEvent[]) : [...events];
  const purchased = new Set<string>();
  const cart = new Map<string, true>();
  const interactions: string[] = [];
  for (const ev of list) {
    if (!ev.itemId) continue;
    if (ev.type === 'purchase') { purchased.add(ev.itemId); cart.delete(ev.itemId); }
    if (ev.type === 'cart') { cart.delete(ev.itemId); cart.set(ev.itemId, true); }
    if (INTERACTIONS.has(ev.type)) interactions.push(ev.itemId);
  }
  return {
    sequence: modelSequence(interactions, (id) => modelIndex.get(id)).ids,
    steps: historySteps(list, modelIndex).steps,
    purchased,
    cart: [...cart.keys()],
  };
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
  /** The steps the rows hold (under 'drop' only items the model knows), oldest first. */
  known: HistoryStep[];
  /** Real (non-padding) positions. */
  length: number;
}

/**
 * What a feature model does with history steps whose item it does not know (m = 0).
 * - 'mask' (serving): kept as id-0 positions (masked from attention like padding) that still carry
 *   their content, behaviour and scene; the rows hold the most recent `maxLen` steps. How the
 *   multi-task model's figures were published, and served since issue #15: dropping them instead
 *   lost a third of the in-session NDCG@10 (models/tianchi-mtl/README.md).
 * - 'drop': left out; the rows hold the most recent `maxLen` known steps. How the SDK served
 *   before; kept so those figures can be reproduced.
 */
export type UnknownRule = 'drop' | 'mask';
export const UNKNOWN_RULES: readonly UnknownRule[] = ['drop', 'mask'];

/** Options of `featureInput`. */
export interface FeatureInputOptions {
  unknown: UnknownRule;
  /** Content of a step the model does not know (read under 'mask'); default none (all 0). */
  unknownContent?: (step: HistoryStep) => ContentIndices;
}
export const DEFAULT_FEATURE_INPUT_OPTIONS: Readonly<FeatureInputOptions> = { unknown: 'mask' };

const NO_CONTENT: ContentIndices = { category: 0, brand: 0, price: 0 };

/** Feature-model input: the most recent `maxLen` steps (unknown items as masked positions by default), with their content indices. */
export function featureInput(
  steps: readonly HistoryStep[], maxLen: number, content: ContentIndexer, options: Partial<FeatureInputOptions> = {},
): FeatureInput {
  const o = { ...DEFAULT_FEATURE_INPUT_OPTIONS, ...options };
  const known = (o.unknown === 'mask' ? steps : steps.filter((s) => s.m > 0)).slice(-maxLen);
  const idx = known.map((s) => (s.m > 0 ? content.ofModelItem(s.m) : o.unknownContent?.(s) ?? NO_CONTENT));
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
