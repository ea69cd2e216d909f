import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { FUSED } from './native';
import { randn } from './test-support/kernels';

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto' });
});

const own = (t: () => tf.Tensor) => tf.tidy(() => tf.variable(t(), false));

describe('MocoCxrBatchNormTrain with running statistics', () => {
  it('updates them in place with the bits of the tf ops (Multiply, Add in float32) and counts the batch', async () => {
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native' });
    const rng = new Rng(8);
    const [rows, c] = [300, 5];
    const x = tf.tensor2d(randn(rng, [rows, c]).values, [rows, c]);
    const rm = own(() => tf.tensor1d(randn(rng, [c]).values));
    const rv = own(() => tf.tensor1d(randn(rng, [c]).values.map((v) => 1 + v * v)));
    const nb = own(() => tf.scalar(41, 'int32'));
    const [m0, v0] = [rm.dataSync().slice(), rv.dataSync().slice()];
    const [keep, momentum, factor] = [1 - 0.1, 0.1, (0.1 * rows) / (rows - 1)];
    const before = tf.memory().numTensors;
    const outs = tf.engine().runKernel(FUSED.batchNormTrain, { x, gamma: tf.ones([c]), beta: tf.zeros([c]), runningMean: rm, runningVar: rv, numBatchesTracked: nb }, { varianceEpsilon: 1e-5, relu: false, runningKeep: keep, runningMomentum: momentum, runningVarianceFactor: factor } as never) as tf.Tensor[];
    const [mean, variance] = [outs[1].dataSync(), outs[2].dataSync()];
    // The tf ops on the same backend: runningMean * keep + mean * momentum, runningVar * keep + variance * factor.
    const ref = tf.tidy(() => [
      tf.add(tf.mul(tf.tensor1d(m0), keep), tf.mul(tf.tensor1d(mean), momentum)).dataSync(),
      tf.add(tf.mul(tf.tensor1d(v0), keep), tf.mul(tf.tensor1d(variance), factor)).dataSync(),
    ]);
    expect(Array.from(rm.dataSync())).toEqual(Array.from(ref[0]));
    expect(Array.from(rv.dataSync())).toEqual(Array.from(ref[1]));
    expect(Array.from(rm.dataSync())).not.toEqual(Array.from(m0));
    expect(nb.dataSync()[0]).toBe(42);
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(before + 2); // the ones and zeros given as gamma and beta
    tf.dispose([x, rm, rv, nb]);
  });

  it('refuses a shared, missing or mistyped running input by name before writing anything', async () => {
    await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native' });
    const c = 3;
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, c]);
    const [gamma, beta] = [tf.ones([c]), tf.zeros([c])];
    const rm = own(() => tf.zeros([c]));
    const rv = own(() => tf.ones([c]));
    const nb = own(() => tf.scalar(0, 'int32'));
    const held = rv.clone();
    const attrs = { varianceEpsilon: 1e-5, relu: false, runningKeep: 0.9, runningMomentum: 0.1, runningVarianceFactor: 0.2 };
    const run = (extra: tf.NamedTensorMap, a: object = attrs) => () => tf.engine().runKernel(FUSED.batchNormTrain, { x, gamma, beta, ...extra }, a as never);
    const before = tf.memory().numTensors;
    expect(run({ runningMean: rm, runningVar: rv, numBatchesTracked: nb })).toThrow(/input 'runningVar' shares its buffer/);
    expect(tf.memory().numTensors).toBe(before);
    held.dispose();
    expect(run({ runningMean: rm, runningVar: rv })).toThrow(/input 'numBatchesTracked' is missing/);
    expect(run({ runningMean: rm, runningVar: rv, numBatchesTracked: rm })).toThrow(/'numBatchesTracked' must be int32 with 1 element/);
    expect(run({ runningMean: rm, runningVar: rv, numBatchesTracked: nb }, { ...attrs, runningMomentum: undefined })).toThrow(/attr 'runningMomentum' must be a finite number/);
    expect(tf.memory().numTensors).toBe(before - 1); // held
    expect(Array.from(rm.dataSync())).toEqual([0, 0, 0]);
    expect(nb.dataSync()[0]).toBe(0);
    tf.dispose([x, gamma, beta, rm, rv, nb]);
  });
});
