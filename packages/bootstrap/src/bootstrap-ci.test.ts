import { describe, expect, it } from 'vitest';
import { aurocFromCounts, bootstrapCI } from './index';
import { Rng } from '@moco-cxr/rng';

const rng = new Rng(5);
const values = Array.from({ length: 400 }, () => 2 + rng.normal());
const meanOf = (indices: Uint32Array) => {
  let s = 0;
  for (const i of indices) s += values[i];
  return s / indices.length;
};

describe('bootstrapCI', () => {
  it('is identical for the same seed and differs for another seed', () => {
    const a = bootstrapCI(meanOf, values.length, { seed: 1, replicates: 200 });
    const b = bootstrapCI(meanOf, values.length, { seed: 1, replicates: 200 });
    const c = bootstrapCI(meanOf, values.length, { seed: 2, replicates: 200 });
    expect(b).toEqual(a);
    expect(c.replicates).not.toEqual(a.replicates);
    expect(c.lower).not.toBe(a.lower);
  });

  it('contains the estimate and has about the normal-theory width for a mean', () => {
    const ci = bootstrapCI(meanOf, values.length, { seed: 3 });
    expect(ci.replicates.length).toBe(500);
    expect(ci.estimate).toBe(meanOf(Uint32Array.from(values.keys())));
    expect(ci.lower).toBeLessThan(ci.estimate);
    expect(ci.upper).toBeGreaterThan(ci.estimate);
    // sd of the sample mean = 1/sqrt(400) = 0.05, so a 95% interval spans about 2 * 1.96 * 0.05.
    expect(ci.upper - ci.lower).toBeGreaterThan(0.16);
    expect(ci.upper - ci.lower).toBeLessThan(0.24);
    const narrow = bootstrapCI(meanOf, values.length, { seed: 3, confidence: 0.5 });
    expect(narrow.upper - narrow.lower).toBeLessThan(ci.upper - ci.lower);
  });

  it('uses numpy-style linear percentiles of the replicate values', () => {
    const ci = bootstrapCI(meanOf, values.length, { seed: 4, replicates: 101 });
    const sorted = Array.from(ci.replicates).sort((x, y) => x - y);
    // With 101 values the 2.5th percentile sits at position 2.5, the 97.5th at 97.5.
    expect(ci.lower).toBeCloseTo((sorted[2] + sorted[3]) / 2, 14);
    expect(ci.upper).toBeCloseTo((sorted[97] + sorted[98]) / 2, 14);
  });

  it('stratified resampling keeps every class count', () => {
    const labels: number[] = values.map((_, i) => (i % 7 === 0 ? 1 : 0));
    const positives = labels.reduce((s, y) => s + y, 0);
    const seen = new Set<number>();
    bootstrapCI(
      (indices, counts) => {
        let drawnPositives = 0;
        for (const i of indices) drawnPositives += labels[i];
        let fromCounts = 0;
        counts.forEach((c, i) => (fromCounts += c * labels[i]));
        expect(fromCounts).toBe(drawnPositives);
        seen.add(drawnPositives);
        return drawnPositives;
      },
      labels.length,
      { seed: 9, replicates: 100, stratify: labels },
    );
    expect([...seen]).toEqual([positives]);
  });

  it('redraws degenerate resamples, counts them, and stops at maxRedraws', () => {
    // 1 positive in 40 rows: about (39/40)^40 = 36% of resamples miss it.
    const labels = Array.from({ length: 40 }, (_, i) => (i === 0 ? 1 : 0));
    const scores = labels.map((y, i) => y + i / 100);
    const score = aurocFromCounts(labels, scores);
    const ci = bootstrapCI((_, counts) => score(counts), 40, { seed: 1, replicates: 200 });
    expect(ci.replicates.every((v) => v === 1)).toBe(true);
    expect(ci.degenerate.policy).toBe('redraw');
    expect(ci.degenerate.count).toBeGreaterThan(40);
    expect(ci.degenerate.count).toBeLessThan(200);
    expect(() => bootstrapCI((_, counts) => score(counts), 40, { seed: 1, replicates: 200, maxRedraws: 5 })).toThrow(
      /bootstrapCI: more than 5 resamples gave a non-finite statistic .* stratify the resampling/,
    );
  });

  it('advances a passed Rng, so consecutive calls differ but replay from its state', () => {
    const shared = new Rng(8);
    const start = shared.state();
    const first = bootstrapCI(meanOf, values.length, { seed: shared, replicates: 50 });
    const second = bootstrapCI(meanOf, values.length, { seed: shared, replicates: 50 });
    expect(second.replicates).not.toEqual(first.replicates);
    expect(bootstrapCI(meanOf, values.length, { seed: Rng.fromState(start), replicates: 50 })).toEqual(first);
  });

  it('rejects a missing seed and bad options with clear messages', () => {
    // @ts-expect-error seed is required
    expect(() => bootstrapCI(meanOf, 10, {})).toThrow(/bootstrapCI: options.seed is required/);
    expect(() => bootstrapCI(meanOf, 0, { seed: 1 })).toThrow(/n must be a positive integer/);
    expect(() => bootstrapCI(meanOf, 10, { seed: 1, confidence: 95 })).toThrow(/confidence must lie in \(0, 1\), got 95/);
    expect(() => bootstrapCI(meanOf, 10, { seed: 1, replicates: 2.5 })).toThrow(/replicates must be a positive integer/);
    expect(() => bootstrapCI(meanOf, 10, { seed: 1, stratify: [0, 1] })).toThrow(/stratify has length 2 but n is 10/);
    expect(() => bootstrapCI(() => Number.NaN, 10, { seed: 1 })).toThrow(/statistic on the original 10 rows is NaN/);
  });
});
