/**
 * One training step (forward in training mode, backward, Adam update) of resnet18 / densenet121
 * at batch 16, next to PyTorch 1.13 (2 threads) doing the same step, interleaved: each round runs
 * both sides as fresh processes (order alternating), at least 5 rounds, and the table gives medians
 * with their spread and the load average (tools/bench/interleave.mjs). It refuses to start above
 * load 0.5 unless --allow-load, and flags a row whose PyTorch figures vary by more than 15%.
 *
 *   npm run bench -w @moco-cxr/backbones -- train-step.ts [--models resnet18,densenet121]
 *     [--sizes 64,224] [--batch 16] [--steps 10] [--warmup 3] [--rounds 5] [--backend wasm|cpu]
 *     [--threads 2] [--kernels native|wasm|native,wasm] [--precision fp32|bf16|fp32,bf16] [--no-torch] [--allow-load]
 *
 * `--precision bf16` runs our side with bf16 products (initBackend's precision; fp32 weights and
 * sums); PyTorch stays fp32. A bf16 row on a CPU that cannot run it fails rather than time fp32.
 *
 * densenet121 runs memory-efficient on both sides (torchvision's `memory_efficient=True`, our
 * `memoryEfficient: true`) unless `--no-memory-efficient`: stored, its 224 px batch-16 step does not
 * fit wasm's 4 GiB heap.
 *
 * Both sides run `--warmup` untimed steps first: PyTorch's first steps on this machine run at half
 * its steady speed, so a single warm-up flatters the ratio.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendInfo, type BackendName, type Precision } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import { createBackbone, type BackboneName } from '../src/index';
import { benchSettings, interleave, interleavedTable, runJson } from '../../../tools/bench/interleave.mjs';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const models = arg('models', 'resnet18').split(',') as BackboneName[];
const sizes = arg('sizes', '64,224').split(',').map(Number);
const batch = Number(arg('batch', '16'));
const steps = Number(arg('steps', '10'));
const warmup = Number(arg('warmup', '3'));
const threads = Number(arg('threads', '2'));
const withTorch = !process.argv.includes('--no-torch');
const memoryEfficient = !process.argv.includes('--no-memory-efficient');
const classes = 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function tfjsStep(name: BackboneName, size: number): Promise<number[]> {
  const rng = new Rng(size);
  const backbone = await createBackbone(name, { inputShape: [size, size, 3], seed: 1, ...(name === 'densenet121' ? { memoryEfficient } : {}) });
  const headInit = new Float32Array(backbone.featureDim * classes);
  for (let i = 0; i < headInit.length; i++) headInit[i] = rng.normal() * Math.sqrt(1 / backbone.featureDim);
  const head = tf.variable(tf.tensor2d(headInit, [backbone.featureDim, classes]));
  const headBias = tf.variable(tf.zeros([classes]));
  const pixels = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rng.normal();
  const x = tf.tensor4d(pixels, [batch, size, size, 3]);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32'), classes);
  const optimizer = tf.train.adam(1e-4);
  const vars = [...backbone.trainableVariables(), head, headBias];
  const step = async () => {
    const cost = optimizer.minimize(() => {
      const logits = tf.add(tf.matMul(backbone.embed(x, { training: true }), head), headBias);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    }, true, vars);
    await cost!.data();
    cost!.dispose();
  };
  for (let w = 0; w < warmup; w++) await step(); // kernels, XNNPACK operators, optimizer slots
  const before = tf.memory().numTensors;
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    await step();
    times.push((performance.now() - t0) / 1000);
  }
  if (tf.memory().numTensors !== before) throw new Error(`tensor leak: ${before} -> ${tf.memory().numTensors} tensors over ${steps} steps`);
  optimizer.dispose();
  for (const t of [head, headBias, x, labels]) t.dispose();
  backbone.dispose();
  return times;
}

function torchStep(name: BackboneName, size: number): number[] {
  const script = fileURLToPath(new URL('./torch_train_step.py', import.meta.url));
  const run = spawnSync('/usr/bin/python3', [script, name, String(size), String(batch), String(steps), String(threads), String(warmup), memoryEfficient ? 'memory-efficient' : 'stored'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`PyTorch step failed for ${name} ${size}px: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!).step_seconds;
}

const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const kernelSets = arg('kernels', 'native').split(',') as Array<'native' | 'wasm'>;
const precisions = arg('precision', 'fp32').split(',') as Precision[];

/** The backend for one kernel set and precision; bf16 asked for and not run is an error here. */
async function start(kernels: 'native' | 'wasm', precision: Precision): Promise<BackendInfo> {
  const info = await initBackend({ prefer: arg('backend', 'wasm') as BackendName, threads, kernels, precision });
  if (info.precision !== precision) throw new Error(`--precision ${precision} cannot run here: ${info.notes.find((n) => n.startsWith('precision:')) ?? info.precision}`);
  return info;
}

if (process.argv.includes('--child')) {
  // One side of one round: a fresh process, so both sides pay the same start-up and warm-up.
  await start(kernelSets[0], precisions[0]);
  console.log(JSON.stringify({ imgPerSec: batch / median(await tfjsStep(models[0], sizes[0])) }));
} else if (!withTorch) {
  // Ours alone (no ratio): each kernel set in turn, one process.
  for (const kernels of kernelSets)
    for (const precision of precisions) {
      const info = await start(kernels, precision);
      for (const name of models) for (const size of sizes) console.log(`${name} ${size} px, ${kernels} kernels (${info.nativeIsa ?? info.backend}), ${precision}: ${f(batch / median(await tfjsStep(name, size)), 2)} img/s`);
    }
} else {
  const settings = benchSettings();
  const self = fileURLToPath(import.meta.url);
  const common = ['--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--backend', arg('backend', 'wasm'), ...(memoryEfficient ? [] : ['--no-memory-efficient'])];
  const cases = models.flatMap((name) =>
    sizes.flatMap((size) =>
      kernelSets.flatMap((kernels) =>
        precisions.map((precision) => ({
          label: `${name} ${size} px${kernelSets.length > 1 ? ` (${kernels})` : ''}, ours ${precision}`,
          torch: () => batch / median(torchStep(name, size)),
          ours: () => runJson(process.execPath, [...process.execArgv, self, '--child', '--models', name, '--sizes', String(size), '--kernels', kernels, '--precision', precision, ...common]).imgPerSec as number,
        })),
      ),
    ),
  );
  console.log(`training step, batch ${batch}, Adam; PyTorch fp32; median of ${steps} timed steps after ${warmup} warm-up steps on each side; PyTorch ${threads} threads; densenet121 ${memoryEfficient ? 'memory-efficient' : 'stored'}`);
  const results = interleave(cases, { rounds: settings.rounds, onRun: (r) => console.log(`  ${r.label}, round ${r.round + 1}, ${r.side === 'torch' ? 'PyTorch' : 'ours'}: ${f(r.value, 2)} img/s (load ${r.load})`) });
  console.log(`\n${interleavedTable(results, settings, { title: '### Training step against PyTorch' })}`);
}
