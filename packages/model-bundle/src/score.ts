import { embedImages, scoreFeatures } from '@moco-cxr/protocols';
import type { ModelBundle } from './bundle';
import { gridImageSet, normalizationOf, toInputGrid, type GreyImage } from './input';

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
  if (!Array.isArray(images) || images.length === 0) throw new RangeError('scoreImages: give one or more grey images');
  const { input } = bundle.manifest;
  const grids = images.map((im, i) => toInputGrid(im, input, `scoreImages: images[${i}]`));
  const features = await embedImages(bundle.backbone, gridImageSet(grids, input.size), grids.map((_, i) => i), {
    normalize: normalizationOf(input),
    channels: input.channels,
    batchSize: options.batchSize ?? 16,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const scores = scoreFeatures(bundle.head, features);
  const K = bundle.tasks.length;
  return grids.map((_, i) => Object.fromEntries(bundle.tasks.map((t, k) => [t, scores[i * K + k]])));
}
