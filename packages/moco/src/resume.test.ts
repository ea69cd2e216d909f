import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import type { Backbone } from '@moco-cxr/backbones';
import { previousCheckpointPath, readLatestPretrainCheckpoint, readPretrainCheckpoint } from './checkpoint';
import { pretrain, type PretrainOptions } from './pretrain';
import { blobImages, tinyResnet } from './test-support/fixtures';

const SIZE = 16;
const root = mkdtempSync(join(tmpdir(), 'moco-resume-test-'));

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// 20 images, batch 8: 2 steps per epoch (4 images left out each epoch), 3 epochs = 6 steps.
// K = 12 is not a multiple of the batch, so the queue wraps mid-batch.
const options = (backbone: Backbone, outDir: string): PretrainOptions => ({
  backbone,
  data: blobImages(20, SIZE, 1),
  outDir,
  batchSize: 8,
  queueSize: 12,
  epochs: 3,
  learningRate: 1e-3,
  momentum: 0.9,
  checkpointEvery: 1000,
  seed: 7,
  monitor: { probe: { images: blobImages(12, SIZE, 2), labels: Array.from({ length: 12 }, (_, i) => i % 2) }, knnK: 3 },
  export: false,
});

describe('exact resume (cpu backend)', () => {
  it('6 steps straight equal 3 steps, stop mid-epoch, resume in a new backbone, 3 more (and 4 steps, abort, resume)', async () => {
    const a = await tinyResnet(SIZE, 3);
    const straight = await pretrain(options(a, join(root, 'straight')));
    expect(straight).toMatchObject({ status: 'completed', step: 6 });

    const b1 = await tinyResnet(SIZE, 3);
    const first = await pretrain({ ...options(b1, join(root, 'split')), maxSteps: 3 });
    expect(first).toMatchObject({ status: 'stopped', step: 3 });
    b1.dispose();
    // A new process builds a new backbone (even from another seed): the checkpoint restores everything.
    const b2 = await tinyResnet(SIZE, 99);
    const second = await pretrain(options(b2, join(root, 'split')));
    expect(second).toMatchObject({ status: 'completed', step: 6 });

    let maxDiff = 0;
    for (const [name, v] of a.variables) {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(v, 'float32'), tf.cast(b2.variables.get(name)!, 'float32')))).dataSync()[0]);
      maxDiff = Math.max(maxDiff, d);
    }
    // The cpu backend is deterministic too: bit for bit.
    expect(maxDiff).toBe(0);
    // The whole state: key encoder, heads, queue, optimiser slots, position and generators.
    const ca = await readPretrainCheckpoint(straight.checkpoint);
    const cb = await readPretrainCheckpoint(second.checkpoint);
    expect([...cb.tensors.keys()].sort()).toEqual([...ca.tensors.keys()].sort());
    for (const [k, t] of ca.tensors) {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(t, 'float32'), tf.cast(cb.tensors.get(k)!, 'float32')))).dataSync()[0]);
      expect(d, k).toBe(0);
    }
    expect(cb.metadata.position).toEqual(ca.metadata.position);
    expect(cb.metadata.queue.pointer).toBe(ca.metadata.queue.pointer);
    expect(cb.metadata.optimizer.step).toBe(6);
    // Epoch 2 straddled the stop; its record and the probe baseline match the straight run's.
    expect(second.history.map((h) => h.epoch)).toEqual([2, 3]);
    expect(second.history[0].loss).toBeCloseTo(straight.history[1].loss, 6);
    expect(second.history[1].probe!.initLinearAuroc).toBe(straight.history[2].probe!.initLinearAuroc);
    expect(second.history[1].probe!.linearAuroc).toBeCloseTo(straight.history[2].probe!.linearAuroc, 6);
    for (const c of [ca, cb]) c.tensors.forEach((t) => t.dispose());
    b2.dispose();

    // Aborted through an AbortSignal after step 4 (mid-epoch 2), then resumed: the same final state.
    const b3 = await tinyResnet(SIZE, 3);
    const controller = new AbortController();
    const sigint = process.listenerCount('SIGINT');
    const aborted = pretrain({ ...options(b3, join(root, 'aborted')), signal: controller.signal, onStep: (s) => s.step === 4 && controller.abort() });
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', step: 4 });
    expect(process.listenerCount('SIGINT')).toBe(sigint);
    b3.dispose();
    const b4 = await tinyResnet(SIZE, 99);
    const resumed = await pretrain(options(b4, join(root, 'aborted')));
    expect(resumed).toMatchObject({ status: 'completed', step: 6 });
    const cc = await readPretrainCheckpoint(resumed.checkpoint);
    const cs = await readPretrainCheckpoint(straight.checkpoint);
    for (const [k, t] of cs.tensors) {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(t, 'float32'), tf.cast(cc.tensors.get(k)!, 'float32')))).dataSync()[0]);
      expect(d, k).toBe(0);
    }
    expect(cc.metadata.position).toEqual(cs.metadata.position);
    expect(resumed.history.at(-1)!.loss).toBeCloseTo(straight.history[2].loss, 6);
    for (const c of [cc, cs]) c.tensors.forEach((t) => t.dispose());
    a.dispose();
    b4.dispose();
  });

  it('keeps the previous checkpoint, falls back to it when the latest is damaged, and clears a killed writer`s temp files', async () => {
    const dir = join(root, 'fallback');
    const bb = await tinyResnet(SIZE, 1);
    await pretrain({ ...options(bb, dir), maxSteps: 3, checkpointEvery: 1, monitor: false });
    const latest = join(dir, 'checkpoint.safetensors');
    const prev = previousCheckpointPath(latest);
    expect((await readLatestPretrainCheckpoint(latest))!.checkpoint.metadata.position.step).toBe(3);
    // The write before the last one (the stop at step 3 writes again, so it may hold step 2 or 3).
    const kept = await readPretrainCheckpoint(prev);
    const prevStep = kept.metadata.position.step;
    expect([2, 3]).toContain(prevStep);
    kept.tensors.forEach((t) => t.dispose());
    // What a writer killed mid-write leaves: a temp file named after its (now dead) process.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = join(dir, `.checkpoint.safetensors.${deadPid}.1700000000000.x1y2.tmp`);
    writeFileSync(stale, 'partial');
    // Flip bytes in the latest checkpoint's data: same size, parses, only the checksum can tell.
    const bytes = readFileSync(latest);
    for (let i = bytes.length - 64; i < bytes.length - 32; i++) bytes[i] ^= 0x5a;
    writeFileSync(latest, bytes);
    await expect(readPretrainCheckpoint(latest)).rejects.toThrow(/checkpoint\.safetensors: checkpoint data is damaged \(CRC-32 mismatch\)/);
    const resumed = await pretrain({ ...options(bb, dir), maxSteps: 4, checkpointEvery: 1, monitor: false });
    expect(resumed).toMatchObject({ status: 'stopped', step: 4 });
    const events = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'resume');
    expect(events.at(-1)).toMatchObject({ step: prevStep, checkpoint: prev, fallback: expect.stringMatching(/CRC-32 mismatch/) });
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // Both unusable: the error says what to do.
    writeFileSync(latest, 'garbage');
    writeFileSync(prev, 'garbage');
    await expect(pretrain({ ...options(bb, dir), monitor: false })).rejects.toThrow(/previous checkpoint is unusable too .*Delete .*checkpoint\.safetensors and .*checkpoint\.prev\.safetensors to start this run over/);
    bb.dispose();
  });

  it('refuses to resume a checkpoint written with a different queue size', async () => {
    const dir = join(root, 'mismatch');
    const bb = await tinyResnet(SIZE, 1);
    await pretrain({ ...options(bb, dir), maxSteps: 1, monitor: false });
    await expect(pretrain({ ...options(bb, dir), queueSize: 16, monitor: false })).rejects.toThrow(/written with queueSize = 12, this run has 16/);
    bb.dispose();
  });
});
