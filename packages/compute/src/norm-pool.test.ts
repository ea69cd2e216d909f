import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { registeredOverrides } from './register';
import { describeKernelSets, onBackend, randn, relErr } from './test-support/kernels';

// Both kernel sets: tfjs' wasm kernels (what a machine without the native addon trains on) and the native ones.
describeKernelSets(1, () => {
  describe('FusedBatchNorm on wasm (broadcast binary ops) matches the cpu backend', () => {
    const rng = new Rng(11);
    it('replaces the stock kernel', () => {
      expect(registeredOverrides()).toEqual(expect.arrayContaining(['wasm:FusedBatchNorm', 'wasm:MaxPoolGrad']));
    });
    const cases = [
      { name: 'rank 4 with scale and offset', x: [3, 5, 4, 6], stats: [6], scale: true, offset: true },
      { name: 'rank 2 without scale or offset', x: [40, 7], stats: [7], scale: false, offset: false },
      { name: 'statistics as rank-4 [1,1,1,C]', x: [2, 3, 3, 5], stats: [1, 1, 1, 5], scale: true, offset: false },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const xv = randn(rng, c.x);
        // A large mean, so a formulation that cancels (x*k - mean*k) would lose digits.
        for (let i = 0; i < xv.values.length; i++) xv.values[i] = 300 + xv.values[i];
        const mv = randn(rng, c.stats);
        for (let i = 0; i < mv.values.length; i++) mv.values[i] += 300;
        const vv = randn(rng, c.stats);
        for (let i = 0; i < vv.values.length; i++) vv.values[i] = 0.5 + vv.values[i] ** 2;
        const sv = randn(rng, c.stats);
        const ov = randn(rng, c.stats);
        const run = () => {
          const t = (v: { values: Float32Array }, shape: number[]) => tf.tensor(v.values, shape);
          return [tf.batchNorm(t(xv, c.x), t(mv, c.stats), t(vv, c.stats), c.offset ? t(ov, c.stats) : undefined, c.scale ? t(sv, c.stats) : undefined, 1e-3)];
        };
        const before = tf.memory().numTensors;
        const [w] = await onBackend('wasm', run);
        expect(tf.memory().numTensors).toBe(before);
        const [cpu] = await onBackend('cpu', run);
        expect(relErr(w, cpu)).toBeLessThan(1e-5);
      });
    }
  });

  describe('MaxPoolGrad on wasm matches the cpu backend', () => {
    const rng = new Rng(12);
    const cases = [
      { name: '3x3 s2 pad 1 (ResNet stem)', x: [2, 12, 11, 5], k: 3, s: 2, pad: 1 as const, ties: false },
      { name: '2x2 s2 valid', x: [2, 8, 9, 3], k: 2, s: 2, pad: 'valid' as const, ties: false },
      { name: '3x3 s1 same, overlapping windows full of ties', x: [1, 7, 6, 4], k: 3, s: 1, pad: 'same' as const, ties: true },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const xv = randn(rng, c.x);
        // Ties: values from {-1, 0, 1}, so the first maximum in row-major order must win.
        if (c.ties) for (let i = 0; i < xv.values.length; i++) xv.values[i] = Math.round(xv.values[i]);
        const run = () => {
          const x = tf.tensor4d(xv.values, c.x as [number, number, number, number]);
          const y = tf.maxPool(x, c.k, c.s, c.pad);
          const dy = tf.add(tf.range(0, y.size).reshape(y.shape), 1);
          return [tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad))(x, dy)];
        };
        const before = tf.memory().numTensors;
        const [w] = await onBackend('wasm', run);
        expect(tf.memory().numTensors).toBe(before);
        const [cpu] = await onBackend('cpu', run);
        expect(Array.from(w)).toEqual(Array.from(cpu));
      });
    }
  });
});
