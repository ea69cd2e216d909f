import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { FUSED, loadNative } from './native';
import { randn } from './test-support/kernels';

const addon = loadNative();

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto' });
});

// A residual block's output at 64 px (several 16k chunks), with every special value ReLU and its
// gradient treat apart: -0, NaN, infinities, subnormals of both signs.
const SHAPE: [number, number, number, number] = [2, 16, 16, 70];
const SPECIAL = [-0, 0, NaN, Infinity, -Infinity, 1e-45, -1e-45, -1, 1];
function inputs(rng: Rng): { x: Float32Array; dy: Float32Array } {
  const x = randn(rng, SHAPE).values;
  const dy = randn(rng, SHAPE).values;
  for (let i = 0; i < x.length; i += 97) x[i] = SPECIAL[(i / 97) % SPECIAL.length];
  for (let i = 5; i < dy.length; i += 89) dy[i] = SPECIAL[(i / 89) % SPECIAL.length];
  return { x, dy };
}

// relu(x + b) and its gradient for x: the residual add then ReLU of a ResNet block.
function run(x: Float32Array, dy: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const b = tf.fill(SHAPE, 0.25);
    const xt = tf.tensor4d(x, SHAPE);
    const f = (t: tf.Tensor) => tf.relu(tf.add(t, b));
    return [f(xt), tf.grad(f)(xt, tf.tensor4d(dy, SHAPE)), tf.relu(xt), tf.grad((t: tf.Tensor) => tf.relu(t))(xt, tf.tensor4d(dy, SHAPE))].map((t) => t.dataSync() as Float32Array);
  });
}

// Bits, with every NaN one value (wasm and C++ may differ in a NaN's payload, never in NaN-ness).
const bits = (a: Float32Array) => Array.from(a, (v, i) => (Number.isNaN(v) ? 'NaN' : new Uint32Array(a.buffer, a.byteOffset, a.length)[i]));

describe('native Relu and its gradient', () => {
  it('the same bits as tfjs-backend-wasm\'s kernels and the cpu backend, on 1 and 2 threads, special values included', async () => {
    const { x, dy } = inputs(new Rng(5));
    await initBackend({ prefer: 'cpu' });
    const cpu = run(x, dy);
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'wasm' });
    const stock = run(x, dy);
    for (const threads of [1, 2]) {
      await initBackend({ prefer: 'wasm', threads, kernels: 'native' });
      const before = tf.memory().numTensors;
      const ours = run(x, dy);
      expect(tf.memory().numTensors).toBe(before);
      for (const [j, name] of ['relu(x + b)', 'its gradient', 'relu(x)', 'its gradient'].entries()) {
        expect(bits(ours[j]), `${name}, ${threads} thread(s), against wasm`).toEqual(bits(stock[j]));
        expect(bits(ours[j]), `${name}, ${threads} thread(s), against cpu`).toEqual(bits(cpu[j]));
      }
    }
  });

  it('a training step runs Relu and MocoCxrReluGrad natively: no Step, Cast or Multiply for the gradient', async () => {
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native' });
    const x = tf.tensor4d(randn(new Rng(6), SHAPE).values, SHAPE);
    const dy = tf.onesLike(x);
    const prof = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy).dispose());
    const names = prof.kernels.map((k) => k.name);
    expect(names).toContain('Relu');
    expect(names).toContain(FUSED.reluGrad);
    expect(names.filter((n) => n === 'Step' || n === 'Cast' || n === 'Multiply')).toEqual([]);
    tf.dispose([x, dy]);
  });

  it('with the native kernels off, tfjs\' own gradient runs; bad inputs are named', async () => {
    await initBackend({ prefer: 'wasm', threads: 1, kernels: 'wasm' });
    expect(tf.getKernel(FUSED.reluGrad, 'wasm')).toBeUndefined();
    const x = tf.tensor1d([-1, 2]);
    expect(Array.from(tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x).dataSync())).toEqual([0, 1]);
    x.dispose();
    await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native' });
    const [a, b] = [tf.zeros([3]), tf.zeros([4])];
    expect(() => tf.engine().runKernel(FUSED.reluGrad, { dy: a, x: b })).toThrow(/MocoCxrReluGrad: dy \[3\] and x \[4\] differ/);
    tf.dispose([a, b]);
    expect(() => addon!.relu(new Float32Array(4), new Float32Array(3), 1)).toThrow(/relu: y has 3 elements, expected 4/);
    expect(() => addon!.reluGrad(new Float32Array(4), new Float32Array(4), new Float32Array(5), 1)).toThrow(/reluGrad: dx has 5 elements, expected 4/);
  });
});
