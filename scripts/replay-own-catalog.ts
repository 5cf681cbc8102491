/**
 * Issue #15's case, reproducible: Tianchi shoppers replayed on a shop's "own" catalog (the items they
 * met, with ids, category ids and brand ids renamed so the model knows none of them; prices kept)
 * with the bundled tianchi-mtl model, in the engine without a worker. Prints the coverage, the
 * warning and, over the shoppers' home lists, how many distinct lists came back and their reasons.
 *   npx tsx scripts/replay-own-catalog.ts [repo root (default: this one)] [shoppers (default 100)]
 * The root lets the same replay run against another checkout of the SDK (e.g. before the change).
 */
import 'fake-indexeddb/auto';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const SHOPPERS = Number(process.argv[3] ?? 100);
const { createEngine } = await import(pathToFileURL(`${root}/src/index.ts`).href);
const fetchFile = (async (input: any) => {
  const url = typeof input === 'string' ? input : input.url ?? input.href;
  try { return new Response(await readFile(fileURLToPath(url)), { status: 200 }); } catch { return new Response('nf', { status: 404 }); }
}) as typeof fetch;
const D = fileURLToPath(new URL('../../shared/data/tianchi-ecomm', import.meta.url));
const items = new Map<string, { cat: string; brand: string; price: number }>();
for (const l of readFileSync(`${D}/items.tsv`, 'utf8').trim().split('\n')) { const [id, , cat, brand, price] = l.split('\t'); items.set(id, { cat, brand, price: Number(price) }); }
const byUser = new Map<string, Array<{ item: string; b: number }>>();
for (const l of readFileSync(`${D}/events.tsv`, 'utf8').trim().split('\n')) { const [u, it, b] = l.split('\t'); if (!byUser.has(u)) byUser.set(u, []); byUser.get(u)!.push({ item: it, b: Number(b) }); }
const users = [...byUser.keys()].filter((u) => byUser.get(u)!.length >= 5).slice(0, SHOPPERS);
const used = new Set<string>(); for (const u of users) for (const e of byUser.get(u)!) if (items.has(e.item)) used.add(e.item);
const remap = (s: string, p: string) => `${p}${[...s].reverse().join('')}`;
const catalog = [...used].map((id) => { const it = items.get(id)!; return { id: remap(id, 'own-'), category: remap(it.cat, 'c'), brand: it.brand === '0' ? undefined : remap(it.brand, 'b'), price: it.price }; });
const TYPES: Record<number, string> = { 1: 'view', 2: 'favorite', 3: 'cart', 4: 'purchase' };
const engine = await createEngine({ modelUrl: pathToFileURL(`${root}/models/tianchi-mtl/model.json`).href, backend: 'wasm', catalog, dbName: `replay-${Date.now()}` }, { fetch: fetchFile });
const info = await engine.info();
console.log(JSON.stringify({ catalog: catalog.length, knownToModel: info.catalogItemsKnownToModel, coverage: info.coverage, warnings: info.warnings?.map((w: any) => w.code) }));
const lists = new Set<string>(); const reasons = new Map<string, number>(); let calls = 0; let used0 = 0;
for (const u of users) {
  await engine.clearHistory();
  const evs = byUser.get(u)!.filter((e) => items.has(e.item)).slice(-30).map((e) => ({ type: TYPES[e.b] ?? 'view', itemId: remap(e.item, 'own-') }));
  const tr = await engine.track(evs);
  const r = await engine.recommend('home', { k: 10 });
  calls++; if (r.historyUsed === 0) used0++;
  lists.add(r.items.map((i: any) => i.itemId).join(','));
  for (const i of r.items) reasons.set(i.reason.kind, (reasons.get(i.reason.kind) ?? 0) + 1);
  if (calls === 1) console.log('track unknownItems', tr.unknownItems.length, 'of', new Set(evs.map((e) => e.itemId)).size);
}
console.log(JSON.stringify({ root, calls, distinctHomeLists: lists.size, historyUsed0: used0, reasons: Object.fromEntries(reasons) }));
await engine.dispose();
