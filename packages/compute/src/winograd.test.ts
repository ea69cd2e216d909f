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
  // Every case has at least 1,024 output pixels and 512 tiles, so all three products take Winograd.
  const cases: Array<{ name: string; x: [number, number, number, number]; co: number; pad: Pad }> = [
    { name: 'ResNet block, pad 1', x: [4, 24, 24, 32], co: 32, pad: 'same' },
    { name: 'odd sizes (a last tile half outside), pad 1', x: [9, 17, 15, 5], co: 11, pad: 'same' },
    { name: 'valid', x: [8, 20, 23, 6], co: 9, pad: 'valid' },
    { name: 'uneven padding, 2 on top, 0 on the left', x: [16, 14, 13, 4], co: 3, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
    { name: 'one output pixel per image', x: [1200, 3, 3, 7], co: 8, pad: 'valid' },
    { name: 'channels past one microkernel depth (300 in)', x: [4, 24, 24, 300], co: 4, pad: 'same' },
    { name: 'over 2,048 tiles (the filter gradient sums several partials)', x: [2, 66, 70, 3], co: 5, pad: 'same' },
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
    const xs: [number, number, number, number] = [8, 17, 16, 24];
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

  it('leaves strided, non-3x3 and small (under 1,024 outputs) convolutions to the direct product, bit for bit', async () => {
    const shapes: Array<{ x: [number, number, number, number]; k: number; co: number; stride: number }> = [
      { x: [4, 40, 40, 8], k: 3, co: 8, stride: 2 },
      { x: [1, 40, 40, 8], k: 5, co: 8, stride: 1 },
      { x: [1, 30, 30, 8], k: 3, co: 8, stride: 1 },
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

  it('takes the filter gradient direct below 512 tiles while the output still takes Winograd', async () => {
    const xs: [number, number, number, number] = [16, 8, 8, 16]; // 1,024 outputs, 256 tiles
    const run = forwardAndInputGrad(randn(rng, xs).values, xs, randn(rng, [3, 3, 16, 16]).values, 16, 'same');
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', convAlgorithm: 'direct' });
    const direct = await onBackend('wasm', run);
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', convAlgorithm: 'auto' });
    const auto = await onBackend('wasm', run);
    expect(Array.from(auto[0])).not.toEqual(Array.from(direct[0]));
    expect(relErr(auto[0], direct[0])).toBeLessThan(1e-5);
    expect(Array.from(auto[2])).toEqual(Array.from(direct[2]));
  });

  it('wide layers (ci + co > 512): output and input gradient through one GEMM per point over all tiles, the filter gradient direct', async () => {
    const xs: [number, number, number, number] = [4, 16, 16, 300]; // 1,024 outputs, co 260
    const run = forwardAndInputGrad(randn(rng, xs).values, xs, randn(rng, [3, 3, 300, 260]).values, 260, 'same');
    const seen: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      await initBackend({ prefer: 'wasm', threads, kernels: 'native', convAlgorithm: 'auto' });
      seen.push(await onBackend('wasm', run));
    }
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native', convAlgorithm: 'direct' });
    const direct = await onBackend('wasm', run);
    for (let j = 0; j < 2; j++) {
      expect(Array.from(seen[0][j])).not.toEqual(Array.from(direct[j]));
      expect(relErr(seen[0][j], direct[j]), ['y', 'dx'][j]).toBeLessThan(1e-5);
      expect(Array.from(seen[1][j])).toEqual(Array.from(seen[0][j]));
    }
    expect(Array.from(seen[0][2])).toEqual(Array.from(direct[2]));
  });
});
