// Kernel throughput on wasm with a given thread count: node kernels.mjs <threads>; prints a JSON line.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/index.js';

const threads = Number(process.argv[2] ?? 2);
const info = await initBackend({ prefer: 'wasm', threads });
function best(f, reps = 5) {
  tf.tidy(() => { f().dataSync(); });
  let min = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    tf.tidy(() => { f().dataSync(); });
    min = Math.min(min, performance.now() - t);
  }
  return min;
}
const res = { threads: info.threads };
const a = tf.randomNormal([2048, 2048]);
res.matMul2048GFlops = +((2 * 2048 ** 3) / best(() => tf.matMul(a, a), 3) / 1e6).toFixed(1);
// ResNet18 layer2 at 224 px, batch 16: 28x28x128, 3x3.
const x = tf.randomNormal([16, 28, 28, 128]);
const w = tf.randomNormal([3, 3, 128, 128]);
const dy = tf.randomNormal([16, 28, 28, 128]);
const flops = 2 * 16 * 28 * 28 * 128 * 128 * 9;
res.convFwdGFlops = +(flops / best(() => tf.conv2d(x, w, 1, [[0, 0], [1, 1], [1, 1], [0, 0]])) / 1e6).toFixed(1);
res.convInputGradGFlops = +(flops / best(() => tf.conv2dTranspose(dy, w, x.shape, 1, [[0, 0], [1, 1], [1, 1], [0, 0]])) / 1e6).toFixed(1);
const gradBoth = best(() => tf.grads((p, q) => tf.conv2d(p, q, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]))([x, w], dy)[1]);
const inOnly = flops / res.convInputGradGFlops / 1e6;
res.convFilterGradGFlops = +(flops / Math.max(gradBoth - inOnly, 1e-3) / 1e6).toFixed(1);
console.log(JSON.stringify(res));
