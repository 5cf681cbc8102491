/**
 * The TS side of the PyTorch trainer (training/torch/): finds a Python 3 that can import torch (Debian's
 * python3-torch), chooses the trainer of a run, and hands a log the TS reader has read to train.py.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { TrainOptions } from '../train.js';

/** Candidates, in order: $SCENEREC_PYTHON, python3 on PATH, Debian's /usr/bin/python3 (a pyenv python3 on PATH lacks the Debian package). */
export function pythonCandidates(): string[] {
  return [process.env.SCENEREC_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
}

/** The first candidate that imports torch, with its torch version; undefined when none does (or SCENEREC_PYTHON=none). */
export function torchPython(): { python: string; torch: string } | undefined {
  if (process.env.SCENEREC_PYTHON === 'none') return undefined;
  for (const python of pythonCandidates()) {
    // numpy too: train.py needs both (Debian's python3-torch brings it; a hand-made environment may not).
    const r = spawnSync(python, ['-c', 'import numpy, torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, torch: r.stdout.trim() };
  }
  return undefined;
}

/** `npm run train -- --trainer`: which trainer runs a sequence-model training. */
export const TRAINERS = ['auto', 'torch', 'tfjs'] as const;
export type TrainerChoice = typeof TRAINERS[number];
/** The log formats the PyTorch trainer reads (training/torch/data.py). */
export const TORCH_FORMATS = ['pairs', 'lines', 'tianchi'];
/** Flags only the TF.js trainer has (both write checkpoints, and each resumes its own: chooseTrainer). */
export const TFJS_ONLY_FLAGS = ['backend'];

/**
 * train.py: beside this file in a checkout (training/torch/), in torch/ beside the CLI bundle of the
 * package (dist/cli/torch/, copied there by `npm run build:cli`); undefined when neither holds it.
 */
export function torchTrainScript(): string | undefined {
  return [path.join(import.meta.dirname, 'train.py'), path.join(import.meta.dirname, 'torch', 'train.py')].find((p) => fs.existsSync(p));
}

/** The PyTorch trainer's checkpoint file of process 0 in a checkpoint folder (training/torch/train.py). */
export const TORCH_CHECKPOINT = 'torch-rank0.pt';

/**
 * The trainer for a run: `auto` takes PyTorch (a third of the TF.js trainer's time an epoch on one core,
 * same defaults and artifact) when a Python with torch is found and the run needs nothing only the TF.js
 * trainer has; `torch` insists on it (an Error naming what is missing); `tfjs` is the TF.js trainer.
 * `--resume` continues the trainer whose checkpoint is in the folder (`torchCheckpoint`: a PyTorch one is).
 */
export function chooseTrainer(requested: TrainerChoice, format: string, flagsGiven: readonly string[], torchCheckpoint = false):
  { trainer: 'torch'; script: string; python: string; torch: string } | { trainer: 'tfjs'; why: string } {
  if (requested === 'tfjs') return { trainer: 'tfjs', why: 'chosen with --trainer tfjs' };
  const tfjsOnly = flagsGiven.filter((k) => TFJS_ONLY_FLAGS.includes(k));
  const missing = tfjsOnly.length > 0 ? `--${tfjsOnly.join(', --')} ${tfjsOnly.length > 1 ? 'are' : 'is'} a TF.js trainer option`
    : flagsGiven.includes('resume') && !torchCheckpoint ? '--resume: the checkpoint folder holds no PyTorch checkpoint (the TF.js trainer resumes its own)'
    : !TORCH_FORMATS.includes(format) ? `the PyTorch trainer reads ${TORCH_FORMATS.join(', ')}, not ${format}` : undefined;
  const script = torchTrainScript();
  const py = missing || !script ? undefined : torchPython();
  if (py && script) return { trainer: 'torch', script, ...py };
  const why = missing ?? (!script ? `no training/torch/train.py beside ${import.meta.dirname}` : 'no python3 with torch (scripts/setup-torch.sh installs it)');
  if (requested === 'torch') throw new Error(`--trainer torch: ${why}`);
  return { trainer: 'tfjs', why };
}

/** train.py's flag of each TrainOptions key (its FLAGS table, inverted); `fitValidation` is a boolean flag. */
const TORCH_FLAG_OF: Record<Exclude<keyof TrainOptions, 'fitValidation'>, string> = {
  maxLen: 'max-len', hiddenDim: 'hidden', numBlocks: 'blocks', numHeads: 'heads', ffnDim: 'ffn', dropout: 'dropout',
  batchSize: 'batch', learningRate: 'lr', negatives: 'negatives', loss: 'loss', gbceT: 'gbce-t', l2: 'l2',
  bceWeight: 'bce-weight', bprWeight: 'bpr-weight', epochs: 'epochs', seed: 'seed', evalEvery: 'eval-every',
  evalUsers: 'eval-users', patience: 'patience', maxSteps: 'max-steps', sse: 'sse', lrSchedule: 'lr-schedule',
  validProtocol: 'valid-protocol', holdOut: 'hold-out',
};

/** train.py's flags for a run with these options (every option spelled out, so neither side's defaults decide). */
export function torchFlags(o: TrainOptions): string[] {
  const flags = Object.entries(TORCH_FLAG_OF).flatMap(([k, flag]) => [`--${flag}`, String(o[k as keyof typeof TORCH_FLAG_OF])]);
  return o.fitValidation ? [...flags, '--fit-validation'] : flags;
}

/** What train.py's training.json records of a run (the fields scenerec train reads back). */
export interface TorchTrainingSummary {
  modelVersion: string; artifactBytes: number; trainSeconds: number; epochs: number; bestEpoch: number; steps: number;
  log: unknown[]; initFrom: unknown; machine: Record<string, unknown>;
}

/** Thrown when train.py refuses the run (its exit code 2): the message is its own. */
export class TorchUsageError extends Error {
  override name = 'TorchUsageError';
}

/** Thrown when train.py fails otherwise; `trained` says whether it had finished an epoch (a late failure). */
export class TorchTrainerError extends Error {
  override name = 'TorchTrainerError';
  constructor(message: string, readonly trained: boolean) { super(message); }
}

/**
 * Trains the sequence model on PyTorch from sequences the TS reader built: writes them as a `seqs` file of
 * model indices plus the item names (`--item-names`), so any id string a shop's export holds survives, the
 * artifact's vocabulary is the shop's ids in the TS reader's order, and train.py reads them without parsing; runs train.py in one process, passes its lines to `print` as they
 * come, and returns its training summary. The temporary files and train.py's checkpoints live in a temporary
 * folder removed afterwards (scenerec train does not resume).
 */
export async function trainOnTorch(run: {
  script: string; python: string; sequences: readonly ArrayLike<number>[]; itemIds: readonly string[]; options: TrainOptions;
  out: string; dtype: 'float16' | 'float32'; initFrom?: string; print: (line: string) => void;
}): Promise<TorchTrainingSummary> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-torch-'));
  try {
    const data = path.join(tmp, 'sequences.seqs');
    const names = path.join(tmp, 'item-names.json');
    writeSeqs(data, run.sequences);
    fs.writeFileSync(names, JSON.stringify(run.itemIds));
    const args = [run.script, '--data', data, '--format', 'seqs', '--item-names', names,
      '--out', run.out, '--tag', path.basename(path.resolve(run.out)), '--dtype', run.dtype, '--checkpoint-dir', path.join(tmp, 'checkpoints'),
      ...torchFlags(run.options), ...(run.initFrom !== undefined ? ['--init-from', run.initFrom] : [])];
    const child = spawn(run.python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    const stderr: string[] = [];
    // train.py's own "saved ..." line is left out: the command prints its own once the card is written.
    let trained = false;
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      if (/^epoch [1-9]/.test(l)) trained = true;
      if (!l.startsWith('saved ')) run.print(l);
    });
    readline.createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
    const code = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
    const said = stderr.join('\n');
    if (code === 2) throw new TorchUsageError(said.replace(/^error: /, '') || 'train.py refused the run');
    if (code !== 0) throw new TorchTrainerError(`the PyTorch trainer (${run.python} ${run.script}) failed with exit code ${code}${said ? `:\n${said.split('\n').slice(-20).join('\n')}` : ''}\nRetry with --trainer tfjs to train on TF.js.`, trained);
    return JSON.parse(fs.readFileSync(path.join(run.out, 'training.json'), 'utf8')) as TorchTrainingSummary;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** training/torch/data.py's `seqs` header: magic ("SEQS"), version. */
const SEQS_MAGIC = 0x53514553;
const SEQS_VERSION = 1;

/**
 * The `seqs` file train.py reads without parsing (data.py read_seqs): int32 little-endian, a header
 * [magic, version, users, steps], every user's length, then every user's item indices in order.
 */
export function writeSeqs(file: string, sequences: readonly ArrayLike<number>[]): void {
  let steps = 0;
  for (const s of sequences) steps += s.length;
  const a = new Int32Array(4 + sequences.length + steps);
  a.set([SEQS_MAGIC, SEQS_VERSION, sequences.length, steps]);
  let at = 4 + sequences.length;
  sequences.forEach((s, u) => { a[4 + u] = s.length; a.set(s, at); at += s.length; });
  // Int32Array is the platform's byte order: every platform Node runs on here is little-endian.
  fs.writeFileSync(file, new Uint8Array(a.buffer));
}
