// npm run bench:gpu [-- flags]: training throughput on WebGPU, with PyTorch CUDA beside it where torch sees a GPU.
// Runs the TypeScript sources (no build): see the bench:gpu script in package.json.
//   --backend webgpu      backend to time (default webgpu; wasm or cpu time our CPU path the same way)
//   --size 224 --batch 64 image size and batch of every model (MoCo: batch per view)
//   --steps 10 --warmup 2 timed steps (median reported; at least 10 unless asked otherwise) and untimed ones
//   --models resnet18,densenet121,moco
//   --narrow              narrow networks (ResNet18 widths 8-64, DenseNet121 growth 8, blocks 2-2-2-2) for software adapters
//   --queue 24576         MoCo queue size (the paper's)
//   --no-torch            skip the PyTorch CUDA reference
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { formatAdapter, initBackend } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { Adam, MOCO_CXR_DEFAULTS, Sgd, createMoco, mocoStepAsync } from '@moco-cxr/moco';
import { Rng } from '@moco-cxr/rng';

const { values: flags } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgpu' },
    size: { type: 'string', default: '224' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    models: { type: 'string', default: 'resnet18,densenet121,moco' },
    narrow: { type: 'boolean', default: false },
    queue: { type: 'string', default: String(MOCO_CXR_DEFAULTS.queueSize) },
    'no-torch': { type: 'boolean', default: false },
  },
});
const int = (name) => {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(flags[name])}`);
  return v;
};
const size = int('size');
const batch = int('batch');
const steps = int('steps');
const warmup = int('warmup');
const queueSize = int('queue');
const models = flags.models.split(',').map((m) => m.trim());
for (const m of models) if (!['resnet18', 'densenet121', 'moco'].includes(m)) throw new Error(`--models: unknown model ${m} (resnet18, densenet121, moco)`);
const narrow = flags.narrow ? { resnet18: { widths: [8, 16, 32, 64], stemWidth: 8 }, densenet121: { growthRate: 8, blockConfig: [2, 2, 2, 2], numInitFeatures: 16 } } : { resnet18: {}, densenet121: {} };

const info = await initBackend({ prefer: flags.backend });
const out = (s) => process.stdout.write(`${s}\n`);
out(`backend: ${info.backend}`);
if (info.adapter) out(`adapter: ${formatAdapter(info.adapter)}`);
for (const n of info.notes) out(`note: ${n}`);
const software = info.adapter?.software === true;
if (software) out('SOFTWARE ADAPTER: the GPU is emulated on the CPU; the figures below show that training runs, they are no GPU speed and no speed is claimed.');
out(`shapes: ${size} px, batch ${batch}${flags.narrow ? ', narrow networks' : ''}; median of ${steps} steps after ${warmup} warm-up steps; fp32`);

function images(seed) {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: batch * size * size * 3 }, () => rng.normal()), [batch, size, size, 3]);
}

/** Median seconds per step of an async step function; each step ends with a read, so the GPU has finished. */
async function time(step) {
  for (let i = 0; i < warmup; i++) await step();
  const n0 = tf.memory().numTensors;
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await step();
    times.push((performance.now() - t) / 1000);
  }
  if (tf.memory().numTensors !== n0) throw new Error(`tensor leak: ${n0} -> ${tf.memory().numTensors} tensors`);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** A supervised step as torchvision users run one: 10-class linear head, cross-entropy, SGD with momentum. */
async function supervised(name) {
  const net = await createBackbone(name, { inputShape: [size, size, 3], seed: 0, ...narrow[name] });
  const rng = new Rng(1);
  const head = tf.variable(tf.tensor2d(Float32Array.from({ length: net.featureDim * 10 }, () => rng.normal() * 0.01), [net.featureDim, 10]), true, `bench-head-${name}`);
  const params = new Map([...net.variables].filter(([, v]) => v.trainable));
  params.set('head', head);
  const names = [...params.keys()];
  const opt = new Sgd({ momentum: 0.9 });
  const x = images(2);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
  const seconds = await time(async () => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, tf.matMul(net.embed(x, { training: true }), head)), names.map((n) => params.get(n)));
    const byName = new Map(names.map((n) => [n, grads[params.get(n).name]]));
    opt.step(params, byName, 0.01);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  });
  tf.dispose([x, labels, head]);
  opt.dispose();
  net.dispose();
  return seconds;
}

/** One MoCo-CXR step (momentum update, keys, query forward/backward, InfoNCE against the queue, Adam, enqueue); augmentation excluded. */
async function moco() {
  const net = await createBackbone('resnet18', { inputShape: [size, size, 3], seed: 0, ...narrow.resnet18 });
  const model = createMoco(net, { queueSize, rng: new Rng(3) });
  const optimizer = new Adam({ weightDecay: MOCO_CXR_DEFAULTS.weightDecay });
  const q = images(4);
  const k = images(5);
  const seconds = await time(async () => {
    await mocoStepAsync(model, [q, k], { momentum: MOCO_CXR_DEFAULTS.momentum, temperature: MOCO_CXR_DEFAULTS.temperature, optimizer, learningRate: 5e-4 });
  });
  tf.dispose([q, k]);
  optimizer.dispose();
  model.dispose();
  net.dispose();
  return seconds;
}

const label = { resnet18: 'ResNet18 training step', densenet121: 'DenseNet121 training step', moco: `MoCo step (ResNet18, queue ${queueSize})` };
const ours = {};
for (const m of models) {
  const seconds = m === 'moco' ? await moco() : await supervised(m);
  ours[m] = batch / seconds;
  out(`${info.backend}${software ? ' (software adapter, not a GPU speed)' : ''}: ${label[m]}: ${(seconds * 1000).toFixed(1)} ms/step, ${ours[m].toFixed(1)} img/s`);
}

if (flags['no-torch']) out('PyTorch CUDA: not run (--no-torch)');
else {
  const script = fileURLToPath(new URL('./bench_gpu_torch.py', import.meta.url));
  const args = [script, String(size), String(batch), String(steps), String(warmup), models.join(','), String(queueSize), flags.narrow ? 'narrow' : 'full'];
  const r = spawnSync(process.env.PYTHON ?? 'python3', args, { encoding: 'utf8' });
  if (r.error) out(`PyTorch CUDA: not run (${r.error.message})`);
  else {
    for (const line of r.stdout.trim().split('\n').filter(Boolean)) {
      const rec = JSON.parse(line);
      if (rec.skipped) {
        out(`PyTorch CUDA: not run (${rec.skipped})`);
        continue;
      }
      const ratio = ours[rec.model] / rec.imgPerSec;
      out(`torch ${rec.device} (${rec.gpu}): ${label[rec.model]}: ${rec.stepMs.toFixed(1)} ms/step, ${rec.imgPerSec.toFixed(1)} img/s${software ? '' : `; ${info.backend} reaches ${(ratio * 100).toFixed(0)}% of it`}`);
    }
    if (r.status !== 0) out(`PyTorch CUDA: failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-1)[0]}`);
  }
}
