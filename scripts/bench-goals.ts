/**
 * The goals of issue #18 against a bench run's rows: each goal with its target, the run's figure
 * and met / not met, as a Markdown table that `npm run bench` prints and (with --goals-doc) writes
 * into docs/benchmarks.md between `<!-- bench:goals -->` and `<!-- /bench:goals -->`. A goal the
 * run did not measure says so ("not run") and is not met.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { BenchResult } from '../bench/main';
import type { FloorProbeAnswer } from '../bench/floor-probe';
import type { PeerRun } from '../bench/peer-compare';

export interface GoalRow extends BenchResult { backendAsked: string; size: string; items: number; floorMs?: number }
export interface Goal { goal: string; target: string; figure: string; met: boolean | 'n/a' | 'not run' }

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`);
const s1 = (x: number) => `${(x / 1000).toFixed(2)} s`;

/** Heap growth over the leak run still counted as flat (GC timing alone moves it by this much). */
export const FLAT_HEAP_BYTES = 2 * 1048576;

export function evaluateGoals(rows: GoalRow[], floor: FloorProbeAnswer | undefined, o: { leakRun: boolean }): Goal[] {
  // A case that failed part-way still has the figures it got to (a cold start, the peer); a goal
  // whose figure it never reached is not met, with the case's error.
  const find = (size: string, backend: string) => rows.find((r) => r.size === size && r.backendAsked === backend);
  const failed = rows.filter((r) => !r.ok);
  const notRun = (goal: string, target: string, why = 'not run'): Goal => {
    const f = failed.find((r) => goal.includes(r.size === '1m' ? '1M' : r.size));
    return f ? { goal, target, figure: `case ${f.label} failed: ${f.error ?? 'unknown error'}`, met: false } : { goal, target, figure: why, met: 'not run' };
  };
  const out: Goal[] = [];

  const w24 = [find('24k', 'wasm'), find('24k', 'auto')].find((r) => r?.scenes?.home);
  const h24 = w24?.scenes?.home;
  if (w24 && h24 && w24.floorMs && floor) {
    const x = h24.worker.median / w24.floorMs;
    out.push({ goal: `24k home call, in the worker (${w24.backendAsked} → ${w24.info?.backend}, history ${w24.homeHistoryUsed})`, target: '≤ 2× floor',
      figure: `${ms(h24.worker.median)} median = ${x.toFixed(1)}× floor ${ms(w24.floorMs)} (peak ${floor.gmacs.toFixed(1)} GMAC/s, register-only wasm SIMD probe)`, met: x <= 2 });
    // Page minus worker call by call (older runs: the difference of the two medians).
    const extra = h24.overhead?.median ?? h24.roundTrip.median - h24.worker.median;
    out.push({ goal: '24k home call, as the page sees it', target: '≤ worker + 0.15 ms',
      figure: `${ms(h24.roundTrip.median)} page vs ${ms(h24.worker.median)} worker (medians): +${extra.toFixed(2)} ms ${h24.overhead ? 'page − worker, median per call' : 'between the medians'}`, met: extra <= 0.15 });
  } else {
    out.push(notRun('24k home call, in the worker', '≤ 2× floor'), notRun('24k home call, as the page sees it', '≤ worker + 0.15 ms'));
  }

  // 1M: the exact list is the top-10 by score, so the timed call is the peer comparison's
  // (diversity 0), whose lists were compared with onnxruntime-web's full float32 pass.
  const m1 = find('1m', 'wasm');
  const exactRuns = m1?.peer?.runs ?? [];
  if (m1 && exactRuns.length > 0) {
    const exact = exactRuns.every((r) => r.top10Same);
    const worst = Math.max(...exactRuns.map((r) => r.scenerec.worker.median));
    out.push({ goal: `1M items, exact list (${m1.info?.scoring?.dtype}, ${m1.info?.scoring?.kernel ?? m1.info?.scoring?.mode}; matrix ${((m1.info?.scoring?.bytes ?? 0) / 1048576).toFixed(0)} MB)`, target: 'exact, ≤ 6 ms',
      figure: `${exactRuns.map((r) => `${r.historyLength}-item ${ms(r.scenerec.worker.median)}`).join(', ')} at diversity 0 (${ms(m1.scenes?.home?.worker.median)} at the defaults); ` +
        `top-10 ${exact ? 'equal to' : 'NOT equal to'} a full float32 pass (onnxruntime-web)`, met: exact && worst <= 6 });
  } else out.push(m1 ? { goal: '1M items, exact list', target: 'exact, ≤ 6 ms', figure: `${ms(m1.scenes?.home?.worker.median)}; exactness not checked (no peer run at 1M)`, met: false }
    : notRun('1M items, exact list', 'exact, ≤ 6 ms'));

  const c24 = [find('24k', 'auto'), find('24k', 'wasm')].find((r) => r?.coldFirstResultMs !== undefined);
  out.push(c24?.coldFirstResultMs !== undefined
    ? { goal: `cold start 24k (${c24.backendAsked}), fresh page → first list`, target: '≤ 1 s', figure: s1(c24.coldFirstResultMs), met: c24.coldFirstResultMs <= 1000 }
    : notRun('cold start 24k', '≤ 1 s'));
  out.push(m1?.coldFirstResultMs !== undefined
    ? { goal: 'cold start 1M, first visit', target: '≤ 3 s', figure: s1(m1.coldFirstResultMs), met: m1.coldFirstResultMs <= 3000 }
    : notRun('cold start 1M, first visit', '≤ 3 s'));
  out.push(m1?.reloadFirstResultMs !== undefined
    ? { goal: 'cold start 1M, returning visit', target: '≤ 1 s', figure: s1(m1.reloadFirstResultMs), met: m1.reloadFirstResultMs <= 1000 }
    : notRun('cold start 1M, returning visit', '≤ 1 s'));

  for (const [size, label] of [['24k', '24k'], ['1m', '1M']] as const) {
    const r = find(size, 'wasm');
    const goal = `ahead of onnxruntime-web per call at ${label}`;
    if (!r?.peer) { out.push(notRun(goal, '≥ 2×')); continue; }
    if (r.peer.error || r.peer.runs.length === 0) { out.push({ goal, target: '≥ 2×', figure: `peer failed: ${r.peer.error ?? 'no runs'}`, met: false }); continue; }
    const same = r.peer.runs.every((x: PeerRun) => x.top10Same);
    const ratios = r.peer.runs.map((x: PeerRun) => `${x.historyLength}-item ${x.ratio.toFixed(2)}× (${ms(x.scenerec.worker.median)} vs ${ms(x.peer.median)})`).join(', ');
    out.push({ goal, target: '≥ 2×, identical top-10',
      figure: `${ratios}; top-10 ${same ? 'identical' : 'MISMATCH (not comparable)'}`, met: same && r.peer.runs.every((x: PeerRun) => x.ratio >= 2) });
  }

  const leaks = rows.filter((r) => r.leak);
  if (!o.leakRun || leaks.length === 0) out.push(notRun('flat memory over 10,000 calls', `no tensor or tf byte growth, heap ≤ +${FLAT_HEAP_BYTES / 1048576} MB`, o.leakRun ? 'not run (no leak case)' : 'not run (--quick)'));
  for (const r of leaks) {
    const l = r.leak!;
    const heap = l.heapBefore !== undefined && l.heapAfter !== undefined ? l.heapAfter - l.heapBefore : undefined;
    out.push({ goal: `flat memory over ${l.calls.toLocaleString('en')} calls (${r.label})`, target: `no tensor or tf byte growth, heap ≤ +${FLAT_HEAP_BYTES / 1048576} MB`,
      figure: `tensors ${l.tensorsBefore} → ${l.tensorsAfter}, tf bytes ${l.bytesBefore} → ${l.bytesAfter}, worker heap ${heap === undefined ? 'unread' : `${heap >= 0 ? '+' : ''}${(heap / 1048576).toFixed(2)} MB`}`,
      met: l.calls >= 10_000 && l.tensorsAfter <= l.tensorsBefore && l.bytesAfter <= l.bytesBefore && heap !== undefined && heap <= FLAT_HEAP_BYTES });
  }
  out.push({ goal: 'no regression in the golden lists', target: 'golden lists unchanged', figure: 'not run by the bench: see tests/unit/golden.test.ts', met: 'n/a' });
  return out;
}

export function goalsTable(goals: Goal[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return ['| goal | target | figure | met |', '|---|---|---|---|',
    ...goals.map((g) => `| ${cell(g.goal)} | ${cell(g.target)} | ${cell(g.figure)} | ${g.met === 'n/a' ? '–' : g.met === 'not run' ? 'not run' : g.met ? 'met' : '**not met**'} |`)].join('\n');
}

export const GOALS_BEGIN = '<!-- bench:goals -->';
export const GOALS_END = '<!-- /bench:goals -->';

/** Replaces what stands between the markers in `file` (appends a section with them when absent). */
export function writeGoalsDoc(file: string, block: string): void {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const body = `${GOALS_BEGIN}\n${block}\n${GOALS_END}`;
  const a = doc.indexOf(GOALS_BEGIN);
  const b = doc.indexOf(GOALS_END);
  const next = a >= 0 && b > a ? doc.slice(0, a) + body + doc.slice(b + GOALS_END.length) : `${doc.trimEnd()}\n\n## Goals of issue #18 (npm run bench)\n\n${body}\n`;
  writeFileSync(file, next);
}
