/**
 * npm run eval -- --model models/<name> --data <file> --format <format> --protocol <full|sampled-100>
 * npm run eval -- --baseline popular|itemknn --data <file> --format <format> --protocol ...
 * Prints a table; the LAST line is one JSON object with every figure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataFormatError } from '../training/data.js';
import { DEFAULT_TRAIN_OPTIONS, heldOutSplit, HOLD_OUTS, type HoldOut } from '../training/train.js';
import { evaluateModel, evaluateScorer, itemKnnScorer, popularScorer, type Protocol } from '../training/evaluate.js';
import { loadModelDir, modelSequences, setNodeBackend } from '../training/node-io.js';
import { REPEAT_RULES, type RepeatRule } from '../src/model/inputs.js';
import { readAnyDataset } from '../training/event-log.js';
import { parseFlags, UsageError } from '../training/cli.js';
import { runMtlEval } from './eval-mtl.js';
import * as tf from '@tensorflow/tfjs';

const HELP = `usage: npm run eval -- (--model <dir> | --baseline popular|itemknn) --data <file> --format <pairs|lines|tianchi|csv|tsv|jsonl>
       --protocol full|sampled-100 [--seed N (42)] [--target test|valid] [--max-users N] [--backend wasm|cpu]
       [--baseline-fit train+valid|train]: the items a baseline is fitted on for the test items: training + validation
       (default; as a refit model) or training only (as a model fitted under the SASRec paper's protocol)
       [--embedding-dtype float32|int8]: score against the item table stored as the SDK stores its catalog matrix
       [--repeats collapse|collapse-raw|keep (collapse)]: how a log becomes model input (src/model/inputs.ts RepeatRule;
         collapse is the SDK's rule, collapse-raw / keep how the bundled tianchi / pairs models were published)
       [--hold-out every-user|validation-sample] [--eval-users N]: whose test items are ranked. validation-sample: only the
         seeded sample of N users (training's --eval-users, ${DEFAULT_TRAIN_OPTIONS.evalUsers}) that a model trained with --hold-out
         validation-sample held out; every other user's test item was trained on, and baselines are fitted on the same
         items. Default: the model's own (training.json), else every-user
       npm run eval -- ... --format tianchi --items <items.tsv>: multi-objective figures (--items --help for more)`;

async function main() {
  const argv = process.argv.slice(2);
  // Multi-objective figures: the tianchi format with its item table.
  if (argv.includes('--items')) return runMtlEval(argv);
  const f = parseFlags(argv, {
    model: 'string', baseline: 'string', data: 'string', format: 'string', protocol: 'string', seed: 'number',
    target: 'string', 'max-users': 'number', backend: 'string', help: 'boolean', 'embedding-dtype': 'string', repeats: 'string',
    'baseline-fit': 'string', 'hold-out': 'string', 'eval-users': 'number',
  });
  if (f.help) { console.log(HELP); return; }
  for (const req of ['data', 'format', 'protocol']) if (f[req] === undefined) throw new UsageError(`--${req} is required\n${HELP}`);
  if (!f.model === !f.baseline) throw new UsageError(`give exactly one of --model or --baseline\n${HELP}`);
  const protocol = f.protocol as Protocol;
  if (protocol !== 'full' && protocol !== 'sampled-100') throw new UsageError('--protocol must be full or sampled-100');
  const target = ((f.target as string) ?? 'test') as 'test' | 'valid';
  if (target !== 'test' && target !== 'valid') throw new UsageError('--target must be test or valid');
  if (f.baseline && f.baseline !== 'popular' && f.baseline !== 'itemknn') throw new UsageError('--baseline must be popular or itemknn');
  const baselineFit = (f['baseline-fit'] as string) ?? 'train+valid';
  if (baselineFit !== 'train+valid' && baselineFit !== 'train') throw new UsageError('--baseline-fit must be train+valid or train');
  if (f['baseline-fit'] && !f.baseline) throw new UsageError('--baseline-fit applies to --baseline only');
  const seed = (f.seed as number) ?? 42;
  const embeddingDtype = ((f['embedding-dtype'] as string) ?? 'float32') as 'float32' | 'int8';
  if (embeddingDtype !== 'float32' && embeddingDtype !== 'int8') throw new UsageError('--embedding-dtype must be float32 or int8');
  if (f['embedding-dtype'] && !f.model) throw new UsageError('--embedding-dtype applies to --model only');
  const repeats = ((f.repeats as string) ?? 'collapse') as RepeatRule;
  if (!REPEAT_RULES.includes(repeats)) throw new UsageError(`--repeats must be one of ${REPEAT_RULES.join(', ')}`);

  const backend = await setNodeBackend((f.backend as string) ?? 'wasm');
  const t0 = performance.now();
  const model = f.model ? loadModelDir(f.model as string) : undefined;
  if (model?.header.config.features) throw new UsageError(`${f.model} is a multi-task model: evaluate it with --format tianchi --items <items.tsv>`);
  // The model's sequences as the featuriser builds them (a baseline: over the log's own items).
  const { dataset, unknownItems } = modelSequences(await readAnyDataset(f.data as string, f.format as string), { repeats, itemIds: model?.vocab.itemIds });
  // Whose test items were held out of training: the model's own choice (training.json) unless the flags say.
  const trained = f.model ? trainedOptions(f.model as string) : {};
  const holdOut = ((f['hold-out'] as string | undefined) ?? trained.holdOut ?? 'every-user') as HoldOut;
  if (!HOLD_OUTS.includes(holdOut)) throw new UsageError(`--hold-out must be one of ${HOLD_OUTS.join(', ')}`);
  const evalUsers = (f['eval-users'] as number | undefined) ?? trained.evalUsers ?? DEFAULT_TRAIN_OPTIONS.evalUsers;
  const held = heldOutSplit(dataset.sequences, { holdOut, evalUsers, seed: trained.seed ?? DEFAULT_TRAIN_OPTIONS.seed });
  const split = held.split; // every-user: the plain leave-one-out split
  let users = (holdOut === 'validation-sample' && held.sampled ? held.validUsers : [...split.test.keys()]).filter((u) => split.test[u] > 0);
  if (f['max-users'] && users.length > (f['max-users'] as number)) users = users.slice(0, f['max-users'] as number);
  const opts = { protocol, seed, target, users };
  const metrics = model
    ? await evaluateModel(model.header.config, model.weights, split, opts, { embeddingDtype })
    : await evaluateScorer(f.baseline === 'popular'
      ? popularScorer(split, dataset.numItems, target, baselineFit === 'train+valid')
      : itemKnnScorer(split, dataset.numItems, target, 200, baselineFit === 'train+valid'), dataset.numItems, split, opts);
  if (model) tf.dispose(Object.values(model.weights));
  const seconds = (performance.now() - t0) / 1000;

  const what = model ? `model ${f.model} (${model.header.modelVersion}, ${model.header.weightDtype}, scoring table ${embeddingDtype})` : `baseline ${f.baseline} (fitted on ${target === 'test' ? baselineFit : 'train'} items)`;
  const whose = holdOut === 'validation-sample' && held.sampled ? `the ${metrics.users} users of the held-out sample (--hold-out validation-sample, --eval-users ${evalUsers})` : `${metrics.users} users`;
  console.log(`${what} on ${f.data} [${f.format}], protocol ${protocol}, target ${target}, repeats ${repeats}, ${whose}, backend ${backend}${unknownItems ? `, ${unknownItems} interactions with items unknown to the model dropped` : ''}`);
  for (const k of ['hr@1', 'hr@5', 'hr@10', 'hr@20', 'ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr', 'coverage@10'] as const) {
    console.log(`  ${k.padEnd(12)} ${metrics[k].toFixed(4)}`);
  }
  console.log(JSON.stringify({
    ...metrics, protocol, target, model: f.model ?? null, baseline: f.baseline ?? null, baselineFit: f.baseline ? (target === 'test' ? baselineFit : 'train') : null,
    modelVersion: model?.header.modelVersion ?? null, embeddingDtype: model ? embeddingDtype : null, data: f.data, format: f.format, repeats, seed, holdOut,
    ...(holdOut === 'validation-sample' ? { evalUsers } : {}),
    seconds: Math.round(seconds * 10) / 10,
  }));
}

/** The hold-out options a model folder's training.json records (npm run train, scenerec train). */
function trainedOptions(dir: string): { holdOut?: HoldOut; evalUsers?: number; seed?: number } {
  const file = path.join(dir, 'training.json');
  if (!fs.existsSync(file)) return {};
  const o = (JSON.parse(fs.readFileSync(file, 'utf8')) as { options?: { holdOut?: HoldOut; evalUsers?: number; seed?: number } }).options ?? {};
  return { holdOut: o.holdOut, evalUsers: o.evalUsers, seed: o.seed };
}

main().catch((e) => {
  if (e instanceof UsageError || e instanceof DataFormatError) { console.error(`error: ${e.message}`); process.exit(2); }
  console.error(e);
  process.exit(1);
});
