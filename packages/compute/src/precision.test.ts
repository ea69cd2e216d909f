// precision 'bf16': convolutions, their gradients and matmuls through tfjs with bf16 products
// against the same ops in fp32, and the fp32 fallback (said in notes) wherever bf16 cannot run.
//
// The bound, per output element: bf16 keeps 8 significant bits, so each rounded input is within
// 2^-8 of its fp32 value and each product within 2^-7 (1 + 2^-9) of the exact one; both paths sum in
// fp32, each within (K + 2) 2^-24 of the exact sum of its products' magnitudes (K terms). So
//   |bf16 - fp32| <= (2^-7 (1 + 2^-9) + 2 (K + 2) 2^-24) * sum |a| |b|,
// and sum |a| |b| is the same op on the absolute values (computed in fp32, 1 % slack).
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, type InitBackendOptions } from './backend';
import { describeKernels, kernelsInUse, loadNative } from './native';
import { randn } from './test-support/kernels';

const addon = loadNative();

/** Whether this CPU has what the bf16 kernels need: /proc/cpuinfo on Linux, else the addon's word. */
function cpuHasBf16(): boolean {
  try {
    const flags = new Set(readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)![1].trim().split(/\s+/));
    return ['avx512f', 'avx512vl', 'avx512bw', 'avx512dq', 'avx512_bf16', 'avx2', 'fma', 'bmi2'].every((f) => flags.has(f));
  } catch {
    return addon !== null && addon.isas()[0] === 'avx512' && addon.bf16Unavailable() === '';
  }
}
// Whether the addon holds the bf16 kernels: x86-64 built by a compiler that knows AVX512_BF16 (src/ukernels.test.ts checks which).
const built = addon !== null && !addon.bf16Unavailable().startsWith('no bf16 kernels are built');
const hasBf16 = process.arch === 'x64' && built && cpuHasBf16();
const THREADS = 2;

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto', precision: 'fp32' });
});

type Values = { shape: number[]; values: Float32Array };
const abs = (v: Values): Values => ({ shape: v.shape, values: v.values.map(Math.abs) });

interface Conv {
  name: string;
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number;
  pad: 'same' | 'valid';
}

// ResNet18's kinds of layer: the 7x7 stem on 3 channels (depth 147, odd), 3x3 (one large enough for
// the input gradient's blocked path), the 1x1 stride-2 downsample.
const CONVS: Conv[] = [
  { name: '7x7 stride 2 stem, 3 channels', x: [2, 32, 32, 3], k: 7, co: 64, stride: 2, pad: 'same' },
  { name: '3x3 stride 1, 64 channels', x: [4, 32, 32, 64], k: 3, co: 64, stride: 1, pad: 'same' },
  { name: '3x3 stride 2, 37 to 45 channels, valid', x: [3, 15, 13, 37], k: 3, co: 45, stride: 2, pad: 'valid' },
  { name: '1x1 stride 2 downsample', x: [2, 16, 16, 64], k: 1, co: 128, stride: 2, pad: 'same' },
];

/** y = conv2d(x, w) and its gradients dx, dw for the upstream gradient dy, as plain arrays. */
function convAndGrads(c: Conv, x: Values, w: Values, dy: Values): Float32Array[] {
  const outs = tf.tidy(() => {
    const xt = tf.tensor4d(x.values, c.x);
    const wt = tf.tensor4d(w.values, [c.k, c.k, c.x[3], c.co]);
    const f = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, c.stride, c.pad);
    const y = f(xt, wt);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D))([xt, wt], tf.tensor(dy.values, y.shape));
    return [y, dx, dw];
  });
  const arrays = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return arrays;
}

/** The first element outside the bound, or null; and the relative RMS difference. */
function withinBf16(got: Float32Array, want: Float32Array, mag: Float32Array, depth: number): { bad: string | null; rms: number } {
  const rel = 2 ** -7 * (1 + 2 ** -9) + 2 * (depth + 2) * 2 ** -24;
  let bad: string | null = null;
  let d2 = 0;
  let w2 = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    d2 += d * d;
    w2 += want[i] * want[i];
    if (bad === null && !(d <= rel * mag[i] * 1.01)) bad = `element ${i}: bf16 ${got[i]}, fp32 ${want[i]}, off ${d}, bound ${rel * mag[i] * 1.01}`;
  }
  return { bad, rms: Math.sqrt(d2 / Math.max(w2, 1e-30)) };
}

async function native(options: InitBackendOptions) {
  return initBackend({ prefer: 'wasm', threads: THREADS, kernels: 'native', ...options });
}

describe('precision bf16 on the native kernels', () => {
  it('runs where the CPU has AVX512_BF16 and says so in info and kernelsInUse; fp32 is the default', async () => {
    const fp32 = await native({});
    expect(fp32.precision).toBe('fp32');
    expect(fp32.notes.filter((n) => n.startsWith('precision:'))).toEqual([]);
    const info = await native({ precision: 'bf16' });
    expect(info.precision).toBe(hasBf16 ? 'bf16' : 'fp32');
    expect(kernelsInUse()).toEqual({ backend: 'wasm', kernels: 'native', nativeIsa: info.nativeIsa, precision: info.precision });
    if (hasBf16) {
      expect(info.notes.filter((n) => n.startsWith('precision:'))).toEqual([]);
      expect(describeKernels(kernelsInUse())).toBe('wasm backend, native avx512 kernels with bf16 products');
    } else {
      expect(info.notes.filter((n) => n.startsWith('precision:'))).toHaveLength(1);
    }
    await expect(native({ precision: 'fp16' as never })).rejects.toThrow(/precision must be one of fp32, bf16 \(option precision or MOCO_CXR_PRECISION\); got "fp16"/);
  });

  if (!hasBf16) {
    // Reported, not skipped: what this CPU could not check (the fallback is checked below).
    it('bf16 products not compared here: this CPU lacks AVX512_BF16 (or AVX-512), or the addon was built without bf16', () => {
      expect(cpuHasBf16() && process.arch === 'x64' && built).toBe(false);
    });
  }

  for (const c of hasBf16 ? CONVS : []) {
    it(`conv2d and both gradients, ${c.name}: bf16 within the bf16 bound of fp32, and rounded`, async () => {
      const rng = new Rng(27);
      const x = randn(rng, c.x);
      const w = randn(rng, [c.k, c.k, c.x[3], c.co]);
      const oh = c.pad === 'same' ? Math.ceil(c.x[1] / c.stride) : Math.ceil((c.x[1] - c.k + 1) / c.stride);
      const ow = c.pad === 'same' ? Math.ceil(c.x[2] / c.stride) : Math.ceil((c.x[2] - c.k + 1) / c.stride);
      const dy = randn(rng, [c.x[0], oh, ow, c.co]);
      await native({ precision: 'fp32' });
      const before = tf.memory().numTensors;
      const want = convAndGrads(c, x, w, dy);
      const mag = convAndGrads(c, abs(x), abs(w), abs(dy));
      await native({ precision: 'bf16' });
      const got = convAndGrads(c, x, w, dy);
      expect(tf.memory().numTensors).toBe(before);
      // Depth of each sum: the filter's taps, the output channels times taps, the output pixels.
      const depths = [c.k * c.k * c.x[3], c.co * c.k * c.k, c.x[0] * oh * ow];
      ['y', 'dx', 'dw'].forEach((name, i) => {
        const r = withinBf16(got[i], want[i], mag[i], depths[i]);
        expect(r.bad, name).toBeNull();
        // It does round (fp32 accumulation alone is ~1e-7), and by about what bf16 should.
        expect(r.rms, name).toBeGreaterThan(2 ** -12);
        expect(r.rms, name).toBeLessThan(2 ** -7);
      });
    });
  }

  if (hasBf16)
    it('the same bits on 1 and 2 threads (threads split rows and columns, never a sum)', async () => {
      const c = CONVS[1];
      const rng = new Rng(30);
      const x = randn(rng, c.x);
      const w = randn(rng, [c.k, c.k, c.x[3], c.co]);
      const dy = randn(rng, [c.x[0], c.x[1], c.x[2], c.co]);
      await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision: 'bf16' });
      const one = convAndGrads(c, x, w, dy);
      await native({ precision: 'bf16' });
      const two = convAndGrads(c, x, w, dy);
      one.forEach((o, i) => expect(Buffer.from(o.buffer).equals(Buffer.from(two[i].buffer)), `output ${i}`).toBe(true));
    });

  if (hasBf16) it('matmul, plain, transposed and batched with a broadcast operand, odd depths', async () => {
    const rng = new Rng(28);
    const cases: [number[], number[], boolean, boolean][] = [
      [[37, 129], [129, 50], false, false],
      [[3, 65, 31], [3, 50, 65], true, true],
      [[4, 20, 77], [77, 33], false, false],
    ];
    for (const [as, bs, ta, tb] of cases) {
      const a = randn(rng, as);
      const b = randn(rng, bs);
      const mm = (p: Values, q: Values) => {
        const t = tf.tidy(() => tf.matMul(tf.tensor(p.values, p.shape), tf.tensor(q.values, q.shape), ta, tb));
        const v = t.dataSync() as Float32Array;
        t.dispose();
        return v;
      };
      await native({ precision: 'fp32' });
      const want = mm(a, b);
      const mag = mm(abs(a), abs(b));
      await native({ precision: 'bf16' });
      const r = withinBf16(mm(a, b), want, mag, ta ? as[as.length - 2] : as[as.length - 1]);
      expect(r.bad, `${as} x ${bs}`).toBeNull();
      expect(r.rms).toBeGreaterThan(2 ** -12);
    }
  });
});

describe('precision bf16 where it cannot run: fp32, with one line in notes', () => {
  const c = CONVS[2];
  const rng = new Rng(29);
  const x = randn(rng, c.x);
  const w = randn(rng, [c.k, c.k, c.x[3], c.co]);
  const dy = randn(rng, [c.x[0], 7, 6, c.co]);

  // x86-64 builds bf16 beside avx512 only; other targets build none.
  const other = process.arch === 'x64' ? 'avx2' : 'generic';
  const because = built ? 'the bf16 kernels run beside the avx512 set, not the avx2 set in use' : 'no bf16 kernels are built for this target (x86-64, compiled with GCC 10 or clang 14 on)';

  it(`the ${other} set (as on a CPU without AVX-512): the same bits as fp32`, async () => {
    const fp32 = await native({ nativeIsa: other, precision: 'fp32' });
    const want = convAndGrads(c, x, w, dy);
    const info = await native({ nativeIsa: other, precision: 'bf16' });
    expect({ precision: info.precision, nativeIsa: info.nativeIsa }).toEqual({ precision: 'fp32', nativeIsa: other });
    expect(info.notes.filter((n) => n.startsWith('precision:'))).toEqual([`precision: bf16 was asked for; the products run in fp32 because ${because}`]);
    expect(kernelsInUse().precision).toBe('fp32');
    const got = convAndGrads(c, x, w, dy);
    got.forEach((g, i) => expect(Buffer.from(g.buffer).equals(Buffer.from(want[i].buffer)), `output ${i}`).toBe(true));
    expect(fp32.notes.filter((n) => n.startsWith('precision:'))).toEqual([]);
  });

  it('MOCO_CXR_PRECISION and MOCO_CXR_NATIVE_ISA from the environment', async () => {
    const saved = { p: process.env.MOCO_CXR_PRECISION, i: process.env.MOCO_CXR_NATIVE_ISA };
    try {
      process.env.MOCO_CXR_PRECISION = 'bf16';
      process.env.MOCO_CXR_NATIVE_ISA = other;
      const info = await initBackend({ prefer: 'wasm', threads: THREADS, kernels: 'native' });
      expect(info.precision).toBe('fp32');
      expect(info.notes.filter((n) => n.startsWith('precision:'))).toHaveLength(1);
      delete process.env.MOCO_CXR_NATIVE_ISA;
      const best = await initBackend({ prefer: 'wasm', threads: THREADS, kernels: 'native' });
      expect(best.precision).toBe(hasBf16 ? 'bf16' : 'fp32');
      process.env.MOCO_CXR_PRECISION = 'half';
      await expect(initBackend({ prefer: 'wasm', threads: THREADS, kernels: 'native' })).rejects.toThrow(/MOCO_CXR_PRECISION\); got "half"/);
    } finally {
      for (const [k, v] of [['MOCO_CXR_PRECISION', saved.p], ['MOCO_CXR_NATIVE_ISA', saved.i]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("tfjs' wasm kernels and the cpu backend", async () => {
    const wasm = await initBackend({ prefer: 'wasm', threads: THREADS, kernels: 'wasm', precision: 'bf16' });
    expect(wasm.precision).toBe('fp32');
    expect(wasm.notes.filter((n) => n.startsWith('precision:'))).toEqual([
      "precision: bf16 was asked for; the products run in fp32 because bf16 runs only on the native kernels, and tfjs' wasm kernels compute",
    ]);
    const cpu = await initBackend({ prefer: 'cpu', precision: 'bf16' });
    expect(cpu.precision).toBe('fp32');
    expect(cpu.notes.filter((n) => n.startsWith('precision:'))).toEqual([
      'precision: bf16 was asked for; the products run in fp32 because bf16 runs only on the native kernels, not the cpu backend',
    ]);
    expect(kernelsInUse().precision).toBe('fp32');
  });
});
