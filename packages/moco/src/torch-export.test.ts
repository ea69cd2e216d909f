import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone } from '@moco-cxr/backbones';
import { Rng } from '@moco-cxr/rng';
import { exportBackbone, writePretrainCheckpoint } from './checkpoint';
import { createMoco } from './moco';
import { Adam } from './optim';

// PyTorch is a reference tool here, never a dependency: the check runs where /usr/bin/python3 has torchvision.
const PYTHON = '/usr/bin/python3';
const hasTorch = (() => {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const script = fileURLToPath(new URL('../scripts/verify-torch-export.py', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'moco-torch-export-'));

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('torchvision export', () => {
  it('a MoCo checkpoint of a full-size resnet18 exports to a file torchvision resnet18 (fc removed) loads with strict=True, giving our features', async ({ skip }) => {
    skip(!hasTorch, `${PYTHON} has no torch + torchvision (the PyTorch reference)`);
    const size = 32;
    const backbone = await createBackbone('resnet18', { inputShape: [size, size, 3], seed: 1 });
    // A training-mode forward moves the BatchNorm running statistics away from 0 / 1.
    tf.tidy(() => backbone.embed(tf.randomNormal([4, size, size, 3], 0.5, 2, 'float32', 1) as tf.Tensor4D, { training: true }));
    const model = createMoco(backbone, { queueSize: 8, rng: new Rng(1) });
    const optimizer = new Adam();
    const checkpoint = join(root, 'checkpoint.safetensors');
    const position = { epoch: 0, stepInEpoch: 0, step: 0, order: null, dataRng: new Rng(1).state(), augmentRng: new Rng(2).state(), epochSums: { loss: 0, top1: 0, top5: 0, steps: 0 }, initialProbe: null };
    await writePretrainCheckpoint(checkpoint, model, optimizer, position, {});
    const exported = join(root, 'backbone-torchvision.safetensors');
    await exportBackbone(checkpoint, exported, { layout: 'torch' });
    const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const ours = backbone.embed(x, { training: false });
    const nchw = tf.transpose(x, [0, 3, 1, 2]);
    const inputFile = join(root, 'input.f32');
    writeFileSync(inputFile, Buffer.from((nchw.dataSync() as Float32Array).buffer));
    const out = JSON.parse(execFileSync(PYTHON, [script, exported, inputFile, '2', String(size), String(size)], { encoding: 'utf8' }));
    expect(out).toMatchObject({ loaded: backbone.variables.size, missing: [], unexpected: [], layout: 'torch' });
    const theirs = tf.tensor2d(out.features);
    expect(theirs.shape).toEqual([2, 512]);
    expect(tf.max(tf.abs(tf.sub(theirs, ours))).dataSync()[0]).toBeLessThan(1e-3 * Math.max(1, tf.max(tf.abs(ours)).dataSync()[0]));
    for (const t of [x, ours, nchw, theirs]) t.dispose();
    model.dispose();
    optimizer.dispose();
    backbone.dispose();
  });
});
