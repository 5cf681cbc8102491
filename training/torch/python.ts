/** Finds a Python 3 that can import torch (Debian's python3-torch), for the tests and scripts that drive training/torch/. */
import { spawnSync } from 'node:child_process';

/** Candidates, in order: $SCENEREC_PYTHON, python3 on PATH, Debian's /usr/bin/python3 (a pyenv python3 on PATH lacks the Debian package). */
export const PYTHON_CANDIDATES = [process.env.SCENEREC_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));

/** The first candidate that imports torch, with its torch version; undefined when none does (or SCENEREC_PYTHON=none). */
export function torchPython(): { python: string; torch: string } | undefined {
  if (process.env.SCENEREC_PYTHON === 'none') return undefined;
  for (const python of PYTHON_CANDIDATES) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
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

/** The PyTorch trainer's checkpoint file of process 0 in a checkpoint folder (training/torch/train.py). */
export const TORCH_CHECKPOINT = 'torch-rank0.pt';

/**
 * The trainer for a run: `auto` takes PyTorch (a third of the TF.js trainer's time an epoch on one core,
 * same defaults and artifact) when a Python with torch is found and the run needs nothing only the TF.js
 * trainer has; `torch` insists on it (an Error naming what is missing); `tfjs` is the TF.js trainer.
 * `--resume` continues the trainer whose checkpoint is in the folder (`torchCheckpoint`: a PyTorch one is).
 */
export function chooseTrainer(requested: TrainerChoice, format: string, flagsGiven: readonly string[], torchCheckpoint = false):
  { trainer: 'torch'; python: string; torch: string } | { trainer: 'tfjs'; why: string } {
  if (requested === 'tfjs') return { trainer: 'tfjs', why: 'chosen with --trainer tfjs' };
  const tfjsOnly = flagsGiven.filter((k) => TFJS_ONLY_FLAGS.includes(k));
  const missing = tfjsOnly.length > 0 ? `--${tfjsOnly.join(', --')} ${tfjsOnly.length > 1 ? 'are' : 'is'} a TF.js trainer option`
    : flagsGiven.includes('resume') && !torchCheckpoint ? '--resume: the checkpoint folder holds no PyTorch checkpoint (the TF.js trainer resumes its own)'
    : !TORCH_FORMATS.includes(format) ? `the PyTorch trainer reads ${TORCH_FORMATS.join(', ')}, not ${format}` : undefined;
  const py = missing ? undefined : torchPython();
  if (py) return { trainer: 'torch', ...py };
  const why = missing ?? 'no python3 with torch (scripts/setup-torch.sh installs it)';
  if (requested === 'torch') throw new Error(`--trainer torch: ${why}`);
  return { trainer: 'tfjs', why };
}
