import { checkBinaryInputs } from './validate';

/**
 * Area under the ROC curve, exact, O(n log n): the Mann-Whitney U statistic with
 * average ranks for tied scores (scikit-learn's `roc_auc_score`).
 */
export function auroc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = checkBinaryInputs(labels, scores, 'auroc');
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSumPositives = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end++;
    // Tied scores share the mean of the ranks start+1 .. end.
    const averageRank = (start + 1 + end) / 2;
    for (let j = start; j < end; j++) {
      if (labels[order[j]] === 1) {
        positives++;
        rankSumPositives += averageRank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw new RangeError(`auroc: needs both classes, got ${positives} positives and ${negatives} negatives`);
  }
  return (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
}
