/**
 * Per-kernel time of one training step of a backbone (forward, backward, Adam) on the chosen backend.
 *   npm run bench -w @moco-cxr/backbones -- profile-step.ts [--cpu] [--model resnet18] [--size 224] [--batch 16] [--threads 2] [--memory-efficient]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone, type BackboneName } from '../src/index';
import { kernelTable, timeKernelsByCpu } from '../../../tools/bench/kernel-profile.mjs';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const model = arg('model', 'resnet18') as BackboneName;
const size = Number(arg('size', '224'));
const batch = Number(arg('batch', '16'));
const info = await initBackend({ prefer: 'wasm', threads: Number(arg('threads', '2')) });
const backbone = await createBackbone(model, { inputShape: [size, size, 3], seed: 1, ...(process.argv.includes('--memory-efficient') ? { memoryEfficient: true } : {}) });
const head = tf.variable(tf.randomNormal([backbone.featureDim, 10], 0, 0.01, 'float32', 1));
const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
const optimizer = tf.train.adam(1e-4);
const vars = [...backbone.trainableVariables(), head];
const step = () => {
  const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, tf.matMul(backbone.embed(x, { training: true }), head)) as tf.Scalar, true, vars);
  cost!.dataSync();
  cost!.dispose();
};
step();
const times: number[] = [];
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  step();
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`${model} ${size} px batch ${batch}, ${info.backend} ${info.threads} threads: step ${times[1].toFixed(0)} ms (${((batch * 1000) / times[1]).toFixed(2)} img/s)`);
// --cpu: kernels timed by CPU time (all threads), not wall clock: shares that hold under load.
if (process.argv.includes('--cpu')) timeKernelsByCpu(tf.backend());
const prof = await tf.profile(() => step());
const { totalMs: total, calls, lines } = await kernelTable(prof, 22);
const heap = (tf.engine().backend as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.buffer.byteLength;
console.log(`kernel total ${total.toFixed(0)} ms in ${calls} kernel calls, peak tensor bytes ${(prof.peakBytes / 2 ** 20).toFixed(0)} MiB${heap ? `, wasm heap ${(heap / 2 ** 20).toFixed(0)} MiB` : ''}`);
for (const line of lines) console.log(line);
