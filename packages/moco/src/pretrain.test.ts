import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { createBackbone, readSafetensors, type Backbone } from '@moco-cxr/backbones';
import { readPretrainCheckpoint, exportBackbone } from './checkpoint';
import type { MocoBackbone } from './moco';
import { NonFiniteLossError, PretrainAbortError, pretrain, type EpochRecord, type PretrainOptions, type StepInfo } from './pretrain';
import { blobImages, TINY_RESNET, tinyResnet } from './test-support/fixtures';

const SIZE = 32;
const data = blobImages(24, SIZE, 1);
const probe = { images: blobImages(16, SIZE, 2), labels: Array.from({ length: 16 }, (_, i) => i % 2) };
const root = mkdtempSync(join(tmpdir(), 'moco-pretrain-test-'));
let dirCount = 0;
const freshDir = () => join(root, `run${dirCount++}`);

// 3 steps per epoch; K = 20 is not a multiple of the batch, so the queue wraps mid-batch.
const base = (backbone: MocoBackbone, outDir: string): PretrainOptions => ({
  backbone,
  data,
  outDir,
  batchSize: 8,
  queueSize: 20,
  epochs: 2,
  learningRate: 1e-3,
  momentum: 0.9,
  checkpointEvery: 2,
  seed: 7,
  monitor: { probe, knnK: 3 },
});

function snapshot(backbone: { variables: ReadonlyMap<string, tf.Variable> }): Map<string, Float32Array | Int32Array> {
  return new Map([...backbone.variables].map(([k, v]) => [k, v.dataSync() as Float32Array | Int32Array]));
}

/** A network written by hand: conv 3x3 (3 -> 8 channels), ReLU, global average pool. No BatchNorm, no torchvision name. */
function handMadeNet(size: number, seed: number, from?: ReadonlyMap<string, tf.Tensor>): MocoBackbone {
  const variables = new Map<string, tf.Variable>([
    ['conv.weight', tf.variable(from ? from.get('conv.weight')! : tf.randomNormal([3, 3, 3, 8], 0, 0.3, 'float32', seed))],
    ['conv.bias', tf.variable(from ? from.get('conv.bias')! : tf.zeros([8]))],
  ]);
  const get = (name: string) => variables.get(name)!;
  return {
    name: 'hand-made-conv',
    featureDim: 8,
    inputShape: [size, size, 3],
    variables,
    trainableVariables: () => [...variables.values()],
    embed: (x) => tf.tidy(() => tf.mean(tf.relu(tf.add(tf.conv2d(x, get('conv.weight') as tf.Tensor4D, 1, 'same'), get('conv.bias'))), [1, 2]) as tf.Tensor2D),
    stateDict: ({ layout = 'tfjs' } = {}) => new Map([...variables].map(([k, v]) => [k, layout === 'torch' && v.rank === 4 ? tf.transpose(v, [3, 2, 0, 1]) : tf.clone(v)])),
    loadStateDict: (dict) => variables.forEach((v, k) => v.assign(dict.get(k)!)),
    clone: () => handMadeNet(size, seed, variables),
    dispose: () => variables.forEach((v) => v.dispose()),
  };
}

beforeAll(async () => {
  // wasm (one thread) for speed; the exact-resume test runs on the deterministic cpu backend in resume.test.ts.
  await initBackend({ prefer: 'wasm', threads: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('pretrain', () => {
  it('writes a checkpoint with both encoders, heads, queue, optimiser state and position', async () => {
    const outDir = freshDir();
    const bb = await tinyResnet(SIZE, 1);
    await pretrain({ ...base(bb, outDir), epochs: 1, export: false, monitor: false });
    const { tensors, metadata } = await readPretrainCheckpoint(join(outDir, 'checkpoint.safetensors'));
    const keys = [...tensors.keys()];
    expect(keys).toContain('encoder_q.conv1.weight');
    expect(keys).toContain('encoder_k.bn1.running_mean');
    expect(keys).toContain('encoder_q.layer1.0.bn1.num_batches_tracked');
    expect(keys).toContain('head_q.fc.0.weight');
    expect(keys).toContain('head_k.fc.2.bias');
    expect(keys).toContain('optimizer.encoder_q.conv1.weight|exp_avg_sq');
    expect(tensors.get('queue')!.shape).toEqual([20, 128]);
    expect(metadata.position).toMatchObject({ epoch: 1, stepInEpoch: 0, step: 3, order: null });
    expect(metadata.queue.pointer).toBe((3 * 8) % 20);
    expect(metadata.optimizer).toMatchObject({ kind: 'adam', step: 3 });
    expect(metadata.position.dataRng).toHaveLength(4);
    tensors.forEach((t) => t.dispose());
    // config.json echoes every resolved value; the default K is capped to the dataset.
    const config = JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ queueSize: 20, momentum: 0.9, temperature: 0.2, head: 'mlp', optimizer: 'adam', weightDecay: 1e-4, batchSize: 8, epochs: 1, learningRate: 1e-3 });
    expect(config.schedule).toEqual({ kind: 'step', milestones: [12, 18, 24], gamma: 0.1 });
    const capped = await pretrain({ ...base(bb, freshDir()), queueSize: undefined, epochs: 1, monitor: false, export: false, maxSteps: 0 });
    expect(capped.config).toMatchObject({ queueSize: 24, queueSizeRequested: 24576, learningRate: 1e-3 });
    const defaults = await pretrain({ backbone: bb, data, outDir: freshDir(), maxSteps: 0, batchSize: 8 });
    expect(defaults.config).toMatchObject({ momentum: 0.999, temperature: 0.2, learningRate: 5e-4, weightDecay: 1e-4, epochs: 20, optimizer: 'adam', head: 'mlp', embeddingDim: 128 });
    bb.dispose();
  });

  it('key encoder starts as an exact copy, follows the query encoder as an EMA, and its BatchNorm statistics move with its own forward passes', async () => {
    const bb = await tinyResnet(SIZE, 5);
    const initial = snapshot(bb);
    const keys: Map<string, Float32Array | Int32Array>[] = [initial];
    const queries: Map<string, Float32Array | Int32Array>[] = [initial];
    const m = 0.5;
    await pretrain({
      ...base(bb, freshDir()),
      epochs: 1,
      monitor: false,
      export: false,
      momentum: m,
      onStep: (info) => {
        keys.push(snapshot(info.model.key));
        queries.push(snapshot(info.model.query));
      },
    });
    expect(keys).toHaveLength(4);
    const k1 = keys[1];
    const q1 = queries[1];
    const rm = 'layer2.0.bn1.running_mean';
    // Key BN stats moved away from the copied initial ones (zeros), and differ from the query's.
    expect(Math.max(...Array.from(k1.get(rm)!, Math.abs))).toBeGreaterThan(1e-4);
    expect(Array.from(k1.get(rm)!)).not.toEqual(Array.from(q1.get(rm)!));
    expect(k1.get('bn1.num_batches_tracked')![0]).toBe(1);
    // Each step first moves the key weights to m * key + (1 - m) * query (the query before that step's
    // update), so after step t: key_t = m key_{t-1} + (1 - m) query_{t-1}. Step 1 keeps the copy.
    for (const w of ['conv1.weight', 'layer1.0.conv2.weight', 'layer4.0.bn2.weight', 'bn1.bias']) {
      for (let t = 1; t < keys.length; t++) {
        const k = keys[t].get(w)!;
        const kPrev = keys[t - 1].get(w)!;
        const qPrev = queries[t - 1].get(w)!;
        for (let i = 0; i < k.length; i += 7) expect(k[i], `${w}[${i}] after step ${t}`).toBeCloseTo(m * kPrev[i] + (1 - m) * qPrev[i], 6);
      }
    }
    // The update ran: by step 3 the key encoder has left its initial weights, and still trails the query's.
    const w = 'conv1.weight';
    const moved = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    expect(moved(keys[3].get(w)!, initial.get(w)!)).toBeGreaterThan(1e-5);
    expect(moved(keys[3].get(w)!, queries[3].get(w)!)).toBeGreaterThan(1e-5);
    bb.dispose();
  });

  it('pretrains a network written by hand (not from createBackbone): finite loss, key = EMA of query, export', async () => {
    const net = handMadeNet(SIZE, 11);
    const initial = snapshot(net);
    const keys = [initial];
    const queries = [initial];
    const losses: number[] = [];
    const m = 0.7;
    const outDir = freshDir();
    const result = await pretrain({
      ...base(net, outDir),
      epochs: 1,
      monitor: { probe, knnK: 3 },
      momentum: m,
      onStep: (info) => {
        losses.push(info.loss);
        keys.push(snapshot(info.model.key));
        queries.push(snapshot(info.model.query));
      },
    });
    expect(result).toMatchObject({ status: 'completed', step: 3 });
    expect(losses).toHaveLength(3);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(Number.isFinite(result.history[0].probe!.linearAuroc)).toBe(true);
    for (const name of ['conv.weight', 'conv.bias']) {
      for (let t = 1; t < keys.length; t++) {
        const k = keys[t].get(name)!;
        const kPrev = keys[t - 1].get(name)!;
        const qPrev = queries[t - 1].get(name)!;
        for (let i = 0; i < k.length; i++) expect(k[i], `${name}[${i}] after step ${t}`).toBeCloseTo(m * kPrev[i] + (1 - m) * qPrev[i], 6);
      }
    }
    // The query was trained in place, and the key trails it.
    const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    expect(diff(snapshot(net).get('conv.weight')!, initial.get('conv.weight')!)).toBeGreaterThan(1e-5);
    expect(diff(keys[3].get('conv.weight')!, queries[3].get('conv.weight')!)).toBeGreaterThan(1e-5);
    // The clean export holds the hand-made network under its own names and name.
    const exported = await readSafetensors(result.exports!.torchvision);
    expect([...exported.tensors.keys()].sort()).toEqual(['conv.bias', 'conv.weight']);
    expect(exported.tensors.get('conv.weight')!.shape).toEqual([8, 3, 3, 3]);
    expect(exported.metadata.backbone).toBe('hand-made-conv');
    exported.tensors.forEach((t) => t.dispose());
    net.dispose();
  });

  it('split-BN and shuffle-BN normalise the batches in sub-batches inside the trainer', async () => {
    const tracked: Record<string, number[]> = {};
    for (const mode of ['split', 'shuffle'] as const) {
      const fresh = await tinyResnet(SIZE, 5);
      await pretrain({
        ...base(fresh, freshDir()),
        epochs: 1,
        monitor: false,
        export: false,
        keyBatchNorm: { mode, groups: 2 },
        onStep: (info) => {
          if (info.step === 1) {
            tracked[mode] = [info.model.key.variables.get('bn1.num_batches_tracked')!.dataSync()[0], info.model.query.variables.get('bn1.num_batches_tracked')!.dataSync()[0]];
          }
        },
      });
      fresh.dispose();
    }
    // One step: the key batch went through BatchNorm as 2 sub-batches; the query batch too under shuffle-BN.
    expect(tracked.split).toEqual([2, 1]);
    expect(tracked.shuffle).toEqual([2, 2]);
  });

  it('leaves no tensor behind once a pretrain() call returns', async () => {
    const bb = await tinyResnet(SIZE, 2);
    const before = tf.memory().numTensors;
    for (let call = 0; call < 2; call++) await pretrain({ ...base(bb, freshDir()), epochs: 1, monitor: { probe, knnK: 3 }, export: false });
    expect(tf.memory().numTensors).toBe(before);
    bb.dispose();
  });

  it('does not leak tensors across steps', async () => {
    const bb = await tinyResnet(SIZE, 2);
    const counts: number[] = [];
    await pretrain({ ...base(bb, freshDir()), monitor: false, export: false, onStep: () => counts.push(tf.memory().numTensors) });
    expect(counts).toHaveLength(6);
    // Step 1 creates the optimiser slots; from then on the count is flat (epoch ends included).
    expect(new Set(counts.slice(1)).size).toBe(1);
    bb.dispose();
  });

  it('exports a clean backbone that createBackbone loads, in tfjs and torchvision layouts', async () => {
    const outDir = freshDir();
    const bb = await tinyResnet(SIZE, 4);
    const result = await pretrain({ ...base(bb, outDir), epochs: 1, monitor: false });
    expect(result.exports).toBeDefined();
    const x = tf.randomNormal([4, SIZE, SIZE, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const expected = bb.embed(x, { training: false });
    for (const path of [result.exports!.backbone, result.exports!.torchvision]) {
      const { tensors, metadata } = await readSafetensors(path);
      expect([...tensors.keys()].some((k) => k.startsWith('encoder_') || k.startsWith('head') || k === 'queue')).toBe(false);
      expect(tensors.size).toBe(bb.variables.size);
      expect(metadata.layout).toBe(path.endsWith('torchvision.safetensors') ? 'torch' : 'tfjs');
      tensors.forEach((t) => t.dispose());
      const loaded = await createBackbone('resnet18', { inputShape: [SIZE, SIZE, 3], weights: path, ...TINY_RESNET });
      const got = loaded.embed(x, { training: false });
      expect(tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]).toBe(0);
      got.dispose();
      loaded.dispose();
    }
    // The same from a checkpoint file, and the checkpoint itself loads (encoder_q. prefix stripped).
    const fromCkpt = join(outDir, 'exported.safetensors');
    await exportBackbone(result.checkpoint, fromCkpt, { layout: 'torch' });
    for (const path of [fromCkpt, result.checkpoint]) {
      const loaded = await createBackbone('resnet18', { inputShape: [SIZE, SIZE, 3], weights: path, ...TINY_RESNET });
      const got = loaded.embed(x, { training: false });
      expect(tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]).toBe(0);
      got.dispose();
      loaded.dispose();
    }
    for (const t of [x, expected]) t.dispose();
    bb.dispose();
  });

  it('stops on a non-finite loss naming the step and keeps the last good checkpoint', async () => {
    const outDir = freshDir();
    const bb = await tinyResnet(SIZE, 6);
    const run = pretrain({
      ...base(bb, outDir),
      monitor: false,
      onStep: (info) => {
        // Poison the query head after step 2 (checkpointed): step 3's loss is NaN. (The head, not
        // the backbone: a ReLU may turn NaN into 0 on some backends.)
        if (info.step === 2) info.model.queryHead.variables.get('fc.2.bias')!.assign(tf.fill([128], NaN));
      },
    });
    await expect(run).rejects.toThrow(NonFiniteLossError);
    await expect(run).rejects.toThrow(/loss is NaN at step 3 \(epoch 1, batch 3\).*last good checkpoint \(step 2\)/);
    const { tensors, metadata } = await readPretrainCheckpoint(join(outDir, 'checkpoint.safetensors'));
    expect(metadata.position.step).toBe(2);
    expect(Array.from(tensors.get('head_q.fc.2.bias')!.dataSync()).some(Number.isNaN)).toBe(false);
    tensors.forEach((t) => t.dispose());
    const lines = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ event: 'error', step: 3 });
    bb.dispose();
  });

  it('stops on an AbortSignal between steps: checkpoint, AbortError, no process listener', async () => {
    const outDir = freshDir();
    const bb = await tinyResnet(SIZE, 8);
    const sigintListeners = process.listenerCount('SIGINT');
    const controller = new AbortController();
    const checkpoints: number[] = [];
    const run = pretrain({
      ...base(bb, outDir),
      monitor: false,
      checkpointEvery: 100,
      signal: controller.signal,
      onCheckpoint: (c) => checkpoints.push(c.step),
      onStep: (info) => {
        expect(process.listenerCount('SIGINT')).toBe(sigintListeners);
        if (info.step === 1) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(PretrainAbortError);
    await expect(run).rejects.toMatchObject({ name: 'AbortError', step: 1, checkpoint: join(outDir, 'checkpoint.safetensors') });
    await expect(run).rejects.toThrow(/aborted at step 1 \(epoch 1, batch 1\).*run again with the same outDir to resume/);
    expect(checkpoints).toEqual([1]);
    expect(process.listenerCount('SIGINT')).toBe(sigintListeners);
    const { tensors, metadata } = await readPretrainCheckpoint(join(outDir, 'checkpoint.safetensors'));
    expect(metadata.position).toMatchObject({ step: 1, stepInEpoch: 1, epoch: 0 });
    tensors.forEach((t) => t.dispose());
    expect(existsSync(join(outDir, 'backbone.safetensors'))).toBe(false);
    const lines = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ event: 'interrupted', step: 1 });
    bb.dispose();
  });

  it('reports through its callbacks and writes nothing to stdout or stderr', async () => {
    const outDir = freshDir();
    const bb = await tinyResnet(SIZE, 9);
    const written: string[] = [];
    const writes = [process.stdout.write, process.stderr.write];
    const capture = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
    const logs: string[] = [];
    const steps: StepInfo[] = [];
    const epochs: EpochRecord[] = [];
    const checkpoints: number[] = [];
    let result;
    process.stdout.write = capture;
    process.stderr.write = capture;
    try {
      result = await pretrain({
        ...base(bb, outDir),
        logEvery: 2,
        onLog: (m) => logs.push(m),
        onStep: (s) => steps.push(s),
        onEpoch: (e) => epochs.push(e),
        onCheckpoint: (c) => checkpoints.push(c.step),
      });
    } finally {
      [process.stdout.write, process.stderr.write] = writes;
    }
    expect(written).toEqual([]);
    expect(logs[0]).toMatch(/^starting: 2 epochs of 3 steps, batch 8, queue K = 20, learning rate 0\.001/);
    expect(logs[1]).toMatch(/probe at initialisation: linear AUROC \d\.\d{3}, kNN AUROC \d\.\d{3}/);
    expect(logs.at(-1)).toMatch(/^exported .*backbone\.safetensors/);
    expect(steps.map((s) => [s.epoch, s.stepInEpoch, s.step])).toEqual([[0, 1, 1], [0, 2, 2], [0, 3, 3], [1, 1, 4], [1, 2, 5], [1, 3, 6]]);
    expect(steps[0]).toMatchObject({ epochs: 2, stepsPerEpoch: 3, totalSteps: 6, batchSize: 8, lr: 1e-3 });
    for (const s of steps) expect(s.imagesPerSecond).toBeGreaterThan(0);
    expect(epochs).toEqual(result.history);
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    // checkpointEvery 2 (not at an epoch's last step), then each epoch end.
    expect(checkpoints).toEqual([2, 3, 4, 6]);
    const lines = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event === 'step').map((l) => l.step)).toEqual([2, 4, 6]);
    expect(lines.filter((l) => l.event === 'epoch')[1].probe).toMatchObject({ trainRows: 8, testRows: 8, initKnnAuroc: result.initialProbe!.knnAuroc });
    bb.dispose();
  });
});
