import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { auroc } from './auroc';
import { Rng } from '@moco-cxr/rng';
import { fitLogisticRegression, knnScores, stratifiedSplit } from './probe';

// Made by packages/moco/scripts/make-fixtures.py with scikit-learn 1.2 (lbfgs, C = 1 / l2, standardised features).
const fx = JSON.parse(readFileSync(new URL('./fixtures/sklearn-logreg.json', import.meta.url), 'utf8')) as {
  n: number; d: number; l2: number; x: number[]; y: number[]; coef: number[]; intercept: number;
};

describe('probes on frozen features', () => {
  it('L2 logistic regression matches scikit-learn', () => {
    const model = fitLogisticRegression(fx.x, fx.y, fx.d, { l2: fx.l2 });
    model.weights.forEach((w, j) => expect(Math.abs(w - fx.coef[j])).toBeLessThan(1e-5));
    expect(Math.abs(model.bias - fx.intercept)).toBeLessThan(1e-5);
    expect(model.iterations).toBeLessThan(20);
    const scores = model.decision(fx.x, fx.n);
    expect(auroc(fx.y, scores)).toBeGreaterThan(0.8);
  });

  it('kNN scores the share of positive neighbours by cosine similarity', () => {
    // Two directions; magnitudes must not matter (cosine).
    const train = [1, 0, 5, 0.1, 0, 1, 0.1, 3];
    const labels = [1, 1, 0, 0];
    const query = [10, 0.5, 0.2, 2];
    const s = knnScores(train, labels, query, 2, { k: 2 });
    expect(s[0]).toBeCloseTo(1, 9);
    expect(s[1]).toBeCloseTo(0, 9);
    const all = knnScores(train, labels, query, 2, { k: 99 });
    expect(all[0]).toBeGreaterThan(0.5);
    expect(all[0]).toBeLessThan(1);
  });

  it('stratified split is fixed by the seed and keeps both classes on both sides', () => {
    const labels = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const a = stratifiedSplit(labels, 0.5, (r) => new Rng(1).shuffle(r));
    const b = stratifiedSplit(labels, 0.5, (r) => new Rng(1).shuffle(r));
    expect(a).toEqual(b);
    expect(a.train.length + a.test.length).toBe(40);
    expect(a.train.filter((i) => labels[i] === 1).length).toBe(5);
    expect(a.test.filter((i) => labels[i] === 1).length).toBe(5);
    expect(() => stratifiedSplit([0, 0, 1], 0.5, (r) => r)).toThrow(/class 1 has 1 rows/);
  });
});
