import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { augment, toTensor, type AugmentOptions, type Normalization } from '@moco-cxr/cxr-augment';
import type { ImageSet } from '@moco-cxr/cxr-data';

/**
 * What the protocols need from a backbone (the @moco-cxr/backbones `Backbone` satisfies it):
 * pooled features and the variables, keyed by torchvision name.
 */
export interface ProtocolBackbone {
  readonly featureDim: number;
  readonly variables: ReadonlyMap<string, tf.Variable>;
  trainableVariables(): tf.Variable[];
  embed(x: tf.Tensor4D, options?: { training?: boolean }): tf.Tensor2D;
}

/** How grey uint8 images become the backbone's input. */
export interface ImageInputOptions {
  /** Default 'cxr' (mean 0.5020, std 0.085585), the paper's. */
  normalize?: Normalization;
  /** 3 copies grey to RGB (ImageNet-shaped backbones); default 3. */
  channels?: 1 | 3;
  /**
   * Deterministic evaluation geometry (cxr-augment options such as `{...evalAugment, resize: 256, size: 224}`),
   * for when training crops to a size other than the cached images'. Default: the images as cached.
   */
  preprocess?: AugmentOptions;
}

export interface EmbedImagesOptions extends ImageInputOptions {
  /** Images per forward pass; default 32. */
  batchSize?: number;
  /** Called after each batch with the number of images embedded so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Frozen features of `indices` (rows in that order), N x featureDim row-major: eval mode, so
 * BatchNorm uses its running statistics and nothing is updated; no augmentation.
 */
export async function embedImages(
  backbone: ProtocolBackbone,
  images: ImageSet,
  indices: ArrayLike<number>,
  options: EmbedImagesOptions = {},
): Promise<Float32Array> {
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`embedImages: batchSize must be a positive integer, got ${batchSize}`);
  checkIndices(images, indices, 'embedImages');
  const d = backbone.featureDim;
  const n = indices.length;
  const out = new Float32Array(n * d);
  for (let start = 0; start < n; start += batchSize) {
    const batch = sliceIndices(indices, start, Math.min(start + batchSize, n));
    const features = tf.tidy(() => backbone.embed(imagesToTensor(images, batch, options), { training: false }));
    try {
      if (features.shape[0] !== batch.length || features.shape[1] !== d) {
        throw new Error(`embedImages: backbone returned features of shape [${features.shape}], expected [${batch.length}, ${d}]`);
      }
      out.set(await features.data<'float32'>(), start * d);
    } finally {
      features.dispose();
    }
    options.onProgress?.(Math.min(start + batchSize, n), n);
  }
  return out;
}

/** Reads `indices` from the image set and normalises them into an NHWC float tensor. */
export function imagesToTensor(images: ImageSet, indices: ArrayLike<number>, options: ImageInputOptions): tf.Tensor4D {
  const pixels = images.read(indices);
  const normalize = options.normalize ?? 'cxr';
  const channels = options.channels ?? 3;
  const shape = { count: indices.length, height: images.height, width: images.width };
  if (!options.preprocess) return toTensor(pixels, shape, { normalize, channels });
  const p = options.preprocess;
  if ((p.flipProbability ?? 0) > 0 || p.rotation || p.resizedCrop || p.colorJitter || p.blur || (p.crop ?? 'random') !== 'center') {
    throw new RangeError("preprocess: evaluation geometry must be deterministic: crop 'center', no flip, rotation, resized crop, jitter or blur");
  }
  // Nothing random is drawn for a centre crop; the Rng only satisfies augment's signature.
  return augment({ pixels, ...shape }, { ...p, normalize, channels }, new Rng(0));
}

export function checkIndices(images: ImageSet, indices: ArrayLike<number>, fn: string): void {
  if (indices.length === 0) throw new RangeError(`${fn}: no image indices given`);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (!Number.isInteger(k) || k < 0 || k >= images.count) {
      throw new RangeError(`${fn}: indices[${i}] = ${k} is outside the image set (count ${images.count})`);
    }
  }
}

export function sliceIndices(indices: ArrayLike<number>, start: number, end: number): number[] {
  const out: number[] = [];
  for (let i = start; i < end; i++) out.push(indices[i]);
  return out;
}
