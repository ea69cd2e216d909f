import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import type { Backbone } from '@moco-cxr/backbones';
import { pretrain, type PretrainOptions } from './pretrain';
import { blobImages, tinyResnet } from './test-support/fixtures';

const SIZE = 16;
const root = mkdtempSync(join(tmpdir(), 'moco-resume-record-'));

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// 20 images, batch 8: 2 steps per epoch.
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
  monitor: { probe: { images: blobImages(12, SIZE, 2), labels: Array.from({ length: 12 }, (_, i) => i % 2) }, knnK: 3 },
  export: false,
});

const metricLines = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

// Several short pretraining runs on the cpu backend: minutes on a loaded machine.
describe('what a resumed run records', { timeout: 300_000 }, () => {
  it('returns the whole probe at initialisation after a resume, as an uninterrupted run does', async () => {
    const a = await tinyResnet(SIZE, 3);
    const straight = await pretrain(options(a, join(root, 'straight')));
    a.dispose();
    expect(Object.keys(straight.initialProbe!).sort()).toEqual(['knnAuroc', 'linearAuroc', 'testRows', 'trainRows']);
    const b = await tinyResnet(SIZE, 3);
    await pretrain({ ...options(b, join(root, 'split')), maxSteps: 3 });
    const resumed = await pretrain(options(b, join(root, 'split')));
    b.dispose();
    expect(resumed.initialProbe).toEqual(straight.initialProbe);
  });

  it('an epoch redone after a lost epoch-end checkpoint (a kill while writing it) is recorded once in metrics.jsonl', async () => {
    const dir = join(root, 'redo');
    const bb = await tinyResnet(SIZE, 1);
    // Checkpoints after step 1 (mid-epoch) and at the end of epoch 1 (step 2): the latter is then lost.
    await pretrain({ ...options(bb, dir), epochs: 1, checkpointEvery: 1, monitor: false });
    const latest = join(dir, 'checkpoint.safetensors');
    const bytes = readFileSync(latest);
    for (let i = bytes.length - 64; i < bytes.length - 32; i++) bytes[i] ^= 0x5a;
    writeFileSync(latest, bytes);
    const again = await pretrain({ ...options(bb, dir), epochs: 1, checkpointEvery: 1, monitor: false });
    bb.dispose();
    expect(again).toMatchObject({ status: 'completed', step: 2 });
    const lines = metricLines(dir);
    expect(lines.filter((l) => l.event === 'resume')).toEqual([expect.objectContaining({ step: 1, fallback: expect.stringMatching(/CRC-32 mismatch/) })]);
    // Epoch 1 ran to its end twice (the second time from step 1, bit for bit): one epoch line.
    expect(lines.filter((l) => l.event === 'epoch').map((l) => l.epoch)).toEqual([1]);
  });
});
