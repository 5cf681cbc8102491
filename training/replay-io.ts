/**
 * What the offline replays (diversity-eval, cart-eval, longtail-eval, feedback-eval) share: a fetch
 * that serves the model from disk, the Tianchi log read per shopper, with the SDK's event type and
 * simulated scene of each behaviour code, the items.tsv catalog, the common flags and the outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENE_CODES } from '../src/model/features.js';
import type { BackendName, CatalogItem, EventType, SceneName } from '../src/contract/protocol.js';
import { UsageError } from './cli.js';

/** A fetch that serves file:// URLs from disk (Node's fetch cannot). */
export const fileFetch = (async (input: RequestInfo | URL) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!url.startsWith('file:')) return new Response('not found', { status: 404 });
  try {
    return new Response(fs.readFileSync(fileURLToPath(url)), { status: 200 });
  } catch {
    return new Response('not found', { status: 404 });
  }
}) as typeof fetch;

/** Tianchi behaviour code -> the SDK's event type. */
export const BEHAVIOUR_EVENT: Record<number, EventType> = { 1: 'click', 2: 'favorite', 3: 'cart', 4: 'purchase' };
/** Scene code (SCENE_CODES) -> scene name. */
export const SCENE_OF_CODE = Object.fromEntries(Object.entries(SCENE_CODES).map(([name, code]) => [code, name])) as Record<number, SceneName>;

/** One Tianchi event: item, behaviour code, day (YYYYMMDD). */
export interface TianchiEvent { item: string; behaviour: number; date: number }

/** Events per shopper of a Tianchi `user item behaviour date` TSV, by day then file order. */
export function readTianchiEvents(file: string): Map<string, TianchiEvent[]> {
  const out = new Map<string, TianchiEvent[]>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const [user, item, behaviour, date] = line.split('\t');
    let list = out.get(user);
    if (!list) out.set(user, list = []);
    list.push({ item, behaviour: Number(behaviour), date: Number(date) });
  }
  for (const list of out.values()) {
    const order = new Map(list.map((e, i) => [e, i]));
    list.sort((a, b) => a.date - b.date || order.get(a)! - order.get(b)!);
  }
  return out;
}

/** Every item of a Tianchi items.tsv (`item top_category category brand price`) as a catalog: category, brand (0 = none), price. */
export function readTianchiCatalog(file: string): CatalogItem[] {
  const catalog: CatalogItem[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const [id, , category, brand, price] = line.split('\t');
    const item: CatalogItem = { id, category, price: Number(price) };
    if (brand && brand !== '0') item.brand = brand;
    catalog.push(item);
  }
  return catalog;
}

/** The flags every replay takes, beside its own. */
export const REPLAY_FLAGS = { model: 'string', data: 'string', 'test-start': 'number', k: 'number', backend: 'string', out: 'string', help: 'boolean' } as const;

/** The common flags read with their defaults (`out`: the replay's own output prefix, 'none' to write nothing). */
export function replayOptions(f: Record<string, string | number | boolean>, out: string) {
  const k = (f.k as number) ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > 50) throw new UsageError('--k must be an integer from 1 to 50');
  const backend = ((f.backend as string) ?? 'wasm') as BackendName;
  if (backend !== 'wasm' && backend !== 'cpu') throw new UsageError('--backend must be wasm or cpu');
  return {
    modelDir: (f.model as string) ?? 'models/tianchi-mtl',
    dataDir: (f.data as string) ?? '../shared/data/tianchi-ecomm',
    testStart: (f['test-start'] as number) ?? 20190618,
    k, backend,
    outPrefix: (f.out as string) ?? out,
  };
}

/** Writes <outPrefix>.json (and <outPrefix>.svg when given) unless outPrefix is 'none'; says what it wrote. */
export function writeReplayOutputs(outPrefix: string, result: unknown, svg?: string): void {
  if (outPrefix === 'none') return;
  fs.mkdirSync(path.dirname(path.resolve(outPrefix)), { recursive: true });
  fs.writeFileSync(`${outPrefix}.json`, `${JSON.stringify(result, null, 1)}\n`);
  if (svg !== undefined) fs.writeFileSync(`${outPrefix}.svg`, svg);
  console.log(`wrote ${outPrefix}.json${svg !== undefined ? ` and ${outPrefix}.svg` : ''}`);
}
