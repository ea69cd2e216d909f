// Linear protocol on Kermany-sized cached features (5216 x 512) vs scikit-learn on the same features.
// Run: flock /tmp/bench.lock node packages/protocols/bench/protocols.mjs   (from the repo root)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'moco-protocols-bench-'));

// Bundle the TypeScript source on the fly, so the bench needs no prior build of the package.
const bundle = join(work, 'protocols.mjs');
await build({
  entryPoints: [join(here, 'protocols-entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['@moco-cxr/source'],
  external: ['@tensorflow/*'],
  outfile: bundle,
  logLevel: 'warning',
});
const { linearProtocol, scoreFeatures, Rng, auroc } = await import(bundle);

// Kermany's train split (5216 images), a 512-d ResNet18 embedding, and its 624-image test split.
const nTrain = 5216;
const nVal = 522;
const nTest = 624;
const d = 512;
const repeats = Number(process.env.BENCH_REPEATS ?? 5);

/**
 * Features shaped like pooled post-ReLU CNN activations: non-negative, correlated through a
 * 32-factor latent, a weak class signal on a few factors (AUROC well below 1).
 */
function makeFeatures(n, seed, mixing) {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  const y = new Float32Array(n);
  const z = new Float64Array(32);
  for (let i = 0; i < n; i++) {
    y[i] = rng.next() < 0.74 ? 1 : 0; // Kermany train is 74% pneumonia.
    for (let f = 0; f < 32; f++) z[f] = rng.normal() + (f < 4 ? (y[i] - 0.5) * 0.8 : 0);
    for (let j = 0; j < d; j++) {
      let v = 0.3 * rng.normal();
      for (let f = 0; f < 32; f++) v += mixing[j * 32 + f] * z[f];
      x[i * d + j] = Math.max(0, v);
    }
  }
  return { x, y };
}
const mixRng = new Rng(1);
const mixing = Float64Array.from({ length: d * 32 }, () => mixRng.normal() / Math.sqrt(32));
const train = makeFeatures(nTrain, 2, mixing);
const val = makeFeatures(nVal, 3, mixing);
const test = makeFeatures(nTest, 4, mixing);

const times = [];
let result;
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  result = linearProtocol({
    trainFeatures: train.x,
    trainLabels: train.y,
    valFeatures: val.x,
    valLabels: val.y,
    featureDim: d,
    fraction: 1,
    seed: 7,
  });
  times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const testAuroc = auroc(test.y, scoreFeatures(result.head, test.x));

for (const [name, t] of Object.entries({ train, val, test })) {
  writeFileSync(join(work, `${name}_x.f32`), Buffer.from(t.x.buffer));
  writeFileSync(join(work, `${name}_y.f32`), Buffer.from(t.y.buffer));
}
const ref = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'protocols_reference.py'), work, String(d), String(repeats)], { encoding: 'utf8' }).trim().split('\n').pop());
rmSync(work, { recursive: true, force: true });

const model = cpus()[0]?.model ?? 'unknown';
const rows = [
  ['ours: linearProtocol (Adam 1e-4, batch 16, 5 epochs, JS float64)', median, testAuroc],
  ['PyTorch 1.13, same protocol (2 threads)', ref.torch_same_protocol.seconds, ref.torch_same_protocol.test_auroc],
  [`scikit-learn LogisticRegression (lbfgs, C=1, ${ref.sklearn_lbfgs.n_iter} iterations)`, ref.sklearn_lbfgs.seconds, ref.sklearn_lbfgs.test_auroc],
];
console.log(`machine: ${cpus().length} vCPU, ${model}; ${nTrain} x ${d} train features, ${nVal} val, ${nTest} test; median of ${repeats}`);
console.log(`steps ${result.steps}, validations ${result.history.length}, best val AUROC ${result.bestValAuroc.toFixed(4)}`);
console.log('| method | seconds | test AUROC | time vs ours |');
console.log('|---|---|---|---|');
for (const [name, s, a] of rows) console.log(`| ${name} | ${s.toFixed(3)} | ${a.toFixed(4)} | ${(s / median).toFixed(2)}x |`);
