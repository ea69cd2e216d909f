import { describe, expect, it } from 'vitest';
import { auroc, rocCurve } from './index';

// Deterministic scrambled data with many ties (a multiplicative pattern, not a PRNG).
function pattern(n: number, levels: number) {
  const labels = Array.from({ length: n }, (_, i) => ((i * 2654435761) >>> 0) % 3 === 0 ? 1 : 0);
  const scores = labels.map((y, i) => (((i * 40503) % levels) + 3 * y) / levels);
  return { labels, scores };
}

function pairwiseAuroc(labels: number[], scores: number[]) {
  let u = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      u += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return u / pairs;
}

describe('auroc', () => {
  it('averages ranks over tied scores', () => {
    // Pairs (pos, neg): (0.5 vs 0.5) counts 1/2, (0.9 vs 0.5) counts 1, (0.5 vs 0.1) 1, (0.9 vs 0.1) 1.
    expect(auroc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1])).toBe(3.5 / 4);
  });
  it('equals the O(n^2) pair count exactly, with heavy ties', () => {
    for (const levels of [2, 7, 50, 997]) {
      const { labels, scores } = pattern(1500, levels);
      expect(auroc(labels, scores)).toBe(pairwiseAuroc(labels, scores));
    }
  });
  it('equals the trapezoid area under rocCurve', () => {
    const { labels, scores } = pattern(3000, 40);
    const { fpr, tpr } = rocCurve(labels, scores);
    let area = 0;
    for (let k = 1; k < fpr.length; k++) area += ((fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1])) / 2;
    expect(Math.abs(auroc(labels, scores) - area)).toBeLessThan(1e-12);
  });
  it('is 1 - AUROC when scores are negated, and invariant to order and monotone maps', () => {
    const { labels, scores } = pattern(800, 30);
    const a = auroc(labels, scores);
    expect(auroc(labels, scores.map((s) => -s))).toBeCloseTo(1 - a, 14);
    expect(auroc(labels, scores.map((s) => Math.exp(3 * s)))).toBe(a);
    expect(auroc([...labels].reverse(), [...scores].reverse())).toBe(a);
    expect(auroc(Float64Array.from(labels), Float32Array.from(scores))).toBe(a);
  });
  it('names the mismatch', () => {
    expect(() => auroc([1, 0], [0.1])).toThrow(/auroc: labels has length 2 but scores has length 1/);
  });
  it('rejects NaN and infinite scores, naming the index', () => {
    expect(() => auroc([1, 0, 1], [0.1, Number.NaN, 0.3])).toThrow(/auroc: scores\[1\] is NaN; scores must be finite/);
    expect(() => auroc([1, 0, 1], [0.1, 0.2, -Infinity])).toThrow(/scores\[2\] is -Infinity/);
  });
  it('rejects labels other than 0/1, naming the index', () => {
    expect(() => auroc([1, 2, 0], [0.1, 0.2, 0.3])).toThrow(/auroc: labels\[1\] is 2; labels must be 0 or 1/);
    expect(() => auroc([1, Number.NaN, 0], [0.1, 0.2, 0.3])).toThrow(/labels\[1\] is NaN/);
  });
  it('rejects one class with the class counts', () => {
    expect(() => auroc([1, 1], [0.1, 0.2])).toThrow(/auroc: needs both classes, got 2 positives and 0 negatives/);
    expect(() => auroc([], [])).toThrow(/got 0 positives and 0 negatives/);
  });
});
