import { requireBothClasses, splitByClass } from './validate';

/**
 * Area under the ROC curve, exact, O(n log n): the Mann-Whitney U statistic with
 * tied scores counted as half (average ranks), as scikit-learn's `roc_auc_score`.
 * Throws if `labels` and `scores` differ in length, a score is not finite, a label
 * is not 0 or 1, or only one class is present.
 */
export function auroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const split = splitByClass(labels, scores, 'auroc');
  requireBothClasses(split, 'auroc');
  const { positives, negatives } = split;
  // U counts (positive, negative) pairs ranked right, ties as 1/2; integers and halves stay exact in doubles.
  let u = 0;
  let below = 0;
  const nNeg = negatives.length;
  for (let i = 0; i < positives.length; ) {
    const v = positives[i];
    let end = i + 1;
    while (end < positives.length && positives[end] === v) end++;
    while (below < nNeg && negatives[below] < v) below++;
    let equal = below;
    while (equal < nNeg && negatives[equal] === v) equal++;
    u += (end - i) * (below + (equal - below) / 2);
    i = end;
  }
  return u / (positives.length * nNeg);
}
