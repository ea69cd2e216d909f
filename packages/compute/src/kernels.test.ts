import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { describeKernelSets, onBackend, randn, relErr } from './test-support/kernels';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  stride: number | [number, number];
  pad: Pad;
}

const cases: ConvCase[] = [
  { name: '3x3 s1 same', x: [2, 9, 9, 5], k: [3, 3], co: 6, stride: 1, pad: 'same' },
  { name: '3x3 s2 same odd', x: [2, 11, 9, 4], k: [3, 3], co: 7, stride: 2, pad: 'same' },
  { name: '3x3 s2 explicit 1 (torchvision)', x: [2, 10, 10, 6], k: [3, 3], co: 5, stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '3x3 s2 valid', x: [3, 12, 13, 3], k: [3, 3], co: 4, stride: 2, pad: 'valid' },
  { name: '1x1 s1', x: [2, 7, 7, 8], k: [1, 1], co: 12, stride: 1, pad: 'valid' },
  { name: '1x1 s2 (downsample)', x: [2, 8, 7, 6], k: [1, 1], co: 10, stride: 2, pad: 'valid' },
  { name: '7x7 s2 pad 3 (ResNet stem)', x: [2, 20, 18, 3], k: [7, 7], co: 8, stride: 2, pad: [[0, 0], [3, 3], [3, 3], [0, 0]] },
  { name: '7x7 s2 same', x: [1, 17, 17, 3], k: [7, 7], co: 4, stride: 2, pad: 'same' },
  { name: '5x3 s1 asymmetric explicit', x: [2, 9, 8, 3], k: [5, 3], co: 4, stride: 1, pad: [[0, 0], [2, 1], [0, 1], [0, 0]] },
  { name: '3x3 s2 numeric pad 1 (backbones style)', x: [2, 9, 10, 4], k: [3, 3], co: 6, stride: 2, pad: 1 },
  { name: '3x3 strides [2,1] same', x: [2, 9, 8, 3], k: [3, 3], co: 5, stride: [2, 1], pad: 'same' },
  { name: '3x3 s3 valid leftovers', x: [2, 14, 14, 3], k: [3, 3], co: 4, stride: 3, pad: 'valid' },
  { name: '2x2 s3 valid (a phase no tap reaches)', x: [2, 11, 10, 3], k: [2, 2], co: 4, stride: 3, pad: 'valid' },
  { name: '4x4 s2 asymmetric explicit', x: [2, 10, 9, 4], k: [4, 4], co: 5, stride: 2, pad: [[0, 0], [1, 2], [2, 1], [0, 0]] },
  { name: '3x3 s2 pad 1 even (ResNet layer2 shape)', x: [2, 16, 16, 8], k: [3, 3], co: 16, stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { name: '1x1 s2 on odd size', x: [2, 9, 7, 5], k: [1, 1], co: 6, stride: 2, pad: 'valid' },
];

function convGrads(c: ConvCase, xv: { shape: number[]; values: Float32Array }, wv: { shape: number[]; values: Float32Array }, dyv: { shape: number[]; values: Float32Array }) {
  return () => {
    const x = tf.tensor4d(xv.values, xv.shape as [number, number, number, number]);
    const w = tf.tensor4d(wv.values, wv.shape as [number, number, number, number]);
    const dy = tf.tensor4d(dyv.values, dyv.shape as [number, number, number, number]);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad as 'same'));
    return g([x, w], dy);
  };
}

// Both kernel sets: tfjs' wasm kernels (what a machine without the native addon trains on) and the native ones.
describeKernelSets(1, () => {
  describe('conv2d gradients on wasm match the cpu backend', () => {
    const rng = new Rng(20240611);
    for (const c of cases) {
      it(c.name, async () => {
        const wShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.co];
        const yShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(wShape) as tf.Tensor4D, c.stride, c.pad as 'same').shape);
        const xv = randn(rng, c.x);
        const wv = randn(rng, wShape);
        const dyv = randn(rng, yShape);
        const before = tf.memory().numTensors;
        const dataIds = tf.engine().backend.numDataIds();
        const [dxW, dwW] = await onBackend('wasm', convGrads(c, xv, wv, dyv));
        expect(tf.memory().numTensors).toBe(before);
        expect(tf.engine().backend.numDataIds()).toBe(dataIds);
        const [dxC, dwC] = await onBackend('cpu', convGrads(c, xv, wv, dyv));
        expect(relErr(dxW, dxC)).toBeLessThan(1e-4);
        expect(relErr(dwW, dwC)).toBeLessThan(1e-4);
      });
    }
  });

  describe('depthwise conv gradients on wasm match the cpu backend', () => {
    const rng = new Rng(7);
    const dcases = [
      { name: '3x3 s1 same m1', x: [2, 8, 8, 4] as [number, number, number, number], k: 3, m: 1, stride: 1, pad: 'same' as const },
      { name: '3x3 s2 same m2', x: [2, 9, 8, 3] as [number, number, number, number], k: 3, m: 2, stride: 2, pad: 'same' as const },
      { name: '5x5 s2 valid m1', x: [1, 13, 11, 5] as [number, number, number, number], k: 5, m: 1, stride: 2, pad: 'valid' as const },
    ];
    for (const c of dcases) {
      it(c.name, async () => {
        const wShape: [number, number, number, number] = [c.k, c.k, c.x[3], c.m];
        const yShape = tf.tidy(() => tf.depthwiseConv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(wShape) as tf.Tensor4D, c.stride, c.pad).shape);
        const xv = randn(rng, c.x);
        const wv = randn(rng, wShape);
        const dyv = randn(rng, yShape);
        const run = () => {
          const x = tf.tensor4d(xv.values, c.x);
          const w = tf.tensor4d(wv.values, wShape as [number, number, number, number]);
          const dy = tf.tensor4d(dyv.values, yShape as [number, number, number, number]);
          return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad))([x, w], dy);
        };
        const before = tf.memory().numTensors;
        const [dxW, dwW] = await onBackend('wasm', run);
        expect(tf.memory().numTensors).toBe(before);
        const [dxC, dwC] = await onBackend('cpu', run);
        expect(relErr(dxW, dxC)).toBeLessThan(1e-4);
        expect(relErr(dwW, dwC)).toBeLessThan(1e-4);
      });
    }
  });

  describe('batch norm, matMul and reductions on wasm match the cpu backend', () => {
    const rng = new Rng(99);

    it('training-mode batchNorm (moments + batchNorm): grads of x, scale, offset', async () => {
      const shape = [4, 6, 5, 7];
      const xv = randn(rng, shape);
      const gv = randn(rng, [7]);
      const bv = randn(rng, [7]);
      const dyv = randn(rng, shape);
      // x offset by 3 so the centred sums matter.
      for (let i = 0; i < xv.values.length; i++) xv.values[i] = 3 + 2 * xv.values[i];
      const run = () => {
        const x = tf.tensor(xv.values, shape);
        const gamma = tf.tensor1d(gv.values);
        const beta = tf.tensor1d(bv.values);
        const dy = tf.tensor(dyv.values, shape);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          return tf.batchNorm(a as tf.Tensor4D, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-5);
        };
        return [...tf.grads(f)([x, gamma, beta], dy), f(x, gamma, beta)];
      };
      const before = tf.memory().numTensors;
      const w = await onBackend('wasm', run);
      expect(tf.memory().numTensors).toBe(before);
      const c = await onBackend('cpu', run);
      for (let i = 0; i < 4; i++) expect(relErr(w[i], c[i])).toBeLessThan(1e-4);
    });

    it('batchNorm with fixed statistics (eval-style, rank-1 mean): grads of x, mean, variance, scale, offset', async () => {
      const shape = [3, 4, 4, 6];
      const xv = randn(rng, shape);
      const mv = randn(rng, [6]);
      const vv = randn(rng, [6]);
      for (let i = 0; i < 6; i++) vv.values[i] = 0.5 + Math.abs(vv.values[i]);
      const gv = randn(rng, [6]);
      const bv = randn(rng, [6]);
      const dyv = randn(rng, shape);
      const run = () => {
        const args = [tf.tensor(xv.values, shape), tf.tensor1d(mv.values), tf.tensor1d(vv.values), tf.tensor1d(gv.values), tf.tensor1d(bv.values)];
        const f = (x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.batchNorm(x as tf.Tensor4D, m as tf.Tensor1D, v as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
        return tf.grads(f)(args, tf.tensor(dyv.values, shape));
      };
      const w = await onBackend('wasm', run);
      const c = await onBackend('cpu', run);
      for (let i = 0; i < 5; i++) expect(relErr(w[i], c[i])).toBeLessThan(1e-4);
    });

    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(`matMul transposeA=${ta} transposeB=${tb}: values and grads`, async () => {
        const aShape = ta ? [33, 17] : [17, 33];
        const bShape = tb ? [21, 33] : [33, 21];
        const av = randn(rng, aShape);
        const bv = randn(rng, bShape);
        const dyv = randn(rng, [17, 21]);
        const run = () => {
          const a = tf.tensor2d(av.values, aShape as [number, number]);
          const b = tf.tensor2d(bv.values, bShape as [number, number]);
          const f = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb);
          return [f(a, b), ...tf.grads(f)([a, b], tf.tensor2d(dyv.values, [17, 21]))];
        };
        const dataIds = tf.engine().backend.numDataIds();
        const w = await onBackend('wasm', run);
        expect(tf.engine().backend.numDataIds()).toBe(dataIds);
        const c = await onBackend('cpu', run);
        for (let i = 0; i < 3; i++) expect(relErr(w[i], c[i])).toBeLessThan(1e-4);
      });
    }

    it('sum and mean over leading axes (pooled path), keepDims, and their grads', async () => {
      const shape = [4, 10, 12, 16];
      const xv = randn(rng, shape);
      const run = () => {
        const x = tf.tensor(xv.values, shape);
        const outs: tf.Tensor[] = [tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2], true), tf.sum(x, [0, 1]), tf.mean(x, 0), tf.sum(x, [1, 2]), tf.sum(x, -1)];
        outs.push(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, [0, 1, 2]), tf.range(0, 16))))(x));
        outs.push(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.sum(a, [0, 1]), tf.ones([12, 16]))))(x));
        return outs;
      };
      const w = await onBackend('wasm', run);
      const c = await onBackend('cpu', run);
      expect(w[1].length).toBe(16);
      for (let i = 0; i < w.length; i++) expect(relErr(w[i], c[i])).toBeLessThan(1e-4);
    });
  });
});
