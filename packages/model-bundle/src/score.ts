import { embedImages, scoreFeatures } from '@moco-cxr/protocols';
import type { ModelBundle } from './bundle';
import { gridImageSet, normalizationOf, toInputGrid, type GreyImage } from './input';
import { oodVerdict, type OodVerdict } from './ood';

export interface ScoreImagesOptions {
  /** Images per forward pass; default 16. */
  batchSize?: number;
  /** Called after each batch with the number of images scored so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Each task's probability for each image, `{ task: p }` in the bundle's task order. Preprocessing is
 * the runner's evaluation path: short side resized to the input size, centre crop, p / 255,
 * (x - mean) / std, grey copied to the channels; the backbone in eval mode (BatchNorm running
 * statistics), pooled features, then the head's sigmoid(w.f + b).
 */
export async function scoreImages(bundle: ModelBundle, images: readonly GreyImage[], options: ScoreImagesOptions = {}): Promise<Record<string, number>[]> {
  return (await examine(bundle, images, options, 'scoreImages')).map((r) => r.probabilities);
}

/** One image's probabilities and its out-of-distribution verdict. */
export interface ImageAssessment {
  probabilities: Record<string, number>;
  ood: OodVerdict;
}

/** scoreImages and looksUnlike together, from one forward pass per image. */
export function assessImages(bundle: ModelBundle, images: readonly GreyImage[], options: ScoreImagesOptions = {}): Promise<ImageAssessment[]> {
  return examine(bundle, images, options, 'assessImages');
}

async function examine(bundle: ModelBundle, images: readonly GreyImage[], options: ScoreImagesOptions, fn: string): Promise<ImageAssessment[]> {
  if (!Array.isArray(images) || images.length === 0) throw new RangeError(`${fn}: give one or more grey images`);
  const { input } = bundle.manifest;
  const grids = images.map((im, i) => toInputGrid(im, input, `${fn}: images[${i}]`));
  const features = await embedImages(bundle.backbone, gridImageSet(grids, input.size), grids.map((_, i) => i), {
    normalize: normalizationOf(input),
    channels: input.channels,
    batchSize: options.batchSize ?? 16,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const scores = scoreFeatures(bundle.head, features);
  const K = bundle.tasks.length;
  const d = bundle.head.featureDim;
  return grids.map((grid, i) => ({
    probabilities: Object.fromEntries(bundle.tasks.map((t, k) => [t, scores[i * K + k]])),
    ood: oodVerdict(bundle.manifest.ood, features.subarray(i * d, (i + 1) * d), grid),
  }));
}
