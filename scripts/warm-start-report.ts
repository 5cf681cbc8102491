/**
 * npx tsx scripts/warm-start-report.ts --cold DIR --warm DIR
 *
 * Compares a cold run with a warm-started one (`scenerec train --init-from`) from their
 * training.json: the cold run's best validation figure, the epoch and the training seconds (wall
 * and CPU) each run needed to reach it, each run's best, and the held-out figures of their cards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseFlags, UsageError } from '../training/cli.js';

interface EpochEntry { epoch: number; seconds: number; cpuSeconds?: number; score?: number; valid?: { 'ndcg@10'?: number } }

/** The validation figure train keeps the best by: NDCG@10 (sequence model) or the mean over tasks (multi-task). */
const figure = (e: EpochEntry): number | undefined => e.score ?? e.valid?.['ndcg@10'];

export function reachTimes(log: EpochEntry[], target: number): { epoch: number; seconds: number; cpuSeconds: number } | undefined {
  let seconds = 0;
  let cpu = 0;
  for (const e of log) {
    seconds += e.seconds;
    cpu += e.cpuSeconds ?? 0;
    const v = figure(e);
    if (v !== undefined && v >= target) return { epoch: e.epoch, seconds, cpuSeconds: cpu };
  }
  return undefined;
}

function main() {
  const f = parseFlags(process.argv.slice(2), { cold: 'string', warm: 'string' });
  if (!f.cold || !f.warm) throw new UsageError('usage: warm-start-report --cold DIR --warm DIR');
  const read = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'training.json'), 'utf8'));
  const cold = read(f.cold as string);
  const warm = read(f.warm as string);
  const best = (log: EpochEntry[]) => log.reduce((b, e) => Math.max(b, figure(e) ?? -1), -1);
  const target = best(cold.training.log);
  const sum = (log: EpochEntry[], k: 'seconds' | 'cpuSeconds') => log.reduce((s, e) => s + (e[k] ?? 0), 0);
  const row = (name: string, s: any) => {
    const log: EpochEntry[] = s.training.log;
    const r = reachTimes(log, target);
    const ev = s.evaluation && typeof s.evaluation === 'object' ? Object.fromEntries(Object.entries(s.evaluation).filter(([k]) => k.startsWith('model/'))) : {};
    return {
      run: name, initFrom: s.initFrom ? s.initFrom.items : null, start: log[0]?.epoch === 0 ? figure(log[0]) : null,
      best: best(log), bestEpoch: s.training.bestEpoch, epochs: s.training.epochs,
      reach: r ?? 'not reached', totalSeconds: Math.round(sum(log, 'seconds')), totalCpuSeconds: Math.round(sum(log, 'cpuSeconds')), heldOut: ev,
    };
  };
  console.log(JSON.stringify({ target, cold: row('cold', cold), warm: row('warm', warm) }, null, 1));
}

main();
