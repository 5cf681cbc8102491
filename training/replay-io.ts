/**
 * What the offline replays (diversity-eval, cart-eval, longtail-eval) share: a fetch that serves the
 * model from disk, and the Tianchi log read per shopper, with the SDK's event type and simulated scene
 * of each behaviour code.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SCENE_CODES } from '../src/model/features.js';
import type { EventType, SceneName } from '../src/contract/protocol.js';

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
