/**
 * Builds the demo shop's catalog, demo/catalog.json, from the Tianchi / Taobao behaviour
 * sample (DyHATR's dataset/ecomm; see README "Data credits").
 *
 *   npx tsx scripts/make-demo-catalog.ts [--data ../shared/data/tianchi-ecomm] [--size 3000] [--out demo/catalog.json]
 *
 * Keeps the `size` items with the most events (ties: smaller id first) that have a row in
 * items.tsv, and writes them as CatalogItem[] (src/protocol.ts), most-interacted first.
 * Names are made up (demo/synthetic.ts: one product kind per category, a made-up name per brand,
 * a colour per item, e.g. "Compact power bank, sage"): the data set has no names. `brand` stays the
 * Tianchi brand id (the model reads it as a feature), the made-up name is `meta.brandName`;
 * `meta.kind` names the category, `meta.department` and `meta.colour` drive the demo's generated pictures.
 * About 4% of the items are marked unavailable (a deterministic hash of the id), so the demo
 * shows the SDK's availability rule. Deterministic: re-running gives the identical file.
 * Only this small derived file is committed, never the raw data.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CatalogItem } from '../src/contract/protocol.js';
import { fnv1a, nameCatalog } from '../demo/synthetic.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const dataDir = resolve(root, arg('data', '../shared/data/tianchi-ecomm'));
const size = Number(arg('size', '3000'));
const outPath = resolve(root, arg('out', 'demo/catalog.json'));
/** Share of items marked unavailable, in percent. */
const UNAVAILABLE_PERCENT = 4;

if (!Number.isInteger(size) || size <= 0) throw new Error(`--size must be a positive integer, got ${size}`);

function readTsv(file: string): string[][] {
  const text = readFileSync(resolve(dataDir, file), 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
}

interface ItemRow { topCategory: string; category: string; brand: string; price: number }

const items = new Map<string, ItemRow>();
for (const [id, topCategory, category, brand, price] of readTsv('items.tsv')) {
  const p = Number(price);
  if (!id || !category || !Number.isFinite(p)) throw new Error(`items.tsv: bad row for item ${id}`);
  items.set(id, { topCategory, category, brand, price: p });
}

const BEHAVIOURS = ['click', 'favorite', 'cart', 'purchase'] as const;
const counts = new Map<string, number[]>();
let events = 0;
let missing = 0;
for (const [, itemId, behaviour] of readTsv('events.tsv')) {
  const b = Number(behaviour) - 1;
  if (!(b >= 0 && b < 4)) throw new Error(`events.tsv: bad behaviour ${behaviour}`);
  events++;
  if (!items.has(itemId)) { missing++; continue; }
  let c = counts.get(itemId);
  if (!c) counts.set(itemId, c = [0, 0, 0, 0]);
  c[b]++;
}

const hasBrand = (brand: string) => brand !== '' && brand !== '0';
const total = (c: number[]) => c[0] + c[1] + c[2] + c[3];
const ranked = [...counts.entries()]
  .sort((a, b) => total(b[1]) - total(a[1]) || (a[0].length - b[0].length) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  .slice(0, size);

const names = nameCatalog(ranked.map(([id]) => {
  const row = items.get(id)!;
  return { id, category: row.category, ...(hasBrand(row.brand) ? { brand: row.brand } : {}) };
}));

const catalog: CatalogItem[] = ranked.map(([id, c]) => {
  const row = items.get(id)!;
  const named = names.get(id)!;
  const item: CatalogItem = {
    id,
    title: named.title,
    category: row.category,
    ...(hasBrand(row.brand) ? { brand: row.brand } : {}),
    price: row.price,
    available: fnv1a(id) % 100 >= UNAVAILABLE_PERCENT,
    meta: {
      topCategory: row.topCategory, events: total(c), carts: c[2], purchases: c[3],
      kind: named.kind, department: named.department, colour: named.colour, ...(named.brand ? { brandName: named.brand } : {}),
    },
  };
  return item;
});

// One item per line: small diffs when the file is regenerated, still plain JSON.
const json = `[\n${catalog.map((i) => JSON.stringify(i)).join(',\n')}\n]\n`;
writeFileSync(outPath, json);

const unavailable = catalog.filter((i) => i.available === false).length;
const categories = new Set(catalog.map((i) => i.category)).size;
console.log(`read ${items.size} items, ${events} events (${missing} on items without an items.tsv row; behaviours ${BEHAVIOURS.join('/')})`);
console.log(`wrote ${catalog.length} items (${categories} categories, ${unavailable} unavailable, ` +
  `least-interacted kept item has ${total(ranked[ranked.length - 1][1])} events) to ${outPath}: ${(json.length / 1024).toFixed(0)} KiB`);
