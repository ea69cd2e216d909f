import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { copyVariables, momentumUpdate } from './momentum';

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

function encoder(w: number[], runningMean: number[]) {
  return new Map<string, tf.Variable>([
    ['conv.weight', tf.variable(tf.tensor1d(w), true)],
    ['bn.running_mean', tf.variable(tf.tensor1d(runningMean), false)],
  ]);
}

describe('momentumUpdate', () => {
  it('moves every trainable key weight to m*key + (1-m)*query and leaves buffers alone', () => {
    const key = encoder([1, 2, 3], [10, 10, 10]);
    const query = encoder([3, -2, 0.5], [0, 0, 0]);
    momentumUpdate(key, query, 0.9);
    const k = key.get('conv.weight')!.dataSync();
    [0.9 * 1 + 0.1 * 3, 0.9 * 2 - 0.1 * 2, 0.9 * 3 + 0.1 * 0.5].forEach((v, i) => expect(k[i]).toBeCloseTo(v, 6));
    expect(Array.from(key.get('bn.running_mean')!.dataSync())).toEqual([10, 10, 10]);
    // Query unchanged; m = 1 freezes the key, m = 0 copies the query.
    expect(Array.from(query.get('conv.weight')!.dataSync())).toEqual([3, -2, 0.5]);
    const before = Array.from(k);
    momentumUpdate(key, query, 1);
    expect(Array.from(key.get('conv.weight')!.dataSync())).toEqual(before);
    momentumUpdate(key, query, 0);
    expect(Array.from(key.get('conv.weight')!.dataSync())).toEqual([3, -2, 0.5]);
    for (const v of [...key.values(), ...query.values()]) v.dispose();
  });

  it('repeated updates converge geometrically: key - query shrinks by m each step', () => {
    const key = encoder([0], [0]);
    const query = encoder([1], [0]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) momentumUpdate(key, query, 0.999);
    expect(tf.memory().numTensors).toBe(before);
    expect(1 - key.get('conv.weight')!.dataSync()[0]).toBeCloseTo(0.999 ** 10, 5);
    for (const v of [...key.values(), ...query.values()]) v.dispose();
  });

  it('names the variable when the encoders differ', () => {
    const key = new Map([['a', tf.variable(tf.zeros([2]))]]);
    const query = new Map([['b', tf.variable(tf.zeros([2]))]]);
    expect(() => momentumUpdate(key, query, 0.99)).toThrow(/no variable 'b'/);
    const key2 = new Map([['b', tf.variable(tf.zeros([3]))]]);
    expect(() => momentumUpdate(key2, query, 0.99)).toThrow(/'b' is \[3\] in the key encoder but \[2\]/);
    for (const v of [...key.values(), ...query.values(), ...key2.values()]) v.dispose();
  });

  it('copyVariables copies weights and buffers exactly', () => {
    const key = encoder([0, 0, 0], [0, 0, 0]);
    const query = encoder([1.5, 2.5, 3.5], [7, 8, 9]);
    copyVariables(key, query);
    expect(Array.from(key.get('conv.weight')!.dataSync())).toEqual([1.5, 2.5, 3.5]);
    expect(Array.from(key.get('bn.running_mean')!.dataSync())).toEqual([7, 8, 9]);
    // A copy, not an alias.
    query.get('conv.weight')!.assign(tf.zeros([3]));
    expect(Array.from(key.get('conv.weight')!.dataSync())).toEqual([1.5, 2.5, 3.5]);
    for (const v of [...key.values(), ...query.values()]) v.dispose();
  });
});

describe('momentumUpdate on the native kernels (every key weight in one in-place call)', () => {
  it('updates the key weights, never the query, also right after copyVariables left them sharing buffers', async () => {
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native' });
    try {
      const q0 = Array.from({ length: 20000 }, (_, i) => Math.sin(i));
      const key = encoder(q0.map(() => 0), [0]);
      const query = encoder(q0, [5]);
      key.set('fc.weight', tf.tidy(() => tf.variable(tf.ones([7]))));
      query.set('fc.weight', tf.tidy(() => tf.variable(tf.fill([7], 2))));
      copyVariables(key, query); // the key's weights now share the query's buffers
      momentumUpdate(key, query, 0.9);
      const q32 = Float32Array.from(q0);
      const changed = (a: Float32Array | Int32Array | Uint8Array, tol: number) => a.filter((v, i) => !(Math.abs(v - q32[i]) <= tol)).length;
      expect(changed(query.get('conv.weight')!.dataSync(), 0)).toBe(0);
      expect(changed(key.get('conv.weight')!.dataSync(), 1e-6)).toBe(0); // 0.9 q + 0.1 q
      query.get('conv.weight')!.assign(tf.zeros([20000]));
      query.get('fc.weight')!.assign(tf.fill([7], 4));
      const before = tf.memory().numTensors;
      momentumUpdate(key, query, 0.9);
      expect(tf.memory().numTensors).toBe(before);
      const k = key.get('conv.weight')!.dataSync();
      expect(k.filter((v, i) => !(Math.abs(v - 0.9 * q0[i]) < 2e-6)).length).toBe(0);
      expect(Array.from(key.get('fc.weight')!.dataSync())).toEqual(Array(7).fill(Math.fround(Math.fround(2 * 0.9) + Math.fround(4 * Math.fround(1 - 0.9)))));
      expect(Array.from(key.get('bn.running_mean')!.dataSync())).toEqual([5]);
      expect(Array.from(query.get('fc.weight')!.dataSync())).toEqual(Array(7).fill(4));
      for (const v of [...key.values(), ...query.values()]) v.dispose();
    } finally {
      await initBackend({ prefer: 'cpu' });
    }
  });
});
