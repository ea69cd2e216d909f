// Issue 23's ablation driver: MoCo pretraining with @moco-cxr/moco on the same uint8 pixels the
// PyTorch reference trains on (its kermany<size>.npz, dumped by probe_eval.py dump), from the
// reference's own initial weights, with one setting changed at a time. Needs `npm run build`.
//   node tools/science/pretrain-ablation.mjs --pixels runs/ref/kermany64.u8 --init runs/ref/backbone_init.pt \
//     --out runs/abl/crop --epochs 10 --seed 0 --augment '{"resize":72,"crop":"random"}' [--key-bn shuffle:4]
import { mkdirSync, readFileSync, appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { mocoCxrAugment } from '@moco-cxr/cxr-augment';
import { pretrain } from '@moco-cxr/moco';

const { values: a } = parseArgs({
  options: {
    pixels: { type: 'string' }, size: { type: 'string', default: '64' }, init: { type: 'string' }, out: { type: 'string' },
    epochs: { type: 'string', default: '10' }, seed: { type: 'string', default: '0' }, batch: { type: 'string', default: '32' },
    K: { type: 'string', default: '4096' }, T: { type: 'string', default: '0.2' }, m: { type: 'string', default: '0.999' },
    lr: { type: 'string', default: '0.0005' }, wd: { type: 'string', default: '0.0001' }, head: { type: 'string', default: 'mlp' },
    augment: { type: 'string', default: '{}' }, 'key-bn': { type: 'string', default: 'batch' }, threads: { type: 'string', default: '1' },
  },
});
const size = Number(a.size);
const bytes = readFileSync(a.pixels);
const count = bytes.length / (size * size);
if (!Number.isInteger(count)) throw new Error(`${a.pixels}: ${bytes.length} bytes is not a whole number of ${size}x${size} images`);
const data = {
  count, height: size, width: size,
  read(indices) {
    const out = new Uint8Array(indices.length * size * size);
    for (let i = 0; i < indices.length; i++) out.set(bytes.subarray(indices[i] * size * size, (indices[i] + 1) * size * size), i * size * size);
    return out;
  },
};
const [mode, groups] = a['key-bn'].split(':');
const keyBatchNorm = mode === 'batch' ? { mode: 'batch' } : { mode, groups: Number(groups) };
const info = await initBackend({ threads: Number(a.threads) });
mkdirSync(a.out, { recursive: true });
const backbone = await createBackbone('resnet18', { inputShape: [size, size, 3], seed: Number(a.seed), ...(a.init ? { weights: a.init } : {}) });
const augment = { ...mocoCxrAugment, ...JSON.parse(a.augment) };
if (augment.resize !== undefined && augment.size === undefined) augment.size = size;
const log = join(a.out, 'ablation.jsonl');
appendFileSync(log, `${JSON.stringify({ event: 'start', args: a, backend: info.backend, kernels: info.kernels ?? null, augment, keyBatchNorm, time: new Date().toISOString() })}\n`);
const t0 = performance.now();
await pretrain({
  backbone, data, outDir: a.out, epochs: Number(a.epochs), seed: Number(a.seed), batchSize: Number(a.batch),
  queueSize: Number(a.K), temperature: Number(a.T), momentum: Number(a.m), learningRate: Number(a.lr), weightDecay: Number(a.wd),
  schedule: { kind: 'constant' }, head: a.head, augment, keyBatchNorm, monitor: false, checkpointEvery: 100000,
  onEpoch: (e) => appendFileSync(log, `${JSON.stringify({ event: 'epoch', epoch: e.epoch, loss: e.loss, top1: e.top1, top5: e.top5, seconds: e.seconds, elapsed: (performance.now() - t0) / 1000 })}\n`),
});
appendFileSync(log, `${JSON.stringify({ event: 'done', seconds: (performance.now() - t0) / 1000, backbone: statSync(join(a.out, 'backbone-torchvision.safetensors')).size })}\n`);
backbone.dispose();
