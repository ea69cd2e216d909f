import { readFileSync } from 'node:fs';
import { auroc } from '@moco-cxr/eval-metrics';
import { describe, expect, it } from 'vitest';
import { aurocFromCounts } from './index';
import { Rng } from '@moco-cxr/rng';

// Explicit resamples and their roc_auc_score from tools/sklearn-fixtures.py (scikit-learn 1.2).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/resampled-auroc.json', import.meta.url), 'utf8')) as {
  labels: number[];
  draws: number[][];
  resamples: Array<{ indices: number[]; aurocs: number[] }>;
};

function countsOf(indices: ArrayLike<number>, n: number) {
  const counts = new Uint32Array(n);
  for (let i = 0; i < indices.length; i++) counts[indices[i]]++;
  return counts;
}

describe('aurocFromCounts', () => {
  it('equals scikit-learn roc_auc_score on explicit resamples with ties, to 1e-12', () => {
    const n = fixture.labels.length;
    const scorers = fixture.draws.map((d) => aurocFromCounts(fixture.labels, d));
    expect(fixture.resamples.length).toBe(12);
    for (const { indices, aurocs } of fixture.resamples) {
      const counts = countsOf(indices, n);
      scorers.forEach((score, d) => expect(Math.abs(score(counts) - aurocs[d])).toBeLessThanOrEqual(1e-12));
    }
  });

  it('equals auroc() on the explicitly resampled arrays, bit for bit', () => {
    const rng = new Rng(11);
    const n = 500;
    const labels = Array.from({ length: n }, () => (rng.next() < 0.2 ? 1 : 0));
    for (const levels of [3, 20, 1e6]) {
      const scores = labels.map((y) => Math.floor((rng.next() + 0.3 * y) * levels) / levels);
      const score = aurocFromCounts(labels, scores);
      for (let r = 0; r < 20; r++) {
        const indices = Array.from({ length: n }, () => rng.int(n));
        const expected = auroc(
          indices.map((i) => labels[i]),
          indices.map((i) => scores[i]),
        );
        expect(score(countsOf(indices, n))).toBe(expected);
      }
    }
  });

  it('gives the plain AUROC for counts of all ones and NaN when a class is absent', () => {
    const labels = [1, 0, 1, 0, 0];
    const scores = [0.8, 0.8, 0.3, 0.1, 0.5];
    const score = aurocFromCounts(labels, scores);
    expect(score([1, 1, 1, 1, 1])).toBe(auroc(labels, scores));
    expect(score([2, 0, 0, 3, 0])).toBe(1);
    expect(score([2, 0, 3, 0, 0])).toBeNaN();
    expect(() => score([1, 1])).toThrow(/counts has length 2 but there are 5 rows/);
    expect(() => aurocFromCounts([1, 0], [0.1, Number.NaN])).toThrow(/aurocFromCounts: scores\[1\] is NaN/);
    expect(() => aurocFromCounts([1, 3], [0.1, 0.2])).toThrow(/aurocFromCounts: labels\[1\] is 3/);
  });
});
