/**
 * The PyTorch trainer (training/torch/) against the TS side: the same option defaults and the same
 * vocabulary as the TS trainer; its artifact loads in the SDK unchanged; and the same weights give the
 * same hidden states and scores in PyTorch, in the TS forward (TF.js) and in the browser's fused path.
 * Plus a smoke of its training (loss falls), of torchrun with 2 processes and of its determinism.
 * Skipped, with the reason in the suite's name and on stderr, when no Python with torch is installed
 * (scripts/setup-torch.sh installs Debian's python3-torch).
 */
import 'fake-indexeddb/auto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN_OPTIONS } from '../../training/train.js';
import { Rng } from '../../training/rng.js';
import { readDataset, trainingSequences, vocabFor } from '../../training/node-io.js';
import { loadModel } from '../../src/model/loader.js';
import { lastHidden } from '../../src/model/sasrec.js';
import { FusedForward } from '../../src/model/fused.js';
import { torchPython } from '../../training/torch/python.js';
import { fileFetch } from './helpers.js';

const ROOT = path.resolve(__dirname, '../..');
const GAMES = path.resolve(ROOT, '../shared/data/amazon-games/games.txt');
const TOL = 1e-4;
const py = torchPython();
const SKIP = py ? '' : process.env.SCENEREC_PYTHON === 'none' ? 'SKIPPED: SCENEREC_PYTHON=none' : 'SKIPPED: no python3 with torch (install it with scripts/setup-torch.sh)';
if (!py) process.stderr.write(`torch-parity.test.ts ${SKIP}\n`);

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const TRAIN = path.join(ROOT, 'training/torch/train.py');
// A constant rate without SSE: a 4-epoch run of the default cosine schedule with SSE falls too little to test on 300 users.
// Checkpoints of these runs go to a temporary folder, not the checkout's .checkpoints.
const CKPT = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-torch-ckpt-'));
const TINY = ['--checkpoint-dir', CKPT, '--hidden', '16', '--ffn', '24', '--blocks', '2', '--heads', '2', '--max-len', '12', '--batch', '64', '--negatives', '128', '--dropout', '0.2', '--lr', '0.005', '--eval-every', '0', '--threads', '1', '--lr-schedule', 'constant', '--sse', '0'];

describe.skipIf(!py)(`PyTorch trainer = TS trainer and SDK ${SKIP}`, () => {
  let dir: string;
  let slice: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-torch-'));
    // The first 300 users of the Games file (lines are grouped by user).
    const out: string[] = [];
    const seen = new Set<string>();
    for (const l of fs.readFileSync(GAMES, 'utf8').split('\n')) {
      const u = l.split(' ')[0];
      if (!seen.has(u)) { if (seen.size === 300) break; seen.add(u); }
      out.push(l);
    }
    slice = path.join(dir, 'slice.txt');
    fs.writeFileSync(slice, out.join('\n') + '\n');
  });

  it('has the TS trainer\'s option defaults', { timeout: 60_000 }, () => {
    expect(JSON.parse(run(py!.python, [TRAIN, '--print-defaults']))).toEqual({ ...DEFAULT_TRAIN_OPTIONS });
  });

  it('samples the validation (and hold-out) users as the TS trainer does: Rng(seed + 1) over the users with a validation item', { timeout: 60_000 }, () => {
    const script = 'import sys; sys.path.insert(0, "training/torch"); from data import Mulberry32; print(",".join(map(str, Mulberry32(43).shuffle(list(range(1000)))[:100])))';
    const torchPick = run(py!.python, ['-c', script]).trim().split(',').map(Number);
    expect(torchPick).toEqual(new Rng(43).shuffle([...Array(1000).keys()]).slice(0, 100));
  });

  it('reads a log in per-rank byte ranges that add up to the whole file, users unsplit (pairs and lines)', { timeout: 60_000 }, () => {
    const lines = path.join(dir, 'slice.lines.txt');
    const byUser = new Map<string, string[]>();
    for (const l of fs.readFileSync(slice, 'utf8').trim().split('\n')) { const [u, i] = l.split(' '); byUser.set(u, [...(byUser.get(u) ?? []), i]); }
    fs.writeFileSync(lines, [...byUser].map(([u, is]) => `${u} ${is.join(' ')}`).join('\n') + '\n');
    for (const [file, fmt] of [[slice, 'pairs'], [lines, 'lines']]) {
      expect(run(py!.python, [path.join(ROOT, 'training/torch/check_shards.py'), file, fmt, '2', '3', '7', '16']).match(/ ok: 300 users/g)).toHaveLength(4);
    }
  });

  it('computes the TS trainer\'s losses (softmax, gBCE, BPR, BCE, L2) on target positions only, to 1e-5', { timeout: 60_000 }, () => {
    expect(run(py!.python, [path.join(ROOT, 'training/torch/check_loss.py')]).match(/ ok /g)).toHaveLength(4);
  });

  it('trains (loss falls), writes an artifact the SDK loads, and scores like TF.js and the fused path', { timeout: 300_000 }, async () => {
    for (const dtype of ['float32', 'float16']) {
      const out = path.join(dir, `m-${dtype}`);
      run(py!.python, [TRAIN, '--data', slice, '--format', 'pairs', '--out', out, '--epochs', dtype === 'float32' ? '4' : '1', '--dtype', dtype, ...TINY]);
      const summary = JSON.parse(fs.readFileSync(path.join(out, 'training.json'), 'utf8'));
      if (dtype === 'float32') {
        const losses = summary.log.map((l: { loss: number }) => l.loss);
        expect(losses).toHaveLength(4);
        expect(losses[3]).toBeLessThan(losses[0] - 0.2);
      }
      // Same vocabulary and popularity as the TS reader of the same file.
      const ds = trainingSequences(readDataset(slice, 'pairs'), 1);
      const vocab = JSON.parse(fs.readFileSync(path.join(out, 'vocab.json'), 'utf8'));
      expect(vocab).toEqual(vocabFor(ds));

      // The SDK's own loader (header, names, shapes, finiteness checks).
      await tf.setBackend('wasm'); await tf.ready();
      const m = await loadModel(pathToFileURL(path.join(out, 'model.json')).href, { fetch: fileFetch() });
      expect(m.header.weightDtype).toBe(dtype);
      expect(m.header.modelVersion).toBe(summary.modelVersion);
      const cfg = m.header.config;
      expect(cfg).toMatchObject({ numItems: ds.numItems, maxLen: 12, hiddenDim: 16, numBlocks: 2, numHeads: 2, ffnDim: 24 });

      // Fixed histories of lengths 1, 3, ..., maxLen (left-padded rows) and one repeated item.
      const rows: number[][] = [];
      for (let n = 1; n <= cfg.maxLen; n += 2) {
        const row = new Array<number>(cfg.maxLen).fill(0);
        for (let i = cfg.maxLen - n; i < cfg.maxLen; i++) row[i] = 1 + ((i * 7919 + n * 104729) % cfg.numItems);
        rows.push(row);
      }
      rows.push(new Array<number>(cfg.maxLen).fill(0).map((_, i) => (i >= cfg.maxLen - 4 ? 5 : 0))); // a repeat
      const rowsFile = path.join(dir, `rows-${dtype}.json`);
      fs.writeFileSync(rowsFile, JSON.stringify(rows));
      const torchOut = JSON.parse(run(py!.python, [path.join(ROOT, 'training/torch/score.py'), '--model', out, '--rows', rowsFile])) as
        { hidden: number[][]; scores: number[][]; top: number[][] };

      const fused = FusedForward.create(cfg, m.weights);
      const table = (await m.weights.itemEmbedding.data()) as Float32Array;
      const d = cfg.hiddenDim;
      let worstHidden = 0;
      let worstScore = 0;
      for (let r = 0; r < rows.length; r++) {
        const ids = tf.tensor2d(Int32Array.from(rows[r]), [1, cfg.maxLen], 'int32');
        const { hidden } = lastHidden(cfg, m.weights, ids);
        const h = (await hidden.data()) as Float32Array;
        tf.dispose([ids, hidden]);
        const hf = fused.run(rows[r]).hidden;
        for (let j = 0; j < d; j++) {
          worstHidden = Math.max(worstHidden, Math.abs(h[j] - torchOut.hidden[r][j]), Math.abs(hf[j] - torchOut.hidden[r][j]));
        }
        const scores = new Float32Array(cfg.numItems + 1);
        scores[0] = -Infinity;
        for (let i = 1; i <= cfg.numItems; i++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += h[j] * table[i * d + j];
          scores[i] = s;
          worstScore = Math.max(worstScore, Math.abs(s - torchOut.scores[r][i - 1]));
        }
        const top = [...scores.keys()].sort((a, b) => scores[b] - scores[a]).slice(0, 10);
        expect(top).toEqual(torchOut.top[r]);
      }
      console.log(`torch parity ${dtype}: ${rows.length} histories, worst |hidden diff| ${worstHidden.toExponential(2)}, worst |score diff| ${worstScore.toExponential(2)} (PyTorch vs TF.js and fused)`);
      expect(worstHidden).toBeLessThan(TOL);
      expect(worstScore).toBeLessThan(TOL);
      expect(worstHidden).toBeGreaterThanOrEqual(0);
      tf.dispose(Object.values(m.weights));
    }
  });

  it('resumes a checkpoint exactly: 1 epoch then --resume to 2 gives the 2-epoch run\'s model; a changed option is refused', { timeout: 300_000 }, () => {
    const resumeDir = path.join(dir, 'ckpt-resume');
    const args = (out: string, epochs: string, ckpt: string) => [TRAIN, '--data', slice, '--format', 'pairs', '--out', out, '--dtype', 'float32', ...TINY, '--epochs', epochs, '--checkpoint-dir', ckpt];
    run(py!.python, args(path.join(dir, 'straight'), '2', path.join(dir, 'ckpt-straight')));
    run(py!.python, args(path.join(dir, 'resumed'), '1', resumeDir));
    expect(fs.existsSync(path.join(resumeDir, 'torch-rank0.pt'))).toBe(true);
    const out = run(py!.python, [...args(path.join(dir, 'resumed'), '2', resumeDir), '--resume']);
    expect(out).toContain(`resuming from ${resumeDir}: 1 epochs done`);
    const version = (p: string) => JSON.parse(fs.readFileSync(path.join(dir, p, 'model.json'), 'utf8')).userDefinedMetadata.scenerec.modelVersion.split('-').at(-1);
    expect(version('resumed')).toBe(version('straight'));
    const changed = spawnSync(py!.python, [...args(path.join(dir, 'resumed'), '3', resumeDir), '--resume', '--lr', '0.001'], { cwd: ROOT, encoding: 'utf8' });
    expect(changed.status).toBe(2);
    expect(changed.stderr).toContain('--resume: options learningRate differ');
  });

  it('warm-starts from an earlier model (--init-from): known items keep their rows, new ones a cold start\'s, every other weight copied; refusals exit 2', { timeout: 300_000 }, async () => {
    // The earlier model: the slice's 300 users; this run: users 100-499, so some items are new and some dropped.
    const users: string[] = [];
    const later: string[] = [];
    for (const l of fs.readFileSync(GAMES, 'utf8').split('\n')) {
      const u = l.split(' ')[0];
      if (users.at(-1) !== u) { if (users.length === 500) break; users.push(u); }
      if (users.length > 100) later.push(l);
    }
    const data = path.join(dir, 'later.txt');
    fs.writeFileSync(data, later.join('\n') + '\n');
    const at = (p: string) => path.join(dir, p);
    run(py!.python, [TRAIN, '--data', slice, '--format', 'pairs', '--out', at('earlier'), '--dtype', 'float32', ...TINY, '--epochs', '1']);
    // --epochs 0: the weights as the run starts. The shape flags are left out: they default to the earlier model's.
    const rest = ['--dtype', 'float32', '--epochs', '0', '--eval-every', '0', '--threads', '1', '--checkpoint-dir', CKPT];
    const out = run(py!.python, [TRAIN, '--data', data, '--format', 'pairs', '--out', at('warm'), '--init-from', at('earlier'), ...rest]);
    run(py!.python, [TRAIN, '--data', data, '--format', 'pairs', '--out', at('cold'), ...TINY, ...rest]);
    await tf.setBackend('wasm'); await tf.ready();
    const load = (p: string) => loadModel(pathToFileURL(path.join(at(p), 'model.json')).href, { fetch: fileFetch() });
    const [earlier, warm, cold] = await Promise.all([load('earlier'), load('warm'), load('cold')]);
    try {
      const d = warm.header.config.hiddenDim;
      const shape = ({ maxLen, hiddenDim, numBlocks, numHeads, ffnDim }: typeof warm.header.config) => ({ maxLen, hiddenDim, numBlocks, numHeads, ffnDim });
      expect(shape(warm.header.config)).toEqual(shape(earlier.header.config));
      expect(warm.header.config.numItems).toBe(cold.header.config.numItems);
      const row = (m: typeof warm, i: number) => Array.from((m.weights.itemEmbedding.dataSync() as Float32Array).subarray(i * d, (i + 1) * d));
      const earlierIndex = new Map(earlier.vocab.itemIds.map((id, j) => [id, j]));
      let kept = 0;
      warm.vocab.itemIds.forEach((id, i) => {
        if (i === 0) return;
        const j = earlierIndex.get(id);
        if (j !== undefined) kept++;
        expect(row(warm, i)).toEqual(j !== undefined ? row(earlier, j) : row(cold, i));
      });
      const added = warm.vocab.itemIds.length - 1 - kept;
      expect(kept).toBeGreaterThan(100);
      expect(added).toBeGreaterThan(100);
      for (const name of Object.keys(warm.weights).filter((n) => n !== 'itemEmbedding')) {
        expect(Array.from(warm.weights[name].dataSync())).toEqual(Array.from(earlier.weights[name].dataSync()));
      }
      const note = JSON.parse(fs.readFileSync(path.join(at('warm'), 'training.json'), 'utf8')).initFrom;
      expect(note.items).toEqual({ kept, added, dropped: earlier.vocab.itemIds.length - 1 - kept });
      expect(out).toContain(`items ${kept} kept, ${added} added`);
    } finally {
      for (const m of [earlier, warm, cold]) tf.dispose(Object.values(m.weights));
    }
    const refused = (extra: string[]) => spawnSync(py!.python, [TRAIN, '--data', data, '--format', 'pairs', '--out', at('x'), ...rest, ...extra], { cwd: ROOT, encoding: 'utf8' });
    const shape = refused(['--init-from', at('earlier'), '--hidden', '32']);
    expect(shape.status).toBe(2);
    expect(shape.stderr).toContain('has another model shape (--hidden 16; this run: --hidden 32)');
    const mtl = refused(['--init-from', path.join(ROOT, 'models/tianchi-mtl')]);
    expect(mtl.status).toBe(2);
    expect(mtl.stderr).toContain('is a sasrec-mtl model');
    const none = refused(['--init-from', dir]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('no model.json there');
  });

  it('is deterministic for a seed, and torchrun with 2 processes (gloo) trains an epoch in the one-process steps, the same vocabulary and a loadable model', { timeout: 300_000 }, async () => {
    const args = (out: string) => [TRAIN, '--data', slice, '--format', 'pairs', '--out', out, '--max-steps', '3', '--dtype', 'float32', ...TINY];
    run(py!.python, args(path.join(dir, 'a')));
    run(py!.python, args(path.join(dir, 'b')));
    const version = (p: string) => JSON.parse(fs.readFileSync(path.join(dir, p, 'model.json'), 'utf8')).userDefinedMetadata.scenerec.modelVersion.split('-')[1];
    expect(version('a')).toBe(version('b'));
    const torchrun = path.join(path.dirname(py!.python), 'torchrun');
    const launcher = fs.existsSync(torchrun) ? [torchrun] : [py!.python, '-m', 'torch.distributed.run'];
    // --redirects 1 --tee 1: torch 1.13's torchrun cannot parse the default (0) under Python 3.11 (see docs/training-torch.md).
    const epoch = (out: string) => [TRAIN, '--data', slice, '--format', 'pairs', '--out', out, '--epochs', '1', '--dtype', 'float32', ...TINY];
    run(launcher[0], [...launcher.slice(1), '--standalone', '--nproc_per_node', '2', '--redirects', '1', '--tee', '1', ...epoch(path.join(dir, 'ddp'))]);
    run(py!.python, epoch(path.join(dir, 'one')));
    const ddp = JSON.parse(fs.readFileSync(path.join(dir, 'ddp', 'training.json'), 'utf8'));
    const one = JSON.parse(fs.readFileSync(path.join(dir, 'one', 'training.json'), 'utf8'));
    expect(ddp.machine.processes).toBe(2);
    // --batch is the global batch, split by the ranks' shares of the examples: an epoch takes the one-process steps (±1 for rounding).
    expect(Math.abs(ddp.steps - one.steps)).toBeLessThanOrEqual(1);
    expect(ddp.log[0].loss).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(dir, 'ddp', 'vocab.json'), 'utf8')).toBe(fs.readFileSync(path.join(dir, 'a', 'vocab.json'), 'utf8'));
    const m = await loadModel(pathToFileURL(path.join(dir, 'ddp', 'model.json')).href, { fetch: fileFetch() });
    expect(m.header.config.numItems).toBeGreaterThan(0);
    tf.dispose(Object.values(m.weights));
  });
});
