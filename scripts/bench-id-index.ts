/**
 * npx tsx scripts/bench-id-index.ts [--ids 1000000] [--rounds 5]
 *
 * Builds the id index (src/util/id-index.ts) of a million distinct ids in slices of
 * YIELD_EVERY_ITEMS, as a load's catalog check does, and looks a third of them up; prints ms per
 * round. Node, one thread: a comparison between two versions of the index, not a browser figure.
 */
import { IdIndex } from '../src/util/id-index.js';
import { YIELD_EVERY_ITEMS } from '../src/util/clock.js';
import { parseFlags } from '../training/cli.js';

const f = parseFlags(process.argv.slice(2), { ids: 'number', rounds: 'number' });
const n = (f.ids as number | undefined) ?? 1_000_000;
// Ids of mixed length made by a split, as the catalog's and the vocabulary's are.
const ids = Array.from({ length: n }, (_, i) => `B0${((i * 7919) % 1e7).toString(36)}X${i}`).join('|').split('|');
for (let r = 0; r < ((f.rounds as number | undefined) ?? 5); r++) {
  const t0 = performance.now();
  const index = IdIndex.empty(ids, 0);
  for (let i = 0; i < n; i += YIELD_EVERY_ITEMS) index.add(i, Math.min(n, i + YIELD_EVERY_ITEMS));
  const t1 = performance.now();
  let found = 0;
  for (let i = 0; i < n; i += 3) if (index.get(ids[i]) === i) found++;
  const t2 = performance.now();
  if (found !== Math.ceil(n / 3)) throw new Error('a lookup missed');
  console.log(`build ${n} ids ${(t1 - t0).toFixed(0)} ms, ${found} lookups ${(t2 - t1).toFixed(0)} ms`);
}
