// precision 'bf16' in training: a few Adam steps of a full ResNet18 (32 px) with bf16 products
// track the same steps in fp32. Weights, activations and optimiser state stay fp32 in both; only
// the products' inputs are rounded, so the losses differ by bf16's rounding, not by more.
// The bounds: the first loss differs by the forward pass's rounding alone (each product within
// 2^-7 relative, mostly cancelling: well under 1 %); after that the two runs' weights drift apart
// step by step, which on this run stays within a few percent of the loss while the loss itself falls
// by two orders of magnitude, so 10 % at every step tells tracking from not tracking.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type Precision } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackbone } from './index';

const SIZE = 32;
const BATCH = 16;
const CLASSES = 10;
const STEPS = 8;

/** Whether this CPU has AVX512_BF16 (Linux's word for it); elsewhere bf16 must fall back. */
function cpuHasBf16(): boolean {
  try {
    return process.arch === 'x64' && /^flags\s*:.*\bavx512_bf16\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto', precision: 'fp32' });
});

/** The training losses of STEPS Adam steps on one fixed batch, from the same initial weights. */
async function losses(precision: Precision): Promise<{ losses: number[]; precision: Precision; notes: string[]; leaked: number }> {
  const info = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision });
  const before = tf.memory().numTensors;
  const rng = new Rng(18);
  const backbone = await createBackbone('resnet18', { inputShape: [SIZE, SIZE, 3], seed: 1 });
  const head = tf.tidy(() => tf.variable(tf.tensor2d(Float32Array.from({ length: backbone.featureDim * CLASSES }, () => rng.normal() * Math.sqrt(1 / backbone.featureDim)), [backbone.featureDim, CLASSES])));
  const x = tf.tensor4d(Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => rng.normal()), [BATCH, SIZE, SIZE, 3]);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % CLASSES), 'int32'), CLASSES));
  const optimizer = tf.train.adam(1e-4);
  const vars = [...backbone.trainableVariables(), head];
  const out: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, tf.matMul(backbone.embed(x, { training: true }), head)) as tf.Scalar, true, vars)!;
    out.push((await cost.data())[0]);
    cost.dispose();
  }
  optimizer.dispose();
  for (const t of [head, x, labels]) t.dispose();
  backbone.dispose();
  return { losses: out, precision: info.precision, notes: info.notes, leaked: tf.memory().numTensors - before };
}

describe('ResNet18 training with bf16 products', () => {
  it('tracks fp32 step by step', async () => {
    const fp32 = await losses('fp32');
    const bf16 = await losses('bf16');
    expect([fp32.leaked, bf16.leaked]).toEqual([0, 0]);
    expect(fp32.precision).toBe('fp32');
    // An addon compiled without bf16 (an old compiler) falls back as a CPU without it does.
    if (!cpuHasBf16() || bf16.notes.some((n) => n.includes('no bf16 kernels are built'))) {
      // fp32 instead, said in notes, and so the same bits.
      expect(bf16.precision).toBe('fp32');
      expect(bf16.notes.filter((n) => n.startsWith('precision: bf16 was asked for'))).toHaveLength(1);
      expect(bf16.losses).toEqual(fp32.losses);
      return;
    }
    expect(bf16.precision).toBe('bf16');
    const rel = bf16.losses.map((l, i) => Math.abs(l - fp32.losses[i]) / fp32.losses[i]);
    expect(rel[0], JSON.stringify({ fp32: fp32.losses, bf16: bf16.losses })).toBeLessThan(0.01);
    expect(rel[0]).toBeGreaterThan(0); // bf16 did run
    for (const [i, r] of rel.entries()) expect(r, `step ${i}: ${JSON.stringify({ fp32: fp32.losses, bf16: bf16.losses })}`).toBeLessThan(0.1);
    // Both learn: the loss on the fixed batch falls by over 100x in STEPS steps.
    for (const run of [fp32, bf16]) expect(run.losses[STEPS - 1]).toBeLessThan(run.losses[0] / 100);
  }, 300_000);
});
