import { describe, expect, it } from 'vitest';
import { subsetImages, type ImageSet } from './index';

/** n images of 2 x 3 pixels, every pixel of image i equal to i. */
function numbered(n: number): ImageSet & { reads: number[][] } {
  const reads: number[][] = [];
  return {
    count: n,
    height: 2,
    width: 3,
    reads,
    read(indices) {
      reads.push(Array.from(indices));
      const out = new Uint8Array(indices.length * 6);
      Array.from(indices).forEach((i, j) => out.fill(i, j * 6, j * 6 + 6));
      return out;
    },
  };
}

describe('subsetImages', () => {
  it('reads the chosen images in the chosen order, through nested subsets, in one read of the source', () => {
    const all = numbered(10);
    const view = subsetImages(all, [7, 2, 9, 2]);
    expect([view.count, view.height, view.width]).toEqual([4, 2, 3]);
    expect(Array.from(view.read([1, 0, 3]))).toEqual([...new Array(6).fill(2), ...new Array(6).fill(7), ...new Array(6).fill(2)]);
    const inner = subsetImages(view, [2, 0]);
    expect(Array.from(inner.read([0, 1])).filter((_, k) => k % 6 === 0)).toEqual([9, 7]);
    expect(all.reads).toEqual([[2, 7, 2], [9, 7]]);
  });

  it('names a row outside the set when the subset is made, and an image outside the subset when read', () => {
    expect(() => subsetImages(numbered(5), [0, 5])).toThrow('subsetImages: rows[1] is 5; the set has images 0..4');
    expect(() => subsetImages(numbered(5), [1.5])).toThrow('subsetImages: rows[0] is 1.5');
    expect(() => subsetImages(numbered(5), [1, 2]).read([2])).toThrow('subsetImages: image 2 asked of a subset of 2');
  });
});
