import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { loadNative } from './native';

const addon = loadNative();

/** The rule as a plain loop: per window and channel the first strict maximum from -inf takes dy (NaN never wins; a window of -inf and NaN passes none). */
function reference(x: Float32Array, dy: Float32Array, [n, h, w, c, kh, kw, , oh, ow, sh, sw, pt, pl]: number[]): Float32Array {
  const dx = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < oh; p++)
      for (let q = 0; q < ow; q++)
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let r = Math.max(p * sh - pt, 0); r < Math.min(p * sh - pt + kh, h); r++)
            for (let col = Math.max(q * sw - pl, 0); col < Math.min(q * sw - pl + kw, w); col++) {
              const i = ((b * h + r) * w + col) * c + ch;
              if (x[i] > best) [best, at] = [x[i], i];
            }
          if (at >= 0) dx[at] = Math.fround(dx[at] + dy[((b * oh + p) * ow + q) * c + ch]);
        }
  return dx;
}

describe('native maxPoolGrad', () => {
  for (const [shape, label] of [
    [[2, 9, 11, 5, 3, 3, 5, 5, 6, 2, 2, 1, 1], '3x3 stride 2 pad 1, 5 channels (not a multiple of the vector width)'],
    [[3, 8, 8, 64, 3, 3, 64, 4, 4, 2, 2, 1, 1], "ResNet's stem pool, 64 channels"],
    [[1, 7, 7, 7, 2, 2, 7, 6, 6, 1, 1, 0, 0], '2x2 stride 1, overlapping windows'],
  ] as const)
    it(`${label}: the same bits as the plain rule, with ties, NaN and -inf, on 1 and 2 threads`, () => {
      const rng = new Rng(shape[3]);
      const [n, h, w, c, , , , oh, ow] = shape;
      // Coarse values make ties common; some NaN and -inf, and whole channels of them.
      const x = Float32Array.from({ length: n * h * w * c }, (_, i) => {
        const u = rng.uniform(0, 1);
        if (i % c === 1) return u < 0.5 ? NaN : -Infinity;
        return u < 0.05 ? NaN : u < 0.1 ? -Infinity : Math.round(rng.normal() * 2) / 2;
      });
      const dy = Float32Array.from({ length: n * oh * ow * c }, () => rng.normal());
      const want = reference(x, dy, [...shape]);
      for (const threads of [1, 2]) {
        const dx = new Float32Array(x.length).fill(7); // every element is written, the untouched ones with 0
        addon!.maxPoolGrad(x, dy, dx, Int32Array.from(shape), threads);
        expect(Array.from(new Uint32Array(dx.buffer)), `${threads} thread(s)`).toEqual(Array.from(new Uint32Array(want.buffer)));
      }
    });
});
