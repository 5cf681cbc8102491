/**
 * npm run calibrate:mtl -- --model <dir> --data <events.tsv> --items <items.tsv> [--out <dir>]
 * Calibrates a multi-task model's repeat weights on the validation day (training/mtl-calibrate.ts)
 * and writes the model with its new content-hash version; training.json records the search.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_MTL_DATA_OPTIONS, readMtlData } from '../training/mtl-data.js';
import { CALIBRATION_MAX_USERS, calibrateMtlModel, calibrationUsers, FIRST_SHARE } from '../training/mtl-calibrate.js';
import { DEFAULT_MTL_OPTIONS } from '../training/mtl-train.js';
import { loadModelDir, saveModel, setNodeBackend } from '../training/node-io.js';
import { parseFlags, UsageError } from '../training/cli.js';
import { DataFormatError } from '../training/data.js';

export const CALIBRATE_HELP = `usage: npm run calibrate:mtl -- --model <dir> --data <events.tsv> --items <items.tsv> [--out <dir>] [options]
Searches each head's 4 repeat weights (seen, recency, carted, purchased) for the best validation NDCG@10,
full ranking over the catalog: ${FIRST_SHARE} x the first event of the validation day + ${1 - FIRST_SHARE} x every event of it,
each from the events before it (never a test day). The other weights are kept. npm run train -- --arch mtl
runs it at the end by default (--calibrate off skips it).
  --out DIR            where the calibrated model goes (default: --model itself, replaced)
  --first-share X      share of the first-event protocol in the objective (${FIRST_SHARE})
  --eval-users N       validation users: a sample (fixed seed) of at most min(N, ${CALIBRATION_MAX_USERS}); N = ${DEFAULT_MTL_OPTIONS.evalUsers} as the trainer's validation; 0 = all
  --train-end / --valid-day / --test-start YYYYMMDD   the split (default: the model's training.json, else ${DEFAULT_MTL_DATA_OPTIONS.trainEnd} / ${DEFAULT_MTL_DATA_OPTIONS.validDay} / ${DEFAULT_MTL_DATA_OPTIONS.testStart})
  --backend wasm|cpu   (wasm)`;

async function main(argv: string[]): Promise<void> {
  const f = parseFlags(argv, {
    model: 'string', data: 'string', items: 'string', out: 'string', 'first-share': 'number', 'train-end': 'number', 'valid-day': 'number',
    'test-start': 'number', backend: 'string', help: 'boolean', 'eval-users': 'number',
  });
  if (f.help) { console.log(CALIBRATE_HELP); return; }
  for (const req of ['model', 'data', 'items']) if (f[req] === undefined) throw new UsageError(`--${req} is required\n${CALIBRATE_HELP}`);
  const share = (f['first-share'] as number | undefined) ?? FIRST_SHARE;
  if (!(share >= 0 && share <= 1)) throw new UsageError('--first-share must be in [0, 1]');
  const dir = f.model as string;
  const out = (f.out as string | undefined) ?? dir;
  const backend = await setNodeBackend((f.backend as string) ?? 'wasm');
  const model = loadModelDir(dir);
  if (!model.header.config.features) throw new UsageError(`${dir} is a single-objective model: only multi-task models (--arch mtl) have repeat weights`);
  const summaryFile = path.join(dir, 'training.json');
  const summary = fs.existsSync(summaryFile) ? JSON.parse(fs.readFileSync(summaryFile, 'utf8')) : {};
  const n = (k: string, d: number) => (f[k] as number | undefined) ?? d;
  const split = {
    ...DEFAULT_MTL_DATA_OPTIONS,
    trainEnd: n('train-end', summary.data?.trainEnd ?? DEFAULT_MTL_DATA_OPTIONS.trainEnd),
    validDay: n('valid-day', summary.data?.validDay ?? DEFAULT_MTL_DATA_OPTIONS.validDay),
    testStart: n('test-start', summary.data?.testStart ?? DEFAULT_MTL_DATA_OPTIONS.testStart),
  };
  const data = readMtlData(f.data as string, f.items as string, split);
  if (model.vocab.itemIds.length !== data.vocab.itemIds.length) {
    throw new UsageError(`${dir} was trained on ${model.vocab.itemIds.length - 1} items, this split has ${data.vocab.itemIds.length - 1}: calibrate with the days it was trained with`);
  }
  console.log(`model ${dir} (${model.header.modelVersion}); backend ${backend}; validation day ${data.validDay}`);
  const users = calibrationUsers(data, (f['eval-users'] as number | undefined) ?? DEFAULT_MTL_OPTIONS.evalUsers, DEFAULT_MTL_OPTIONS.seed + 1);
  const { weights, report } = await calibrateMtlModel(model.header.config, model.weights, data, { firstShare: share, log: (l) => console.log(l), users });
  const tag = model.header.modelVersion.replace(/-[0-9a-f]{12}$/, '');
  const { header, bytes } = await saveModel(out, model.header.config, weights, model.vocab, model.header.weightDtype ?? 'float16', tag);
  tf.dispose(Object.values(model.weights));
  weights.repeatWeights.dispose();
  if (out !== dir && fs.existsSync(path.join(dir, 'README.md')) && !fs.existsSync(path.join(out, 'README.md'))) fs.copyFileSync(path.join(dir, 'README.md'), path.join(out, 'README.md'));
  const command = `npm run calibrate:mtl -- ${argv.join(' ')}`;
  fs.writeFileSync(path.join(out, 'training.json'), JSON.stringify({
    ...summary, modelVersion: header.modelVersion, artifactBytes: bytes,
    calibration: { command, uncalibratedVersion: model.header.modelVersion, ...report },
  }, null, 1));
  console.log(`saved ${out} (version ${header.modelVersion}, was ${model.header.modelVersion}); calibration ${report.seconds} s, ${report.evaluations} objective evaluations`);
}

main(process.argv.slice(2)).catch((e) => {
  if (e instanceof UsageError || e instanceof DataFormatError) { console.error(`error: ${e.message}`); process.exit(2); }
  console.error(e);
  process.exit(1);
});
