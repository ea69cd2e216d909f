import { requireBothClasses, splitByClass, type SplitScores } from './validate';

/** Cumulative counts at each distinct score, highest score first (scikit-learn's `_binary_clf_curve`). */
export interface ThresholdCounts {
  /** Distinct scores, descending. */
  thresholds: Float64Array;
  /** Positives with score >= thresholds[k]. */
  tps: Float64Array;
  /** Negatives with score >= thresholds[k]. */
  fps: Float64Array;
}

export function thresholdCounts({ positives, negatives }: SplitScores): ThresholdCounts {
  const thresholds: number[] = [];
  const tps: number[] = [];
  const fps: number[] = [];
  let i = positives.length - 1;
  let j = negatives.length - 1;
  let tp = 0;
  let fp = 0;
  while (i >= 0 || j >= 0) {
    const v = i < 0 ? negatives[j] : j < 0 ? positives[i] : Math.max(positives[i], negatives[j]);
    while (i >= 0 && positives[i] === v) {
      tp++;
      i--;
    }
    while (j >= 0 && negatives[j] === v) {
      fp++;
      j--;
    }
    thresholds.push(v);
    tps.push(tp);
    fps.push(fp);
  }
  return { thresholds: Float64Array.from(thresholds), tps: Float64Array.from(tps), fps: Float64Array.from(fps) };
}

export interface RocCurve {
  /** False-positive rate at each threshold, from 0 up to 1. */
  fpr: Float64Array;
  /** True-positive rate at each threshold, from 0 up to 1. */
  tpr: Float64Array;
  /** Descending; a row is called positive when its score >= threshold. thresholds[0] is Infinity (nothing called positive). */
  thresholds: Float64Array;
}

export interface RocCurveOptions {
  /** Drop points on straight segments, as scikit-learn's default. Default true. */
  dropIntermediate?: boolean;
}

/**
 * ROC curve as scikit-learn's `roc_curve` (same points, same order), except that the first
 * threshold is Infinity as in scikit-learn >= 1.3 rather than `max score + 1`.
 */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>, options: RocCurveOptions = {}): RocCurve {
  return rocCurveNamed(labels, scores, options, 'rocCurve');
}

/** rocCurve whose errors name the public function `fn` that called it. */
export function rocCurveNamed(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: RocCurveOptions,
  fn: string,
): RocCurve {
  const split = splitByClass(labels, scores, fn);
  requireBothClasses(split, fn);
  let { thresholds, tps, fps } = thresholdCounts(split);
  if ((options.dropIntermediate ?? true) && fps.length > 2) {
    // Keep the ends and every point where the curve bends (second difference non-zero).
    const keep: number[] = [0];
    for (let k = 1; k < fps.length - 1; k++) {
      const d2f = fps[k + 1] - 2 * fps[k] + fps[k - 1];
      const d2t = tps[k + 1] - 2 * tps[k] + tps[k - 1];
      if (d2f !== 0 || d2t !== 0) keep.push(k);
    }
    keep.push(fps.length - 1);
    thresholds = Float64Array.from(keep, (k) => thresholds[k]);
    tps = Float64Array.from(keep, (k) => tps[k]);
    fps = Float64Array.from(keep, (k) => fps[k]);
  }
  const m = thresholds.length + 1;
  const fpr = new Float64Array(m);
  const tpr = new Float64Array(m);
  const out = new Float64Array(m);
  out[0] = Infinity;
  const p = tps[tps.length - 1];
  const n = fps[fps.length - 1];
  for (let k = 1; k < m; k++) {
    fpr[k] = fps[k - 1] / n;
    tpr[k] = tps[k - 1] / p;
    out[k] = thresholds[k - 1];
  }
  return { fpr, tpr, thresholds: out };
}

export interface PrCurve {
  /** Precision per threshold, ascending thresholds, with a final 1 (scikit-learn's layout). */
  precision: Float64Array;
  /** Recall per threshold, ascending thresholds (so descending recall), with a final 0. */
  recall: Float64Array;
  /** Distinct scores, ascending; one fewer than precision/recall. */
  thresholds: Float64Array;
}

/** Precision-recall curve exactly as scikit-learn 1.2's `precision_recall_curve` (same points, same order). Needs at least one positive. */
export function prCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): PrCurve {
  const split = splitByClass(labels, scores, 'prCurve');
  if (split.positives.length === 0) throw new RangeError('prCurve: needs at least one positive label, got none');
  const { thresholds, tps, fps } = thresholdCounts(split);
  const k = thresholds.length;
  const precision = new Float64Array(k + 1);
  const recall = new Float64Array(k + 1);
  const ascending = new Float64Array(k);
  const p = tps[k - 1];
  for (let t = 0; t < k; t++) {
    const r = k - 1 - t;
    precision[t] = tps[r] / (tps[r] + fps[r]);
    recall[t] = tps[r] / p;
    ascending[t] = thresholds[r];
  }
  precision[k] = 1;
  recall[k] = 0;
  return { precision, recall, thresholds: ascending };
}

/**
 * Average precision as scikit-learn's `average_precision_score`: the step sum
 * over thresholds of (R_k - R_{k-1}) * P_k, with no interpolation. Needs at least one positive.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const split = splitByClass(labels, scores, 'averagePrecision');
  if (split.positives.length === 0) throw new RangeError('averagePrecision: needs at least one positive label, got none');
  const { tps, fps } = thresholdCounts(split);
  const p = tps[tps.length - 1];
  let ap = 0;
  let previousRecall = 0;
  for (let k = 0; k < tps.length; k++) {
    const recall = tps[k] / p;
    ap += (recall - previousRecall) * (tps[k] / (tps[k] + fps[k]));
    previousRecall = recall;
  }
  return ap;
}
