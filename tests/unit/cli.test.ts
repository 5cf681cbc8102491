/** The train and eval commands end to end on a tiny real slice: artifacts written, last-line JSON, clear errors. */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chooseTrainer, torchPython } from '../../training/torch/python.js';

const ROOT = path.resolve(__dirname, '../..');
const GAMES = path.resolve(ROOT, '../shared/data/amazon-games/games.txt');
const tsx = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

describe('train and eval commands', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-cli-'));
  const data = path.join(dir, 'slice.txt');
  fs.writeFileSync(data, fs.readFileSync(GAMES, 'utf8').split('\n').slice(0, 4000).join('\n'));

  it('trains a few steps, writes TF.js artifacts, and eval prints a last-line JSON', () => {
    const out = path.join(dir, 'model');
    const t = tsx(['scripts/train.ts', '--data', data, '--format', 'pairs', '--out', out, '--epochs', '1', '--max-steps', '3',
      '--hidden', '16', '--blocks', '1', '--ffn', '16', '--negatives', '32', '--checkpoint-dir', path.join(dir, 'ckpt')]);
    expect(t.status, t.stderr).toBe(0);
    for (const f of ['model.json', 'weights.bin', 'vocab.json', 'training.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    const e = tsx(['scripts/eval.ts', '--model', out, '--data', data, '--format', 'pairs', '--protocol', 'sampled-100']);
    expect(e.status, e.stderr).toBe(0);
    const last = JSON.parse(e.stdout.trim().split('\n').pop()!);
    expect(last.protocol).toBe('sampled-100');
    expect(last.users).toBeGreaterThan(100);
    for (const k of ['hr@1', 'hr@5', 'hr@10', 'hr@20', 'ndcg@5', 'ndcg@10', 'ndcg@20', 'mrr', 'coverage@10', 'seconds']) {
      expect(typeof last[k]).toBe('number');
    }
    expect(last['hr@10']).toBeGreaterThanOrEqual(last['hr@5']);
    expect(last.holdOut).toBe('every-user'); // the model's own (npm run train's default)

    // --hold-out validation-sample ranks only the seeded sample's test items (as a model trained that way held them out).
    const held = tsx(['scripts/eval.ts', '--model', out, '--data', data, '--format', 'pairs', '--protocol', 'sampled-100', '--hold-out', 'validation-sample', '--eval-users', '50']);
    expect(held.status, held.stderr).toBe(0);
    const h = JSON.parse(held.stdout.trim().split('\n').pop()!);
    expect(h.holdOut).toBe('validation-sample');
    expect(h.users).toBeLessThanOrEqual(50);
    expect(h.users).toBeGreaterThan(40);
    expect(held.stdout).toContain(`the ${h.users} users of the held-out sample`);
    const bad = tsx(['scripts/eval.ts', '--model', out, '--data', data, '--format', 'pairs', '--protocol', 'full', '--hold-out', 'some']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--hold-out must be one of every-user, validation-sample');

    // eval:by-count ranks the same cases against the same negatives: its overall HR@10 is eval's, for either target.
    for (const target of ['test', 'valid']) {
      const ev = target === 'test' ? last : JSON.parse(tsx(['scripts/eval.ts', '--model', out, '--data', data, '--format', 'pairs',
        '--protocol', 'sampled-100', '--target', 'valid']).stdout.trim().split('\n').pop()!);
      const b = tsx(['scripts/eval-by-count.ts', '--model', out, '--data', data, '--format', 'pairs', '--target', target]);
      expect(b.status, b.stderr).toBe(0);
      const byCount = JSON.parse(b.stdout.trim().split('\n').pop()!);
      expect(byCount.target).toBe(target);
      expect(byCount['hr@10']).toBe(ev['hr@10']);
      expect(byCount.buckets.all.users).toBe(ev.users);
      const trainOnly = Object.entries(byCount.buckets as Record<string, { users: number }>).filter(([k]) => k.startsWith('last item train-only'));
      expect(trainOnly.reduce((n, [, v]) => n + v.users, 0)).toBe(ev.users);
      // A validation case's last input is a training item, so it always occurs in the training items.
      if (target === 'valid') expect(byCount.buckets['last item train-only 0']).toBeUndefined();
    }
  }, 180_000);

  it('a malformed line or unknown format exits 2 naming the file and line', () => {
    const bad = path.join(dir, 'bad.txt');
    fs.writeFileSync(bad, '1 10\n1 11\n1 12 13\n');
    const r = tsx(['scripts/train.ts', '--data', bad, '--format', 'pairs', '--out', path.join(dir, 'x')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:3:`);
    const f = tsx(['scripts/eval.ts', '--baseline', 'popular', '--data', bad, '--format', 'parquet', '--protocol', 'full']);
    expect(f.status).toBe(2);
    expect(f.stderr).toMatch(/unknown format "parquet"/);
    // csv is a shop's event log with a header (training/event-log.ts): this file has none of its columns.
    const c = tsx(['scripts/eval.ts', '--baseline', 'popular', '--data', bad, '--format', 'csv', '--protocol', 'full']);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain(`${bad}:1: no user column in the header`);
  }, 60_000);

  it('--trainer auto takes PyTorch only when torch is there and the run needs nothing only the TF.js trainer has', () => {
    expect(chooseTrainer('tfjs', 'pairs', [])).toEqual({ trainer: 'tfjs', why: 'chosen with --trainer tfjs' });
    // --resume continues the trainer whose checkpoint is in the folder.
    const resume = chooseTrainer('auto', 'pairs', ['data', 'resume']);
    expect(resume).toEqual({ trainer: 'tfjs', why: '--resume: the checkpoint folder holds no PyTorch checkpoint (the TF.js trainer resumes its own)' });
    if (torchPython()) expect(chooseTrainer('auto', 'pairs', ['data', 'resume', 'checkpoint-dir'], true)).toMatchObject({ trainer: 'torch' });
    expect(chooseTrainer('auto', 'csv', ['data'])).toEqual({ trainer: 'tfjs', why: 'the PyTorch trainer reads pairs, lines, tianchi, not csv' });
    expect(() => chooseTrainer('torch', 'pairs', ['init-from', 'backend'])).toThrow('--trainer torch: --backend is a TF.js trainer option');
    if (torchPython()) expect(chooseTrainer('auto', 'pairs', ['data', 'init-from'])).toMatchObject({ trainer: 'torch' });
    const saved = process.env.SCENEREC_PYTHON;
    process.env.SCENEREC_PYTHON = 'none';
    try {
      expect(chooseTrainer('auto', 'pairs', ['data'])).toEqual({ trainer: 'tfjs', why: 'no python3 with torch (scripts/setup-torch.sh installs it)' });
      expect(() => chooseTrainer('torch', 'lines', [])).toThrow(/no python3 with torch/);
    } finally {
      if (saved === undefined) delete process.env.SCENEREC_PYTHON; else process.env.SCENEREC_PYTHON = saved;
    }
    const py = torchPython();
    if (py) expect(chooseTrainer('auto', 'lines', ['data', 'epochs'])).toMatchObject({ trainer: 'torch', python: py.python });
  }, 120_000);

  it('the default command runs the PyTorch trainer where torch is installed, with the same flags and artifact', () => {
    const py = torchPython();
    const out = path.join(dir, 'torch-model');
    const t = tsx(['scripts/train.ts', '--data', data, '--format', 'pairs', '--out', out, '--epochs', '3', '--max-steps', '3',
      '--hidden', '16', '--blocks', '1', '--ffn', '16', '--negatives', '32', '--eval-every', '0']);
    expect(t.status, t.stderr).toBe(0);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'training.json'), 'utf8'));
    if (py) {
      expect(t.stdout).toContain(`trainer: PyTorch ${py.torch}`);
      expect(summary.trainer).toBe('pytorch');
    } else {
      expect(t.stdout).toContain('trainer: TF.js (no python3 with torch');
      expect(summary.trainer).toBeUndefined();
    }
    expect(summary.options.hiddenDim).toBe(16);
    expect(summary.steps).toBe(3);
  }, 120_000);
});
