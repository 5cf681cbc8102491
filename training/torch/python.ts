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
