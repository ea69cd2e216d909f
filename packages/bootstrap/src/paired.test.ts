import { auroc } from '@moco-cxr/eval-metrics';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_DEFAULTS, pairedBootstrap } from './index';
import { Rng } from '@moco-cxr/rng';

function synthetic(n: number, seed: number, prevalence = 0.3) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, () => (rng.next() < prevalence ? 1 : 0));
  // Scores rounded to 0.05 so ties are common, as with calibrated probabilities.
  const draws = (shift: number, k: number) =>
    Array.from({ length: k }, () => labels.map((y) => Math.round((rng.normal() + shift * y) * 20) / 20));
  return { labels, a: draws(1.2, 3), b: draws(0.9, 2) };
}

describe('pairedBootstrap', () => {
  const { labels, a, b } = synthetic(300, 1);

  it('is identical for the same seed and differs for another seed', () => {
    const r1 = pairedBootstrap(labels, a, b, { seed: 7, replicates: 100 });
    const r2 = pairedBootstrap(labels, a, b, { seed: 7, replicates: 100 });
    const r3 = pairedBootstrap(labels, a, b, { seed: 8, replicates: 100 });
    expect(r2).toEqual(r1);
    expect(r3.samples.difference).not.toEqual(r1.samples.difference);
    expect(r3.difference.lower).not.toBe(r1.difference.lower);
  });

  it('point estimates are draw means of auroc and every CI contains its estimate', () => {
    const r = pairedBootstrap(labels, a, b, { seed: 1 });
    expect(r.a.perDraw).toEqual(a.map((s) => auroc(labels, s)));
    expect(r.a.estimate).toBeCloseTo((r.a.perDraw[0] + r.a.perDraw[1] + r.a.perDraw[2]) / 3, 15);
    expect(r.b.estimate).toBeCloseTo((r.b.perDraw[0] + r.b.perDraw[1]) / 2, 15);
    expect(r.difference.estimate).toBe(r.a.estimate - r.b.estimate);
    for (const iv of [r.a, r.b, r.difference]) {
      expect(iv.lower).toBeLessThan(iv.estimate);
      expect(iv.upper).toBeGreaterThan(iv.estimate);
    }
    // The paper's statistics are the defaults, from one place: 500 replicates, 95% intervals.
    expect(BOOTSTRAP_DEFAULTS).toEqual({ replicates: 500, confidence: 0.95 });
    expect(r.replicates).toBe(BOOTSTRAP_DEFAULTS.replicates);
    expect(r.samples.difference.every((d, i) => d === r.samples.a[i] - r.samples.b[i])).toBe(true);
  });

  it('the count-based fast path equals scoring the explicitly resampled rows with auroc', () => {
    const explicit = (y: ArrayLike<number>, s: ArrayLike<number>) => auroc(y, s);
    const fast = pairedBootstrap(labels, a, b, { seed: 3, replicates: 60 });
    const slow = pairedBootstrap(labels, a, b, { seed: 3, replicates: 60, metric: explicit });
    expect(slow).toEqual(fast);
  });

  it('resamples rows once per replicate for both sides: A against itself differs by exactly 0', () => {
    const r = pairedBootstrap(labels, a, a, { seed: 2, replicates: 100 });
    expect(r.samples.difference.every((d) => d === 0)).toBe(true);
    expect(r.difference).toEqual({ estimate: 0, lower: 0, upper: 0 });
    expect(r.pValue).toBe(1);
  });

  it('gives a small p-value for a clear gap and a large one for none', () => {
    const big = synthetic(2000, 4);
    const clear = pairedBootstrap(big.labels, big.a, big.b.map((s) => s.map((v) => -v)), { seed: 1, replicates: 200 });
    expect(clear.difference.lower).toBeGreaterThan(0);
    expect(clear.pValue).toBe(2 / 201);
    const same = synthetic(2000, 5);
    const none = pairedBootstrap(same.labels, same.a[0], same.a[1], { seed: 1, replicates: 200 });
    expect(none.pValue).toBeGreaterThan(0.05);
    expect(none.difference.lower).toBeLessThan(0);
    expect(none.difference.upper).toBeGreaterThan(0);
  });

  it('takes a single score array as one draw', () => {
    const one = pairedBootstrap(labels, a[0], b[0], { seed: 5, replicates: 50 });
    const listed = pairedBootstrap(labels, [a[0]], [b[0]], { seed: 5, replicates: 50 });
    expect(one).toEqual(listed);
    expect(one.a.perDraw.length).toBe(1);
  });

  it('redraws one-class resamples unless stratified, and stratified keeps class counts', () => {
    const y = Array.from({ length: 30 }, (_, i) => (i === 0 ? 1 : 0));
    const s = y.map((v, i) => v + i / 100);
    const t = y.map((v, i) => v * 0.5 + ((i * 7) % 30) / 100);
    const plain = pairedBootstrap(y, s, t, { seed: 1, replicates: 200 });
    expect(plain.degenerate.policy).toBe('redraw');
    expect(plain.degenerate.count).toBeGreaterThan(40);
    expect(() => pairedBootstrap(y, s, t, { seed: 1, replicates: 200, maxRedraws: 3 })).toThrow(
      /more than 3 resamples held one class only \(1 positives of 30 rows\); pass stratifyByLabel: true/,
    );
    const drawnPositives = new Set<number>();
    const stratified = pairedBootstrap(y, s, t, {
      seed: 1,
      replicates: 100,
      stratifyByLabel: true,
      metric: (labels, scores) => {
        let p = 0;
        for (let i = 0; i < labels.length; i++) p += labels[i];
        drawnPositives.add(p);
        return auroc(labels, scores);
      },
    });
    expect(stratified.degenerate.count).toBe(0);
    expect([...drawnPositives]).toEqual([1]);
  });

  it('names bad input', () => {
    expect(() => pairedBootstrap(labels, a, [b[0].slice(1)], { seed: 1 })).toThrow(/scoresB\[0\] has length 299 but labels has length 300/);
    const bad = a[1].slice();
    bad[17] = Number.POSITIVE_INFINITY;
    expect(() => pairedBootstrap(labels, [a[0], bad], b, { seed: 1 })).toThrow(/scoresA\[1\]\[17\] is Infinity/);
    expect(() => pairedBootstrap([1, 0, 2], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], { seed: 1 })).toThrow(/labels\[2\] is 2/);
    expect(() => pairedBootstrap([1, 1], [0.1, 0.2], [0.1, 0.2], { seed: 1 })).toThrow(/one class only \(2 positives of 2 rows\)/);
    expect(() => pairedBootstrap(labels, [], b, { seed: 1 })).toThrow(/scoresA is empty/);
    // @ts-expect-error seed is required
    expect(() => pairedBootstrap(labels, a, b, {})).toThrow(/options.seed is required/);
  });
});
