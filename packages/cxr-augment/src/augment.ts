import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@moco-cxr/rng';
import { checkPixels, normalizeUnit, pixelsToUnit, type ImageShape } from './normalize';
import { geometryOf, isIdentityWarp, sampleAugmentParams, warpMatrix, type AugmentOptions, type AugmentParams } from './params';
import { blurBatch, blurRadius, jitterBatch } from './photometric';
import { warpBatch } from './warp';

/** Grey uint8 images as cxr-data's ImageSet.read() returns them: `count*height*width` bytes, row-major. */
export interface PixelBatch extends ImageShape {
  pixels: Uint8Array;
}

export type AugmentInput = tf.Tensor4D | PixelBatch;

/**
 * The paper's pretraining augmentation: random crop (a no-op at the input's own size, as resize S
 * then crop S is), horizontal flip p = 0.5, rotation uniform in ±10°, bilinear, black fill, then
 * CXR normalisation on 3 channels. The paper resized to 320; add `resize: 320` for that.
 */
export const mocoCxrAugment: Readonly<AugmentOptions> = Object.freeze({
  crop: 'random',
  padding: 0,
  flipProbability: 0.5,
  rotation: 10,
  fillValue: 0,
  interpolation: 'bilinear',
  normalize: 'cxr',
  channels: 3,
} as const);

/** The PyTorch reference's zoom before its random crop: 72 px for a 64 px input. */
export const MOCO_CXR_CROP_ZOOM = 9 / 8;

/**
 * MoCo-CXR's pretraining default: the paper's flip and ±10° rotation after a resize of the short
 * side to 9/8 of `size` and a random `size` crop, as the PyTorch reference's views. Without the
 * crop MoCo solves its pretext task (positive top-1 1.0 by epoch 30) and its features transfer
 * worse (issue 23; docs/results/kermany.md). `size` is the backbone's input (a number: square).
 */
export function mocoCxrCropAugment(size: number | readonly [number, number]): AugmentOptions {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) throw new RangeError(`mocoCxrCropAugment: size must be positive integers, got ${JSON.stringify(size)}`);
  return { ...mocoCxrAugment, resize: Math.round(Math.min(h, w) * MOCO_CXR_CROP_ZOOM), size: h === w ? h : [h, w] };
}

/**
 * MoCo v2's set on grey images: random-resized-crop (scale 0.2-1, ratio 3/4-4/3), brightness and
 * contrast 0.4 with p = 0.8, Gaussian blur sigma 0.1-2 with p = 0.5, flip p = 0.5, no rotation.
 * (Saturation, hue and random greyscale do nothing to grey images and are left out.)
 */
export const mocoV2Augment: Readonly<AugmentOptions> = Object.freeze({
  resizedCrop: Object.freeze({ scale: [0.2, 1] as const, ratio: [3 / 4, 4 / 3] as const }),
  colorJitter: Object.freeze({ brightness: 0.4, contrast: 0.4, probability: 0.8, clip: [0, 1] as const }),
  blur: Object.freeze({ sigma: [0.1, 2] as const, probability: 0.5 }),
  flipProbability: 0.5,
  rotation: 0,
  fillValue: 0,
  interpolation: 'bilinear',
  normalize: 'cxr',
  channels: 3,
} as const);

/** Evaluation: a deterministic centre crop (to `size`, after an optional `resize`), no flip, no rotation. */
export const evalAugment: Readonly<AugmentOptions> = Object.freeze({
  crop: 'center',
  interpolation: 'bilinear',
  normalize: 'cxr',
  channels: 3,
} as const);

function isPixelBatch(input: AugmentInput): input is PixelBatch {
  return !(input instanceof tf.Tensor) && typeof input === 'object' && input !== null && 'pixels' in input;
}

function checkTensor(x: tf.Tensor, where: string): asserts x is tf.Tensor4D {
  if (!(x instanceof tf.Tensor)) throw new TypeError(`${where}: expected a tf.Tensor4D or {pixels, count, height, width}`);
  if (x.rank !== 4) throw new RangeError(`${where}: expected an NHWC tensor of rank 4, got shape [${x.shape.join(', ')}]`);
  if (x.dtype !== 'float32') throw new TypeError(`${where}: expected a float32 tensor, got ${x.dtype} of shape [${x.shape.join(', ')}]`);
}

/**
 * Applies drawn parameters to an NHWC float32 tensor: one warp for crop + flip + rotation (+ resize),
 * then brightness / contrast, then blur. Works in the tensor's own units (see `fillValue`, `clip`).
 */
export function applyAugmentParams(x: tf.Tensor4D, params: readonly AugmentParams[], options: AugmentOptions): tf.Tensor4D {
  checkTensor(x, 'applyAugmentParams');
  const [n, h, w] = x.shape;
  if (params.length !== n) throw new RangeError(`applyAugmentParams: ${params.length} parameter sets for a batch of ${n} images (shape [${x.shape.join(', ')}])`);
  const g = geometryOf(h, w, options);
  const fillValue = options.fillValue ?? 0;
  if (!Number.isFinite(fillValue)) throw new RangeError(`AugmentOptions.fillValue: a finite number expected, got ${fillValue}`);
  const interpolation = options.interpolation ?? 'bilinear';
  if (interpolation !== 'bilinear' && interpolation !== 'nearest') {
    throw new RangeError(`AugmentOptions.interpolation: 'bilinear' or 'nearest' expected, got ${String(interpolation)}`);
  }
  return tf.tidy(() => {
    const matrices = params.map((p) => warpMatrix(p, g));
    let y: tf.Tensor4D = matrices.every((m) => isIdentityWarp(m, g))
      ? x
      : warpBatch(x, matrices, [g.outputHeight, g.outputWidth], interpolation, fillValue);
    const jitter = options.colorJitter ?? null;
    if (jitter) {
      y = jitterBatch(y, params.map((p) => p.brightness), params.map((p) => p.contrast), jitter.clip === undefined ? [0, 1] : jitter.clip);
    }
    const blur = options.blur ?? null;
    if (blur) y = blurBatch(y, params.map((p) => p.blurSigma), blurRadius(blur.sigma[1]));
    // tidy keeps the input alive; a copy keeps the result independent of it when nothing changed.
    return y === x ? x.clone() : y;
  });
}

function augmentUnit(unit: tf.Tensor4D, options: AugmentOptions, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const params = sampleAugmentParams(unit.shape[0], unit.shape[1], unit.shape[2], options, rng);
    const warped = applyAugmentParams(unit, params, options);
    return normalizeUnit(warped, options.normalize ?? 'cxr', options.channels ?? 3);
  });
}

/**
 * One random augmentation of each image, parameters drawn from `rng`. A tensor is augmented in its
 * own units and keeps its channels; pixel input is scaled to [0, 1], augmented on one grey channel,
 * then normalised and copied to `options.channels`.
 */
export function augment(input: AugmentInput, options: AugmentOptions, rng: Rng): tf.Tensor4D {
  if (isPixelBatch(input)) {
    checkPixels(input.pixels, input, 'augment');
    const unit = pixelsToUnit(input.pixels, input);
    try {
      return augmentUnit(unit, options, rng);
    } finally {
      unit.dispose();
    }
  }
  checkTensor(input, 'augment');
  return tf.tidy(() => {
    const params = sampleAugmentParams(input.shape[0], input.shape[1], input.shape[2], options, rng);
    return applyAugmentParams(input, params, options);
  });
}

/**
 * MoCo's input: two independent augmentations of every image, `[query, key]`. The query's parameters
 * are drawn for the whole batch first, then the key's, from the same `rng`.
 */
export function twoViews(input: AugmentInput, options: AugmentOptions, rng: Rng): [tf.Tensor4D, tf.Tensor4D] {
  if (isPixelBatch(input)) {
    checkPixels(input.pixels, input, 'twoViews');
    // Decode to [0, 1] once; both views warp the same grey tensor.
    const unit = pixelsToUnit(input.pixels, input);
    try {
      const query = augmentUnit(unit, options, rng);
      const key = augmentUnit(unit, options, rng);
      return [query, key];
    } finally {
      unit.dispose();
    }
  }
  checkTensor(input, 'twoViews');
  return [augment(input, options, rng), augment(input, options, rng)];
}
