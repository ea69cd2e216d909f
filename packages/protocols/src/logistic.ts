import { auroc } from '@moco-cxr/eval-metrics';
import { fitLogisticRegression } from '@moco-cxr/eval-metrics';
import type { LinearHead } from './linear';

export interface LogisticProtocolOptions {
  /** Frozen features, row-major N x featureDim (e.g. from `embedImages`). */
  trainFeatures: Float32Array;
  /** 0/1 labels of one task. */
  trainLabels: ArrayLike<number>;
  valFeatures: Float32Array;
  valLabels: ArrayLike<number>;
  featureDim: number;
  /** L2 penalties tried (scikit-learn's C = 1 / l2, on standardised features); the best validation AUROC wins. */
  l2?: number[];
  maxIterations?: number;
}

export interface LogisticProtocolResult {
  /** The chosen fit as a Linear(d, 1) head on raw features (standardisation folded in). */
  head: LinearHead;
  l2: number;
  valAuroc: number;
  /** Every penalty tried, in the order given. */
  candidates: { l2: number; valAuroc: number; iterations: number }[];
}

/** The default penalty grid: C from 10 down to 0.001 in scikit-learn's terms. */
export const LOGISTIC_L2_GRID = [0.1, 1, 10, 100, 1000];

/**
 * The usual self-supervised linear evaluation, as in the PyTorch reference: an L2
 * logistic regression fitted to convergence (Newton's method, scikit-learn's objective) on
 * standardised frozen features, its penalty chosen on the validation split. Unlike the paper's
 * linear protocol (Adam 1e-4 for a fixed number of epochs) it cannot underfit.
 */
export function logisticProtocol(options: LogisticProtocolOptions): LogisticProtocolResult {
  const { trainFeatures, trainLabels, valFeatures, valLabels, featureDim: d } = options;
  const grid = options.l2 ?? LOGISTIC_L2_GRID;
  if (grid.length === 0 || grid.some((v) => !(v > 0))) throw new RangeError(`logisticProtocol: l2 must be a non-empty list of positive penalties, got ${JSON.stringify(grid)}`);
  if (valFeatures.length !== valLabels.length * d) throw new Error(`logisticProtocol: valFeatures have ${valFeatures.length} values, expected ${valLabels.length} x ${d}`);
  const candidates: LogisticProtocolResult['candidates'] = [];
  let best: { head: LinearHead; l2: number; valAuroc: number } | undefined;
  for (const l2 of grid) {
    const model = fitLogisticRegression(trainFeatures, trainLabels, d, { l2, ...(options.maxIterations ? { maxIterations: options.maxIterations } : {}) });
    const valAuroc = auroc(valLabels, model.decision(valFeatures, valLabels.length));
    candidates.push({ l2, valAuroc, iterations: model.iterations });
    // On a tie the penalty listed first is kept.
    if (!best || valAuroc > best.valAuroc) best = { head: foldStandardisation(model, d), l2, valAuroc };
  }
  return { ...best!, candidates };
}

/** w.(x - mean)/scale + b as a plain Linear(d, 1) on raw features. */
function foldStandardisation(model: { mean: Float64Array; scale: Float64Array; weights: Float64Array; bias: number }, d: number): LinearHead {
  const weight = new Float32Array(d);
  let bias = model.bias;
  for (let j = 0; j < d; j++) {
    const w = model.weights[j] / model.scale[j];
    weight[j] = w;
    bias -= w * model.mean[j];
  }
  return { featureDim: d, tasks: 1, weight, bias: Float32Array.of(bias) };
}
