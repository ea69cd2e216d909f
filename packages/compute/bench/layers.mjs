// Per-layer conv timings of ResNet18 at a given size (batch 16): forward with cached weights and
// with fresh ones (a training step's case: XNNPACK repacks new weights), filter grad, input grad.
// node bench/layers.mjs [size=224] [threads=2]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/index.js';

const size = Number(process.argv[2] ?? 224);
const threads = Number(process.argv[3] ?? 2);
await initBackend({ prefer: 'wasm', threads });
const n = 16;
const s1 = size / 4;
const layers = [
  { name: 'conv1 7x7/2', h: size, ci: 3, co: 64, k: 7, s: 2, pad: 3, count: 1, noInput: true },
  { name: 'l1 3x3', h: s1, ci: 64, co: 64, k: 3, s: 1, pad: 1, count: 4 },
  { name: 'l2 3x3/2', h: s1, ci: 64, co: 128, k: 3, s: 2, pad: 1, count: 1 },
  { name: 'l2 3x3', h: s1 / 2, ci: 128, co: 128, k: 3, s: 1, pad: 1, count: 3 },
  { name: 'l2 ds 1x1/2', h: s1, ci: 64, co: 128, k: 1, s: 2, pad: 0, count: 1 },
  { name: 'l3 3x3/2', h: s1 / 2, ci: 128, co: 256, k: 3, s: 2, pad: 1, count: 1 },
  { name: 'l3 3x3', h: s1 / 4, ci: 256, co: 256, k: 3, s: 1, pad: 1, count: 3 },
  { name: 'l3 ds 1x1/2', h: s1 / 2, ci: 128, co: 256, k: 1, s: 2, pad: 0, count: 1 },
  { name: 'l4 3x3/2', h: s1 / 4, ci: 256, co: 512, k: 3, s: 2, pad: 1, count: 1 },
  { name: 'l4 3x3', h: s1 / 8, ci: 512, co: 512, k: 3, s: 1, pad: 1, count: 3 },
  { name: 'l4 ds 1x1/2', h: s1 / 4, ci: 256, co: 512, k: 1, s: 2, pad: 0, count: 1 },
];
function best(f, reps = 3) {
  tf.tidy(() => { f(); });
  let min = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    tf.tidy(() => { f(); });
    min = Math.min(min, performance.now() - t);
  }
  return min;
}
const tot = { fwd: 0, fresh: 0, filt: 0, inp: 0 };
console.log('layer              count   fwd ms  GF/s | fresh ms | filt ms  GF/s | inp ms  GF/s');
for (const L of layers) {
  const p = [[0, 0], [L.pad, L.pad], [L.pad, L.pad], [0, 0]];
  const x = tf.randomNormal([n, L.h, L.h, L.ci]);
  const w = tf.randomNormal([L.k, L.k, L.ci, L.co]);
  const y = tf.conv2d(x, w, L.s, p);
  const dy = tf.randomNormal(y.shape);
  const flops = 2 * n * y.shape[1] * y.shape[2] * L.ci * L.co * L.k * L.k;
  const attrs = { strides: [L.s, L.s], pad: p, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const fwd = best(() => tf.conv2d(x, w, L.s, p));
  const fresh = best(() => tf.conv2d(x, tf.add(w, 0), L.s, p));
  const filt = best(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }));
  const inp = L.noInput ? 0 : best(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }));
  tot.fwd += fwd * L.count; tot.fresh += fresh * L.count; tot.filt += filt * L.count; tot.inp += inp * L.count;
  const gf = (ms) => (ms ? (flops / ms / 1e6).toFixed(1) : '-').padStart(5);
  console.log(`${L.name.padEnd(18)} ${String(L.count).padStart(5)} ${fwd.toFixed(0).padStart(8)} ${gf(fwd)} | ${fresh.toFixed(0).padStart(8)} | ${filt.toFixed(0).padStart(7)} ${gf(filt)} | ${inp.toFixed(0).padStart(6)} ${gf(inp)}`);
  tf.dispose([x, w, y, dy]);
}
console.log(`total ms (x count): fwd ${tot.fwd.toFixed(0)} (fresh weights ${tot.fresh.toFixed(0)}), filter ${tot.filt.toFixed(0)}, input ${tot.inp.toFixed(0)}`);
