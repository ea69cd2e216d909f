/**
 * Per-kernel time of one MoCo step (ResNet18, batch 16, K 4096) on wasm.
 *   npm run bench -w @moco-cxr/moco -- profile-moco.ts [--cpu] [--size 64] [--threads 1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { Rng } from '@moco-cxr/rng';
import { Adam, createMoco, mocoStep } from '../src/index';
import { kernelTable, timeKernelsByCpu } from '../../../tools/bench/kernel-profile.mjs';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const size = Number(arg('size', '64'));
const info = await initBackend({ prefer: 'wasm', threads: Number(arg('threads', '1')) });
const backbone = await createBackbone('resnet18', { inputShape: [size, size, 3], seed: 0 });
const model = createMoco(backbone, { queueSize: 4096, rng: new Rng(0) });
const optimizer = new Adam({ weightDecay: 1e-4 });
const xq = tf.randomNormal([16, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const xk = tf.randomNormal([16, size, size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
const step = () => void mocoStep(model, [xq, xk], { momentum: 0.999, temperature: 0.2, optimizer, learningRate: 1e-4 });
step();
step();
const t0 = performance.now();
for (let i = 0; i < 3; i++) step();
const ms = (performance.now() - t0) / 3;
console.log(`MoCo step ${size} px, ${info.threads} threads: ${ms.toFixed(0)} ms (${((16 * 1000) / ms).toFixed(2)} img/s)`);
// --cpu: kernels timed by CPU time (all threads), not wall clock: shares that hold under load.
if (process.argv.includes('--cpu')) timeKernelsByCpu(tf.backend());
const prof = await tf.profile(() => step());
const { totalMs: total, calls, lines } = await kernelTable(prof, 22);
console.log(`kernel total ${total.toFixed(0)} ms in ${calls} kernel calls`);
for (const line of lines) console.log(line);
