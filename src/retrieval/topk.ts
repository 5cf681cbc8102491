/** Partial top-k selection over score arrays (scoring and ranking). */

/** Keeps the n largest (value, index) pairs seen: a min-heap, O(log n) per accepted value. */
export class TopK {
  readonly values: Float32Array;
  readonly indices: Int32Array;
  size = 0;
  constructor(readonly n: number) {
    this.values = new Float32Array(n);
    this.indices = new Int32Array(n);
  }

  /** Smallest kept value (-Infinity until full): values not above it can be skipped. */
  get threshold(): number {
    return this.size < this.n ? -Infinity : this.values[0];
  }

  push(value: number, index: number): void {
    const v = this.values;
    const ix = this.indices;
    if (this.size < this.n) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (v[p] <= value) break;
        v[i] = v[p]; ix[i] = ix[p]; i = p;
      }
      v[i] = value; ix[i] = index;
      return;
    }
    if (value > v[0]) this.replaceMin(value, index);
  }

  /** Full heap: the kept minimum gives way to (value, index), sifted down to its place. */
  private replaceMin(value: number, index: number): void {
    const v = this.values;
    const ix = this.indices;
    const n = this.n;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && v[r] < v[l] ? r : l;
      if (v[c] >= value) break;
      v[i] = v[c]; ix[i] = ix[c]; i = c;
    }
    v[i] = value; ix[i] = index;
  }

  /** Pushes scores[0..len) with indices offset + i. */
  pushAll(scores: Float32Array, len: number, offset: number): void {
    let i = 0;
    while (i < len && this.size < this.n) { this.push(scores[i], offset + i); i++; }
    if (i >= len) return;
    // Full: the threshold in a local (the hot loop of scoring large catalogs); few values pass it.
    const v = this.values;
    let t = v[0];
    for (; i < len; i++) {
      const s = scores[i];
      if (!(s > t)) continue;
      this.replaceMin(s, offset + i);
      t = v[0];
    }
  }

  /** The kept indices, best first (ties: lower index first). */
  sortedIndices(): Int32Array {
    const v = this.values;
    const ix = this.indices;
    const order = new Int32Array(this.size);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => v[b] - v[a] || ix[a] - ix[b]);
    for (let i = 0; i < order.length; i++) order[i] = ix[order[i]];
    return order;
  }
}

/** The k-th largest value (1-based) of `a` (reordered in place): quickselect. */
export function kthLargest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1; // position in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) { const x = a[i]; a[i] = a[j]; a[j] = x; i++; j--; }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}

/**
 * The `n` best of scores[0..len) (ties: the lower rows), in ascending row order, with their scores.
 * A threshold from a strided sample keeps ~1.5n candidates in one scan, and a quickselect cuts them
 * to n: no heap, no sort (ranking sorts its candidates; a stable sort of rows in row order breaks
 * ties the same way as best-first order with lower rows first). When the sample misjudges the
 * threshold (or for small inputs) the quickselect runs over every row.
 */
export function selectTop(scores: Float32Array, len: number, n: number): { rows: Int32Array; scores: Float32Array } {
  n = Math.min(n, len);
  let rows: Int32Array | null = null;
  let vals: Float32Array | null = null;
  let count = 0;
  if (len > 4 * n) {
    const m = Math.min(len, 2048);
    const stride = len / m;
    const sample = new Float64Array(m);
    for (let j = 0; j < m; j++) sample[j] = scores[Math.floor(j * stride)];
    const want = Math.min(m, Math.ceil(((n * m) / len) * 1.5) + 16);
    const t = kthLargest(sample, want);
    const cap = 4 * n + 64;
    rows = new Int32Array(cap);
    vals = new Float32Array(cap);
    for (let i = 0; i < len; i++) {
      const s = scores[i];
      if (s >= t) {
        if (count === cap) { count = -1; break; }
        rows[count] = i; vals[count] = s; count++;
      }
    }
    if (count < n) rows = null; // the sample misjudged the threshold: take every row
  }
  if (!rows || !vals) {
    rows = new Int32Array(len);
    for (let i = 0; i < len; i++) rows[i] = i;
    vals = scores.subarray(0, len);
    count = len;
  }
  if (count === n) return { rows: rows.slice(0, n), scores: vals.slice(0, n) };
  const vn = kthLargest(Float64Array.from(vals.subarray(0, count)), n);
  let above = 0;
  for (let i = 0; i < count; i++) if (vals[i] > vn) above++;
  let ties = n - above;
  const outRows = new Int32Array(n);
  const outScores = new Float32Array(n);
  let o = 0;
  for (let i = 0; i < count && o < n; i++) {
    const v = vals[i];
    if (v > vn || (v === vn && ties-- > 0)) { outRows[o] = rows[i]; outScores[o] = v; o++; }
  }
  return { rows: outRows, scores: outScores };
}
