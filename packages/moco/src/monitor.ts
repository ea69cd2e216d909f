import { MOCO_CXR_DEFAULTS } from './defaults';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import type { MocoBackbone } from './moco';
import { toTensor, type Normalization } from '@moco-cxr/cxr-augment';
import type { ImageSet } from '@moco-cxr/cxr-data';
import { auroc, fitLogisticRegression, knnScores, stratifiedSplit } from '@moco-cxr/eval-metrics';

/**
 * The monitor's probe rows: up to `size` rows with a known label (NaN = unknown), a seeded sample
 * of all rows, so a file order sorted by class does not leave one class out of the probe.
 */
export function sampleProbeRows(labels: ArrayLike<number>, size: number, seed: number): number[] {
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`sampleProbeRows: size must be a positive integer, got ${size}`);
  return new Rng(seed)
    .shuffle(Array.from({ length: labels.length }, (_, i) => i))
    .filter((i) => !Number.isNaN(labels[i]))
    .slice(0, size);
}

/** A small labelled set (binary labels, 0 / 1, one per image) the monitor embeds every epoch. */
export interface ProbeSet {
  images: ImageSet;
  labels: ArrayLike<number>;
}

export interface MonitorOptions {
  probe: ProbeSet;
  /** Evaluate every this many epochs (and after the last). Default 1. */
  everyEpochs?: number;
  /** kNN neighbours (cosine). Default 20. */
  knnK?: number;
  /** Share of the probe set the probes are fitted on; the rest scores them. Default 0.5. */
  trainFraction?: number;
  /** L2 penalty of the logistic regression on standardised features. Default 1. */
  l2?: number;
  /** Seed of the fixed probe split. Default 0. */
  seed?: number;
  /** Images embedded per forward pass. Default 64. */
  batchSize?: number;
  /** How probe pixels become floats; default as the pretraining augmentation ('cxr', 3 channels). */
  normalize?: Normalization;
  channels?: 1 | 3;
}

export interface ProbeScores {
  /** AUROC of the L2 logistic regression fitted on the probe-train rows, scored on probe-test rows. */
  linearAuroc: number;
  /** AUROC of cosine kNN (probe-train rows as the memory), on probe-test rows. */
  knnAuroc: number;
  trainRows: number;
  testRows: number;
}

type EmbedOptions = { indices?: ArrayLike<number>; batchSize?: number; normalize?: Normalization; channels?: 1 | 3 };

/** Embeds images with a backbone in eval mode (running BatchNorm statistics); returns n x featureDim floats. */
export function embedProbeImages(backbone: Pick<MocoBackbone, 'inputShape' | 'featureDim' | 'embed'>, images: ImageSet, options: EmbedOptions = {}): Float32Array {
  const out = new Float32Array(probeRows(options, images) * backbone.featureDim);
  for (const { start, feats } of probeBatches(backbone, images, options)) {
    try {
      out.set(feats.dataSync(), start * backbone.featureDim);
    } finally {
      feats.dispose();
    }
  }
  return out;
}

/** embedProbeImages with asynchronous reads: works on every backend (webgpu in Node included). */
export async function embedProbeImagesAsync(backbone: Pick<MocoBackbone, 'inputShape' | 'featureDim' | 'embed'>, images: ImageSet, options: EmbedOptions = {}): Promise<Float32Array> {
  const out = new Float32Array(probeRows(options, images) * backbone.featureDim);
  for (const { start, feats } of probeBatches(backbone, images, options)) {
    try {
      out.set(await feats.data(), start * backbone.featureDim);
    } finally {
      feats.dispose();
    }
  }
  return out;
}

function probeRows(options: EmbedOptions, images: ImageSet): number {
  return options.indices?.length ?? images.count;
}

/** The features of each batch, in order; the caller disposes each. */
function* probeBatches(backbone: Pick<MocoBackbone, 'inputShape' | 'featureDim' | 'embed'>, images: ImageSet, options: EmbedOptions): Generator<{ start: number; feats: tf.Tensor2D }> {
  const [h, w, c] = backbone.inputShape;
  if (images.height !== h || images.width !== w) {
    throw new Error(`embedProbeImages: images are ${images.height} x ${images.width}, the backbone takes ${h} x ${w}`);
  }
  const channels = options.channels ?? (c === 1 ? 1 : 3);
  const indices = options.indices ?? Int32Array.from({ length: images.count }, (_, i) => i);
  const batchSize = options.batchSize ?? 64;
  for (let start = 0; start < indices.length; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, indices.length - start) }, (_, i) => indices[start + i]);
    const pixels = images.read(idx);
    yield { start, feats: tf.tidy(() => backbone.embed(toTensor(pixels, { count: idx.length, height: h, width: w }, { normalize: options.normalize ?? 'cxr', channels }), { training: false })) };
  }
}

/**
 * The online monitor: a fixed stratified split of a labelled probe set, and quick linear-probe
 * and kNN AUROCs of a backbone's frozen features on it.
 */
export class OnlineMonitor {
  readonly everyEpochs: number;
  readonly train: number[];
  readonly test: number[];
  private readonly options: MonitorOptions;
  private readonly labels: Float64Array;

  constructor(options: MonitorOptions) {
    const { probe } = options;
    if (probe.labels.length !== probe.images.count) {
      throw new Error(`OnlineMonitor: probe has ${probe.images.count} images but ${probe.labels.length} labels`);
    }
    this.options = options;
    this.everyEpochs = options.everyEpochs ?? 1;
    if (!Number.isInteger(this.everyEpochs) || this.everyEpochs < 1) throw new RangeError(`OnlineMonitor: everyEpochs must be a positive integer, got ${this.everyEpochs}`);
    this.labels = Float64Array.from(probe.labels);
    const rng = new Rng(options.seed ?? 0);
    const split = stratifiedSplit(this.labels, options.trainFraction ?? 0.5, (rows) => rng.shuffle(rows));
    this.train = split.train;
    this.test = split.test;
  }

  evaluate(backbone: Pick<MocoBackbone, 'inputShape' | 'featureDim' | 'embed'>): ProbeScores {
    return this.score(embedProbeImages(backbone, this.options.probe.images, this.embedOptions()), backbone.featureDim);
  }

  /** evaluate() with asynchronous reads: works on every backend (webgpu in Node included). */
  async evaluateAsync(backbone: Pick<MocoBackbone, 'inputShape' | 'featureDim' | 'embed'>): Promise<ProbeScores> {
    return this.score(await embedProbeImagesAsync(backbone, this.options.probe.images, this.embedOptions()), backbone.featureDim);
  }

  private embedOptions(): EmbedOptions {
    return { batchSize: this.options.batchSize, normalize: this.options.normalize, channels: this.options.channels };
  }

  private score(feats: Float32Array, d: number): ProbeScores {
    const rows = (idx: number[]) => {
      const out = new Float64Array(idx.length * d);
      idx.forEach((r, i) => out.set(feats.subarray(r * d, (r + 1) * d), i * d));
      return out;
    };
    const xTrain = rows(this.train);
    const xTest = rows(this.test);
    const yTrain = this.train.map((r) => this.labels[r]);
    const yTest = this.test.map((r) => this.labels[r]);
    const model = fitLogisticRegression(xTrain, yTrain, d, { l2: this.options.l2 ?? 1 });
    const linearAuroc = auroc(yTest, model.decision(xTest, this.test.length));
    const knnAuroc = auroc(yTest, knnScores(xTrain, yTrain, xTest, d, { k: this.options.knnK ?? MOCO_CXR_DEFAULTS.knnK }));
    return { linearAuroc, knnAuroc, trainRows: this.train.length, testRows: this.test.length };
  }
}
