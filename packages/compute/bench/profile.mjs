// Per-kernel time of one ResNet18 training step on the chosen backend.
// node bench/profile.mjs [size=64] [batch=16] [threads]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/index.js';
import { buildResNet18, makeStep } from './resnet18-step.mjs';

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
const by = new Map();
let total = 0;
for (const k of prof.kernels) {
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : (await k.kernelTimeMs);
  const key = k.name;
  const e = by.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms; e.n += 1; by.set(key, e);
  total += ms;
}
const rows = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
console.log(`kernel total ${total.toFixed(0)} ms, peak bytes ${(prof.peakBytes / 2 ** 20).toFixed(0)} MiB`);
for (const [k, e] of rows) console.log(`${k.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  x${e.n}`);
