// Test-only helpers: never imported by the library; "!src/test-support" leaves them out of the package.
import { Rng } from '@moco-cxr/rng';
import { createBackbone, type Backbone } from '@moco-cxr/backbones';
import type { ImageSet } from '@moco-cxr/cxr-data';

/** A resnet18-named network with one block per stage and narrow widths: fast on the cpu backend. */
export const TINY_RESNET = { blocks: [1, 1, 1, 1], widths: [8, 16, 32, 64], stemWidth: 8 };

export function tinyResnet(size: number, seed = 0): Promise<Backbone> {
  return createBackbone('resnet18', { inputShape: [size, size, 3], seed, ...TINY_RESNET });
}

/** Grey images of a few bright discs on a dark background, different per image, from a seed. */
export function blobImages(count: number, size: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const pixels = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) {
    const discs = 1 + rng.int(3);
    for (let d = 0; d < discs; d++) {
      const cy = rng.uniform(0, size);
      const cx = rng.uniform(0, size);
      const r = rng.uniform(size / 10, size / 4);
      const v = 120 + rng.int(135);
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if ((y - cy) ** 2 + (x - cx) ** 2 < r * r) pixels[n * size * size + y * size + x] = v;
    }
  }
  return {
    count,
    height: size,
    width: size,
    read(indices: ArrayLike<number>) {
      const out = new Uint8Array(indices.length * size * size);
      for (let i = 0; i < indices.length; i++) out.set(pixels.subarray(indices[i] * size * size, (indices[i] + 1) * size * size), i * size * size);
      return out;
    },
  };
}
