import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import { groupedForward, shuffledForward, subBatches } from './split-bn';

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

// A BatchNorm-like forward: each row minus the mean of its (sub-)batch.
const centre = (x: tf.Tensor4D) => tf.tidy(() => {
  const flat = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
  return tf.sub(flat, tf.mean(flat, 0, true)) as tf.Tensor2D;
});

describe('single-device BatchNorm alternatives', () => {
  it('subBatches splits as evenly as possible', () => {
    expect(subBatches(16, 4)).toEqual([[0, 4], [4, 4], [8, 4], [12, 4]]);
    expect(subBatches(10, 3)).toEqual([[0, 4], [4, 3], [7, 3]]);
    expect(() => subBatches(2, 3)).toThrow(/batch of 2 into 3/);
  });

  it('split-BN normalises each sub-batch with its own statistics', () => {
    const x = tf.tensor4d([1, 3, 10, 20, 100, 300], [6, 1, 1, 1]);
    const whole = centre(x).dataSync();
    const split = groupedForward(centre, x, 3);
    expect(Array.from(split.dataSync())).toEqual([-1, 1, -5, 5, -100, 100]);
    expect(Array.from(whole)).not.toEqual(Array.from(split.dataSync()));
    for (const t of [x, split]) t.dispose();
  });

  it('shuffle-BN groups rows by the permutation but returns them in input order', () => {
    const x = tf.tensor4d([1, 3, 10, 20], [4, 1, 1, 1]);
    // Permutation [0, 2, 1, 3]: groups {1, 10} and {3, 20}.
    const out = shuffledForward(centre, x, 2, [0, 2, 1, 3]);
    expect(Array.from(out.dataSync())).toEqual([-4.5, -8.5, 4.5, 8.5]);
    // With one group the shuffle is a no-op: batch statistics do not depend on order.
    const one = shuffledForward(centre, x, 1, new Rng(4));
    expect(Array.from(one.dataSync())).toEqual(Array.from(centre(x).dataSync()));
    expect(() => shuffledForward(centre, x, 2, [0, 0, 1, 2])).toThrow(/not a permutation/);
    for (const t of [x, out, one]) t.dispose();
  });

  it('does not leak tensors', () => {
    const x = tf.randomNormal([8, 2, 2, 1]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const rng = new Rng(1);
    for (let i = 0; i < 3; i++) {
      groupedForward(centre, x, 4).dispose();
      shuffledForward(centre, x, 2, rng).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
