import { checkLabels, checkScores } from './validate';

/** One draw sorted once: rows in ascending score order, their labels, and which positions end a run of tied scores. */
export interface SortedDraw {
  order: Uint32Array;
  positive: Uint8Array;
  endsGroup: Uint8Array;
}

export function sortDraw(labels: ArrayLike<number>, scores: ArrayLike<number>): SortedDraw {
  const n = labels.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b]);
  const positive = new Uint8Array(n);
  const endsGroup = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    positive[j] = labels[order[j]];
    if (j + 1 === n || scores[order[j + 1]] !== scores[order[j]]) endsGroup[j] = 1;
  }
  return { order, positive, endsGroup };
}

/**
 * AUROC of the resample in which row i appears counts[i] times: one pass over the
 * sorted rows, tied scores counted as half. Exact (integer and half-integer sums),
 * so it equals auroc() on the explicitly resampled arrays. NaN if a class has weight 0.
 */
export function aurocOfCounts(draw: SortedDraw, counts: ArrayLike<number>): number {
  const { order, positive, endsGroup } = draw;
  let u = 0;
  let negativesBelow = 0;
  let positives = 0;
  // p and total: drawn positives and drawn rows in the current run of tied scores.
  let p = 0;
  let total = 0;
  for (let j = 0; j < order.length; j++) {
    const w = counts[order[j]];
    total += w;
    p += w * positive[j];
    if (endsGroup[j] === 1) {
      const q = total - p;
      u += p * (negativesBelow + q / 2);
      negativesBelow += q;
      positives += p;
      p = 0;
      total = 0;
    }
  }
  return positives === 0 || negativesBelow === 0 ? Number.NaN : u / (positives * negativesBelow);
}

/**
 * Sorts one score vector once and returns a scorer of resamples given as per-row
 * multiplicity counts (row i drawn counts[i] times): O(n) per resample instead of a
 * re-sort. The scorer returns NaN when the resample holds one class only, which
 * bootstrapCI treats as a degenerate replicate.
 */
export function aurocFromCounts(labels: ArrayLike<number>, scores: ArrayLike<number>): (counts: ArrayLike<number>) => number {
  checkLabels(labels, 'aurocFromCounts');
  checkScores(scores, labels.length, 'scores', 'aurocFromCounts');
  const draw = sortDraw(labels, scores);
  const n = labels.length;
  return (counts) => {
    if (counts.length !== n) throw new RangeError(`aurocFromCounts: counts has length ${counts.length} but there are ${n} rows`);
    return aurocOfCounts(draw, counts);
  };
}
