import type { ImageSet } from './types';

/**
 * Some images of a set, in the given order, without copying pixels: image i of the result is
 * image rows[i] of `images` (a split, a label-fraction draw, a probe set). Rows are checked here,
 * so a bad one is named now rather than at the first read.
 */
export function subsetImages(images: ImageSet, rows: ArrayLike<number>): ImageSet {
  const map = Uint32Array.from({ length: rows.length }, (_, i) => {
    const r = rows[i];
    if (!Number.isInteger(r) || r < 0 || r >= images.count) throw new RangeError(`subsetImages: rows[${i}] is ${r}; the set has images 0..${images.count - 1}`);
    return r;
  });
  return {
    count: map.length,
    height: images.height,
    width: images.width,
    read: (indices) =>
      images.read(
        Array.from(indices, (i) => {
          if (!(i >= 0 && i < map.length)) throw new RangeError(`subsetImages: image ${i} asked of a subset of ${map.length}`);
          return map[i];
        }),
      ),
  };
}
