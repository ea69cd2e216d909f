import { describe, expect, it } from 'vitest';
import { drawsForFraction, epochsForFraction, evalInterval, PROTOCOL_DEFAULTS, resolveSchedule } from './schedule';

describe('paper schedule', () => {
  it('gives the paper epoch counts: 1 -> 5, 1/8 -> 20, 1/64 -> 80, 1/512 -> 320', () => {
    expect([1, 1 / 8, 1 / 64, 1 / 512].map(epochsForFraction)).toEqual([5, 20, 80, 320]);
  });

  it('truncates like python int() between powers of 8 (values from /usr/bin/python3)', () => {
    // python: int(5 * 4 ** math.log(1/f, 8)) for f = 0.1, 0.01, 0.001, 0.5, 0.0625, 0.3
    expect([0.1, 0.01, 0.001, 0.5, 0.0625, 0.3].map(epochsForFraction)).toEqual([23, 107, 500, 7, 31, 11]);
  });

  it('evaluates every min(2^17 * fraction, 8192) examples', () => {
    expect(evalInterval(1)).toBe(8192);
    expect(evalInterval(1 / 16)).toBe(8192);
    expect(evalInterval(1 / 64)).toBe(2048);
    expect(evalInterval(1 / 512)).toBe(256);
    expect(evalInterval(0.001)).toBeCloseTo(131.072, 12);
  });

  it('rejects fractions outside (0, 1] and a missing schedule', () => {
    expect(() => epochsForFraction(0)).toThrow(/fraction must be in \(0, 1\]/);
    expect(() => evalInterval(1.5)).toThrow(/got 1.5/);
    expect(() => resolveSchedule({}, 10, 'f')).toThrow(/fraction .* or an explicit epochs/);
    expect(resolveSchedule({ epochs: 3 }, 40, 'f')).toEqual({ epochs: 3, evalEvery: 40 });
    expect(resolveSchedule({ fraction: 1 / 64 }, 40, 'f')).toEqual({ epochs: 80, evalEvery: 2048 });
  });
});

describe("the paper's protocol defaults", () => {
  it('Adam at 1e-4 with betas 0.9 / 0.999, batch 16, flip and +-10 degree rotation end to end, 5 draws below 100% and 1 at 100%', () => {
    expect(PROTOCOL_DEFAULTS).toEqual({ lr: 1e-4, batchSize: 16, betas: [0.9, 0.999], finetuneAugment: { flipProbability: 0.5, rotation: 10 }, draws: { partial: 5, full: 1 } });
    expect([0.001, 0.01, 0.1, 0.5, 1].map(drawsForFraction)).toEqual([5, 5, 5, 5, 1]);
    expect(() => drawsForFraction(0)).toThrow(/drawsForFraction: fraction must be in \(0, 1\]/);
    // Frozen: a caller cannot change the defaults every other caller reads.
    expect(Object.isFrozen(PROTOCOL_DEFAULTS.betas) && Object.isFrozen(PROTOCOL_DEFAULTS.finetuneAugment)).toBe(true);
  });
});
