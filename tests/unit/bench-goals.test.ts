/**
 * The goals table of `npm run bench` (scripts/bench-goals.ts): thresholds, a peer top-10 mismatch
 * marking the peer goal not met, goals the run did not measure reported as not run, and the doc
 * block written between its markers only.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateGoals, GOALS_BEGIN, GOALS_END, goalsTable, writeGoalsDoc, type GoalRow } from '../../scripts/bench-goals';
import type { FloorProbeAnswer } from '../../bench/floor-probe';
import type { PeerRun } from '../../bench/peer-compare';

const st = (median: number) => ({ median, p95: median, mean: median, n: 10 });
const floor: FloorProbeAnswer = { gmacs: 10, accumulators: 12, unroll: 4, runs: 7, runMs: 60, variants: [{ accumulators: 12, gmacs: 10 }], method: 'register-only wasm SIMD' };
const peerRun = (len: number, mine: number, theirs: number, same = true): PeerRun => ({
  historyLength: len, historyUsed: len, top10Same: same, scenerecTop10: ['a'], peerTop10: same ? ['a'] : ['b'],
  scenerec: { worker: st(mine), roundTrip: st(mine + 0.1) }, peer: st(theirs), ratio: theirs / mine,
});
const row = (size: string, backend: string, o: Partial<GoalRow>): GoalRow => ({ label: `${backend}-${size}`, ok: true, backendAsked: backend, size, items: 0, ...o });

describe('evaluateGoals', () => {
  const rows: GoalRow[] = [
    row('24k', 'wasm', {
      floorMs: 0.2, homeHistoryUsed: 20, coldFirstResultMs: 900, scenes: { home: { worker: st(0.39), roundTrip: st(0.6) } },
      peer: { version: '1.30.0', coldMs: 1, runs: [peerRun(20, 0.4, 1.0), peerRun(50, 0.5, 0.9)] },
    }),
    row('1m', 'wasm', {
      coldFirstResultMs: 2500, reloadFirstResultMs: 1200, scenes: { home: { worker: st(7), roundTrip: st(7.1) } },
      peer: { version: '1.30.0', coldMs: 1, runs: [peerRun(20, 5, 15), peerRun(50, 5.5, 16, false)] },
    }),
  ];
  const goals = evaluateGoals(rows, floor, { leakRun: false });
  const by = (prefix: string) => goals.find((g) => g.goal.startsWith(prefix))!;

  it('compares each figure with its target', () => {
    expect(by('24k home call, in the worker').met).toBe(true); // 0.39 / 0.2 = 1.95x
    expect(by('24k home call, as the page sees it').met).toBe(false); // +0.21 ms
    expect(by('cold start 24k').met).toBe(true);
    // The per-call difference, where the run has it, decides; older runs fall back to the medians' difference.
    const perCall = evaluateGoals([{ ...rows[0], scenes: { home: { worker: st(0.39), roundTrip: st(0.6), overhead: st(0.12) } } }, rows[1]], floor, { leakRun: false });
    const page = perCall.find((g) => g.goal.startsWith('24k home call, as the page sees it'))!;
    expect(page.met).toBe(true);
    expect(page.figure).toContain('+0.12 ms page − worker, median per call');
    expect(by('24k home call, as the page sees it').figure).toContain('+0.21 ms between the medians');
    expect(by('cold start 1M, first').met).toBe(true);
    expect(by('cold start 1M, returning').met).toBe(false);
    expect(by('ahead of onnxruntime-web per call at 24k').met).toBe(false); // 1.8x at 50 items
  });

  it('a top-10 mismatch with the peer fails the peer goal and exactness, and says so', () => {
    expect(by('ahead of onnxruntime-web per call at 1M').met).toBe(false); // ratios 3x, 2.9x but one mismatch
    expect(by('ahead of onnxruntime-web per call at 1M').figure).toMatch(/MISMATCH/);
    expect(by('1M items, exact list').met).toBe(false);
    expect(by('1M items, exact list').figure).toMatch(/NOT equal/);
  });

  it('reports what the run did not measure as not run', () => {
    expect(by('flat memory').met).toBe('not run');
    expect(by('flat memory').figure).toBe('not run (--quick)');
    const none = evaluateGoals([], undefined, { leakRun: true });
    expect(none.filter((g) => g.met === 'not run')).toHaveLength(none.length - 1); // all but the golden-lists pointer
    expect(goalsTable(none)).toMatch(/\| not run \|/);
  });
});

describe('a case that failed part-way', () => {
  it('keeps the figures it reached and fails the goals it did not reach, with its error', () => {
    const rows: GoalRow[] = [row('1m', 'wasm', {
      ok: false, error: 'WorkerLostError: lost', coldFirstResultMs: 36_000, scenes: { home: { worker: st(20), roundTrip: st(21) } },
      peer: { version: '1.30.0', coldMs: 1, runs: [peerRun(20, 10, 40)] },
    })];
    const goals = evaluateGoals(rows, floor, { leakRun: false });
    const by = (prefix: string) => goals.find((g) => g.goal.startsWith(prefix))!;
    expect(by('cold start 1M, first').figure).toBe('36.00 s');
    expect(by('cold start 1M, returning')).toMatchObject({ met: false, figure: 'case wasm-1m failed: WorkerLostError: lost' });
    expect(by('ahead of onnxruntime-web per call at 1M').met).toBe(true);
    expect(by('cold start 24k').met).toBe('not run');
  });
});

describe('writeGoalsDoc', () => {
  it('replaces only what stands between the markers', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'goals-')), 'b.md');
    writeFileSync(file, `# T\n\nbefore\n${GOALS_BEGIN}\nold\n${GOALS_END}\nafter\n`);
    writeGoalsDoc(file, 'new table');
    expect(readFileSync(file, 'utf8')).toBe(`# T\n\nbefore\n${GOALS_BEGIN}\nnew table\n${GOALS_END}\nafter\n`);
  });
});
