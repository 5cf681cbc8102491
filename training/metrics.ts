/** Ranking metrics from the 0-based rank of the held-out item. */
export const CUTOFFS = [1, 5, 10, 20] as const;

export interface RankingMetrics {
  'hr@1': number; 'hr@5': number; 'hr@10': number; 'hr@20': number;
  'ndcg@5': number; 'ndcg@10': number; 'ndcg@20': number;
  mrr: number;
  /** Fraction of catalog items that appear in at least one top-10 list. */
  'coverage@10': number;
  users: number;
}

export class MetricAccumulator {
  private n = 0;
  private hr = new Map<number, number>();
  private ndcg = new Map<number, number>();
  private mrr = 0;
  private covered: Uint8Array;
  constructor(private numItems: number) { this.covered = new Uint8Array(numItems + 1); }

  /** `rank` is how many candidates scored strictly higher than the held-out item. */
  add(rank: number, top10?: ArrayLike<number>): void {
    this.n++;
    for (const k of [1, 5, 10, 20]) {
      if (rank < k) {
        this.hr.set(k, (this.hr.get(k) ?? 0) + 1);
        this.ndcg.set(k, (this.ndcg.get(k) ?? 0) + 1 / Math.log2(rank + 2));
      }
    }
    this.mrr += 1 / (rank + 1);
    if (top10) for (let i = 0; i < top10.length; i++) this.covered[top10[i]] = 1;
  }

  result(): RankingMetrics {
    const n = Math.max(this.n, 1);
    let cov = 0;
    for (let i = 1; i < this.covered.length; i++) cov += this.covered[i];
    const r = (x: number) => Math.round(x * 1e4) / 1e4;
    return {
      'hr@1': r((this.hr.get(1) ?? 0) / n), 'hr@5': r((this.hr.get(5) ?? 0) / n),
      'hr@10': r((this.hr.get(10) ?? 0) / n), 'hr@20': r((this.hr.get(20) ?? 0) / n),
      'ndcg@5': r((this.ndcg.get(5) ?? 0) / n), 'ndcg@10': r((this.ndcg.get(10) ?? 0) / n),
      'ndcg@20': r((this.ndcg.get(20) ?? 0) / n),
      mrr: r(this.mrr / n),
      'coverage@10': r(cov / Math.max(this.numItems, 1)),
      users: this.n,
    };
  }
}

/** Rank of candidate 0 among `scores` (strictly greater count), skipping masked candidates. */
export function rankOfFirst(scores: ArrayLike<number>, mask?: (i: number) => boolean): number {
  const target = scores[0];
  let rank = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > target && !(mask && mask(i))) rank++;
  return rank;
}

/** Indices of the k largest values (descending), skipping excluded indices. */
export function topK(scores: ArrayLike<number>, k: number, exclude?: (i: number) => boolean, from = 0): number[] {
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = from; i < scores.length; i++) {
    const s = scores[i];
    // Values that cannot enter the list are skipped before the (costlier) exclusion test.
    if (idx.length === k && !(s > val[k - 1])) continue;
    if (exclude && exclude(i)) continue;
    if (idx.length < k) {
      let p = idx.length; idx.push(i); val.push(s);
      while (p > 0 && val[p - 1] < s) { idx[p] = idx[p - 1]; val[p] = val[p - 1]; p--; }
      idx[p] = i; val[p] = s;
    } else if (s > val[k - 1]) {
      let p = k - 1;
      while (p > 0 && val[p - 1] < s) { idx[p] = idx[p - 1]; val[p] = val[p - 1]; p--; }
      idx[p] = i; val[p] = s;
    }
  }
  return idx;
}
