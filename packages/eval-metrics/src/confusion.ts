import { checkBinaryInputs } from './validate';
import { rocCurveNamed } from './curves';

export interface Confusion {
  threshold: number;
  /** Positives with score >= threshold. */
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** tp / (tp + fn), recall, true-positive rate. */
  sensitivity: number;
  /** tn / (tn + fp). */
  specificity: number;
  /** tp / (tp + fp), precision. */
  ppv: number;
  /** tn / (tn + fn). */
  npv: number;
  /** 2 tp / (2 tp + fp + fn). */
  f1: number;
}

/**
 * Confusion counts and rates when rows with score >= threshold are called positive.
 * A rate whose denominator is 0 (e.g. PPV when nothing is called positive) is NaN.
 */
export function confusionAt(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number): Confusion {
  const n = checkBinaryInputs(labels, scores, 'confusionAt');
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new RangeError(`confusionAt: threshold is ${threshold}; expected a number (Infinity allowed)`);
  }
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    const called = scores[i] >= threshold;
    if (labels[i] === 1) {
      if (called) tp++;
      else fn++;
    } else if (called) fp++;
    else tn++;
  }
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    sensitivity: ratio(tp, tp + fn),
    specificity: ratio(tn, tn + fp),
    ppv: ratio(tp, tp + fp),
    npv: ratio(tn, tn + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
  };
}

function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : a / b;
}

export interface YoudenPoint {
  /** Call rows with score >= threshold positive. Infinity if no threshold beats calling nothing positive. */
  threshold: number;
  /** Youden's J = sensitivity + specificity - 1. */
  j: number;
  sensitivity: number;
  specificity: number;
}

/**
 * The ROC threshold maximising Youden's J (tpr - fpr); on ties the highest threshold,
 * i.e. `argmax(tpr - fpr)` over scikit-learn's `roc_curve`.
 */
export function youdenThreshold(labels: ArrayLike<number>, scores: ArrayLike<number>): YoudenPoint {
  const { fpr, tpr, thresholds } = rocCurveNamed(labels, scores, {}, 'youdenThreshold');
  let best = 0;
  for (let k = 1; k < fpr.length; k++) {
    if (tpr[k] - fpr[k] > tpr[best] - fpr[best]) best = k;
  }
  return { threshold: thresholds[best], j: tpr[best] - fpr[best], sensitivity: tpr[best], specificity: 1 - fpr[best] };
}
