// Per-kernel time of one ResNet18 training step on the chosen backend.
// node bench/profile.mjs [size=64] [batch=16] [threads]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/index.js';
import { buildResNet18, makeStep } from './resnet18-step.mjs';
import { kernelTable } from '../../../tools/bench/kernel-profile.mjs';

const size = Number(process.argv[2] ?? 64);
const batch = Number(process.argv[3] ?? 16);
const threads = process.argv[4] ? Number(process.argv[4]) : undefined;
const info = await initBackend({ prefer: 'wasm', threads });
console.log(JSON.stringify({ backend: info.backend, threads: info.threads, simd: info.simd }));
const model = buildResNet18(10);
const step = makeStep(model);
const x = tf.randomNormal([batch, size, size, 3]);
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
step(x, labels);
const times = [];
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  step(x, labels);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`step ms median ${times[1].toFixed(0)} (${((batch * 1000) / times[1]).toFixed(2)} img/s), numTensors ${tf.memory().numTensors}`);
const prof = await tf.profile(() => { step(x, labels); });
const { totalMs: total, lines } = await kernelTable(prof, 25);
console.log(`kernel total ${total.toFixed(0)} ms, peak bytes ${(prof.peakBytes / 2 ** 20).toFixed(0)} MiB`);
for (const line of lines) console.log(line);
