/**
 * The Tianchi multi-behaviour data for the multi-task model: per-user event sequences
 * (item, event type, simulated scene, day), item content (category, brand, price bucket)
 * and a time-ordered split.
 *
 * Split (by day, the file's only clock): events up to `trainEnd` train the model; the next
 * day (`validDay`) selects the best epoch; days from `testStart` on are the hold-out. At
 * validation/test time the history is every event before that period.
 *
 * Scenes are NOT in the data: each event gets a simulated scene from its type and time only
 * (never from the item, so the scene cannot leak the answer): purchase -> cart page,
 * cart / favourite -> product page, a click that opens the shopper's day -> home feed,
 * other clicks -> product page. Search never occurs in this data.
 */
import * as fs from 'node:fs';
import { DataFormatError, type SequenceDataset } from './data.js';
import { readDataset } from './node-io.js';
import type { ModelVocab, VocabFeatures } from '../src/model/artifacts.js';
import { NUM_BEHAVIOURS, NUM_SCENES, priceBucket, priceEdgesFor, SCENE_CODES, TASKS } from '../src/model/features.js';
import type { FeatureConfig } from '../src/model/sasrec.js';
import { historySteps, type InputEvent } from '../src/model/inputs.js';
import type { EventType, SceneName } from '../src/contract/protocol.js';

export interface MtlEvent {
  /** Model item index (0 = not in the model vocabulary: a cold item). */
  item: number;
  /** Catalog row (every item of items.tsv and the events). */
  row: number;
  behaviour: number;
  scene: number;
  date: number;
}

export interface MtlCatalog {
  ids: string[];
  /** Per catalog row: model index (0 = cold), category, brand, price bucket. */
  modelIndex: Int32Array;
  category: Int32Array;
  brand: Int32Array;
  price: Int32Array;
}

export interface MtlData {
  users: string[];
  /** Per user, every event in time order; consecutive repeats of the same item and type collapsed. */
  events: MtlEvent[][];
  vocab: ModelVocab & { features: VocabFeatures };
  features: FeatureConfig;
  catalog: MtlCatalog;
  trainEnd: number;
  validDay: number;
  testStart: number;
}

export interface MtlDataOptions {
  trainEnd: number;
  validDay: number;
  testStart: number;
  priceBuckets: number;
}

export const DEFAULT_MTL_DATA_OPTIONS: MtlDataOptions = { trainEnd: 20190616, validDay: 20190617, testStart: 20190618, priceBuckets: 10 };

/** An item's content; `price` NaN when unknown. */
export interface ItemRow { category: string; brand: string; price: number }

function readItems(file: string): Map<string, ItemRow> {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new DataFormatError(file, 0, `cannot read file: ${(e as Error).message}`); }
  const out = new Map<string, ItemRow>();
  text.split(/\r?\n/).forEach((line, n) => {
    if (line.trim() === '') return;
    const f = line.split('\t');
    const price = Number(f[4]);
    if (f.length !== 5 || !f[0] || !f[2] || !Number.isFinite(price)) {
      throw new DataFormatError(file, n + 1, `expected item_id, top_category_id, category_id, brand_id, price: "${line.slice(0, 80)}"`);
    }
    out.set(f[0], { category: f[2], brand: f[3], price });
  });
  return out;
}

/** Tianchi behaviour codes (training/data.ts BEHAVIOURS) as the SDK's event types. */
const EVENT_OF_BEHAVIOUR: Record<number, EventType> = { 1: 'click', 2: 'favorite', 3: 'cart', 4: 'purchase' };
const SCENE_NAMES = Object.fromEntries(Object.entries(SCENE_CODES).map(([name, code]) => [code, name])) as Record<number, SceneName>;
/** The steps are made before the vocabulary exists (it is counted from them): every item unknown, ids set after. */
const NO_MODEL: ReadonlyMap<string, number> = new Map();

/** The scene of a training event, from its type and whether it opens the shopper's day (see the header). */
export function simulatedScene(behaviour: number, opensDay: boolean): number {
  if (behaviour === 4) return SCENE_CODES.cart;
  if (behaviour === 2 || behaviour === 3) return SCENE_CODES.product;
  return opensDay ? SCENE_CODES.home : SCENE_CODES.product;
}

/** Reads events.tsv and items.tsv (the Tianchi layout) into the multi-task data. */
export function readMtlData(eventsFile: string, itemsFile: string, options: MtlDataOptions = DEFAULT_MTL_DATA_OPTIONS): MtlData {
  return mtlDataFrom(readDataset(eventsFile, 'tianchi'), readItems(itemsFile), options);
}

/** Where a log says more than the Tianchi files: its own scenes and sessions (training/event-log.ts). */
export interface MtlLogExtras {
  /** Scene code of user u's k-th event, 0 where the log names none (then it is simulated). */
  scene?(u: number, k: number): number;
  /** Whether user u's k-th event opens a session (default: a new day). */
  opensSession?(u: number, k: number): boolean;
}

/** The multi-task data from a per-user log with days (`dates`) and item content (category, brand, price; rows in catalog order). */
export function mtlDataFrom(ds: SequenceDataset, items: ReadonlyMap<string, ItemRow>, options: MtlDataOptions, extras: MtlLogExtras = {}): MtlData {

  // Catalog: every item with metadata, plus any event item without it.
  const ids: string[] = [...items.keys()];
  const rowOf = new Map<string, number>(ids.map((id, r) => [id, r]));
  for (let i = 1; i <= ds.numItems; i++) if (!rowOf.has(ds.itemIds[i])) { rowOf.set(ds.itemIds[i], ids.length); ids.push(ds.itemIds[i]); }

  const categoryIds = ['', ...[...new Set([...items.values()].map((r) => r.category))].filter((c) => c !== '').sort()];
  const brandIds = ['', ...[...new Set([...items.values()].map((r) => r.brand).filter((b) => b !== '' && b !== '0'))].sort()];
  const catIndex = new Map(categoryIds.map((c, i) => [c, i]));
  const brandIndex = new Map(brandIds.map((b, i) => [b, i]));
  const priceEdges = priceEdgesFor([...items.values()].map((r) => r.price), options.priceBuckets);

  const n = ids.length;
  const catalog: MtlCatalog = {
    ids, modelIndex: new Int32Array(n), category: new Int32Array(n), brand: new Int32Array(n), price: new Int32Array(n),
  };
  ids.forEach((id, r) => {
    const m = items.get(id);
    if (!m) return;
    catalog.category[r] = catIndex.get(m.category) ?? 0;
    catalog.brand[r] = brandIndex.get(m.brand) ?? 0;
    catalog.price[r] = priceBucket(priceEdges, m.price);
  });

  // Vocabulary: items with an event in the training days, in first-seen order.
  const itemIds = [''];
  const popularity = [0];
  const modelOfRow = new Int32Array(n);
  const users: string[] = [];
  const events: MtlEvent[][] = [];
  ds.sequences.forEach((seq, u) => {
    const beh = ds.behaviours[u];
    const dates = ds.dates![u];
    // The log as the events a shop would have tracked, each with its simulated scene; the
    // featuriser (src/model/inputs.ts historySteps) makes the steps, as it does when serving.
    const tracked: InputEvent[] = [];
    let lastDate = -1;
    for (let k = 0; k < seq.length; k++) {
      const opensDay = extras.opensSession ? extras.opensSession(u, k) : dates[k] !== lastDate;
      lastDate = dates[k];
      const scene = extras.scene?.(u, k) || simulatedScene(beh[k], opensDay);
      tracked.push({ type: EVENT_OF_BEHAVIOUR[beh[k]], itemId: ds.itemIds[seq[k]], scene: SCENE_NAMES[scene] });
    }
    const { steps, stepOf } = historySteps(tracked, NO_MODEL);
    const out: MtlEvent[] = steps.map((st) => ({ item: 0, row: rowOf.get(st.itemId)!, behaviour: st.behaviour, scene: st.scene, date: 0 }));
    for (let k = seq.length - 1; k >= 0; k--) out[stepOf[k]].date = dates[k];
    for (const e of out) {
      if (e.date > options.trainEnd) continue;
      if (modelOfRow[e.row] === 0) { modelOfRow[e.row] = itemIds.length; itemIds.push(ids[e.row]); popularity.push(0); }
      popularity[modelOfRow[e.row]]++;
    }
    users.push(ds.users[u]);
    events.push(out);
  });
  for (const list of events) for (const e of list) e.item = modelOfRow[e.row];
  catalog.modelIndex.set(modelOfRow);

  const numItems = itemIds.length - 1;
  const itemCategory = [0];
  const itemBrand = [0];
  const itemPrice = [0];
  const rowOfModel = new Int32Array(numItems + 1);
  modelOfRow.forEach((m, r) => { if (m > 0) rowOfModel[m] = r; });
  for (let m = 1; m <= numItems; m++) {
    const r = rowOfModel[m];
    itemCategory.push(catalog.category[r]); itemBrand.push(catalog.brand[r]); itemPrice.push(catalog.price[r]);
  }
  const features: FeatureConfig = {
    numCategories: categoryIds.length - 1, numBrands: brandIds.length - 1, numPriceBuckets: options.priceBuckets,
    numBehaviours: NUM_BEHAVIOURS, numScenes: NUM_SCENES, tasks: [...TASKS], // the trained model's heads: training/mtl-train.ts taskHeads
  };
  return {
    users, events,
    vocab: { itemIds, popularity, features: { categoryIds, brandIds, priceEdges, itemCategory, itemBrand, itemPrice } },
    features, catalog,
    trainEnd: options.trainEnd, validDay: options.validDay, testStart: options.testStart,
  };
}
