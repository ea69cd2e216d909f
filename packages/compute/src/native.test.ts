import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo, initBackend } from './backend';
import { FUSED, OPTIMIZER_KIND, loadNative, nativeLoadError } from './native';
import { onBackend, randn, relErr } from './test-support/kernels';

// CI must build the addon: a missing build fails here rather than silently testing the wasm kernels.
const addon = loadNative();
const isas = addon ? addon.isas() : [];

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto' });
});

describe('native kernels', () => {
  it('are built and load on this machine', () => {
    expect(nativeLoadError()).toBe('');
    expect(isas).toContain('generic');
  });

  it('initBackend reports the active set, and kernels: wasm switches them off', async () => {
    const on = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native' });
    expect(on.kernels).toBe('native');
    expect(on.nativeIsa).toBe(isas[0]);
    const off = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'wasm' });
    expect(off.kernels).toBe('wasm');
    expect(off.nativeIsa).toBeNull();
    await expect(initBackend({ prefer: 'wasm', threads: 1, kernels: 'fast' as never })).rejects.toThrow(/kernels must be one of auto, native, wasm/);
  });
});

// Randomized geometries: odd sizes, batch 1, strides 1 and 2, every padding kind, 1x1 / 3x3 / 7x7.
interface Geometry {
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number;
  pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
}

function geometries(rng: Rng, count: number): Geometry[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng.uniform(0, 1) * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(rng.uniform(0, 1) * (hi - lo + 1));
  const out: Geometry[] = [];
  for (let i = 0; i < count; i++) {
    const k = pick([1, 3, 7]);
    const stride = pick([1, 2]);
    const pads: Geometry['pad'][] = ['same', 'valid', Math.floor(k / 2), [[0, 0], [int(0, k - 1), int(0, k - 1)], [int(0, k - 1), int(0, k - 1)], [0, 0]]];
    // 7x7 keeps few channels: the cpu backend's reference gradient is slow there.
    out.push({ x: [i === 0 ? 1 : int(1, 3), int(k, 15), int(k, 14), k === 7 ? int(1, 12) : int(1, 40)], k, co: int(1, 70), stride, pad: pick(pads) });
  }
  return out;
}

function convAll(g: Geometry, xv: Float32Array, wv: Float32Array, dyv: Float32Array, yShape: number[]) {
  return () => {
    const x = tf.tensor4d(xv, g.x);
    const w = tf.tensor4d(wv, [g.k, g.k, g.x[3], g.co]);
    const dy = tf.tensor(dyv, yShape);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, g.stride, g.pad as 'same');
    return [f(x, w), ...tf.grads(f)([x, w], dy)];
  };
}

for (const isa of isas) {
  for (const threads of [1, 2]) {
    describe(`native ${isa}, ${threads} thread(s), against the cpu backend`, () => {
      const rng = new Rng(isa.length * 100 + threads);
      for (const [i, g] of geometries(rng, 8).entries()) {
        it(`conv2d, input and filter gradients #${i}: x [${g.x}] ${g.k}x${g.k} s${g.stride} pad ${JSON.stringify(g.pad)} co ${g.co}`, async () => {
          const info = await initBackend({ prefer: 'wasm', threads, kernels: 'native', nativeIsa: isa as 'generic' });
          expect(info.nativeIsa).toBe(isa);
          const yShape = tf.tidy(() => tf.conv2d(tf.zeros(g.x) as tf.Tensor4D, tf.zeros([g.k, g.k, g.x[3], g.co]) as tf.Tensor4D, g.stride, g.pad as 'same').shape);
          const xv = randn(rng, g.x).values;
          const wv = randn(rng, [g.k, g.k, g.x[3], g.co]).values;
          const dyv = randn(rng, yShape).values;
          const before = tf.memory().numTensors;
          const ours = await onBackend('wasm', convAll(g, xv, wv, dyv, yShape));
          expect(tf.memory().numTensors).toBe(before);
          const ref = await onBackend('cpu', convAll(g, xv, wv, dyv, yShape));
          for (let j = 0; j < 3; j++) expect(relErr(ours[j], ref[j]), ['y', 'dx', 'dw'][j]).toBeLessThan(1e-4);
        });
      }
      it('matMul with every transpose and a broadcast batch (the MoCo queue logits)', async () => {
        await initBackend({ prefer: 'wasm', threads, kernels: 'native', nativeIsa: isa as 'generic' });
        for (const [m, k, n, ta, tb, ba, bb] of [[17, 128, 1000, false, false, 1, 1], [5, 33, 7, true, false, 3, 3], [9, 70, 40, false, true, 2, 1], [1, 1, 1, true, true, 1, 4], [31, 300, 65, true, true, 2, 2]] as const) {
          const av = randn(rng, [ba, ta ? k : m, ta ? m : k]).values;
          const bv = randn(rng, [bb, tb ? n : k, tb ? k : n]).values;
          const run = () => [tf.matMul(tf.tensor3d(av, [ba, ta ? k : m, ta ? m : k]), tf.tensor3d(bv, [bb, tb ? n : k, tb ? k : n]), ta, tb)];
          const [ours] = await onBackend('wasm', run);
          const [ref] = await onBackend('cpu', run);
          expect(relErr(ours, ref), `${m}x${k}x${n} ta ${ta} tb ${tb} batch ${ba}/${bb}`).toBeLessThan(1e-4);
        }
      });
    });
  }
}

describe('native kernels reject views that do not fit the shape', () => {
  it('names the tensor and both sizes', () => {
    const shape = Int32Array.from([1, 4, 4, 2, 3, 3, 2, 4, 4, 1, 1, 1, 1]);
    expect(() => addon!.conv2d(new Float32Array(32), new Float32Array(36), new Float32Array(31), shape, 1)).toThrow(/y has 31 elements, the shape needs 32/);
    expect(backendInfo()).not.toBeNull();
  });
});

// Every instruction set with 1 and 2 threads (MOCO_CXR_NATIVE_ISA / nativeIsa force the set).
for (const [isa, threads] of isas.flatMap((i) => [1, 2].map((t) => [i, t] as const)))
describe(`fused native kernels (${isa}, ${threads} thread(s)) against tf ops on the cpu backend`, () => {
  const rng = new Rng(77);
  const native = async () => {
    const info = await initBackend({ prefer: 'wasm', threads, kernels: 'native', nativeIsa: isa as 'generic' });
    expect(info).toMatchObject({ kernels: 'native', nativeIsa: isa, threads });
  };

  it('BatchNorm training forward (+ReLU) and its gradient', async () => {
    for (const [rows, c, relu] of [[1000, 37, true], [64, 5, false], [40000, 3, true]] as const) {
      const xv = randn(rng, [rows, c]).values.map((v, i) => v * 3 + (i % c));
      const gv = randn(rng, [c]).values;
      const bv = randn(rng, [c]).values;
      const dyv = randn(rng, [rows, c]).values;
      await native();
      const before = tf.memory().numTensors;
      const ours = await onBackend('wasm', () => {
        const [y, mean, variance, rstd] = tf.engine().runKernel(FUSED.batchNormTrain, { x: tf.tensor2d(xv, [rows, c]), gamma: tf.tensor1d(gv), beta: tf.tensor1d(bv) }, { varianceEpsilon: 1e-5, relu } as never) as tf.Tensor[];
        const inputs: tf.NamedTensorMap = { dy: tf.tensor2d(dyv, [rows, c]), x: tf.tensor2d(xv, [rows, c]), mean, rstd, gamma: tf.tensor1d(gv) };
        if (relu) inputs.y = y;
        const grads = tf.engine().runKernel(FUSED.batchNormTrainGrad, inputs, {}) as tf.Tensor[];
        return [y, mean, variance, ...grads];
      });
      expect(tf.memory().numTensors).toBe(before);
      const ref = await onBackend('cpu', () => {
        const x = tf.tensor2d(xv, [rows, c]);
        const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const m = tf.moments(xx, 0);
          const y = tf.batchNorm(xx, m.mean, m.variance, b, g, 1e-5);
          return relu ? tf.relu(y) : y;
        };
        const m = tf.moments(x, 0);
        const grads = tf.grads(f)([x, tf.tensor1d(gv), tf.tensor1d(bv)], tf.tensor2d(dyv, [rows, c]));
        return [f(x, tf.tensor1d(gv), tf.tensor1d(bv)), m.mean, m.variance, ...grads];
      });
      for (const [j, name] of ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].entries()) expect(relErr(ours[j], ref[j]), `${name} rows ${rows}`).toBeLessThan(1e-4);
    }
  });

  it('maxPool gradient: odd sizes, stride 2, padding, ties go to the first maximum', async () => {
    for (const [shape, k, s, pad] of [[[2, 11, 9, 5], 3, 2, 1], [[1, 8, 8, 3], 2, 2, 'valid'], [[3, 7, 10, 16], 3, 1, 'same']] as const) {
      // Rounded values make ties common, so the first-maximum rule is exercised.
      const xv = randn(rng, [...shape]).values.map((v) => Math.round(v * 2) / 2);
      const run = () => [tf.grad((x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, k, s, pad as 'same'))(tf.tensor4d(xv, [...shape] as [number, number, number, number]))];
      await native();
      const [ours] = await onBackend('wasm', run);
      const [ref] = await onBackend('cpu', run);
      expect(relErr(ours, ref), `maxPool ${shape} k${k} s${s} ${pad}`).toBeLessThan(1e-6);
    }
  });

  it('tf.train.adam runs the fused update and matches tfjs on cpu over three steps', async () => {
    const init = randn(rng, [300, 7]).values;
    const targets = randn(rng, [300, 7]).values;
    const train = () => {
      const w = tf.variable(tf.tensor2d(init, [300, 7]));
      const opt = tf.train.adam(0.01);
      for (let s = 0; s < 3; s++) opt.minimize(() => tf.sum(tf.square(tf.sub(w, tf.tensor2d(targets, [300, 7])))) as tf.Scalar);
      const out = w.clone();
      opt.dispose();
      w.dispose();
      return [out];
    };
    await native();
    expect(tf.getKernel(FUSED.optimizerStep, 'wasm')).toBeDefined();
    const before = tf.memory().numTensors;
    const [ours] = await onBackend('wasm', train);
    expect(tf.memory().numTensors).toBe(before);
    const [ref] = await onBackend('cpu', train);
    expect(relErr(ours, ref)).toBeLessThan(1e-5);
    expect(relErr(ours, init)).toBeGreaterThan(1e-3); // it moved
  });
  it("MoCo's fused optimiser steps (torch Adam, SGD with momentum / Nesterov / dampening / weight decay, key EMA) match torch's formulas as tf ops", async () => {
    // n splits into several 16k chunks; each case is [kind, hyper, slots in, slots out] as @moco-cxr/moco calls it.
    const n = 40000;
    const p = randn(rng, [n]).values;
    const g = randn(rng, [n]).values;
    const s1 = randn(rng, [n]).values;
    const s2 = randn(rng, [n]).values.map((v) => v * v);
    const lr = 0.03;
    const [b1, b2, eps, t] = [0.9, 0.999, 1e-8, 3];
    const cases: { name: string; kind: number; hyper: number[]; slots: number; outs: number; ref: () => tf.Tensor[] }[] = [];
    for (const wd of [0, 1e-4]) {
      cases.push({
        name: `torch Adam, weight decay ${wd}`, kind: OPTIMIZER_KIND.torchAdam, hyper: [b1, b2, eps, lr / (1 - b1 ** t), Math.sqrt(1 - b2 ** t), wd], slots: 2, outs: 3,
        ref: () => {
          const [pp, gg, m, v] = [tf.tensor1d(p), tf.tensor1d(g), tf.tensor1d(s1), tf.tensor1d(s2)];
          const gi = wd !== 0 ? tf.add(gg, tf.mul(pp, wd)) : gg;
          const m2 = tf.add(tf.mul(m, b1), tf.mul(gi, 1 - b1));
          const v2 = tf.add(tf.mul(v, b2), tf.mul(tf.mul(gi, gi), 1 - b2));
          const denom = tf.add(tf.div(tf.sqrt(v2), Math.sqrt(1 - b2 ** t)), eps);
          return [tf.sub(pp, tf.mul(tf.div(m2, denom), lr / (1 - b1 ** t))), m2, v2];
        },
      });
    }
    for (const [momentum, dampening, nesterov, wd, fresh] of [[0.9, 0, false, 0, true], [0.9, 0, false, 1e-4, false], [0.9, 0, true, 1e-4, false], [0.8, 0.3, false, 0, false], [0, 0, false, 1e-4, true]] as const) {
      cases.push({
        name: `SGD momentum ${momentum} dampening ${dampening} nesterov ${nesterov} weight decay ${wd}${fresh ? ' (first step)' : ''}`,
        kind: OPTIMIZER_KIND.sgd, hyper: [momentum, dampening, nesterov ? 1 : 0, lr, wd, fresh ? 1 : 0], slots: momentum !== 0 && !fresh ? 1 : 0, outs: momentum !== 0 ? 2 : 1,
        ref: () => {
          const [pp, gg, buf] = [tf.tensor1d(p), tf.tensor1d(g), tf.tensor1d(s1)];
          let d = wd !== 0 ? tf.add(gg, tf.mul(pp, wd)) : gg;
          if (momentum === 0) return [tf.sub(pp, tf.mul(d, lr))];
          const b = fresh ? d : tf.add(tf.mul(buf, momentum), tf.mul(d, 1 - dampening));
          d = nesterov ? tf.add(d, tf.mul(b, momentum)) : b;
          return [tf.sub(pp, tf.mul(d, lr)), b];
        },
      });
    }
    cases.push({
      name: 'key-encoder EMA', kind: OPTIMIZER_KIND.ema, hyper: [0.999, 0, 0, 0, 0, 0], slots: 0, outs: 1,
      ref: () => [tf.add(tf.mul(tf.tensor1d(p), 0.999), tf.mul(tf.tensor1d(g), 1 - 0.999))],
    });
    await native();
    for (const c of cases) {
      const ours = await onBackend('wasm', () => {
        const inputs: tf.NamedTensorMap = { param: tf.tensor1d(p), grad: tf.tensor1d(g) };
        if (c.slots >= 1) inputs.slot1 = tf.tensor1d(s1);
        if (c.slots >= 2) inputs.slot2 = tf.tensor1d(s2);
        return tf.engine().runKernel(FUSED.optimizerStep, inputs, { kind: c.kind, hyper: c.hyper } as never) as tf.Tensor[];
      });
      const ref = await onBackend('cpu', c.ref);
      expect(ours.length, c.name).toBe(c.outs);
      for (let j = 0; j < c.outs; j++) expect(relErr(ours[j], ref[j]), `${c.name}: output ${j}`).toBeLessThan(1e-6);
    }
  });
});

// Layers with more than 2^21 dcol values (m = output pixels, k = kh kw ci) take the input gradient's
// blocked path, one image per thread: every ResNet layer at 64 px and up.
describe('native conv2d input gradient, large-layer path, against the cpu backend', () => {
  const rng = new Rng(2121);
  const cases = [
    { name: '3x3 s1 pad 1', x: [4, 64, 64, 16] as [number, number, number, number], co: 16, stride: 1 },
    { name: '3x3 s2 pad 1, odd width', x: [5, 120, 109, 16] as [number, number, number, number], co: 24, stride: 2 },
  ];
  for (const c of cases) {
    it(`${c.name}: x [${c.x}], co ${c.co}, on every instruction set with 1 and 2 threads`, async () => {
      const wShape: [number, number, number, number] = [3, 3, c.x[3], c.co];
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];
      const yShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(wShape) as tf.Tensor4D, c.stride, pad).shape);
      expect(yShape[0] * yShape[1] * yShape[2] * 9 * c.x[3]).toBeGreaterThan(2 ** 21);
      const wv = randn(rng, wShape).values;
      const dyv = randn(rng, yShape).values;
      const dx = () => [tf.conv2dTranspose(tf.tensor(dyv, yShape) as tf.Tensor4D, tf.tensor4d(wv, wShape), c.x, c.stride, pad as never)];
      const [ref] = await onBackend('cpu', () => [tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, tf.tensor4d(wv, wShape), c.stride, pad), tf.tensor(dyv, yShape))))(tf.zeros(c.x))]);
      for (const isa of isas) {
        for (const threads of [1, 2]) {
          // 'direct' keeps the large-layer GEMM path tested where 'auto' takes Winograd (stride 1).
          for (const convAlgorithm of ['auto', 'direct'] as const) {
            await initBackend({ prefer: 'wasm', threads, kernels: 'native', nativeIsa: isa as 'generic', convAlgorithm });
            const [ours] = await onBackend('wasm', dx);
            expect(relErr(ours, ref), `${isa}, ${threads} thread(s), ${convAlgorithm}`).toBeLessThan(1e-4);
          }
        }
      }
    });
  }
});
