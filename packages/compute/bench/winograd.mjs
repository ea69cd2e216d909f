// Winograd F(2x2, 3x3) against the direct product on ResNet18's stride-1 3x3 layers (batch 16 unless given):
// forward, input gradient and filter gradient through the addon, the two algorithms alternated
// (direct, auto, direct, auto), the best time of each. Prints one line per layer.
//   node bench/winograd.mjs [size=224] [threads=2] [batch=16]
import { createRequire } from 'node:module';

// The addon itself (build/Release, what `npm ci` builds): no tfjs between the timer and the kernel.
const addon = createRequire(import.meta.url)('../build/Release/moco_cxr_native.node');
addon.setIsa(addon.isas()[0]);
const size = Number(process.argv[2] ?? 224);
const threads = Number(process.argv[3] ?? 2);
const n = Number(process.argv[4] ?? 16);
const reps = size > 100 ? 5 : 30;
const s1 = size / 4;
const layers = [['layer1', s1, 64], ['layer2', s1 / 2, 128], ['layer3', s1 / 4, 256], ['layer4', s1 / 8, 512]];
console.log(`ResNet18 3x3 stride-1 layers at ${size} px, batch ${n}, ${threads} threads, ${addon.isa()}; best of ${2 * reps} ms`);
console.log('layer    input          | direct: fwd / input grad / filter grad | auto: fwd / input grad / filter grad');
const rand = (len) => Float32Array.from({ length: len }, () => Math.random() - 0.5);
for (const [name, h, c] of layers) {
  const x = rand(n * h * h * c);
  const w = rand(9 * c * c);
  const y = new Float32Array(n * h * h * c);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(w.length);
  const shape = new Int32Array([n, h, h, c, 3, 3, c, h, h, 1, 1, 1, 1]);
  const best = {};
  const time = (f) => {
    let b = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      f();
      b = Math.min(b, performance.now() - t);
    }
    return b;
  };
  for (const algo of ['direct', 'auto', 'direct', 'auto']) {
    addon.setConvAlgorithm(algo);
    const t = [time(() => addon.conv2d(x, w, y, shape, threads)), time(() => addon.conv2dGradInput(y, w, dx, shape, threads)), time(() => addon.conv2dGradFilter(x, y, dw, shape, threads))];
    best[algo] = best[algo] ? best[algo].map((v, i) => Math.min(v, t[i])) : t;
  }
  const fmt = (ts) => ts.map((v) => v.toFixed(2).padStart(6)).join(' /');
  console.log(`${name.padEnd(8)} ${`${h}x${h}x${c}`.padEnd(14)} | ${fmt(best.direct)} | ${fmt(best.auto)}`);
}
addon.setConvAlgorithm('auto');
