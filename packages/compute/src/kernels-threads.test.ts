// Users run with every core: the kernels' values and gradients on threaded wasm (2 threads) against
// the cpu backend. src/kernels.test.ts checks the kernels on one thread.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { describeKernelSets, onBackend, randn, relErr } from './test-support/kernels';

type Shape4 = [number, number, number, number];

// Both kernel sets: tfjs' wasm kernels (what a machine without the native addon trains on) and the native ones.
describeKernelSets(2, () => {
  describe('kernels on 2-thread wasm match the cpu backend', () => {
    const rng = new Rng(616);
    // Big enough that XNNPACK splits the work between the threads; shapes of a narrow ResNet stage and stem.
    const convs: { name: string; x: Shape4; k: number; co: number; stride: number; pad: 'same' | 'valid' | Shape4[] | number }[] = [
      { name: '3x3 s1 same', x: [4, 24, 24, 16], k: 3, co: 32, stride: 1, pad: 'same' },
      { name: '3x3 s2 pad 1 (torchvision)', x: [4, 24, 24, 16], k: 3, co: 16, stride: 2, pad: 1 },
      { name: '7x7 s2 pad 3 (stem)', x: [2, 40, 40, 3], k: 7, co: 16, stride: 2, pad: 3 },
      { name: '1x1 s2 (downsample)', x: [4, 20, 20, 16], k: 1, co: 32, stride: 2, pad: 'valid' },
    ];
    for (const c of convs) {
      it(`conv2d ${c.name}: values and gradients`, async () => {
        const wShape: Shape4 = [c.k, c.k, c.x[3], c.co];
        const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad as 'same');
        const yShape = tf.tidy(() => conv(tf.zeros(c.x), tf.zeros(wShape)).shape);
        const xv = randn(rng, c.x);
        const wv = randn(rng, wShape);
        const dyv = randn(rng, yShape);
        const run = () => {
          const x = tf.tensor4d(xv.values, c.x);
          const w = tf.tensor4d(wv.values, wShape);
          return [conv(x, w), ...tf.grads(conv)([x, w], tf.tensor(dyv.values, yShape))];
        };
        const before = tf.memory().numTensors;
        const wasm = await onBackend('wasm', run);
        expect(tf.memory().numTensors).toBe(before);
        const cpu = await onBackend('cpu', run);
        for (let i = 0; i < 3; i++) expect(relErr(wasm[i], cpu[i]), ['y', 'dx', 'dw'][i]).toBeLessThan(1e-4);
      });
    }

    it('training-mode batchNorm, matMul, max pool and pooled means: values and gradients', async () => {
      const shape: Shape4 = [8, 12, 12, 32];
      const xv = randn(rng, shape);
      const gv = randn(rng, [32]);
      const bv = randn(rng, [32]);
      const mv = randn(rng, [32, 48]);
      const run = () => {
        const x = tf.tensor4d(xv.values, shape);
        const gamma = tf.tensor1d(gv.values);
        const beta = tf.tensor1d(bv.values);
        const m = tf.tensor2d(mv.values, [32, 48]);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, w: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          const y = tf.relu(tf.batchNorm(a as tf.Tensor4D, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-5));
          const pooled = tf.mean(tf.maxPool(y as tf.Tensor4D, 3, 2, 'same'), [1, 2]);
          return tf.sum(tf.square(tf.matMul(pooled as tf.Tensor2D, w as tf.Tensor2D)));
        };
        return [f(x, gamma, beta, m), ...tf.grads(f)([x, gamma, beta, m])];
      };
      const wasm = await onBackend('wasm', run);
      const cpu = await onBackend('cpu', run);
      for (let i = 0; i < wasm.length; i++) expect(relErr(wasm[i], cpu[i]), ['loss', 'dx', 'dgamma', 'dbeta', 'dw'][i]).toBeLessThan(1e-4);
    });
  });
});
