/**
 * npm run eval:by-count -- --model models/<name> --data <file> --format <pairs|lines|tianchi> [--seed N (42)] [--target test|valid]
 *     [--repeats collapse|collapse-raw|keep (collapse)]
 * HR@10 (sampled-100, the same cases and negatives as `npm run eval`) broken down by how often the target item occurs
 * in the items known before it (training + validation items for the test target, training items for the validation
 * target), by history length, by how often the last input item occurs there, and by how often the last input item
 * occurs in the training items alone (what a model fitted on the training items only has trained): where a sequence
 * model's misses are. Prints a table; the LAST line is one JSON object.
 */
import { DataFormatError, leaveOneOut } from '../training/data.js';
import { evaluateScorer, modelScorer, type Scorer } from '../training/evaluate.js';
import { loadModelDir, modelSequences, readDataset, setNodeBackend } from '../training/node-io.js';
import { REPEAT_RULES, type RepeatRule } from '../src/model/inputs.js';
import { parseFlags, UsageError } from '../training/cli.js';

const bucket = (c: number) => (c === 0 ? '0' : c < 5 ? '1-4' : c < 20 ? '5-19' : c < 100 ? '20-99' : '100+');
const lenBucket = (l: number) => (l <= 2 ? '2' : l <= 4 ? '3-4' : l <= 9 ? '5-9' : '10+');

async function main() {
  const f = parseFlags(process.argv.slice(2), { model: 'string', data: 'string', format: 'string', seed: 'number', target: 'string', repeats: 'string' });
  for (const req of ['model', 'data', 'format']) if (f[req] === undefined) throw new UsageError(`--${req} is required`);
  const target = ((f.target as string) ?? 'test') as 'test' | 'valid';
  if (target !== 'test' && target !== 'valid') throw new UsageError('--target must be test or valid');
  const repeats = ((f.repeats as string) ?? 'collapse') as RepeatRule;
  if (!REPEAT_RULES.includes(repeats)) throw new UsageError(`--repeats must be one of ${REPEAT_RULES.join(', ')}`);
  await setNodeBackend('wasm');
  const model = loadModelDir(f.model as string);
  if (model.header.config.features) throw new UsageError('a multi-task model: use npm run eval -- ... --items');
  // The same sequences as `npm run eval` (the featuriser, src/model/inputs.ts).
  const { dataset } = modelSequences(readDataset(f.data as string, f.format as string), { repeats, itemIds: model.vocab.itemIds });
  const split = leaveOneOut(dataset.sequences);
  const n = model.header.config.numItems;
  const trainCounts = new Float64Array(n + 1);
  split.train.forEach((s) => { for (const i of s) trainCounts[i]++; });
  // The items known before the target: the validation items count for the test target only.
  const counts = Float64Array.from(trainCounts);
  if (target === 'test') split.valid.forEach((v) => { if (v) counts[v]++; });
  const targets = target === 'test' ? split.test : split.valid;
  // The users `npm run eval` evaluates for either target (leave-one-out gives each of them a validation item too).
  const users = [...split.test.keys()].filter((u) => split.test[u] > 0 && targets[u] > 0);
  const stats = new Map<string, { hits: number; users: number }>();
  const add = (k: string, hit: boolean) => {
    const s = stats.get(k) ?? { hits: 0, users: 0 };
    s.users++; if (hit) s.hits++;
    stats.set(k, s);
  };
  const { scorer, dispose } = modelScorer(model.header.config, model.weights);
  // The same cases, order and negatives as `npm run eval` (evaluateScorer), with each case's rank seen here.
  let next = 0;
  const recording: Scorer = async (batchUsers, inputs, candidates) => {
    const scores = await scorer(batchUsers, inputs, candidates);
    scores.forEach((row, j) => {
      let rank = 0;
      for (let k = 1; k < row.length; k++) if (row[k] > row[0]) rank++;
      const u = users[next++];
      const hit = rank < 10;
      const input = inputs[j];
      add('all', hit);
      const last = input[input.length - 1];
      add(`${target} item count ${bucket(counts[targets[u]])}`, hit);
      add(`history length ${lenBucket(input.length)}`, hit);
      add(`last item count ${bucket(counts[last])}`, hit);
      add(`last item train-only ${bucket(trainCounts[last])}`, hit);
    });
    return scores;
  };
  const metrics = await evaluateScorer(recording, n, split, { protocol: 'sampled-100', seed: (f.seed as number) ?? 42, target, users });
  dispose();
  const rows = [...stats.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [k, s] of rows) console.log(`${k.padEnd(28)} ${String(s.users).padStart(6)} users  HR@10 ${(s.hits / s.users).toFixed(4)}`);
  console.log(JSON.stringify({ model: model.header.modelVersion, protocol: 'sampled-100', target, repeats, 'hr@10': metrics['hr@10'],
    buckets: Object.fromEntries(rows.map(([k, s]) => [k, { users: s.users, 'hr@10': Math.round((s.hits / s.users) * 1e4) / 1e4 }])) }));
}

main().catch((e) => {
  if (e instanceof UsageError || e instanceof DataFormatError) { console.error(`error: ${e.message}`); process.exit(2); }
  console.error(e);
  process.exit(1);
});
