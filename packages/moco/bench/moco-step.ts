// MoCo step throughput (query forward + backward + key forward + momentum update + queue + Adam)
// of resnet18 at batch 16 for 64 / 128 / 224 px, next to the plain training step (forward +
// backward + Adam with a 2-class linear classifier) and to the same two steps in PyTorch
// (2 threads) in the same run. Augmentation and data loading are excluded on both sides.
//
//   npm run bench -w @moco-cxr/moco [-- moco-step.ts --sizes 64,128,224 --steps 10 --warmup 3 --threads 2 --kernels native,wasm]
//
// Times are medians of --steps steps after --warmup untimed ones, on both sides.
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { Rng } from '@moco-cxr/rng';
import { Adam, createMoco, mocoStep } from '../src/index';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const SIZES = arg('sizes', '64,128,224').split(',').map(Number);
const STEPS = Number(arg('steps', '10'));
const WARMUP = Number(arg('warmup', '3'));
const KERNELS = arg('kernels', 'native,wasm').split(',') as Array<'native' | 'wasm'>;
const THREADS = Number(arg('threads', '2'));
const BATCH = 16;
const QUEUE = 4096;

const info = await initBackend({ prefer: (arg('backend', 'wasm') as 'wasm' | 'cpu'), threads: THREADS, kernels: KERNELS[0] });
console.log(`tfjs ${info.backend}, ${info.threads} threads, simd ${info.simd}, native isa ${info.nativeIsa ?? '-'}; ${cpus()[0].model}, ${cpus().length} logical CPUs`);

/** Median seconds of `steps` steps after WARMUP untimed ones. */
function time(step: () => void, steps: number): number {
  for (let i = 0; i < WARMUP; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    step();
    times.push((performance.now() - t) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(steps / 2)];
}

const ours: Record<string, { moco: number; plain: number }> = {};
for (const size of SIZES) for (const kernels of KERNELS) {
  await initBackend({ prefer: (arg('backend', 'wasm') as 'wasm' | 'cpu'), threads: THREADS, kernels });
  const steps = STEPS;
  const backbone = await createBackbone('resnet18', { inputShape: [size, size, 3], seed: 0 });
  const model = createMoco(backbone, { queueSize: QUEUE, rng: new Rng(0) });
  const optimizer = new Adam({ weightDecay: 1e-4 });
  const xq = tf.randomNormal([BATCH, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const xk = tf.randomNormal([BATCH, size, size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const sMoco = time(() => void mocoStep(model, [xq, xk], { momentum: 0.999, temperature: 0.2, optimizer, learningRate: 1e-4 }), steps);
  model.dispose();
  optimizer.dispose();

  // Plain supervised step on the same backbone: linear classifier + cross-entropy + Adam.
  const fc = tf.variable(tf.randomNormal([backbone.featureDim, 2], 0, 0.01, 'float32', 3));
  const labels = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0], 'int32'), 2);
  const params = new Map<string, tf.Variable>(backbone.trainableVariables().map((v) => [v.name, v]));
  params.set('fc', fc);
  const plainOpt = new Adam({ weightDecay: 1e-4 });
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const sPlain = time(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, tf.matMul(backbone.embed(xq, { training: true }), fc)) as tf.Scalar, vars);
    value.dataSync();
    plainOpt.step(params, new Map(names.map((n, i) => [n, grads[vars[i].name]])), 1e-4);
    value.dispose();
    Object.values(grads).forEach((g) => g.dispose());
  }, steps);
  plainOpt.dispose();
  for (const t of [fc, labels, xq, xk]) t.dispose();
  backbone.dispose();
  ours[`${size}/${kernels}`] = { moco: BATCH / sMoco, plain: BATCH / sPlain };
  console.log(`tfjs ${size} px, ${kernels} kernels: MoCo step ${(BATCH / sMoco).toFixed(2)} img/s, plain step ${(BATCH / sPlain).toFixed(2)} img/s (median of ${steps} steps after ${WARMUP} warm-up)`);
}

const script = fileURLToPath(new URL('./torch_moco_step.py', import.meta.url));
const torchOut = execFileSync('/usr/bin/python3', [script, '--sizes', SIZES.join(','), '--steps', String(STEPS), '--warmup', String(WARMUP), '--threads', String(THREADS), '--queue', String(QUEUE)], { encoding: 'utf8' });
const torch = Object.fromEntries(
  torchOut
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { size: number; mocoImgPerSec: number; plainImgPerSec: number })
    .map((r) => [r.size, r]),
);
console.log('\n| size | kernels | tfjs MoCo step | tfjs plain step | PyTorch MoCo step | PyTorch plain step | tfjs / PyTorch (MoCo) | tfjs / PyTorch (plain) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const size of SIZES) for (const kernels of KERNELS) {
  const o = ours[`${size}/${kernels}`];
  const t = torch[size];
  console.log(`| ${size} px | ${kernels} | ${o.moco.toFixed(2)} img/s | ${o.plain.toFixed(2)} img/s | ${t.mocoImgPerSec.toFixed(1)} img/s | ${t.plainImgPerSec.toFixed(1)} img/s | ${(o.moco / t.mocoImgPerSec).toFixed(3)}x | ${(o.plain / t.plainImgPerSec).toFixed(3)}x |`);
}
writeFileSync(fileURLToPath(new URL('./out/moco-step.json', import.meta.url)), `${JSON.stringify({ backend: info, cpu: cpus()[0].model, batch: BATCH, queue: QUEUE, ours, torch }, null, 2)}\n`);
