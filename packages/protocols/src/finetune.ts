import * as tf from '@tensorflow/tfjs-core';
// Fine-tuning needs gradients, which tfjs-core alone does not register: compute registers them (and its kernels).
import { ensureSyncReadable } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import { augment, type AugmentOptions } from '@moco-cxr/cxr-augment';
import type { ImageSet } from '@moco-cxr/cxr-data';
import { saveFinetuneCheckpoint, type CheckpointBackbone } from './checkpoint';
import { checkIndices, embedImages, imagesToTensor, sliceIndices, type ImageInputOptions } from './embed';
import { maskedMeanAuroc, requireScorable, toLabelMatrix, type LabelMatrix, type LabelsInput } from './labels';
import { scoreFeatures, type LinearHead, type ProtocolEvalRecord, type ProtocolProgress } from './linear';
import { PROTOCOL_DEFAULTS, resolveSchedule } from './schedule';
import { TopK } from './topk';
import { restoreWeights, snapshotWeights, type WeightsSnapshot } from './weights-snapshot';

export { restoreWeights, snapshotWeights } from './weights-snapshot';
export type { WeightsSnapshot } from './weights-snapshot';

export interface FinetuneProtocolOptions extends ImageInputOptions {
  /** Trained in place; at the end it holds the best weights by validation AUROC. */
  backbone: CheckpointBackbone;
  trainImages: ImageSet;
  /** One label row per image of `trainImages` (cxr-data's N x K layout, NaN = masked). */
  trainLabels: LabelsInput;
  /** The images of this draw; default all of `trainImages`. */
  trainIndices?: ArrayLike<number>;
  valImages: ImageSet;
  /** One label row per image of `valImages`. */
  valLabels: LabelsInput;
  valIndices?: ArrayLike<number>;
  /** Label fraction of this draw: sets epochs = int(5 * 4^log8(1/fraction)) and the validation interval. */
  fraction?: number;
  epochs?: number;
  /** Validation interval in training examples; default min(2^17 * fraction, 8192), or one epoch. */
  evalEvery?: number;
  /** Adam learning rate; paper 1e-4. */
  lr?: number;
  /** Paper 16. */
  batchSize?: number;
  /** Images per forward pass when validating; default 32. */
  evalBatchSize?: number;
  /** L2 added to the gradient (torch.optim.Adam's weight_decay); default 0. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  /** Default 1e-8, torch's (tfjs defaults to 1e-7). */
  epsilon?: number;
  /**
   * Training augmentation (cxr-augment options; the paper's is PROTOCOL_DEFAULTS.finetuneAugment);
   * its output size must be the images' size. Omit for none. Normalisation and channels come
   * from this object's `normalize`/`channels`, else from the top-level ones.
   */
  augment?: AugmentOptions;
  /** Keep the top-k snapshots by validation AUROC for an ensemble; default 1. */
  topK?: number;
  seed?: number;
  /** Where the best checkpoint is written (atomically) whenever validation improves. */
  checkpointPath?: string;
  /** Prefix of the head's keys in the checkpoint; default torchvision's ('fc', or 'classifier' for DenseNet). */
  headName?: string;
  onProgress?: (progress: ProtocolProgress) => void;
}

export interface FinetuneSnapshot {
  weights: WeightsSnapshot;
  head: LinearHead;
  valAuroc: number;
  examples: number;
}

export interface FinetuneProtocolResult {
  /** The same backbone object, restored to the best snapshot. */
  backbone: CheckpointBackbone;
  head: LinearHead;
  bestValAuroc: number;
  bestExamples: number;
  /** Kept snapshots, best first (length topK at most). */
  top: FinetuneSnapshot[];
  history: ProtocolEvalRecord[];
  epochs: number;
  evalEvery: number;
  steps: number;
  checkpointPath?: string;
}

let headCounter = 0;

/**
 * MoCo-CXR's end-to-end protocol: backbone plus a new Linear(d, K) head, everything trainable,
 * BatchNorm in training mode, Adam, BCE with NaN labels masked (U-Ignore), validation every
 * `evalEvery` examples and at the end, keeping the best snapshot by validation AUROC.
 */
export async function finetuneProtocol(options: FinetuneProtocolOptions): Promise<FinetuneProtocolResult> {
  const fn = 'finetuneProtocol';
  const { backbone, trainImages, valImages } = options;
  const trainIndices = options.trainIndices ?? range(trainImages.count);
  const valIndices = options.valIndices ?? range(valImages.count);
  checkIndices(trainImages, trainIndices, `${fn} trainIndices`);
  checkIndices(valImages, valIndices, `${fn} valIndices`);
  const trainAll = toLabelMatrix(options.trainLabels, trainImages.count, `${fn} trainLabels`);
  const valAll = toLabelMatrix(options.valLabels, valImages.count, `${fn} valLabels`);
  if (trainAll.tasks !== valAll.tasks) throw new RangeError(`${fn}: trainLabels have ${trainAll.tasks} tasks, valLabels ${valAll.tasks}`);
  const train = selectRows(trainAll, trainIndices);
  const val = selectRows(valAll, valIndices);
  requireScorable(val, `${fn} valLabels`);
  if (!train.values.some((v) => !Number.isNaN(v))) throw new RangeError(`${fn}: every training label of the draw is NaN (masked)`);

  // tfjs-core registers no gradients by itself; @moco-cxr/compute's initBackend() does.
  if (!tf.getGradient('RealDiv')) {
    throw new Error(`${fn}: tfjs has no gradients registered; call initBackend() from @moco-cxr/compute first (or import '@tensorflow/tfjs-core/dist/register_all_gradients')`);
  }
  const lr = options.lr ?? PROTOCOL_DEFAULTS.lr;
  const batchSize = options.batchSize ?? PROTOCOL_DEFAULTS.batchSize;
  const weightDecay = options.weightDecay ?? 0;
  if (!Number.isInteger(batchSize) || batchSize < 2) {
    throw new RangeError(`${fn}: batchSize must be an integer >= 2 (training-mode BatchNorm needs 2 images), got ${batchSize}`);
  }
  const nTrain = trainIndices.length;
  const { epochs, evalEvery } = resolveSchedule(options, nTrain, fn);
  const K = train.tasks;
  const d = backbone.featureDim;
  const rng = new Rng(options.seed ?? 0);
  const augmentRng = rng.fork();
  const input: ImageInputOptions = { normalize: options.augment?.normalize ?? options.normalize, channels: options.augment?.channels ?? options.channels };
  const evalInput: ImageInputOptions = { ...input, preprocess: options.preprocess };

  // torch.nn.Linear's default init, in tfjs layout [d, K] so the forward is a plain matMul.
  const bound = 1 / Math.sqrt(d);
  const w0 = new Float32Array(d * K);
  for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) w0[j * K + k] = rng.uniform(-bound, bound);
  const b0 = Float32Array.from({ length: K }, () => rng.uniform(-bound, bound));
  const id = ++headCounter;
  const w0t = tf.tensor2d(w0, [d, K]);
  const b0t = tf.tensor1d(b0);
  // tf.variable keeps its initial tensor alive as a separate tensor: dispose it here.
  const headW = tf.variable(w0t, true, `protocols/finetune${id}/head.weight`);
  const headB = tf.variable(b0t, true, `protocols/finetune${id}/head.bias`);
  w0t.dispose();
  b0t.dispose();
  const optimizer = tf.train.adam(lr, options.beta1 ?? PROTOCOL_DEFAULTS.betas[0], options.beta2 ?? PROTOCOL_DEFAULTS.betas[1], options.epsilon ?? 1e-8);
  const varList = [...backbone.trainableVariables(), headW, headB];

  const keeper = new TopK<FinetuneSnapshot>(options.topK ?? 1);
  const history: ProtocolEvalRecord[] = [];
  const stepsPerEpoch = Math.ceil(nTrain / batchSize);
  const totalSteps = stepsPerEpoch * epochs;
  const order = Int32Array.from({ length: nTrain }, (_, i) => i);
  let step = 0;
  let examples = 0;
  let nextEval = evalEvery;
  let lossSum = 0;
  let lossSteps = 0;
  let lastEvalExamples = -1;

  const currentHead = (): LinearHead => {
    const w = headW.dataSync();
    const weight = new Float32Array(K * d);
    for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) weight[k * d + j] = w[j * K + k];
    return { featureDim: d, tasks: K, weight, bias: Float32Array.from(headB.dataSync()) };
  };

  const evaluate = async (epoch: number) => {
    // webgpu in Node reads only asynchronously: the head and the snapshot's weights are read first.
    await ensureSyncReadable([headW, headB, ...backbone.variables.values()]);
    const head = currentHead();
    const features = await embedImages(backbone, valImages, valIndices, { ...evalInput, batchSize: options.evalBatchSize ?? 32 });
    const m = maskedMeanAuroc(val, scoreFeatures(head, features));
    const rank = keeper.offer(m.mean, examples, () => ({ weights: snapshotWeights(backbone), head, valAuroc: m.mean, examples }));
    if (rank === 0 && options.checkpointPath) {
      await saveFinetuneCheckpoint(options.checkpointPath, backbone, head, {
        headName: options.headName,
        metadata: { valAuroc: String(m.mean), examples: String(examples), step: String(step), epoch: String(examples / nTrain) },
      });
    }
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

  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = 0; i < nTrain; i++) order[i] = i;
      rng.shuffle(order);
      for (let start = 0; start < nTrain; start += batchSize) {
        const end = Math.min(start + batchSize, nTrain);
        // A last batch of one image cannot be normalised by its own statistics: torch would fail, so it joins no step.
        if (end - start < 2) {
          examples += end - start;
          continue;
        }
        const rows = sliceIndices(order, start, end);
        const labels = new Float32Array(rows.length * K);
        let labelled = 0;
        rows.forEach((r, i) => {
          for (let k = 0; k < K; k++) {
            const y = train.values[r * K + k];
            labels[i * K + k] = y;
            if (!Number.isNaN(y)) labelled++;
          }
        });
        examples += rows.length;
        if (labelled > 0) {
          const imageRows = rows.map((r) => trainIndices[r]);
          const loss = tf.tidy(() => {
            const x = batchTensor(trainImages, imageRows, input, options.augment, augmentRng);
            const y = tf.tensor2d(labels, [rows.length, K]);
            const { value, grads } = tf.variableGrads(() => {
              const z = tf.add(tf.matMul(backbone.embed(x, { training: true }), headW), headB) as tf.Tensor2D;
              return maskedBceWithLogits(z, y);
            }, varList);
            if (weightDecay > 0) {
              for (const v of varList) grads[v.name] = tf.add(grads[v.name], tf.mul(v, weightDecay));
            }
            optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
            return value;
          });
          const lossValue = (await loss.data())[0];
          loss.dispose();
          if (!Number.isFinite(lossValue)) {
            throw new Error(`${fn}: loss became ${lossValue} at step ${step + 1} (epoch ${epoch + 1}); lower lr or check the inputs`);
          }
          step++;
          lossSum += lossValue;
          lossSteps++;
          options.onProgress?.({ phase: 'train', epoch, epochs, step, steps: totalSteps, examples, loss: lossValue });
        }
        if (examples >= nextEval) {
          await evaluate(epoch);
          while (nextEval <= examples) nextEval += evalEvery;
        }
      }
    }
    if (lastEvalExamples !== examples) await evaluate(epochs - 1);
  } finally {
    optimizer.dispose();
    headW.dispose();
    headB.dispose();
  }

  const best = keeper.best;
  if (!best) throw new Error(`${fn}: no validation produced a finite AUROC`);
  restoreWeights(backbone, best.value.weights);
  return {
    backbone,
    head: best.value.head,
    bestValAuroc: best.valAuroc,
    bestExamples: best.examples,
    top: keeper.entries.map((e) => e.value),
    history,
    epochs,
    evalEvery,
    steps: step,
    checkpointPath: options.checkpointPath,
  };
}

/** Mean BCE-with-logits over the entries whose label is not NaN (U-Ignore). */
export function maskedBceWithLogits(logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const mask = tf.logicalNot(tf.isNaN(labels));
    const y = tf.where(mask, labels, tf.zerosLike(labels));
    // Stable form: max(z, 0) - z*y + log(1 + exp(-|z|)).
    const perEntry = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    const m = tf.cast(mask, 'float32');
    return tf.div(tf.sum(tf.mul(perEntry, m)), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
  });
}

function batchTensor(images: ImageSet, indices: number[], input: ImageInputOptions, options: AugmentOptions | undefined, rng: Rng): tf.Tensor4D {
  if (!options) return imagesToTensor(images, indices, { normalize: input.normalize, channels: input.channels });
  const pixels = images.read(indices);
  const batch = { pixels, count: indices.length, height: images.height, width: images.width };
  return augment(batch, { ...options, normalize: input.normalize ?? 'cxr', channels: input.channels ?? 3 }, rng);
}

function selectRows(labels: LabelMatrix, indices: ArrayLike<number>): LabelMatrix {
  const { tasks } = labels;
  const values = new Float32Array(indices.length * tasks);
  for (let i = 0; i < indices.length; i++) values.set(labels.values.subarray(indices[i] * tasks, (indices[i] + 1) * tasks), i * tasks);
  return { rows: indices.length, tasks, values };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
