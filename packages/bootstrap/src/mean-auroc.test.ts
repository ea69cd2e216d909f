import { auroc } from '@moco-cxr/eval-metrics';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { bootstrapCI, meanAurocCI, pairedBootstrap } from './index';

function synthetic(n: number, seed: number, prevalence = 0.3) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, () => (rng.next() < prevalence ? 1 : 0));
  const draws = (shift: number, k: number) => Array.from({ length: k }, () => labels.map((y) => Math.round((rng.normal() + shift * y) * 20) / 20));
  return { labels, a: draws(1.2, 3), b: draws(0.9, 2) };
}

describe('meanAurocCI', () => {
  const { labels, a, b } = synthetic(200, 3);

  it("equals pairedBootstrap's interval of the same side for the same seed", () => {
    const r = meanAurocCI(labels, a, { seed: 11, replicates: 300 });
    const p = pairedBootstrap(labels, a, b, { seed: 11, replicates: 300 });
    expect(r.perDraw).toEqual(p.a.perDraw);
    expect(r.estimate).toBeCloseTo(p.a.estimate, 14);
    expect(r.lower).toBe(p.a.lower);
    expect(r.upper).toBe(p.a.upper);
    expect(Array.from(r.replicates)).toEqual(Array.from(p.samples.a));
  });

  it('equals resampling the rows explicitly and averaging auroc over the draws', () => {
    // The reference: every resample materialised and scored with eval-metrics' auroc.
    const ref = bootstrapCI(
      (indices) => {
        const y = Array.from(indices, (i) => labels[i]);
        return a.reduce((s, d) => s + auroc(y, Array.from(indices, (i) => d[i])), 0) / a.length;
      },
      labels.length,
      { seed: 5, replicates: 200 },
    );
    const r = meanAurocCI(labels, a, { seed: 5, replicates: 200 });
    expect(r.estimate).toBeCloseTo(ref.estimate, 14);
    expect(r.lower).toBeCloseTo(ref.lower, 14);
    expect(r.upper).toBeCloseTo(ref.upper, 14);
    expect(r.lower).toBeLessThan(r.estimate);
    expect(r.upper).toBeGreaterThan(r.estimate);
  });

  it('redraws one-class resamples of a small test set instead of failing', () => {
    const y = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0];
    const s = y.map((v, i) => v + i / 100);
    const r = meanAurocCI(y, [s, s.map((v) => -v)], { seed: 1, replicates: 200 });
    expect(r.degenerate.count).toBeGreaterThan(0);
    expect(r.replicates.every(Number.isFinite)).toBe(true);
    expect(r.estimate).toBe(0.5);
  });

  it('names bad input', () => {
    expect(() => meanAurocCI(labels, [a[0], a[1].slice(1)], { seed: 1 })).toThrow('meanAurocCI: draws[1] has length 199 but labels has length 200');
    expect(() => meanAurocCI([0, 0, 0], [[1, 2, 3]], { seed: 1 })).toThrow(/meanAurocCI: labels hold one class only/);
    expect(() => meanAurocCI(labels, a, {} as { seed: number })).toThrow(/options\.seed is required/);
  });
});
