// Linear protocol on REAL cached features: Kermany images -> random-init ResNet18 at 64 px (frozen,
// eval mode) -> features; then ours vs scikit-learn and PyTorch on the same features.
// Run: flock /tmp/bench.lock node packages/protocols/bench/protocols-kermany.mjs   (from the repo root)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const dataRoot = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const size = Number(process.env.BENCH_SIZE ?? 64);
const repeats = Number(process.env.BENCH_REPEATS ?? 5);
const seeds = Number(process.env.BENCH_SEEDS ?? 10);
const cacheDir = join(tmpdir(), 'moco-protocols-bench-cache');
const work = mkdtempSync(join(tmpdir(), 'moco-protocols-kermany-'));

// The bundle sits beside this script so its bare imports (tfjs, jimp, sharp) resolve from the repo.
const bundle = join(here, '.protocols-kermany.bundle.mjs');
await build({
  entryPoints: [join(here, 'protocols-kermany-entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['@moco-cxr/source'],
  external: ['@tensorflow/*', 'jimp', 'sharp'],
  outfile: bundle,
  logLevel: 'warning',
});
const m = await import(bundle);
rmSync(bundle, { force: true });

const backend = await m.initBackend({ prefer: 'wasm' });
const dataset = m.loadImageFolder(dataRoot, { splits: ['train', 'test'], patientPattern: m.KERMANY_PATIENT_PATTERN, positive: 'PNEUMONIA' });
let t0 = performance.now();
const cache = await m.buildImageCache(dataset, { size, cacheDir });
const cacheSeconds = (performance.now() - t0) / 1000;
const labels = cache.dataset.labels;
const trainAll = [];
const test = [];
cache.dataset.samples.forEach((s, i) => (s.split === 'test' ? test : trainAll).push(i));
// Validation = 10% of the train patients, chosen with the seeded Rng.
const patients = [...new Set(trainAll.map((i) => cache.dataset.samples[i].patientId))].sort();
new m.Rng(0).shuffle(patients);
const valPatients = new Set(patients.slice(0, Math.round(patients.length * 0.1)));
const val = trainAll.filter((i) => valPatients.has(cache.dataset.samples[i].patientId));
const train = trainAll.filter((i) => !valPatients.has(cache.dataset.samples[i].patientId));

const all = [...train, ...val, ...test];
// Features are kept between runs (outside the repo): embedding is the slow part and is not what this bench times.
const featureFile = join(cacheDir, `features-resnet18-seed0-${size}px-${all.length}.f32`);
let features;
let embedSeconds = Number.NaN;
if (existsSync(featureFile) && existsSync(`${featureFile}.json`) && readFileSync(`${featureFile}.json`, 'utf8') === JSON.stringify(all)) {
  const buf = readFileSync(featureFile);
  features = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice();
} else {
  const backbone = await m.createBackbone('resnet18', { inputShape: [size, size, 3], seed: 0 });
  t0 = performance.now();
  features = await m.embedImages(backbone, cache, all, { batchSize: 32 });
  embedSeconds = (performance.now() - t0) / 1000;
  backbone.dispose();
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(featureFile, Buffer.from(features.buffer));
  writeFileSync(`${featureFile}.json`, JSON.stringify(all));
}
const d = 512;
const part = (from, n) => features.slice(from * d, (from + n) * d);
const xTrain = part(0, train.length);
const xVal = part(train.length, val.length);
const xTest = part(train.length + val.length, test.length);
const y = (idx) => Float32Array.from(idx, (i) => labels[i]);

const times = [];
let result;
for (let r = 0; r < repeats; r++) {
  t0 = performance.now();
  result = m.linearProtocol({ trainFeatures: xTrain, trainLabels: y(train), valFeatures: xVal, valLabels: y(val), featureDim: d, fraction: 1, seed: 7 });
  times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const ours = m.evaluateScores(y(test), m.scoreFeatures(result.head, xTest));
const ourSeedAurocs = [];
for (let seed = 0; seed < seeds; seed++) {
  const r = m.linearProtocol({ trainFeatures: xTrain, trainLabels: y(train), valFeatures: xVal, valLabels: y(val), featureDim: d, fraction: 1, seed });
  ourSeedAurocs.push(m.evaluateScores(y(test), m.scoreFeatures(r.head, xTest)).auroc);
}

for (const [name, x, idx] of [['train', xTrain, train], ['val', xVal, val], ['test', xTest, test]]) {
  writeFileSync(join(work, `${name}_x.f32`), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  const yy = y(idx);
  writeFileSync(join(work, `${name}_y.f32`), Buffer.from(yy.buffer));
}
const ref = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'protocols_reference.py'), work, String(d), String(repeats), String(seeds)], { encoding: 'utf8' }).trim().split('\n').pop());
rmSync(work, { recursive: true, force: true });

console.log(`machine: ${cpus().length} vCPU, ${cpus()[0]?.model ?? 'unknown'}; backend ${backend.backend} (${backend.threads} threads, simd ${backend.simd})`);
console.log(`Kermany at ${size} px: ${train.length} train / ${val.length} val (10% of patients) / ${test.length} test images`);
console.log(`cache build ${cacheSeconds.toFixed(1)} s (${cache.decoded} decoded, ${cache.reused} reused); embedding ${all.length} images with random-init ResNet18: ${Number.isNaN(embedSeconds) ? 'reused from an earlier run' : `${embedSeconds.toFixed(1)} s (${(all.length / embedSeconds).toFixed(1)} img/s)`}`);
console.log(`linear protocol: ${result.steps} steps, ${result.history.length} validations, best val AUROC ${result.bestValAuroc.toFixed(4)}; median of ${repeats}`);
console.log('| method | seconds | test AUROC | time vs ours |');
console.log('|---|---|---|---|');
const rows = [
  ['ours: linearProtocol (Adam 1e-4, batch 16, 5 epochs)', median, ours.auroc],
  ['PyTorch 1.13, same protocol (2 threads)', ref.torch_same_protocol.seconds, ref.torch_same_protocol.test_auroc],
  [`scikit-learn LogisticRegression (lbfgs, C=1, ${ref.sklearn_lbfgs.n_iter} iterations)`, ref.sklearn_lbfgs.seconds, ref.sklearn_lbfgs.test_auroc],
];
for (const [name, s, a] of rows) console.log(`| ${name} | ${s.toFixed(3)} | ${a.toFixed(4)} | ${(s / median).toFixed(2)}x |`);
const spread = (a) => {
  const mean = a.reduce((x, v) => x + v, 0) / a.length;
  const sd = Math.sqrt(a.reduce((x, v) => x + (v - mean) ** 2, 0) / Math.max(1, a.length - 1));
  return `mean ${mean.toFixed(4)}, sd ${sd.toFixed(4)}, range [${Math.min(...a).toFixed(4)}, ${Math.max(...a).toFixed(4)}]`;
};
if (seeds > 0) {
  console.log(`test AUROC over seeds 0-${seeds - 1} (initial weights and batch order): ours ${spread(ourSeedAurocs)}; PyTorch ${spread(ref.torch_seed_aurocs)}`);
}
