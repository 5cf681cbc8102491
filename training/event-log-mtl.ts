/**
 * A grouped event log and an item file as the multi-task model's data (`MtlData`), with a
 * time-ordered split by day: the same structures `npm run train -- --arch mtl` builds from the
 * Tianchi files, so training and evaluation run through the same code.
 *
 * Scenes: the log's scene column where it names one; otherwise simulated from the event type
 * and the session, as for Tianchi (purchase -> cart page, cart / favourite -> product page, a
 * view that opens a session -> home feed, other views -> product page).
 */
import { DataFormatError } from './data.js';
import type { GroupedLog, ItemTable } from './event-log.js';
import { simulatedScene, type MtlCatalog, type MtlData, type MtlEvent } from './mtl-data.js';
import { NUM_BEHAVIOURS, NUM_SCENES, priceBucket, priceEdgesFor } from '../src/model/features.js';
import type { FeatureConfig } from '../src/model/sasrec.js';

/** Days as YYYYMMDD: training up to `trainEnd`, validation `validDay`, test from `testStart`. */
export interface TimeSplit { trainEnd: number; validDay: number; testStart: number }

/** The default split over the log's days: the last `testDays` days test, the day before validation, the rest training. */
export function autoTimeSplit(days: number[], testDays = 1): TimeSplit {
  const d = [...new Set(days)].sort((a, b) => a - b);
  if (d.length < testDays + 2) {
    throw new DataFormatError('(data)', 0, `the log spans ${d.length} day(s): a time split needs at least ${testDays + 2} (training, one validation day, ${testDays} test day(s)); pass --train-end, --valid-day and --test-start, or train the sequence model (--model sasrec)`);
  }
  return { trainEnd: d[d.length - testDays - 2], validDay: d[d.length - testDays - 1], testStart: d[d.length - testDays] };
}

/** Distinct days of a grouped log. */
export function logDays(g: GroupedLog): number[] {
  const s = new Set<number>();
  for (const d of g.dataset.dates) for (let i = 0; i < d.length; i++) s.add(d[i]);
  return [...s].sort((a, b) => a - b);
}

/** Parses a day flag given as YYYYMMDD or YYYY-MM-DD. */
export function parseDay(flag: string, v: string | number): number {
  const s = String(v).replace(/-/g, '');
  if (!/^\d{8}$/.test(s)) throw new DataFormatError('(arguments)', 0, `--${flag} must be a day as YYYY-MM-DD or YYYYMMDD, got "${v}"`);
  return Number(s);
}

/** Builds the multi-task data. Items of the log without a row in `items` are in the catalog with no content. */
export function mtlDataFromLog(g: GroupedLog, items: ItemTable | undefined, split: TimeSplit, priceBuckets = 10): MtlData {
  const ds = g.dataset;
  const ids: string[] = items ? [...items.ids] : [];
  const rowOf = new Map<string, number>(ids.map((id, r) => [id, r]));
  const metaRows = ids.length;
  for (let i = 1; i <= ds.numItems; i++) if (!rowOf.has(ds.itemIds[i])) { rowOf.set(ds.itemIds[i], ids.length); ids.push(ds.itemIds[i]); }
  const catOf = (r: number) => (r < metaRows ? items!.category[r] : '');
  const brandOf = (r: number) => (r < metaRows ? items!.brand[r] : '');
  const categoryIds = ['', ...[...new Set(items?.category ?? [])].filter((c) => c !== '').sort()];
  const brandIds = ['', ...[...new Set(items?.brand ?? [])].filter((b) => b !== '' && b !== '0').sort()];
  const catIndex = new Map(categoryIds.map((c, i) => [c, i]));
  const brandIndex = new Map(brandIds.map((b, i) => [b, i]));
  const priceEdges = priceEdgesFor(items ? Array.from(items.price) : [], priceBuckets);

  const n = ids.length;
  const catalog: MtlCatalog = { ids, modelIndex: new Int32Array(n), category: new Int32Array(n), brand: new Int32Array(n), price: new Int32Array(n) };
  for (let r = 0; r < metaRows; r++) {
    catalog.category[r] = catIndex.get(catOf(r)) ?? 0;
    catalog.brand[r] = brandIndex.get(brandOf(r)) ?? 0;
    catalog.price[r] = priceBucket(priceEdges, items!.price[r]);
  }

  const itemIds = [''];
  const popularity = [0];
  const modelOfRow = new Int32Array(n);
  const rowOfIndex = new Int32Array(ds.numItems + 1);
  for (let i = 1; i <= ds.numItems; i++) rowOfIndex[i] = rowOf.get(ds.itemIds[i])!;
  const events: MtlEvent[][] = [];
  ds.sequences.forEach((seq, u) => {
    const beh = ds.behaviours[u];
    const dates = ds.dates[u];
    const scenes = g.scenes[u];
    const starts = g.sessionStarts[u];
    const out: MtlEvent[] = [];
    for (let k = 0; k < seq.length; k++) {
      const row = rowOfIndex[seq[k]];
      const prev = out[out.length - 1];
      if (prev && prev.row === row && prev.behaviour === beh[k]) continue;
      if (dates[k] <= split.trainEnd) {
        if (modelOfRow[row] === 0) { modelOfRow[row] = itemIds.length; itemIds.push(ids[row]); popularity.push(0); }
        popularity[modelOfRow[row]]++;
      }
      out.push({ item: 0, row, behaviour: beh[k], scene: scenes[k] || simulatedScene(beh[k], starts[k] === 1), date: dates[k] });
    }
    events.push(out);
  });
  for (const list of events) for (const e of list) e.item = modelOfRow[e.row];
  catalog.modelIndex.set(modelOfRow);
  if (itemIds.length === 1) throw new DataFormatError('(data)', 0, `no events on or before the last training day ${split.trainEnd}`);

  const numItems = itemIds.length - 1;
  const itemCategory = [0], itemBrand = [0], itemPrice = [0];
  const rowOfModel = new Int32Array(numItems + 1);
  modelOfRow.forEach((m, r) => { if (m > 0) rowOfModel[m] = r; });
  for (let m = 1; m <= numItems; m++) {
    const r = rowOfModel[m];
    itemCategory.push(catalog.category[r]); itemBrand.push(catalog.brand[r]); itemPrice.push(catalog.price[r]);
  }
  const features: FeatureConfig = {
    numCategories: categoryIds.length - 1, numBrands: brandIds.length - 1, numPriceBuckets: priceBuckets,
    numBehaviours: NUM_BEHAVIOURS, numScenes: NUM_SCENES, tasks: ['click', 'cart', 'purchase'],
  };
  return {
    users: ds.users, events,
    vocab: { itemIds, popularity, features: { categoryIds, brandIds, priceEdges, itemCategory, itemBrand, itemPrice } },
    features, catalog, ...split,
  };
}
