// One ResNet18 training step on wasm: node train-step.mjs <size> <threads>; prints a JSON line.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/index.js';
import { buildResNet18, makeStep } from './resnet18-step.mjs';

const size = Number(process.argv[2] ?? 64);
const threads = Number(process.argv[3] ?? 2);
const batch = 16;
const info = await initBackend({ prefer: 'wasm', threads });
const model = buildResNet18(10);
const step = makeStep(model);
const x = tf.randomNormal([batch, size, size, 3]);
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
step(x, labels);
const n0 = tf.memory().numTensors;
const times = [];
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  step(x, labels);
  times.push(performance.now() - t);
}
if (tf.memory().numTensors !== n0) throw new Error(`tensor leak: ${n0} -> ${tf.memory().numTensors}`);
times.sort((a, b) => a - b);
const rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
console.log(JSON.stringify({ size, batch, threads: info.threads, simd: info.simd, stepMs: times[1], imgPerSec: (batch * 1000) / times[1], rssMiB }));
