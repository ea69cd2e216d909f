import * as tf from '@tensorflow/tfjs-core';
import { toTensor, type Normalization } from '@moco-cxr/cxr-augment';
import { resizeShortSideAndCrop, type ImageSet } from '@moco-cxr/cxr-data';
import type { BundleInput } from './format';

/** A grey radiograph, 8 bits per pixel, row-major (cxr-data's decoders give this). */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The part of the original image the model sees, in the original image's pixels. */
export interface InputWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Checks one image's shape and bytes; `where` names it in the error. */
export function checkGreyImage(image: GreyImage, where: string): void {
  if (image === null || typeof image !== 'object') throw new TypeError(`${where}: expected a grey image {width, height, data}, got ${String(image)}`);
  const { width, height, data } = image;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) throw new RangeError(`${where}: width and height must be positive integers, got ${width} x ${height}`);
  if (!(data instanceof Uint8Array)) throw new TypeError(`${where}: data must be a Uint8Array of grey levels`);
  if (data.length !== width * height) throw new RangeError(`${where}: data holds ${data.length} bytes, expected width x height = ${width} x ${height} = ${width * height}`);
}

/**
 * The image as the backbone's input grid: short side resized to `size` (antialiased bilinear), centre
 * crop, exactly as cxr-data's cache stores the images every runner job trains and scores on.
 */
export function toInputGrid(image: GreyImage, input: Pick<BundleInput, 'size'>, where = 'image'): GreyImage {
  checkGreyImage(image, where);
  if (image.width === input.size && image.height === input.size) return image;
  return resizeShortSideAndCrop(image, { size: input.size });
}

/** Where the centre crop of `toInputGrid` lies in the original image. */
export function inputWindow(image: Pick<GreyImage, 'width' | 'height'>, input: Pick<BundleInput, 'size'>): InputWindow {
  const size = input.size;
  const short = Math.min(image.width, image.height);
  // The same rounding as resizeShortSideAndCrop.
  const w = image.width === short ? size : Math.max(size, Math.round((image.width * size) / short));
  const h = image.height === short ? size : Math.max(size, Math.round((image.height * size) / short));
  const sx = image.width / w;
  const sy = image.height / h;
  return { left: Math.floor((w - size) / 2) * sx, top: Math.floor((h - size) / 2) * sy, width: size * sx, height: size * sy };
}

/** The bundle's normalisation in cxr-augment's terms. */
export function normalizationOf(input: BundleInput): Normalization {
  return { mean: input.normalize.mean, std: input.normalize.std };
}

/** Images already on the input grid as an ImageSet (what the protocols' embedImages reads). */
export function gridImageSet(grids: readonly GreyImage[], size: number): ImageSet {
  const plane = size * size;
  return {
    count: grids.length,
    height: size,
    width: size,
    read(indices) {
      const out = new Uint8Array(indices.length * plane);
      for (let i = 0; i < indices.length; i++) out.set(grids[indices[i]].data, i * plane);
      return out;
    },
  };
}

/** One image on the input grid as the backbone's NHWC float input [1, size, size, channels]. */
export function gridTensor(grid: GreyImage, input: BundleInput): tf.Tensor4D {
  return toTensor(grid.data, { count: 1, height: grid.height, width: grid.width }, { normalize: normalizationOf(input), channels: input.channels });
}
