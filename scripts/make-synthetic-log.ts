/**
 * npx tsx scripts/make-synthetic-log.ts --events N --out events.csv [--items-out items.csv] [options]
 *
 * A synthetic shop log with realistic skew, for scale measurements and tests: Zipf item
 * popularity, Zipf shopper activity, sessions of geometric length that stay mostly within one
 * category, a behaviour funnel (view -> cart -> purchase, favourite), items with categories,
 * brands and prices. Written as it is generated (bounded memory), in session order (not sorted
 * by time, as many exports are not).
 */
import * as fs from 'node:fs';
import { Rng } from '../training/rng.js';
import { parseFlags, UsageError } from '../training/cli.js';

export interface SyntheticOptions {
  events: number;
  users: number;
  items: number;
  days: number;
  /** First day, YYYY-MM-DD (UTC). */
  start: string;
  seed: number;
  format: 'csv' | 'tsv' | 'jsonl';
  time: 'seconds' | 'ms' | 'iso';
  /** Zipf exponents of item popularity and shopper activity. */
  itemZipf: number;
  userZipf: number;
  /** Mean session length in events. */
  sessionLength: number;
  /** Probability that the next view stays in the session's category. */
  stayInCategory: number;
  pCart: number;
  pPurchaseGivenCart: number;
  pFavorite: number;
}

export const DEFAULT_SYNTHETIC: SyntheticOptions = {
  events: 100_000, users: 0, items: 0, days: 14, start: '2024-03-01', seed: 1, format: 'csv', time: 'seconds',
  itemZipf: 1.05, userZipf: 0.7, sessionLength: 6, stayInCategory: 0.7, pCart: 0.09, pPurchaseGivenCart: 0.4, pFavorite: 0.03,
};

/** Cumulative Zipf weights of n ranks. */
function zipfCdf(n: number, s: number): Float64Array {
  const c = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) { acc += 1 / Math.pow(i + 1, s); c[i] = acc; }
  for (let i = 0; i < n; i++) c[i] /= acc;
  return c;
}

function draw(cdf: Float64Array, u: number): number {
  let lo = 0, hi = cdf.length - 1;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
  return lo;
}

/** Writes the log (and the item file); returns counts. */
export function makeSyntheticLog(o: SyntheticOptions, out: string, itemsOut?: string): { events: number; users: number; items: number; sessions: number } {
  const rng = new Rng(o.seed);
  const numItems = o.items || Math.max(50, Math.round(o.events / 40));
  const numUsers = o.users || Math.max(20, Math.round(o.events / 25));
  const numCats = Math.max(3, Math.round(numItems / 60));
  const numBrands = Math.max(3, Math.round(numItems / 30));
  // Item ids are shuffled against popularity rank, so ids say nothing about popularity.
  const itemOfRank = new Int32Array(numItems);
  for (let i = 0; i < numItems; i++) itemOfRank[i] = i;
  for (let i = numItems - 1; i > 0; i--) { const j = rng.int(0, i + 1); [itemOfRank[i], itemOfRank[j]] = [itemOfRank[j], itemOfRank[i]]; }
  const catCdf = zipfCdf(numCats, 0.8);
  const category = new Int32Array(numItems);
  const brand = new Int32Array(numItems);
  const price = new Float64Array(numItems);
  const catBase = Array.from({ length: numCats }, () => 5 + rng.next() * 200);
  for (let i = 0; i < numItems; i++) {
    category[i] = draw(catCdf, rng.next());
    brand[i] = (category[i] * 7 + rng.int(0, 12)) % numBrands;
    price[i] = Math.round(catBase[category[i]] * Math.exp((rng.next() - 0.5) * 1.5) * 100) / 100;
  }
  // Per category, its items in popularity order with their Zipf weights.
  const byCat: number[][] = Array.from({ length: numCats }, () => []);
  for (let r = 0; r < numItems; r++) byCat[category[itemOfRank[r]]].push(r);
  const catItemCdf = byCat.map((ranks) => { const w = ranks.map((r) => 1 / Math.pow(r + 1, o.itemZipf)); let a = 0; const c = new Float64Array(w.length); w.forEach((x, k) => { a += x; c[k] = a; }); return c.map((x) => x / a); });
  const itemCdf = zipfCdf(numItems, o.itemZipf);
  const userCdf = zipfCdf(numUsers, o.userZipf);
  const userOfRank = new Int32Array(numUsers);
  for (let i = 0; i < numUsers; i++) userOfRank[i] = i;
  for (let i = numUsers - 1; i > 0; i--) { const j = rng.int(0, i + 1); [userOfRank[i], userOfRank[j]] = [userOfRank[j], userOfRank[i]]; }

  const sep = o.format === 'tsv' ? '\t' : ',';
  const fd = fs.openSync(out, 'w');
  let buf: string[] = [];
  let bufLen = 0;
  const flush = () => { if (buf.length) { fs.writeSync(fd, buf.join('')); buf = []; bufLen = 0; } };
  const write = (s: string) => { buf.push(s); bufLen += s.length; if (bufLen > 1 << 20) flush(); };
  if (o.format !== 'jsonl') write(['user_id', 'item_id', 'event', 'timestamp', 'session_id'].join(sep) + '\n');
  const t0 = Date.parse(`${o.start}T00:00:00Z`);
  const span = o.days * 86400_000;
  const fmtTime = (ms: number) => (o.time === 'ms' ? String(Math.round(ms)) : o.time === 'iso' ? new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000', '') : String(Math.floor(ms / 1000)));
  let written = 0;
  let sessions = 0;
  const emit = (user: number, item: number, event: string, t: number, session: number) => {
    const u = `u${user}`, it = `i${item}`, ts = fmtTime(t), s = `s${session}`;
    write(o.format === 'jsonl'
      ? `{"user_id":"${u}","item_id":"${it}","event":"${event}","timestamp":${o.time === 'iso' ? `"${ts}"` : ts},"session_id":"${s}"}\n`
      : `${u}${sep}${it}${sep}${event}${sep}${ts}${sep}${s}\n`);
    written++;
  };
  while (written < o.events) {
    const user = userOfRank[draw(userCdf, rng.next())];
    const session = sessions++;
    // Geometric session length with the given mean.
    const len = 1 + Math.floor(Math.log(1 - rng.next()) / Math.log(1 - 1 / o.sessionLength));
    let t = t0 + rng.next() * span;
    let rank = draw(itemCdf, rng.next());
    for (let k = 0; k < len && written < o.events; k++) {
      if (k > 0) {
        const cat = category[itemOfRank[rank]];
        rank = rng.next() < o.stayInCategory ? byCat[cat][draw(catItemCdf[cat], rng.next())] : draw(itemCdf, rng.next());
        t += 5_000 + -Math.log(1 - rng.next()) * 60_000;
      }
      // Room for the funnel's later events, so every event stays within the days.
      if (t + 120_000 >= t0 + span) break;
      const item = itemOfRank[rank];
      emit(user, item, 'view', t, session);
      if (rng.next() < o.pFavorite) emit(user, item, 'favorite', t + 2_000, session);
      if (rng.next() < o.pCart) {
        emit(user, item, 'cart', t + 4_000, session);
        if (rng.next() < o.pPurchaseGivenCart) emit(user, item, 'purchase', t + 60_000, session);
      }
    }
  }
  flush();
  fs.closeSync(fd);
  if (itemsOut) {
    const lines = ['id,category,brand,price,title,available'];
    for (let i = 0; i < numItems; i++) lines.push(`i${i},c${category[i]},b${brand[i]},${price[i]},"Item ${i}, c${category[i]}",${rng.next() < 0.95 ? 1 : 0}`);
    fs.writeFileSync(itemsOut, lines.join('\n') + '\n');
  }
  return { events: written, users: numUsers, items: numItems, sessions };
}

const FLAGS = {
  events: 'number', users: 'number', items: 'number', days: 'number', start: 'string', seed: 'number', format: 'string', time: 'string',
  out: 'string', 'items-out': 'string', help: 'boolean',
} as const;

if (process.argv[1] && /make-synthetic-log\.[tj]s$/.test(process.argv[1])) {
  try {
    const f = parseFlags(process.argv.slice(2), FLAGS as Record<string, 'string' | 'number' | 'boolean'>);
    if (f.help || !f.out) {
      console.log('usage: npx tsx scripts/make-synthetic-log.ts --events N --out events.csv [--items-out items.csv] [--users N] [--items N] [--days N (14)] [--start YYYY-MM-DD] [--seed N] [--format csv|tsv|jsonl] [--time seconds|ms|iso]');
      process.exit(f.help ? 0 : 2);
    }
    const o: SyntheticOptions = { ...DEFAULT_SYNTHETIC };
    for (const k of ['events', 'users', 'items', 'days', 'seed'] as const) if (f[k] !== undefined) o[k] = f[k] as number;
    if (f.start) o.start = f.start as string;
    if (f.format) { if (!['csv', 'tsv', 'jsonl'].includes(f.format as string)) throw new UsageError('--format must be csv, tsv or jsonl'); o.format = f.format as SyntheticOptions['format']; }
    if (f.time) { if (!['seconds', 'ms', 'iso'].includes(f.time as string)) throw new UsageError('--time must be seconds, ms or iso'); o.time = f.time as SyntheticOptions['time']; }
    const t = performance.now();
    const r = makeSyntheticLog(o, f.out as string, f['items-out'] as string | undefined);
    console.log(`wrote ${f.out}: ${r.events} events, ${r.users} users, ${r.items} items, ${r.sessions} sessions in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(2);
  }
}
