// MoCo step throughput (query forward + backward + key forward + momentum update + queue + Adam)
// of resnet18 at batch 16 against PyTorch 1.13 (2 threads) doing the same step, interleaved: each
// round runs both sides as fresh processes (order alternating), at least 5 rounds, medians with
// their spread and the load average (tools/bench/interleave.mjs); it refuses to start above load
// 0.5 unless --allow-load and flags a row whose PyTorch figures vary by more than 15%.
// Augmentation and data loading are excluded on both sides. `--plain` adds, in ours only, the plain
// supervised step on the same backbone (backbones' train-step.ts compares that one with PyTorch).
//
//   npm run bench -w @moco-cxr/moco [-- moco-step.ts --sizes 64,224 --steps 10 --warmup 3 --rounds 5 --threads 2 --kernels native
//     --precision fp32|bf16|fp32,bf16]
//
// `--precision bf16` runs our side with bf16 products (initBackend's precision; fp32 weights and
// sums); PyTorch stays fp32. A bf16 row on a CPU that cannot run it fails rather than time fp32.
// Times are medians of --steps steps after --warmup untimed ones, on both sides.
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendInfo, type Precision } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { Rng } from '@moco-cxr/rng';
import { Adam, createMoco, mocoStep } from '../src/index';
import { benchSettings, interleave, interleavedTable, runJson } from '../../../tools/bench/interleave.mjs';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const SIZES = arg('sizes', '64,224').split(',').map(Number);
const STEPS = Number(arg('steps', '10'));
const WARMUP = Number(arg('warmup', '3'));
const KERNELS = arg('kernels', 'native').split(',') as Array<'native' | 'wasm'>;
const THREADS = Number(arg('threads', '2'));
const PRECISIONS = arg('precision', 'fp32').split(',') as Precision[];
const BATCH = 16;
const QUEUE = 4096;

/** The backend for one kernel set and precision; bf16 asked for and not run is an error here. */
async function start(kernels: 'native' | 'wasm', precision: Precision): Promise<BackendInfo> {
  const started = await initBackend({ prefer: arg('backend', 'wasm') as 'wasm' | 'cpu', threads: THREADS, kernels, precision });
  if (started.precision !== precision) throw new Error(`--precision ${precision} cannot run here: ${started.notes.find((n) => n.startsWith('precision:')) ?? started.precision}`);
  return started;
}

const info = await start(KERNELS[0], PRECISIONS[0]);
console.log(`tfjs ${info.backend}, ${info.threads} threads, simd ${info.simd}, native isa ${info.nativeIsa ?? '-'}, products ${info.precision}; ${cpus()[0].model}, ${cpus().length} logical CPUs`);

/** Median seconds of `steps` steps after WARMUP untimed ones. */
function time(step: () => void, steps: number): number {
  for (let i = 0; i < WARMUP; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    step();
    times.push((performance.now() - t) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(steps / 2)];
}

async function ourStep(size: number, kernels: 'native' | 'wasm', precision: Precision, withPlain: boolean): Promise<{ moco: number; plain?: number }> {
  await start(kernels, precision);
  const steps = STEPS;
  const backbone = await createBackbone('resnet18', { inputShape: [size, size, 3], seed: 0 });
  const model = createMoco(backbone, { queueSize: QUEUE, rng: new Rng(0) });
  const optimizer = new Adam({ weightDecay: 1e-4 });
  const xq = tf.randomNormal([BATCH, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const xk = tf.randomNormal([BATCH, size, size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const sMoco = time(() => void mocoStep(model, [xq, xk], { momentum: 0.999, temperature: 0.2, optimizer, learningRate: 1e-4 }), steps);
  model.dispose();
  optimizer.dispose();
  let sPlain: number | undefined;
  if (withPlain) {
    // Plain supervised step on the same backbone: linear classifier + cross-entropy + Adam.
    const fc = tf.variable(tf.randomNormal([backbone.featureDim, 2], 0, 0.01, 'float32', 3));
    const labels = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0], 'int32'), 2);
    const params = new Map<string, tf.Variable>(backbone.trainableVariables().map((v) => [v.name, v]));
    params.set('fc', fc);
    const plainOpt = new Adam({ weightDecay: 1e-4 });
    const names = [...params.keys()];
    const vars = names.map((n) => params.get(n)!);
    sPlain = time(() => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, tf.matMul(backbone.embed(xq, { training: true }), fc)) as tf.Scalar, vars);
      value.dataSync();
      plainOpt.step(params, new Map(names.map((n, i) => [n, grads[vars[i].name]])), 1e-4);
      value.dispose();
      Object.values(grads).forEach((g) => g.dispose());
    }, steps);
    plainOpt.dispose();
    for (const t of [fc, labels]) t.dispose();
  }
  for (const t of [xq, xk]) t.dispose();
  backbone.dispose();
  return { moco: BATCH / sMoco, ...(sPlain ? { plain: BATCH / sPlain } : {}) };
}

if (process.argv.includes('--child')) {
  // One side of one round: a fresh process, so both sides pay the same start-up and warm-up.
  console.log(JSON.stringify(await ourStep(SIZES[0], KERNELS[0], PRECISIONS[0], false)));
} else if (process.argv.includes('--no-torch')) {
  for (const size of SIZES) for (const kernels of KERNELS) for (const precision of PRECISIONS) {
    const o = await ourStep(size, kernels, precision, process.argv.includes('--plain'));
    console.log(`${size} px, ${kernels} kernels, ${precision}: MoCo step ${o.moco.toFixed(2)} img/s${o.plain ? `, plain step ${o.plain.toFixed(2)} img/s` : ''}`);
  }
} else {
  const settings = benchSettings();
  const self = fileURLToPath(import.meta.url);
  const torchScript = fileURLToPath(new URL('./torch_moco_step.py', import.meta.url));
  const common = ['--steps', String(STEPS), '--warmup', String(WARMUP), '--threads', String(THREADS), '--backend', arg('backend', 'wasm')];
  const cases = SIZES.flatMap((size) =>
    KERNELS.flatMap((kernels) =>
      PRECISIONS.map((precision) => ({
        label: `MoCo step ${size} px${KERNELS.length > 1 ? ` (${kernels})` : ''}, ours ${precision}`,
        torch: () => runJson('/usr/bin/python3', [torchScript, '--moco-only', '--sizes', String(size), '--steps', String(STEPS), '--warmup', String(WARMUP), '--threads', String(THREADS), '--queue', String(QUEUE)]).mocoImgPerSec as number,
        ours: () => runJson(process.execPath, [...process.execArgv, self, '--child', '--sizes', String(size), '--kernels', kernels, '--precision', precision, ...common]).moco as number,
      })),
    ),
  );
  console.log(`MoCo step, resnet18, batch ${BATCH}, queue ${QUEUE}; PyTorch fp32; median of ${STEPS} timed steps after ${WARMUP} warm-up steps on each side; PyTorch ${THREADS} threads`);
  const results = interleave(cases, { rounds: settings.rounds, onRun: (r) => console.log(`  ${r.label}, round ${r.round + 1}, ${r.side === 'torch' ? 'PyTorch' : 'ours'}: ${r.value.toFixed(2)} img/s (load ${r.load})`) });
  const table = interleavedTable(results, settings, { title: '### MoCo step against PyTorch' });
  console.log(`\n${table}`);
  writeFileSync(fileURLToPath(new URL('./out/moco-step.json', import.meta.url)), `${JSON.stringify({ backend: info, cpu: cpus()[0].model, batch: BATCH, queue: QUEUE, settings, results }, null, 2)}\n`);
}
