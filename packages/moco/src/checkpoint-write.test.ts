// Writing a pretraining checkpoint never leaves a temporary file behind, even when keeping the
// previous checkpoint fails: every file goes through @moco-cxr/atomic-write.
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import { previousCheckpointPath, readPretrainCheckpoint, writePretrainCheckpoint } from './checkpoint';
import { createMoco } from './moco';
import { Adam } from './optim';
import { tinyResnet } from './test-support/fixtures';

const root = mkdtempSync(join(tmpdir(), 'moco-checkpoint-write-'));

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('writePretrainCheckpoint', () => {
  it('when the previous checkpoint cannot be kept (a directory holds its name), it fails, keeps the latest whole and leaves no temporary file', async () => {
    const before = tf.memory().numTensors;
    const backbone = await tinyResnet(16, 3);
    const model = createMoco(backbone, { queueSize: 8, rng: new Rng(1) });
    const optimizer = new Adam();
    const position = { epoch: 0, stepInEpoch: 0, step: 0, order: null, dataRng: new Rng(1).state(), augmentRng: new Rng(2).state(), epochSums: { loss: 0, top1: 0, top5: 0, steps: 0 }, initialProbe: null };
    const path = join(root, 'checkpoint.safetensors');
    await writePretrainCheckpoint(path, model, optimizer, position, {});
    const prev = previousCheckpointPath(path);
    mkdirSync(prev);
    writeFileSync(join(prev, 'inside'), 'x');
    await expect(writePretrainCheckpoint(path, model, optimizer, { ...position, step: 1 }, {})).rejects.toThrow();
    expect(readdirSync(root).sort()).toEqual([prev.slice(root.length + 1), 'checkpoint.safetensors'].sort());
    const back = await readPretrainCheckpoint(path);
    expect(back.metadata.position.step).toBe(0);
    back.tensors.forEach((t) => t.dispose());
    model.dispose();
    backbone.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
