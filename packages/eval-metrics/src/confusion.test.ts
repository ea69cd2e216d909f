import { describe, expect, it } from 'vitest';
import { averagePrecision, confusionAt, prCurve, rocCurve, youdenThreshold } from './index';

const labels = [1, 1, 1, 0, 0, 0, 0, 1];
const scores = [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.3, 0.6];

describe('confusionAt', () => {
  it('calls score >= threshold positive and derives the rates', () => {
    const c = confusionAt(labels, scores, 0.6);
    expect([c.tp, c.fp, c.tn, c.fn]).toEqual([3, 1, 3, 1]);
    expect(c.sensitivity).toBe(3 / 4);
    expect(c.specificity).toBe(3 / 4);
    expect(c.ppv).toBe(3 / 4);
    expect(c.npv).toBe(3 / 4);
    expect(c.f1).toBe(6 / 8);
    // A tie at the threshold is called positive (0.3 twice: one positive, one negative).
    const t = confusionAt(labels, scores, 0.3);
    expect([t.tp, t.fp, t.tn, t.fn]).toEqual([4, 2, 2, 0]);
  });
  it('gives NaN, not 0, for a rate with an empty denominator', () => {
    const c = confusionAt(labels, scores, Infinity);
    expect([c.tp, c.fp]).toEqual([0, 0]);
    expect(c.ppv).toBeNaN();
    expect(c.specificity).toBe(1);
    expect(c.f1).toBe(0);
  });
  it('rejects a NaN threshold and bad inputs', () => {
    expect(() => confusionAt(labels, scores, Number.NaN)).toThrow(/confusionAt: threshold is NaN/);
    expect(() => confusionAt([0, 1], [0.5, Infinity], 0.5)).toThrow(/confusionAt: scores\[1\] is Infinity/);
  });
});

describe('youdenThreshold', () => {
  it('picks the threshold maximising sensitivity + specificity - 1', () => {
    const y = youdenThreshold(labels, scores);
    // J is 0.5 at both 0.8 and 0.6; ties go to the higher threshold, as argmax does.
    expect(y.threshold).toBe(0.8);
    expect(y.j).toBe(0.5);
    const c = confusionAt(labels, scores, y.threshold);
    expect(c.sensitivity).toBe(y.sensitivity);
    expect(c.specificity).toBe(y.specificity);
  });
  it('returns Infinity (call nothing positive) for a useless score', () => {
    expect(youdenThreshold([1, 0, 1, 0], [0, 1, 0, 1]).threshold).toBe(Infinity);
  });
  it('names itself when a class is missing', () => {
    expect(() => youdenThreshold([0, 0], [0.1, 0.2])).toThrow(/youdenThreshold: needs both classes/);
  });
});

describe('curves', () => {
  it('rocCurve runs from (0,0) to (1,1) with descending thresholds', () => {
    const r = rocCurve(labels, scores);
    expect([r.fpr[0], r.tpr[0], r.fpr.at(-1), r.tpr.at(-1)]).toEqual([0, 0, 1, 1]);
    for (let k = 1; k < r.thresholds.length; k++) expect(r.thresholds[k]).toBeLessThan(r.thresholds[k - 1]);
  });
  it('averagePrecision is 1 for a perfect ranking and the step sum of prCurve otherwise', () => {
    expect(averagePrecision([0, 1, 1], [0.1, 0.5, 0.7])).toBe(1);
    const pr = prCurve(labels, scores);
    let ap = 0;
    for (let k = 0; k < pr.thresholds.length; k++) ap += (pr.recall[k] - pr.recall[k + 1]) * pr.precision[k];
    expect(averagePrecision(labels, scores)).toBeCloseTo(ap, 14);
  });
  it('PR metrics need a positive', () => {
    expect(() => averagePrecision([0, 0], [0.1, 0.2])).toThrow(/averagePrecision: needs at least one positive/);
    expect(() => prCurve([0, 0], [0.1, 0.2])).toThrow(/prCurve: needs at least one positive/);
  });
});
