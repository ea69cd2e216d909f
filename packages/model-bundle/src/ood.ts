import { embedImages, type ProtocolBackbone } from '@moco-cxr/protocols';
import type { ImageSet } from '@moco-cxr/cxr-data';
import type { ModelBundle } from './bundle';
import type { BundleInput, OodStatistics } from './format';
import { gridImageSet, normalizationOf, toInputGrid, type GreyImage } from './input';

/** Default histogram bins and percentile of the thresholds. */
export const OOD_DEFAULTS = Object.freeze({ bins: 32, percentile: 99 });

/** The grey-level histogram of `pixels` in `bins` equal bins of 0..255, summing to 1. */
export function greyHistogram(pixels: Uint8Array, bins: number): Float64Array {
  const h = new Float64Array(bins);
  for (let i = 0; i < pixels.length; i++) h[Math.floor((pixels[i] * bins) / 256)]++;
  for (let b = 0; b < bins; b++) h[b] /= pixels.length || 1;
  return h;
}

/** Total variation between two histograms: half the L1 distance, in [0, 1]. */
export function histogramDistance(h: ArrayLike<number>, mean: ArrayLike<number>): number {
  let s = 0;
  for (let b = 0; b < h.length; b++) s += Math.abs(h[b] - mean[b]);
  return s / 2;
}

/** Root mean square of the standardised features: a Mahalanobis distance with a diagonal covariance, divided by sqrt(featureDim). */
export function featureDistance(f: ArrayLike<number>, mean: ArrayLike<number>, std: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < mean.length; j++) {
    const z = (f[j] - mean[j]) / std[j];
    s += z * z;
  }
  return Math.sqrt(s / mean.length);
}

/** The p-th percentile (0..100) with linear interpolation between order statistics (numpy's default). */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) throw new RangeError('percentile: no values');
  const pos = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Images on the input grid and which of them to use (default: all), with the split's name for the manifest. */
export interface OodRows {
  images: ImageSet;
  rows?: readonly number[];
  split: string;
}

export interface FitOodOptions {
  backbone: ProtocolBackbone;
  /** The images whose features and histograms give the means and spreads (the training split). */
  fit: OodRows;
  /** The images whose distances set the thresholds (the validation split: images the model did not fit). */
  threshold: OodRows;
  input: BundleInput;
  /** Default 99. */
  percentile?: number;
  /** Default 32. */
  bins?: number;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

const rowsOf = (r: OodRows) => r.rows ?? Array.from({ length: r.images.count }, (_, i) => i);

/**
 * The statistics `looksUnlike` needs, computed at export: the mean and spread of the backbone's
 * pooled features and the mean grey histogram over the fit images, and as thresholds the
 * `percentile`-th percentile of the threshold images' distances to them.
 */
export async function fitOodStatistics(options: FitOodOptions): Promise<OodStatistics> {
  const { backbone, input } = options;
  const bins = options.bins ?? OOD_DEFAULTS.bins;
  const p = options.percentile ?? OOD_DEFAULTS.percentile;
  const fitRows = rowsOf(options.fit);
  const thresholdRows = rowsOf(options.threshold);
  if (fitRows.length < 2) throw new RangeError(`fitOodStatistics: ${fitRows.length} ${options.fit.split} images; need at least 2 to estimate a spread`);
  if (thresholdRows.length < 1) throw new RangeError(`fitOodStatistics: no ${options.threshold.split} images to set the thresholds`);
  for (const r of [options.fit, options.threshold]) {
    if (r.images.height !== input.size || r.images.width !== input.size) throw new RangeError(`fitOodStatistics: ${r.split} images are ${r.images.width} x ${r.images.height}, the input is ${input.size} x ${input.size}`);
  }
  const d = backbone.featureDim;
  const total = fitRows.length + thresholdRows.length;
  const embed = (images: ImageSet, rows: readonly number[], offset: number) =>
    embedImages(backbone, images, rows, {
      normalize: normalizationOf(input),
      channels: input.channels,
      batchSize: options.batchSize ?? 32,
      onProgress: (done) => options.onProgress?.(offset + done, total),
    });
  const fit = await embed(options.fit.images, fitRows, 0);
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let i = 0; i < fitRows.length; i++) for (let j = 0; j < d; j++) mean[j] += fit[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= fitRows.length;
  for (let i = 0; i < fitRows.length; i++) {
    for (let j = 0; j < d; j++) {
      const z = fit[i * d + j] - mean[j];
      sq[j] += z * z;
    }
  }
  const std = Array.from(sq, (s) => Math.sqrt(s / (fitRows.length - 1)));
  // A feature constant over the training images (a dead unit) gets a floor: any activity there is then far.
  const live = std.filter((s) => s > 0);
  const floor = live.length ? (1e-3 * live.reduce((a, s) => a + s, 0)) / live.length : 1e-6;
  const spread = std.map((s) => Math.max(s, floor));
  const histMean = new Float64Array(bins);
  for (const r of fitRows) {
    const h = greyHistogram(options.fit.images.read([r]), bins);
    for (let b = 0; b < bins; b++) histMean[b] += h[b] / fitRows.length;
  }
  const held = await embed(options.threshold.images, thresholdRows, fitRows.length);
  const fDist = thresholdRows.map((_, i) => featureDistance(held.subarray(i * d, (i + 1) * d), mean, spread));
  const hDist = thresholdRows.map((r) => histogramDistance(greyHistogram(options.threshold.images.read([r]), bins), histMean));
  return {
    features: { mean: Array.from(mean), std: spread, threshold: percentile(fDist, p) },
    histogram: { bins, mean: Array.from(histMean), threshold: percentile(hDist, p) },
    percentile: p,
    fit: { split: options.fit.split, count: fitRows.length },
    threshold: { split: options.threshold.split, count: thresholdRows.length },
  };
}

/** Whether an image looks unlike the bundle's training data, and why. */
export interface OodVerdict {
  unlike: boolean;
  /** One sentence per statistic over its threshold (empty when the image passes). */
  reasons: string[];
  featureDistance: number;
  featureThreshold: number;
  histogramDistance: number;
  histogramThreshold: number;
}

/**
 * Compares an image with the bundle's training images: its backbone features (standardised distance
 * to their mean) and its grey histogram (total variation from their mean histogram). Over either
 * threshold (the validation split's 99th percentile by default), the image is flagged: the scores
 * of such an image say little.
 */
export async function looksUnlike(bundle: ModelBundle, image: GreyImage): Promise<OodVerdict> {
  const { input } = bundle.manifest;
  const grid = toInputGrid(image, input, 'looksUnlike: image');
  const f = await embedImages(bundle.backbone, gridImageSet([grid], input.size), [0], { normalize: normalizationOf(input), channels: input.channels });
  return oodVerdict(bundle.manifest.ood, f, grid);
}

/** The verdict for one image from its pooled features and its input grid (what looksUnlike computes). */
export function oodVerdict(ood: OodStatistics, features: ArrayLike<number>, grid: GreyImage): OodVerdict {
  const fd = featureDistance(features, ood.features.mean, ood.features.std);
  const hd = histogramDistance(greyHistogram(grid.data, ood.histogram.bins), ood.histogram.mean);
  const reasons: string[] = [];
  const from = `${ood.percentile}th percentile of the ${ood.threshold.split} images`;
  if (fd > ood.features.threshold) reasons.push(`its features are ${fd.toFixed(2)} standard deviations from the training images' (${from}: ${ood.features.threshold.toFixed(2)})`);
  if (hd > ood.histogram.threshold) reasons.push(`its grey levels differ from the training images' by ${hd.toFixed(3)} (total variation; ${from}: ${ood.histogram.threshold.toFixed(3)})`);
  return { unlike: reasons.length > 0, reasons, featureDistance: fd, featureThreshold: ood.features.threshold, histogramDistance: hd, histogramThreshold: ood.histogram.threshold };
}
