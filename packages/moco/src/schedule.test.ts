import { describe, expect, it } from 'vitest';
import { learningRate } from './schedule';

describe('learningRate', () => {
  it('step decay multiplies by gamma at each milestone reached (paper: 12, 18, 24)', () => {
    const s = { kind: 'step' as const, milestones: [12, 18, 24] };
    expect(learningRate(1e-4, s, 0)).toBe(1e-4);
    expect(learningRate(1e-4, s, 11.99)).toBe(1e-4);
    expect(learningRate(1e-4, s, 12)).toBeCloseTo(1e-5, 15);
    expect(learningRate(1e-4, s, 19)).toBeCloseTo(1e-6, 15);
    expect(learningRate(1e-4, s, 24)).toBeCloseTo(1e-7, 15);
    expect(learningRate(1, { kind: 'step', milestones: [2], gamma: 0.5 }, 3)).toBe(0.5);
  });

  it('cosine goes from the base rate to 0, half-way at the middle', () => {
    const s = { kind: 'cosine' as const, epochs: 20 };
    expect(learningRate(0.03, s, 0)).toBe(0.03);
    expect(learningRate(0.03, s, 10)).toBeCloseTo(0.015, 12);
    expect(learningRate(0.03, s, 20)).toBeCloseTo(0, 12);
    expect(learningRate(0.03, s, 5)).toBeCloseTo(0.03 * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(learningRate(0.5, { kind: 'constant' }, 99)).toBe(0.5);
    expect(() => learningRate(1, s, -1)).toThrow(/epoch must be >= 0/);
  });
});
