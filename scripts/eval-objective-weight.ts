/**
 * npx tsx scripts/eval-objective-weight.ts --model DIR --events FILE.csv [--objective satisfaction] [--users 200]
 *
 * How much one objective's default weight moves a multi-task model's lists: for the first shoppers of
 * an event log (CSV `user_id,item_id,event,...`: view, cart, purchase; at least 5 events each), their
 * last 30 events tracked in the SDK engine (Node, cpu backend), the home and product lists (k 10,
 * the product page on the shopper's last item) with the scene defaults against the defaults with
 * that objective at 0 (a product page on an item the model does not know is skipped). Prints the
 * mean top-10 overlap, how many lists keep their order and their first item. Used to measure what an untrained favorite head did to the lists (docs/multi-objective.md).
 */
import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createEngine } from '../src/engine/index.js';
import { DEFAULT_REQUESTS } from '../src/contract/defaults.js';
import { OBJECTIVES, type ObjectiveName, type TrackEvent } from '../src/contract/protocol.js';
import { parseFlags } from '../training/cli.js';
import { fileFetch } from '../training/replay-io.js';

const f = parseFlags(process.argv.slice(2), { model: 'string', events: 'string', objective: 'string', users: 'number' });
if (!f.model || !f.events) {
  console.error('usage: npx tsx scripts/eval-objective-weight.ts --model DIR --events FILE.csv [--objective satisfaction] [--users 200]');
  process.exit(2);
}
const objective = (f.objective as string | undefined ?? 'satisfaction') as ObjectiveName;
if (!OBJECTIVES.includes(objective)) { console.error(`--objective must be one of ${OBJECTIVES.join(', ')}`); process.exit(2); }
const rows = readFileSync(f.events as string, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','))
  .filter((r) => r[2] === 'view' || r[2] === 'cart' || r[2] === 'purchase');
const byUser = new Map<string, string[][]>();
for (const r of rows) (byUser.get(r[0]) ?? byUser.set(r[0], []).get(r[0])!).push(r);
const users = [...byUser.keys()].filter((u) => byUser.get(u)!.length >= 5).slice(0, (f.users as number | undefined) ?? 200);
const engine = await createEngine({ modelUrl: pathToFileURL(resolve(f.model as string, 'model.json')).href, backend: 'cpu', dbName: `objective-weight-${Date.now()}` }, { fetch: fileFetch, caches: null });
try {
  console.log(`model ${f.model}: objectives ${(await engine.info()).objectives?.join(', ')}`);
  for (const scene of ['home', 'product'] as const) {
    let overlap = 0, sameOrder = 0, sameFirst = 0, skipped = 0;
    for (const u of users) {
      await engine.clearHistory();
      const evs = byUser.get(u)!.slice(-30);
      await engine.track(evs.map((r): TrackEvent => ({ type: r[2] as TrackEvent['type'], itemId: r[1] })));
      const base = { k: 10, ...(scene === 'product' ? { itemId: evs.at(-1)![1] } : {}) };
      const first = await engine.recommend(scene, base as never).catch((e: { code?: string }) => { if (e?.code === 'UNKNOWN_ITEM') return undefined; throw e; });
      if (!first) { skipped++; continue; } // a product page on an item the model does not know
      const a = first.items.map((x) => x.itemId);
      const b = (await engine.recommend(scene, { ...base, objectives: { ...DEFAULT_REQUESTS[scene].objectives, [objective]: 0 } } as never)).items.map((x) => x.itemId);
      overlap += a.filter((x) => b.includes(x)).length / Math.max(1, a.length);
      if (a.length === b.length && a.every((x, i) => x === b[i])) sameOrder++;
      if (a[0] === b[0]) sameFirst++;
    }
    const n = users.length - skipped;
    console.log(`${scene}: ${objective} ${DEFAULT_REQUESTS[scene].objectives[objective]} (default) vs 0, ${n} shoppers${skipped ? ` (${skipped} skipped: last item unknown to the model)` : ''}: top-10 overlap ${(overlap / n).toFixed(3)}, same list in the same order ${sameOrder}/${n}, same first item ${sameFirst}/${n}`);
  }
} finally {
  await engine.dispose();
}
