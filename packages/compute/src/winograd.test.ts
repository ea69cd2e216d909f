// convAlgorithm 'auto': 3x3 stride-1 convolutions and both their gradients through Winograd
// F(2x2, 3x3) on the native fp32 kernels. Checked against the direct product and the cpu backend,
// for the same bits at any thread count and on AVX-512 and AVX2, and for where it must not apply.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { loadNative } from './native';
import { onBackend, randn, relErr } from './test-support/kernels';

const addon = loadNative();
const isas = (addon ? addon.isas() : []).filter((i) => i !== 'generic');
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto', convAlgorithm: 'auto' });
});

function forwardAndInputGrad(xv: Float32Array, xs: [number, number, number, number], wv: Float32Array, co: number, pad: Pad) {
  return () => {
    const x = tf.tensor4d(xv, xs);
    const w = tf.tensor4d(wv, [3, 3, xs[3], co]);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, pad as 'same');
    const y = f(x, w);
    const dy = tf.tensor(Float32Array.from({ length: y.size }, (_, i) => Math.sin(i * 0.37)), y.shape);
    return [y, ...tf.grads(f)([x, w], dy)];
  };
}

describe('Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions', () => {
  it('is reported by initBackend, can be turned off, and a bad name is refused', async () => {
    expect(addon, 'the native addon must be built').not.toBeNull();
    const on = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native' });
    expect(on.convAlgorithm).toBe('auto');
    const off = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', convAlgorithm: 'direct' });
    expect(off.convAlgorithm).toBe('direct');
    expect(addon!.convAlgorithm()).toBe('direct');
    const wasm = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'wasm' });
    expect(wasm.convAlgorithm).toBeNull();
    await expect(initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', convAlgorithm: 'fft' as never })).rejects.toThrow(/convAlgorithm must be one of auto, direct/);
  });

  const rng = new Rng(4242);
  const cases: Array<{ name: string; x: [number, number, number, number]; co: number; pad: Pad }> = [
    { name: 'ResNet block, pad 1', x: [2, 14, 14, 32], co: 32, pad: 'same' },
    { name: 'odd sizes (a last tile half outside), pad 1', x: [3, 9, 7, 5], co: 11, pad: 'same' },
    { name: 'valid', x: [2, 8, 11, 6], co: 9, pad: 'valid' },
    { name: 'uneven padding, 2 on top, 0 on the left', x: [1, 6, 5, 4], co: 3, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
    { name: 'one output pixel', x: [2, 3, 3, 7], co: 8, pad: 'valid' },
    { name: 'channels past one microkernel depth (300 in)', x: [1, 6, 6, 300], co: 20, pad: 'same' },
    { name: 'over 2,048 tiles (the filter gradient sums two partials)', x: [2, 66, 70, 3], co: 5, pad: 'same' },
  ];
  for (const c of cases) {
    it(`${c.name}: x [${c.x}], co ${c.co}: output and both gradients within 1e-5 of the direct product and 1e-4 of the cpu backend`, async () => {
      const xv = randn(rng, c.x).values;
      const wv = randn(rng, [3, 3, c.x[3], c.co]).values;
      const run = forwardAndInputGrad(xv, c.x, wv, c.co, c.pad);
      const ref = await onBackend('cpu', run);
      for (const isa of isas) {
        await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', nativeIsa: isa as 'avx2', convAlgorithm: 'direct' });
        const direct = await onBackend('wasm', run);
        await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', nativeIsa: isa as 'avx2', convAlgorithm: 'auto' });
        const before = tf.memory().numTensors;
        const wino = await onBackend('wasm', run);
        expect(tf.memory().numTensors).toBe(before);
        for (let j = 0; j < 3; j++) {
          const what = `${isa} ${['y', 'dx', 'dw'][j]}`;
          // Not the direct product's bits: the Winograd path really ran.
          expect(Array.from(wino[j]), what).not.toEqual(Array.from(direct[j]));
          expect(relErr(wino[j], direct[j]), what).toBeLessThan(1e-5);
          expect(relErr(wino[j], ref[j]), what).toBeLessThan(1e-4);
        }
      }
    });
  }

  it('gives the same bits with 1 and 2 threads, and on AVX-512 and AVX2', async () => {
    const xs: [number, number, number, number] = [4, 13, 12, 24];
    const run = forwardAndInputGrad(randn(rng, xs).values, xs, randn(rng, [3, 3, 24, 40]).values, 40, 'same');
    const seen: Float32Array[][] = [];
    for (const isa of isas) {
      for (const threads of [1, 2]) {
        await initBackend({ prefer: 'wasm', threads, kernels: 'native', nativeIsa: isa as 'avx2', convAlgorithm: 'auto' });
        seen.push(await onBackend('wasm', run));
      }
    }
    expect(seen.length).toBeGreaterThan(1);
    for (const s of seen.slice(1)) for (let j = 0; j < 3; j++) expect(Array.from(s[j])).toEqual(Array.from(seen[0][j]));
  });

  it('leaves strided, non-3x3 and wide (ci + co > 512) convolutions to the direct product, bit for bit', async () => {
    const shapes: Array<{ x: [number, number, number, number]; k: number; co: number; stride: number }> = [
      { x: [1, 9, 9, 8], k: 3, co: 8, stride: 2 },
      { x: [1, 9, 9, 8], k: 5, co: 8, stride: 1 },
      { x: [1, 4, 4, 300], k: 3, co: 260, stride: 1 },
    ];
    for (const s of shapes) {
      const xv = randn(rng, s.x).values;
      const wv = randn(rng, [s.k, s.k, s.x[3], s.co]).values;
      const run = () => {
        const x = tf.tensor4d(xv, s.x);
        const f = (a: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, tf.tensor4d(wv, [s.k, s.k, s.x[3], s.co]), s.stride, 'same');
        return [f(x), tf.grad((a: tf.Tensor) => tf.sum(f(a)))(x)];
      };
      await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', convAlgorithm: 'direct' });
      const direct = await onBackend('wasm', run);
      await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', convAlgorithm: 'auto' });
      const auto = await onBackend('wasm', run);
      for (let j = 0; j < 2; j++) expect(Array.from(auto[j]), `${JSON.stringify(s)} ${j}`).toEqual(Array.from(direct[j]));
    }
  });
});
