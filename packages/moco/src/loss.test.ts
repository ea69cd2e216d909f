import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { infoNceLoss, positiveRanks, positiveTopK, topKFromRanks } from './loss';

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

describe('infoNceLoss', () => {
  it('matches a hand-computed example', () => {
    // Two queries, their keys, and a queue of three negatives (all unit vectors).
    const q = tf.tensor2d([[1, 0], [0, 1]]);
    const k = tf.tensor2d([[0.6, 0.8], [0, 1]]);
    const queue = tf.tensor2d([[1, 0], [-1, 0], [0.8, 0.6]]);
    const T = 0.5;
    const { loss, logits } = infoNceLoss(q, k, queue, T);
    // Row 0: q.k+ = 0.6; q.queue = [1, -1, 0.8]; row 1: q.k+ = 1; q.queue = [0, 0, 0.6].
    const row0 = [0.6, 1, -1, 0.8].map((v) => v / T);
    const row1 = [1, 0, 0, 0.6].map((v) => v / T);
    expect(logits.shape).toEqual([2, 4]);
    const got = logits.arraySync();
    row0.forEach((v, i) => expect(got[0][i]).toBeCloseTo(v, 6));
    row1.forEach((v, i) => expect(got[1][i]).toBeCloseTo(v, 6));
    const ce = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[0];
    const expected = (ce(row0) + ce(row1)) / 2;
    // ce(row0) = log(e^1.2 + e^2 + e^-2 + e^1.6) - 1.2 = 1.55985...; ce(row1) = log(e^2 + 2 + e^1.2) - 2 = 0.54232...
    expect(ce(row0)).toBeCloseTo(1.55985, 4);
    expect(ce(row1)).toBeCloseTo(0.54232, 4);
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
    expect(positiveTopK(logits, [1, 2, 5])).toEqual([0.5, 0.5, 1]);
    const ranks = positiveRanks(logits);
    expect(Array.from(ranks.dataSync())).toEqual([2, 0]);
    expect(topKFromRanks(ranks.dataSync(), [1, 2, 5])).toEqual([0.5, 0.5, 1]);
    ranks.dispose();
    for (const t of [q, k, queue, loss, logits]) t.dispose();
  });

  it('gives the gradient softmax - onehot through q only (keys are constants)', () => {
    const q = tf.variable(tf.tensor2d([[0.6, 0.8]]));
    const k = tf.tensor2d([[1, 0]]);
    const queue = tf.tensor2d([[0, 1]]);
    const T = 0.2;
    const { grads } = tf.variableGrads(() => infoNceLoss(q as tf.Tensor2D, k, queue, T).loss, [q]);
    const g = grads[q.name].dataSync();
    const l = [0.6 / T, 0.8 / T];
    const p0 = Math.exp(l[0]) / (Math.exp(l[0]) + Math.exp(l[1]));
    // dL/dq = ((p0 - 1) * k + (1 - p0) * queue) / T
    expect(g[0]).toBeCloseTo((p0 - 1) / T, 5);
    expect(g[1]).toBeCloseTo((1 - p0) / T, 5);
    for (const t of [q, k, queue, ...Object.values(grads)]) t.dispose();
  });

  it('is log(K+1) when every logit ties, and rejects bad shapes', () => {
    const q = tf.tensor2d([[1, 0], [1, 0]]);
    const k = tf.tensor2d([[0, 1], [0, 1]]);
    const queue = tf.tensor2d([[0, 1], [0, -1], [0, 1]]);
    const { loss, logits } = infoNceLoss(q, k, queue, 0.2);
    expect(loss.dataSync()[0]).toBeCloseTo(Math.log(4), 6);
    expect(positiveTopK(logits, [1])).toEqual([0]); // ties count against the positive
    // The device-side ranks (mocoStepAsync's read) give the same fractions, ties included.
    expect(topKFromRanks(positiveRanks(logits).dataSync(), [1, 2, 5])).toEqual(positiveTopK(logits, [1, 2, 5]));
    const bad = tf.tensor2d([[1, 0, 0]]);
    expect(() => infoNceLoss(q, k, bad, 0.2)).toThrow(/queue must be \[K, 2\], got \[1, 3\]/);
    expect(() => infoNceLoss(q, k, queue, 0)).toThrow(/temperature/);
    for (const t of [q, k, queue, loss, logits, bad]) t.dispose();
  });
});
