import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import type { Backbone } from '@moco-cxr/backbones';
import { readPretrainCheckpoint } from './checkpoint';
import { pretrain, type PretrainOptions } from './pretrain';
import { blobImages, tinyResnet } from './test-support/fixtures';

// Exact resume on the backend users train on: wasm, with one thread and with two (every core here).
const SIZE = 16;
const root = mkdtempSync(join(tmpdir(), 'moco-resume-wasm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const options = (backbone: Backbone, outDir: string): PretrainOptions => ({
  backbone,
  data: blobImages(20, SIZE, 1),
  outDir,
  batchSize: 8,
  queueSize: 12,
  epochs: 2,
  learningRate: 1e-3,
  momentum: 0.9,
  checkpointEvery: 1000,
  seed: 7,
  monitor: false,
  export: false,
});

describe.each([1, 2])('exact resume on wasm with %i thread(s)', (threads) => {
  it('4 steps straight equal 1 step, stop, resume in a new backbone, 3 more: bit for bit, whole checkpoint', async () => {
    const info = await initBackend({ prefer: 'wasm', threads });
    expect(info).toMatchObject({ backend: 'wasm', threads });
    const a = await tinyResnet(SIZE, 3);
    const straight = await pretrain(options(a, join(root, `straight-${threads}`)));
    expect(straight).toMatchObject({ status: 'completed', step: 4 });
    const b1 = await tinyResnet(SIZE, 3);
    // Stop mid-epoch, so the resumed run continues inside the image order of epoch 1.
    expect(await pretrain({ ...options(b1, join(root, `split-${threads}`)), maxSteps: 1 })).toMatchObject({ status: 'stopped', step: 1 });
    b1.dispose();
    const b2 = await tinyResnet(SIZE, 99);
    expect(await pretrain(options(b2, join(root, `split-${threads}`)))).toMatchObject({ status: 'completed', step: 4 });
    const ca = await readPretrainCheckpoint(straight.checkpoint);
    const cb = await readPretrainCheckpoint(join(root, `split-${threads}`, 'checkpoint.safetensors'));
    expect([...cb.tensors.keys()].sort()).toEqual([...ca.tensors.keys()].sort());
    // wasm's kernels are deterministic (fixed work split per thread count): every value is identical.
    for (const [k, t] of ca.tensors) expect(Buffer.from((cb.tensors.get(k)!.dataSync() as Float32Array).buffer).equals(Buffer.from((t.dataSync() as Float32Array).buffer)), k).toBe(true);
    expect(cb.metadata.position).toEqual(ca.metadata.position);
    for (const c of [ca, cb]) c.tensors.forEach((t) => t.dispose());
    for (const [name, v] of a.variables) expect(tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(v, 'float32'), tf.cast(b2.variables.get(name)!, 'float32')))).dataSync()[0]), name).toBe(0);
    a.dispose();
    b2.dispose();
  });
});
