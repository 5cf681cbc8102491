/**
 * The form in which the model cache (./cache.ts) keeps a vocabulary: the served vocab.json is JSON,
 * and parsing a million item ids out of a JSON array is the largest single step of a returning
 * visit's load. The cached copy puts everything but the ids on its first line, as JSON (with the
 * separator it uses), and then the ids joined by that separator, a character no id contains; reading
 * it back is one short JSON.parse and one `split`. The copy is stored under its own key
 * (`vocabCacheUrl`, named with VOCAB_CACHE_FORM), so an SDK that reads only the JSON copy never
 * finds this one, and a cache written before this form (the JSON copy under the vocabulary's URL)
 * is still read. No TF.js here.
 */
import type { ModelVocab } from './artifacts.js';
import { yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';

/** Names the cached form; a new form gets a new name (and so a new key). */
export const VOCAB_CACHE_FORM = 'scenerec-vocab-ids-v1';

/** The cache key of a vocabulary's cached form (a URL that is never fetched). */
export const vocabCacheUrl = (vocabUrl: string): string => `${vocabUrl}?${VOCAB_CACHE_FORM}`;

/** The first-line field that names the separator. */
const SEPARATOR_KEY = 'scenerecIdSeparator';
/** Tried in turn: the first that no id contains separates them. */
const SEPARATORS = ['\n', '\u0001', '\u001f', '\u0000'];

/**
 * A checked vocabulary in the cached form, or undefined when every separator occurs in some id
 * (the JSON copy is cached then). Built in slices: the event loop runs between them.
 */
export async function vocabToCacheText(vocab: ModelVocab): Promise<string | undefined> {
  const ids = vocab.itemIds;
  let sep: string | undefined;
  for (const s of SEPARATORS) {
    let found = false;
    for (let i0 = 0; i0 < ids.length && !found; i0 += YIELD_EVERY_ITEMS) {
      if (i0 > 0) await yieldToEventLoop();
      const i1 = Math.min(ids.length, i0 + YIELD_EVERY_ITEMS);
      for (let i = i0; i < i1 && !found; i++) found = ids[i].includes(s);
    }
    if (!found) { sep = s; break; }
  }
  if (sep === undefined) return undefined;
  const { itemIds: _ids, ...rest } = vocab;
  const parts = [`${JSON.stringify({ ...rest, [SEPARATOR_KEY]: sep })}\n`];
  for (let i0 = 0; i0 < ids.length; i0 += YIELD_EVERY_ITEMS) {
    if (i0 > 0) await yieldToEventLoop();
    parts.push((i0 > 0 ? sep : '') + ids.slice(i0, i0 + YIELD_EVERY_ITEMS).join(sep));
  }
  return parts.join('');
}

/**
 * The vocabulary object of a cached-form text (to be checked as vocab.json is).
 * @throws Error when the text is not in that form
 */
export function vocabFromCacheText(text: string): unknown {
  const nl = text.indexOf('\n');
  if (nl < 0) throw new Error('the cached vocabulary has no header line');
  const head = JSON.parse(text.slice(0, nl)) as Record<string, unknown> | null;
  const sep = head?.[SEPARATOR_KEY];
  if (typeof sep !== 'string' || !SEPARATORS.includes(sep)) throw new Error('the cached vocabulary names no separator');
  delete head![SEPARATOR_KEY];
  return { ...head, itemIds: text.slice(nl + 1).split(sep) };
}
