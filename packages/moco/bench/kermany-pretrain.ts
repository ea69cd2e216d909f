// Real learning run: MoCo pretraining on every Kermany train image at 64 px, then linear-probe
// AUROC (NORMAL vs PNEUMONIA) at 1% / 10% / 100% labels on the test split, against the same
// network at random initialisation, with a paired bootstrap of the gap.
//
//   npm run bench -w @moco-cxr/moco -- kermany-pretrain.ts [--epochs 10] [--max-minutes 60] [--out DIR]
//
// The run resumes from DIR/checkpoint.safetensors, so a time-boxed session can be continued.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone, type Backbone } from '@moco-cxr/backbones';
import { pairedBootstrap } from '@moco-cxr/bootstrap';
import { Rng } from '@moco-cxr/rng';
import { buildImageCache, KERMANY_PATIENT_PATTERN, loadImageFolder, sampleFraction, subset } from '@moco-cxr/cxr-data';
import { auroc, fitLogisticRegression, knnScores } from '@moco-cxr/eval-metrics';
import { embedProbeImages, pretrain } from '../src/index';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const SIZE = Number(arg('size', '64'));
const EPOCHS = Number(arg('epochs', '10'));
const MAX_MINUTES = Number(arg('max-minutes', '60'));
const THREADS = Number(arg('threads', '2'));
const SEED = Number(arg('seed', '0'));
const OUT = arg('out', join(tmpdir(), `moco-kermany-${SIZE}px`));
const DATA = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));

const backend = await initBackend({ prefer: 'wasm', threads: THREADS });
console.log(`backend ${backend.backend}, ${backend.threads} threads, simd ${backend.simd}; ${cpus()[0].model}`);
mkdirSync(OUT, { recursive: true });

const all = loadImageFolder(DATA, { splits: ['train', 'test'], positive: 'PNEUMONIA', patientPattern: KERMANY_PATIENT_PATTERN });
const trainRows = all.samples.flatMap((s, i) => (s.split === 'train' ? [i] : []));
const testRows = all.samples.flatMap((s, i) => (s.split === 'test' ? [i] : []));
const cacheDir = join(tmpdir(), 'moco-cxr-bench-cache');
const t0 = performance.now();
const train = await buildImageCache(subset(all, trainRows), { size: SIZE, cacheDir });
const test = await buildImageCache(subset(all, testRows), { size: SIZE, cacheDir });
console.log(`cache: ${train.count} train + ${test.count} test images at ${SIZE} px (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
const yTrain = Float64Array.from(train.dataset.labels);
const yTest = Float64Array.from(test.dataset.labels);

// Monitor probe: a fixed 400-image sample of train, labels used only by the monitor.
const probeRng = new Rng(SEED + 1);
const probeIdx = probeRng.shuffle(Array.from({ length: train.count }, (_, i) => i)).slice(0, 400).sort((a, b) => a - b);
const probeImages = {
  count: probeIdx.length,
  height: SIZE,
  width: SIZE,
  read: (idx: ArrayLike<number>) => train.read(Array.from(idx, (i) => probeIdx[i])),
};

const makeBackbone = () => createBackbone('resnet18', { inputShape: [SIZE, SIZE, 3], seed: SEED });
const backbone = await makeBackbone();
const started = performance.now();
const result = await pretrain({
  backbone,
  data: train,
  outDir: OUT,
  // The PyTorch reference: batch 32, K 4096, T 0.2, Adam 5e-4 constant.
  batchSize: 32,
  queueSize: 4096,
  temperature: 0.2,
  learningRate: 5e-4,
  schedule: { kind: 'constant' },
  epochs: EPOCHS,
  seed: SEED,
  checkpointEvery: 50,
  maxSeconds: MAX_MINUTES * 60,
  logEvery: 20,
  monitor: { probe: { images: probeImages, labels: probeIdx.map((i) => yTrain[i]) }, knnK: 20 },
  // pretrain() prints nothing itself: this script shows its notes, every 20th step and each epoch.
  onLog: (m) => console.error(m),
  onStep: (s) => s.step % 20 === 0 && console.error(`step ${s.step}/${s.totalSteps} loss ${s.loss.toFixed(4)} ${s.imagesPerSecond.toFixed(1)} img/s`),
  onEpoch: (e) => console.error(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, probe linear AUROC ${e.probe?.linearAuroc.toFixed(3) ?? 'n/a'}`),
});
const pretrainMinutes = (performance.now() - started) / 60000;
console.log(`pretraining ${result.status} at epoch ${result.epoch}, step ${result.step}, ${pretrainMinutes.toFixed(1)} min this call`);

function embed(b: Backbone) {
  return { train: embedProbeImages(b, train, { batchSize: 64 }), test: embedProbeImages(b, test, { batchSize: 64 }) };
}
const t1 = performance.now();
const pre = embed(backbone);
const random = await makeBackbone();
const rnd = embed(random);
console.log(`embedded ${train.count + test.count} images twice in ${((performance.now() - t1) / 1000).toFixed(0)} s`);

const d = backbone.featureDim;
const rowsOf = (x: Float32Array, idx: number[]) => {
  const out = new Float64Array(idx.length * d);
  idx.forEach((r, i) => out.set(x.subarray(r * d, (r + 1) * d), i * d));
  return out;
};
const probeScores = (feats: { train: Float32Array; test: Float32Array }, rows: number[]) => {
  const model = fitLogisticRegression(rowsOf(feats.train, rows), rows.map((r) => yTrain[r]), d, { l2: 1 });
  return model.decision(feats.test, test.count);
};

const fractions: Array<[number, number]> = [[0.01, 5], [0.1, 5], [1, 1]];
const table: Record<string, unknown>[] = [];
for (const [fraction, draws] of fractions) {
  const drawRows = fraction === 1 ? [Array.from({ length: train.count }, (_, i) => i)] : sampleFraction(train.dataset, fraction, { draws, seed: SEED + 7, by: 'patient' });
  const a = drawRows.map((rows) => probeScores(pre, rows));
  const b = drawRows.map((rows) => probeScores(rnd, rows));
  const boot = pairedBootstrap(yTest, a, b, { seed: SEED + 11, replicates: 500 });
  const row = {
    fraction,
    draws: drawRows.length,
    imagesPerDraw: Math.round(drawRows.reduce((s, r) => s + r.length, 0) / drawRows.length),
    moco: boot.a,
    random: boot.b,
    gap: boot.difference,
    pValue: boot.pValue,
  };
  table.push(row);
  const f = (x: { estimate: number; lower: number; upper: number }) => `${x.estimate.toFixed(3)} [${x.lower.toFixed(3)}, ${x.upper.toFixed(3)}]`;
  console.log(`linear probe ${fraction * 100}% labels (${row.draws} draws, ~${row.imagesPerDraw} images): MoCo ${f(boot.a)} vs random init ${f(boot.b)}; gap ${f(boot.difference)}`);
}
const knn = {
  moco: auroc(yTest, knnScores(pre.train, yTrain, pre.test, d, { k: 20 })),
  random: auroc(yTest, knnScores(rnd.train, yTrain, rnd.test, d, { k: 20 })),
};
console.log(`kNN (k=20, cosine, all train as memory) test AUROC: MoCo ${knn.moco.toFixed(3)} vs random init ${knn.random.toFixed(3)}`);
const report = {
  size: SIZE,
  seed: SEED,
  backend,
  cpu: cpus()[0].model,
  status: result.status,
  epochsDone: result.epoch,
  steps: result.step,
  pretrainMinutesThisCall: pretrainMinutes,
  history: result.history,
  initialProbe: result.initialProbe,
  linearProbe: table,
  knn,
};
writeFileSync(join(OUT, 'learning-report.json'), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(fileURLToPath(new URL(`./out/kermany-pretrain-${SIZE}px.json`, import.meta.url)), `${JSON.stringify(report, null, 2)}\n`);
console.log(`report: ${join(OUT, 'learning-report.json')}`);
train.close();
test.close();
