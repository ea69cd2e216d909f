import { Rng } from '@moco-cxr/rng';
import { auroc } from '@moco-cxr/eval-metrics';
import { describe, expect, it } from 'vitest';
import { fitLogisticRegression } from '@moco-cxr/eval-metrics';
import { scoreFeatures } from './linear';
import { logisticProtocol } from './logistic';

/** Two Gaussian classes differing by `gap` along the first `signal` of `d` features, on unequal feature scales and offsets. */
function classes(n: number, d: number, signal: number, gap: number, seed: number) {
  const rng = new Rng(seed);
  const features = new Float32Array(n * d);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rng.next() < 0.5 ? 1 : 0;
    labels.push(y);
    for (let j = 0; j < d; j++) features[i * d + j] = (rng.normal() + (j < signal ? (y - 0.5) * gap : 0)) * (1 + j) + 3 * j;
  }
  return { features, labels };
}

describe('logisticProtocol', () => {
  it('folds the standardisation into a raw-feature head that scores exactly as the fitted model', () => {
    const d = 6;
    const train = classes(200, d, 2, 1.5, 1);
    const val = classes(100, d, 2, 1.5, 2);
    const r = logisticProtocol({ trainFeatures: train.features, trainLabels: train.labels, valFeatures: val.features, valLabels: val.labels, featureDim: d, l2: [1] });
    const model = fitLogisticRegression(train.features, train.labels, d, { l2: 1 });
    const expected = model.decision(val.features, 100);
    const got = scoreFeatures(r.head, val.features);
    // scoreFeatures gives probabilities: sigmoid of the model's log-odds.
    for (let i = 0; i < 100; i++) expect(got[i]).toBeCloseTo(1 / (1 + Math.exp(-expected[i])), 5);
    expect(r.valAuroc).toBeCloseTo(auroc(val.labels, expected), 12);
  });

  it('chooses the penalty with the best validation AUROC, and strong penalties win with few labels and many noise features', () => {
    const d = 64;
    const train = classes(24, d, 2, 1.2, 3);
    const val = classes(400, d, 2, 1.2, 4);
    const grid = [0.01, 1, 100, 10000];
    const r = logisticProtocol({ trainFeatures: train.features, trainLabels: train.labels, valFeatures: val.features, valLabels: val.labels, featureDim: d, l2: grid });
    expect(r.candidates.map((c) => c.l2)).toEqual(grid);
    const bestCandidate = r.candidates.reduce((a, b) => (b.valAuroc > a.valAuroc ? b : a));
    expect(r.l2).toBe(bestCandidate.l2);
    expect(r.valAuroc).toBe(bestCandidate.valAuroc);
    expect(auroc(val.labels, scoreFeatures(r.head, val.features))).toBeCloseTo(r.valAuroc, 6);
    // 24 rows, 64 features: the weakest penalty overfits the noise.
    expect(r.valAuroc).toBeGreaterThan(r.candidates[0].valAuroc + 0.03);
  });

  it('names bad input', () => {
    const d = 3;
    const t = classes(20, d, 1, 2, 5);
    const base = { trainFeatures: t.features, trainLabels: t.labels, valFeatures: t.features, valLabels: t.labels, featureDim: d };
    expect(() => logisticProtocol({ ...base, l2: [] })).toThrow(/l2 must be a non-empty list/);
    expect(() => logisticProtocol({ ...base, valFeatures: t.features.slice(1) })).toThrow(/valFeatures have 59 values, expected 20 x 3/);
    expect(() => logisticProtocol({ ...base, trainLabels: t.labels.map(() => 1) })).toThrow(/one class only/);
  });
  it('fits one regression per task on its labelled rows (NaN masked): each head row equals that task fitted alone', () => {
    const d = 5;
    const train = classes(240, d, 2, 1.5, 7);
    const val = classes(120, d, 2, 1.5, 8);
    // Task 1: a second finding on feature 4, masked (NaN) on every third row.
    const second = (f: Float32Array, n: number) => Array.from({ length: n }, (_, i) => (i % 3 === 0 ? NaN : f[i * d + 4] > 12 ? 1 : 0));
    const rows = (a: number[], b: number[]) => a.map((y, i) => [y, b[i]]);
    const t2 = second(train.features, 240);
    const v2 = second(val.features, 120);
    const r = logisticProtocol({ trainFeatures: train.features, trainLabels: rows(train.labels, t2), valFeatures: val.features, valLabels: rows(val.labels, v2), featureDim: d });
    expect(r.head.tasks).toBe(2);
    const keep = (ys: number[]) => ys.flatMap((y, i) => (Number.isNaN(y) ? [] : [i]));
    const pick = (f: Float32Array, idx: number[]) => Float32Array.from(idx.flatMap((i) => Array.from(f.subarray(i * d, (i + 1) * d))));
    const alone0 = logisticProtocol({ trainFeatures: train.features, trainLabels: train.labels, valFeatures: val.features, valLabels: val.labels, featureDim: d });
    const ti = keep(t2);
    const vi = keep(v2);
    const alone1 = logisticProtocol({ trainFeatures: pick(train.features, ti), trainLabels: ti.map((i) => t2[i]), valFeatures: pick(val.features, vi), valLabels: vi.map((i) => v2[i]), featureDim: d });
    expect(Array.from(r.head.weight.subarray(0, d))).toEqual(Array.from(alone0.head.weight));
    expect(Array.from(r.head.weight.subarray(d))).toEqual(Array.from(alone1.head.weight));
    expect(Array.from(r.head.bias)).toEqual([alone0.head.bias[0], alone1.head.bias[0]]);
    expect(r.perTask.map((t) => t.valAuroc)).toEqual([alone0.valAuroc, alone1.valAuroc]);
    expect(r.valAuroc).toBeCloseTo((alone0.valAuroc + alone1.valAuroc) / 2, 12);
    expect(alone1.valAuroc).toBeGreaterThan(0.9);
  });
});
