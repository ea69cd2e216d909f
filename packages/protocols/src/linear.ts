import { Rng } from '@moco-cxr/rng';
import { maskedMeanAuroc, requireScorable, toLabelMatrix, type LabelMatrix, type LabelsInput } from './labels';
import { PROTOCOL_DEFAULTS, resolveSchedule } from './schedule';
import { TopK } from './topk';
import { checkFeatures } from './features';

/** A Linear(d, K) layer in torch's layout: `weight` is K x d row-major, `bias` has K entries. */
export interface LinearHead {
  featureDim: number;
  tasks: number;
  weight: Float32Array;
  bias: Float32Array;
}

/** One validation of a protocol run. */
export interface ProtocolEvalRecord {
  /** Optimiser steps taken so far. */
  step: number;
  /** Training examples seen so far. */
  examples: number;
  /** examples / training-set size. */
  epoch: number;
  /** Mean masked BCE over the steps since the previous validation. */
  trainLoss: number;
  /** Mean validation AUROC over the tasks. */
  valAuroc: number;
  valAurocPerTask: number[];
  /** Whether this validation entered the kept top-k (rank 0 = new best). */
  kept: boolean;
}

/** Progress callback payload shared by the linear and end-to-end protocols. */
export interface ProtocolProgress {
  phase: 'train' | 'eval';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  examples: number;
  loss?: number;
  valAuroc?: number;
  bestValAuroc?: number;
}

export interface LinearProtocolOptions {
  /** Frozen features, row-major N x featureDim (e.g. from `embedImages`). */
  trainFeatures: Float32Array;
  trainLabels: LabelsInput;
  valFeatures: Float32Array;
  valLabels: LabelsInput;
  featureDim: number;
  /** Label fraction of this draw: sets epochs = int(5 * 4^log8(1/fraction)) and the validation interval. */
  fraction?: number;
  /** Overrides the paper's epoch count. */
  epochs?: number;
  /** Overrides the validation interval, in training examples. */
  evalEvery?: number;
  /** Adam learning rate (paper: 1e-4). */
  lr?: number;
  /** Paper: 16. */
  batchSize?: number;
  /** L2 penalty added to the gradient, as torch.optim.Adam's weight_decay. Default 0. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Keep the top-k heads by validation AUROC (the reference code ensembles them). Default 1. */
  topK?: number;
  seed?: number;
  /** Start from these weights instead of torch.nn.Linear's random init (warm start; parity tests). */
  initialHead?: LinearHead;
  onProgress?: (progress: ProtocolProgress) => void;
}

export interface LinearProtocolResult {
  /** The head with the best validation AUROC. */
  head: LinearHead;
  bestValAuroc: number;
  /** Training examples seen when the best head was taken. */
  bestExamples: number;
  /** The kept top-k heads, best first (length 1 unless topK > 1). */
  top: { head: LinearHead; valAuroc: number; examples: number }[];
  history: ProtocolEvalRecord[];
  epochs: number;
  evalEvery: number;
  steps: number;
}

/**
 * FAIR's linear protocol on cached frozen features: only a new Linear(d, K) logistic layer trains,
 * with Adam, masked BCE (NaN labels ignored: U-Ignore), shuffled mini-batches, validation every
 * `evalEvery` examples and at the end, keeping the best head by validation AUROC.
 * Runs in plain float64 JavaScript: at batch 16 a d x K layer is far cheaper than a tensor op's overhead.
 */
export function linearProtocol(options: LinearProtocolOptions): LinearProtocolResult {
  const fn = 'linearProtocol';
  const d = options.featureDim;
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`${fn}: featureDim must be a positive integer, got ${d}`);
  const nTrain = checkFeatures(options.trainFeatures, d, `${fn} trainFeatures`);
  const nVal = checkFeatures(options.valFeatures, d, `${fn} valFeatures`);
  const train = toLabelMatrix(options.trainLabels, nTrain, `${fn} trainLabels`);
  const val = toLabelMatrix(options.valLabels, nVal, `${fn} valLabels`);
  if (train.tasks !== val.tasks) throw new RangeError(`${fn}: trainLabels have ${train.tasks} tasks, valLabels ${val.tasks}`);
  requireScorable(val, `${fn} valLabels`);
  if (!train.values.some((v) => !Number.isNaN(v))) throw new RangeError(`${fn}: every training label is NaN (masked)`);

  const lr = options.lr ?? PROTOCOL_DEFAULTS.lr;
  const batchSize = options.batchSize ?? PROTOCOL_DEFAULTS.batchSize;
  const weightDecay = options.weightDecay ?? 0;
  const beta1 = options.beta1 ?? PROTOCOL_DEFAULTS.betas[0];
  const beta2 = options.beta2 ?? PROTOCOL_DEFAULTS.betas[1];
  const eps = options.epsilon ?? 1e-8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${fn}: batchSize must be a positive integer, got ${batchSize}`);
  if (!(lr > 0)) throw new RangeError(`${fn}: lr must be > 0, got ${lr}`);
  const { epochs, evalEvery } = resolveSchedule(options, nTrain, fn);

  const K = train.tasks;
  const rng = new Rng(options.seed ?? 0);
  // torch.nn.Linear's default init: U(-1/sqrt(d), 1/sqrt(d)) for weight and bias.
  const bound = 1 / Math.sqrt(d);
  const w = new Float64Array(K * d);
  const b = new Float64Array(K);
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-bound, bound);
  for (let k = 0; k < K; k++) b[k] = rng.uniform(-bound, bound);
  if (options.initialHead) {
    const h = options.initialHead;
    if (h.featureDim !== d || h.tasks !== K || h.weight.length !== K * d || h.bias.length !== K) {
      throw new RangeError(`${fn}: initialHead is ${h.tasks} x ${h.featureDim} (weight ${h.weight.length}, bias ${h.bias.length} values); expected ${K} x ${d}`);
    }
    w.set(h.weight);
    b.set(h.bias);
  }
  const mW = new Float64Array(K * d);
  const vW = new Float64Array(K * d);
  const mB = new Float64Array(K);
  const vB = new Float64Array(K);
  const gW = new Float64Array(K * d);
  const gB = new Float64Array(K);

  const stepsPerEpoch = Math.ceil(nTrain / batchSize);
  const totalSteps = stepsPerEpoch * epochs;
  const keeper = new TopK<LinearHead>(options.topK ?? 1);
  const history: ProtocolEvalRecord[] = [];
  const order = new Int32Array(nTrain);
  const X = options.trainFeatures;
  const Y = train.values;
  let step = 0;
  let examples = 0;
  let nextEval = evalEvery;
  let lossSum = 0;
  let lossSteps = 0;
  let lastEvalExamples = -1;

  const evaluate = (epoch: number) => {
    const head = snapshot(w, b, d, K);
    const scores = scoreFeatures(head, options.valFeatures);
    const m = maskedMeanAuroc(val, scores);
    const rank = keeper.offer(m.mean, examples, () => head);
    history.push({
      step,
      examples,
      epoch: examples / nTrain,
      trainLoss: lossSteps > 0 ? lossSum / lossSteps : Number.NaN,
      valAuroc: m.mean,
      valAurocPerTask: m.perTask,
      kept: rank >= 0,
    });
    lossSum = 0;
    lossSteps = 0;
    lastEvalExamples = examples;
    options.onProgress?.({ phase: 'eval', epoch, epochs, step, steps: totalSteps, examples, valAuroc: m.mean, bestValAuroc: keeper.best?.valAuroc });
  };

  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = 0; i < nTrain; i++) order[i] = i;
    rng.shuffle(order);
    for (let start = 0; start < nTrain; start += batchSize) {
      const end = Math.min(start + batchSize, nTrain);
      gW.fill(0);
      gB.fill(0);
      let count = 0;
      let loss = 0;
      for (let r = start; r < end; r++) {
        const row = order[r];
        const xo = row * d;
        for (let k = 0; k < K; k++) {
          const y = Y[row * K + k];
          if (Number.isNaN(y)) continue;
          let z = b[k];
          const wo = k * d;
          for (let j = 0; j < d; j++) z += w[wo + j] * X[xo + j];
          // Stable BCE with logits: max(z,0) - z*y + log(1 + exp(-|z|)).
          loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
          const g = sigmoid(z) - y;
          gB[k] += g;
          for (let j = 0; j < d; j++) gW[wo + j] += g * X[xo + j];
          count++;
        }
      }
      examples += end - start;
      // A batch of masked rows carries no gradient; torch would see a 0/0 loss, so no step is taken.
      if (count > 0) {
        step++;
        const bc1 = 1 - beta1 ** step;
        const bc2 = 1 - beta2 ** step;
        adam(w, gW, mW, vW, 1 / count, weightDecay, lr, beta1, beta2, eps, bc1, bc2);
        adam(b, gB, mB, vB, 1 / count, weightDecay, lr, beta1, beta2, eps, bc1, bc2);
        lossSum += loss / count;
        lossSteps++;
      }
      options.onProgress?.({ phase: 'train', epoch, epochs, step, steps: totalSteps, examples, loss: count > 0 ? loss / count : undefined });
      if (examples >= nextEval) {
        evaluate(epoch);
        while (nextEval <= examples) nextEval += evalEvery;
      }
    }
  }
  if (lastEvalExamples !== examples) evaluate(epochs - 1);

  const best = keeper.best;
  if (!best) throw new Error(`${fn}: no validation produced a finite AUROC`);
  return {
    head: best.value,
    bestValAuroc: best.valAuroc,
    bestExamples: best.examples,
    top: keeper.entries.map((e) => ({ head: e.value, valAuroc: e.valAuroc, examples: e.examples })),
    history,
    epochs,
    evalEvery,
    steps: step,
  };
}

function adam(
  p: Float64Array,
  gradSum: Float64Array,
  m: Float64Array,
  v: Float64Array,
  scale: number,
  weightDecay: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  bc1: number,
  bc2: number,
): void {
  const stepSize = lr / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  for (let i = 0; i < p.length; i++) {
    const g = gradSum[i] * scale + weightDecay * p[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    // torch.optim.Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
    p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBc2 + eps);
  }
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

function snapshot(w: Float64Array, b: Float64Array, featureDim: number, tasks: number): LinearHead {
  return { featureDim, tasks, weight: Float32Array.from(w), bias: Float32Array.from(b) };
}


/**
 * Probabilities sigmoid(x W^T + b), N x K row-major, in float64 so saturated logits keep their order.
 * Several heads (a top-k ensemble) average their probabilities, as the reference code does.
 */
export function scoreFeatures(head: LinearHead | readonly LinearHead[], features: Float32Array): Float64Array {
  const heads = Array.isArray(head) ? (head as readonly LinearHead[]) : [head as LinearHead];
  if (heads.length === 0) throw new RangeError('scoreFeatures: no heads given');
  const { featureDim: d, tasks: K } = heads[0];
  for (const h of heads) {
    if (h.featureDim !== d || h.tasks !== K) throw new RangeError(`scoreFeatures: heads disagree on shape (${h.featureDim}x${h.tasks} vs ${d}x${K})`);
    if (h.weight.length !== d * K || h.bias.length !== K) {
      throw new RangeError(`scoreFeatures: head weight has ${h.weight.length} values and bias ${h.bias.length}; expected ${K}x${d} and ${K}`);
    }
  }
  if (features.length % d !== 0) throw new RangeError(`scoreFeatures: features length ${features.length} is not a multiple of featureDim ${d}`);
  const n = features.length / d;
  const out = new Float64Array(n * K);
  for (const h of heads) {
    for (let i = 0; i < n; i++) {
      const xo = i * d;
      for (let k = 0; k < K; k++) {
        let z = h.bias[k];
        const wo = k * d;
        for (let j = 0; j < d; j++) z += h.weight[wo + j] * features[xo + j];
        out[i * K + k] += sigmoid(z);
      }
    }
  }
  if (heads.length > 1) for (let i = 0; i < out.length; i++) out[i] /= heads.length;
  return out;
}

export type { LabelMatrix };
