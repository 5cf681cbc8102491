/**
 * A short English sentence per rank reason, for shops that show why an item is in a list ("viewed 2
 * days ago", "you bought this 3 times"). Shops with their own wording read the structured reason.
 */
import type { RankReason } from './protocol.js';

const DAY_MS = 86_400_000;

/** "today", "yesterday", "3 days ago", "2 weeks ago". */
export function timeAgo(at: number, now: number = Date.now()): string {
  const days = Math.floor(Math.max(0, now - at) / DAY_MS);
  if (days === 0) return 'today';
  if (days === 1) return 'yesterday';
  if (days < 14) return `${days} days ago`;
  if (days < 60) return `${Math.floor(days / 7)} weeks ago`;
  return `${Math.floor(days / 30)} months ago`;
}

export interface ExplainOptions {
  /** Time of "now" for relative times (default Date.now()). */
  now?: number;
  /** How to name an item (default its id). */
  label?: (itemId: string) => string;
}

/** The reason as a sentence, e.g. "Viewed 2 days ago", "You bought this 3 times". */
export function explainReason(r: RankReason, options: ExplainOptions = {}): string {
  const label = options.label ?? ((id: string) => id);
  const names = (ids: string[]) => ids.slice(0, 2).map(label).join(', ') + (ids.length > 2 ? ` and ${ids.length - 2} more` : '');
  switch (r.kind) {
    case 'personal': return r.becauseOf.length ? `Because of your interest in ${names(r.becauseOf)}` : 'Picked for you';
    case 'similar': return `Similar to ${label(r.to)}`;
    case 'complement': return r.to.length === 1 ? `Goes with ${label(r.to[0])}` : `Goes with your cart (${r.to.length} items)`;
    case 'search': return r.becauseOf.length ? `Shop result ${r.shopRank + 1}, moved for your interest in ${names(r.becauseOf)}` : `Shop result ${r.shopRank + 1}`;
    case 'popular': return 'Popular in the shop';
    case 'pinned': return 'Chosen by the shop';
    case 'fallback': return r.detail;
    case 'affinity': return r.detail.charAt(0).toUpperCase() + r.detail.slice(1);
    case 'viewed': {
      const when = timeAgo(r.at, options.now);
      return `Viewed ${when}${r.views > 1 ? ` (${r.views} times)` : ''}`;
    }
    case 'boughtBefore': {
      const when = timeAgo(r.lastAt, options.now);
      return r.times > 1
        ? `You bought this ${r.times} times, last ${when}`
        : `You bought this ${when}; you buy from this category often (${r.categoryTimes ?? 0} purchases)`;
    }
  }
}
