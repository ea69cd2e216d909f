import { describe, expect, it } from 'vitest';
import { auroc } from './index';

describe('auroc', () => {
  it('averages ranks over tied scores', () => {
    // Pairs (pos, neg): (0.5 vs 0.5) counts 1/2, (0.9 vs 0.5) counts 1, (0.5 vs 0.1) 1, (0.9 vs 0.1) 1.
    expect(auroc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1])).toBeCloseTo(3.5 / 4, 15);
  });
  it('names the mismatch', () => {
    expect(() => auroc([1, 0], [0.1])).toThrow(/labels has length 2 but scores has length 1/);
  });
});
