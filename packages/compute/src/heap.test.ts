import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { registeredOverrides } from './register';
import { onBackend, randn } from './test-support/kernels';

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1 });
});

describe('Slice and SplitV on wasm copy between heap views and equal the cpu backend exactly', () => {
  it('replaces the stock kernels', () => {
    expect(registeredOverrides()).toEqual(expect.arrayContaining(['wasm:Slice', 'wasm:SplitV']));
  });

  const rng = new Rng(31);
  const cases: Array<{ name: string; shape: number[]; begin: number[]; size: number[] }> = [
    { name: 'rank 1', shape: [50], begin: [7], size: [30] },
    { name: 'rank 2, short rows (plain loop)', shape: [40, 9], begin: [3, 2], size: [20, 5] },
    { name: 'rank 3, leading axis only (one contiguous run)', shape: [9, 6, 70], begin: [4, 0, 0], size: [3, 6, 70] },
    { name: 'rank 4, crop of two spatial axes', shape: [3, 11, 10, 40], begin: [1, 1, 2, 0], size: [2, 9, 7, 40] },
    { name: 'rank 4, every axis cut', shape: [3, 5, 6, 7], begin: [1, 2, 1, 3], size: [2, 3, 4, 4] },
    { name: 'rank 5, size -1 runs to the end', shape: [2, 3, 4, 5, 6], begin: [0, 1, 0, 2, 1], size: [-1, -1, 3, 2, -1] },
    { name: 'empty result', shape: [4, 5], begin: [2, 0], size: [0, 5] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const xv = randn(rng, c.shape);
      const run = () => [tf.slice(tf.tensor(xv.values, c.shape), c.begin, c.size)];
      const before = tf.memory().numTensors;
      const [w] = await onBackend('wasm', run);
      expect(tf.memory().numTensors).toBe(before);
      const [cpu] = await onBackend('cpu', run);
      expect(Array.from(w)).toEqual(Array.from(cpu));
    });
  }

  it('int32 and bool keep their dtype', async () => {
    const run = () => {
      const i = tf.slice(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), [1, 0], [2, 2]);
      const b = tf.slice(tf.tensor1d([true, false, true], 'bool'), [1], [2]);
      expect(i.dtype).toBe('int32');
      expect(b.dtype).toBe('bool');
      return [tf.cast(i, 'float32'), tf.cast(b, 'float32')];
    };
    const [i, b] = await onBackend('wasm', run);
    expect(Array.from(i)).toEqual([3, 4, 5, 6]);
    expect(Array.from(b)).toEqual([0, 1]);
  });

  it('a bad begin is refused with the stock message', async () => {
    await expect(onBackend('wasm', () => [tf.slice(tf.zeros([3, 3]), [2, 0], [2, 3])])).rejects.toThrow(/slice/i);
  });

  it('split by count and by sizes, along inner and outer axes', async () => {
    const xv = randn(rng, [4, 6, 10]);
    const run = () => [...tf.split(tf.tensor(xv.values, xv.shape), 2, 0), ...tf.split(tf.tensor(xv.values, xv.shape), [3, -1, 5], 2)];
    const w = await onBackend('wasm', run);
    const cpu = await onBackend('cpu', run);
    expect(w.length).toBe(5);
    w.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(cpu[i])));
  });
});

describe('Identity on wasm shares memory instead of copying', () => {
  it('a clone reads the same values, outlives its source, and allocates nothing', async () => {
    const prev = tf.getBackend();
    await tf.setBackend('wasm');
    try {
      const ids = tf.engine().backend.numDataIds();
      const x = tf.tensor1d([1, 2, 3]);
      const y = tf.clone(x);
      // One buffer for both: the stock kernel allocated a second one and copied.
      expect(y.dataId).toBe(x.dataId);
      expect(tf.engine().backend.numDataIds()).toBe(ids + 1);
      x.dispose();
      expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
      y.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(ids);
    } finally {
      await tf.setBackend(prev);
    }
  });

  it('a Cast to the same dtype shares too; a real conversion still converts', async () => {
    const prev = tf.getBackend();
    await tf.setBackend('wasm');
    try {
      const x = tf.tensor1d([1.7, -2.2, 0]);
      const same = tf.cast(x, 'float32');
      expect(same.dataId).toBe(x.dataId);
      const asInt = tf.cast(x, 'int32');
      expect(asInt.dataId).not.toBe(x.dataId);
      expect(Array.from(asInt.dataSync())).toEqual([1, -2, 0]);
      expect(Array.from(tf.cast(tf.tensor1d([true, false], 'bool'), 'float32').dataSync())).toEqual([1, 0]);
      tf.dispose([x, same, asInt]);
    } finally {
      await tf.setBackend(prev);
    }
  });

  it('gradients that save their inputs for the backward pass stay exact and leak nothing', async () => {
    const rng = new Rng(5);
    const xv = randn(rng, [2, 6, 6, 3]);
    const wv = randn(rng, [3, 3, 3, 4]);
    const run = () => {
      const x = tf.tensor4d(xv.values, [2, 6, 6, 3]);
      const w = tf.tensor4d(wv.values, [3, 3, 3, 4]);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
      return tf.grads(f)([x, w]);
    };
    const before = tf.memory().numTensors;
    const w = await onBackend('wasm', run);
    expect(tf.memory().numTensors).toBe(before);
    const cpu = await onBackend('cpu', run);
    w.forEach((a, i) => a.forEach((v, j) => expect(v).toBeCloseTo(cpu[i][j], 4)));
  });
});
