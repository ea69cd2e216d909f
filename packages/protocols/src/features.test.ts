import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { linearProtocol } from './linear';
import { logisticProtocol } from './logistic';

const d = 8;

/** Features that vary from row to row, with alternating 0/1 labels. */
function varying(n: number, seed: number) {
  const rng = new Rng(seed);
  return { features: Float32Array.from({ length: n * d }, () => rng.normal()), labels: Array.from({ length: n }, (_, i) => i % 2) };
}

/** What a backbone that maps every image to one point gives: the same vector in every row. */
function constant(n: number) {
  const row = Float32Array.from({ length: d }, (_, j) => 0.25 * j);
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) features.set(row, i * d);
  return { features, labels: Array.from({ length: n }, (_, i) => i % 2) };
}

describe('frozen features a probe cannot rank are refused', () => {
  const protocols = {
    linearProtocol: (train: ReturnType<typeof varying>, val: ReturnType<typeof varying>) =>
      linearProtocol({ trainFeatures: train.features, trainLabels: train.labels, valFeatures: val.features, valLabels: val.labels, featureDim: d, epochs: 1, seed: 1 }),
    logisticProtocol: (train: ReturnType<typeof varying>, val: ReturnType<typeof varying>) =>
      logisticProtocol({ trainFeatures: train.features, trainLabels: train.labels, valFeatures: val.features, valLabels: val.labels, featureDim: d, l2: [1] }),
  };

  it.each(Object.keys(protocols) as (keyof typeof protocols)[])('%s: constant train or validation features fail, naming the split', (name) => {
    const run = protocols[name];
    expect(() => run(varying(40, 1), varying(20, 2))).not.toThrow();
    const msg = (split: string, n: number) => `${name} ${split}: all ${n} rows are the same ${d}-value vector; the backbone maps every image to one point (non-finite or collapsed weights), so a probe cannot rank the images`;
    expect(() => run(constant(40), varying(20, 2))).toThrow(msg('trainFeatures', 40));
    expect(() => run(varying(40, 1), constant(20))).toThrow(msg('valFeatures', 20));
  });

  it('logisticProtocol: a NaN feature is refused by row and column, as linearProtocol does', () => {
    const train = varying(40, 1);
    train.features[3 * d + 5] = NaN;
    expect(() => protocols.logisticProtocol(train, varying(20, 2))).toThrow('logisticProtocol trainFeatures: row 3, column 5 is NaN; features must be finite');
    expect(() => protocols.linearProtocol(train, varying(20, 2))).toThrow('linearProtocol trainFeatures: row 3, column 5 is NaN; features must be finite');
  });
});
