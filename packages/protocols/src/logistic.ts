import { auroc } from '@moco-cxr/eval-metrics';
import { fitLogisticRegression } from '@moco-cxr/eval-metrics';
import type { LinearHead } from './linear';
import { checkFeatures } from './features';
import { toLabelMatrix, type LabelsInput } from './labels';

export interface LogisticProtocolOptions {
  /** Frozen features, row-major N x featureDim (e.g. from `embedImages`). */
  trainFeatures: Float32Array;
  /** 0/1 labels of one task, or N x K (flat or rows) with NaN = masked: one regression per task on its labelled rows. */
  trainLabels: LabelsInput;
  valFeatures: Float32Array;
  valLabels: LabelsInput;
  featureDim: number;
  /** L2 penalties tried (scikit-learn's C = 1 / l2, on standardised features); the best validation AUROC wins. */
  l2?: number[];
  maxIterations?: number;
}

export interface LogisticTaskFit {
  l2: number;
  valAuroc: number;
  /** Every penalty tried, in the order given. */
  candidates: { l2: number; valAuroc: number; iterations: number }[];
}

export interface LogisticProtocolResult extends LogisticTaskFit {
  /** The chosen fits as one Linear(d, K) head on raw features (standardisation folded in). */
  head: LinearHead;
  /** Per task (one entry per label column); the top-level l2 / candidates are task 0's, valAuroc the mean over tasks. */
  perTask: LogisticTaskFit[];
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
  const fn = 'logisticProtocol';
  const { trainFeatures, valFeatures, featureDim: d } = options;
  const grid = options.l2 ?? LOGISTIC_L2_GRID;
  if (grid.length === 0 || grid.some((v) => !(v > 0))) throw new RangeError(`${fn}: l2 must be a non-empty list of positive penalties, got ${JSON.stringify(grid)}`);
  const valRows = valFeatures.length / d;
  const trainRows = trainFeatures.length / d;
  const valCount = options.valLabels.length > 0 && typeof options.valLabels[0] !== 'number' ? options.valLabels.length : undefined;
  if (!Number.isInteger(valRows) || (valCount !== undefined && valRows !== valCount)) {
    throw new Error(`${fn}: valFeatures have ${valFeatures.length} values, expected ${valCount ?? options.valLabels.length} x ${d}`);
  }
  if (!Number.isInteger(trainRows)) throw new Error(`${fn}: trainFeatures have ${trainFeatures.length} values, not a multiple of featureDim ${d}`);
  checkFeatures(trainFeatures, d, `${fn} trainFeatures`);
  checkFeatures(valFeatures, d, `${fn} valFeatures`);
  const train = toLabelMatrix(options.trainLabels, trainRows, `${fn} trainLabels`);
  const val = toLabelMatrix(options.valLabels, valRows, `${fn} valLabels`);
  if (train.tasks !== val.tasks) throw new RangeError(`${fn}: trainLabels have ${train.tasks} tasks, valLabels ${val.tasks}`);
  const K = train.tasks;
  // One task's labelled rows: their features and 0/1 labels.
  const rowsOf = (m: typeof train, features: Float32Array, k: number) => {
    const idx: number[] = [];
    for (let i = 0; i < m.rows; i++) if (!Number.isNaN(m.values[i * K + k])) idx.push(i);
    const x = new Float32Array(idx.length * d);
    idx.forEach((i, j) => x.set(features.subarray(i * d, (i + 1) * d), j * d));
    return { x, y: idx.map((i) => m.values[i * K + k]), n: idx.length };
  };
  const weight = new Float32Array(K * d);
  const bias = new Float32Array(K);
  const perTask: LogisticTaskFit[] = [];
  for (let k = 0; k < K; k++) {
    const tr = rowsOf(train, trainFeatures, k);
    const va = rowsOf(val, valFeatures, k);
    const candidates: LogisticTaskFit['candidates'] = [];
    let best: { head: LinearHead; l2: number; valAuroc: number } | undefined;
    for (const l2 of grid) {
      const model = fitLogisticRegression(tr.x, tr.y, d, { l2, ...(options.maxIterations ? { maxIterations: options.maxIterations } : {}) });
      const valAuroc = auroc(va.y, model.decision(va.x, va.n));
      candidates.push({ l2, valAuroc, iterations: model.iterations });
      // On a tie the penalty listed first is kept.
      if (!best || valAuroc > best.valAuroc) best = { head: foldStandardisation(model, d), l2, valAuroc };
    }
    weight.set(best!.head.weight, k * d);
    bias[k] = best!.head.bias[0];
    perTask.push({ l2: best!.l2, valAuroc: best!.valAuroc, candidates });
  }
  const valAuroc = perTask.reduce((a, t) => a + t.valAuroc, 0) / K;
  return { head: { featureDim: d, tasks: K, weight, bias }, l2: perTask[0].l2, valAuroc, candidates: perTask[0].candidates, perTask };
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
