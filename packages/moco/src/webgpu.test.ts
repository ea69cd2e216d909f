import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, swiftShaderIcd, type BackendName } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import type { Backbone } from '@moco-cxr/backbones';
import { readPretrainCheckpoint } from './checkpoint';
import { createMoco, mocoStepAsync } from './moco';
import { Adam } from './optim';
import { pretrain, type PretrainOptions } from './pretrain';
import { blobImages, tinyResnet } from './test-support/fixtures';

// Training on webgpu against the cpu backend, on SwiftShader (Chromium's CPU Vulkan driver): this
// machine has no GPU, so these tests prove correctness, never speed. Shapes stay tiny.
const root = mkdtempSync(join(tmpdir(), 'moco-webgpu-'));
// Seconds of CPU each on SwiftShader; the limit leaves room for a machine busy with other work.
const SLOW = 300_000;
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(() => {
  const icd = swiftShaderIcd();
  // CI installs Debian's chromium (.ci/run); a missing driver is a failure, never a skip.
  if (!icd) throw new Error("SwiftShader's vk_swiftshader_icd.json was not found: install Debian's chromium package (apt-get install chromium) or set MOCO_CXR_SWIFTSHADER_ICD");
  process.env.VK_ICD_FILENAMES = icd;
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'moco-xdg-'));
});

/** max |a - b| / max |b|: the relative error the issue bounds by 1e-4. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

async function read(tensors: ReadonlyMap<string, tf.Tensor>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of tensors) out.set(k, Float32Array.from(await t.data()));
  return out;
}

function images(seed: number, shape: [number, number, number, number]): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape);
}

/** Loss and gradient of every trainable ResNet18 parameter for one training-mode step. */
async function resnetStep(backend: BackendName): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  await initBackend({ prefer: backend });
  const net = await tinyResnet(32, 3);
  const x = images(5, [4, 32, 32, 3]);
  const names = [...net.variables].filter(([, v]) => v.trainable).map(([n]) => n);
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.embed(x, { training: true }))) as tf.Scalar, names.map((n) => net.variables.get(n)!));
  const loss = (await value.data())[0];
  const byName = new Map(names.map((n) => [n, grads[net.variables.get(n)!.name]]));
  const out = { loss, grads: await read(byName) };
  tf.dispose([value, x, ...Object.values(grads)]);
  net.dispose();
  return out;
}

interface MocoRun {
  steps: { loss: number; top1: number; top5: number }[];
  weights: Map<string, Float32Array>;
  memory: { numTensors: number; numBytesInGPU: number }[];
}

/** Three MoCo steps (torch Adam, momentum update, queue) on a narrow ResNet18 at 16 px, batch 4. */
async function mocoRun(backend: BackendName): Promise<MocoRun> {
  await initBackend({ prefer: backend });
  const net = await tinyResnet(16, 3);
  const model = createMoco(net, { queueSize: 8, embeddingDim: 16, rng: new Rng(11) });
  const optimizer = new Adam();
  const run: MocoRun = { steps: [], weights: new Map(), memory: [] };
  for (let s = 0; s < 3; s++) {
    const q = images(100 + s, [4, 16, 16, 3]);
    const k = images(200 + s, [4, 16, 16, 3]);
    const r = await mocoStepAsync(model, [q, k], { momentum: 0.99, temperature: 0.2, optimizer, learningRate: 1e-3 });
    tf.dispose([q, k]);
    run.steps.push({ loss: r.loss, top1: r.top1, top5: r.top5 });
    const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    run.memory.push({ numTensors: m.numTensors, numBytesInGPU: m.numBytesInGPU ?? 0 });
  }
  const all = new Map<string, tf.Tensor>();
  for (const [n, v] of model.query.variables) all.set(`encoder_q.${n}`, v);
  for (const [n, v] of model.key.variables) all.set(`encoder_k.${n}`, v);
  for (const [n, v] of model.queryHead.variables) all.set(`head_q.${n}`, v);
  all.set('queue', model.queue.keys);
  run.weights = await read(all);
  const state = await optimizer.readState();
  for (const [n, slot] of state.slots) run.weights.set(`optimizer.${n}`, slot.data);
  model.dispose();
  optimizer.dispose();
  net.dispose();
  return run;
}

describe('training on webgpu (SwiftShader) matches the cpu backend', () => {
  it('reports the software adapter it was asked to use, and auto passes it over', async () => {
    const info = await initBackend({ prefer: 'webgpu' });
    expect(info.backend).toBe('webgpu');
    expect(info.adapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader', software: true });
    expect(info.warnings.join(' ')).toMatch(/software adapter/);
    const auto = await initBackend();
    expect(auto.backend).toBe('wasm');
    expect(auto.notes.join('\n')).toMatch(/webgpu: the only WebGPU adapter is a software one \(google swiftshader/);
  }, SLOW);

  it('narrow ResNet18, 32 px, batch 4, training mode: loss and every gradient within 1e-4 relative', async () => {
    const cpu = await resnetStep('cpu');
    const gpu = await resnetStep('webgpu');
    expect(relErr([gpu.loss], [cpu.loss])).toBeLessThan(1e-4);
    expect([...gpu.grads.keys()]).toEqual([...cpu.grads.keys()]);
    expect(cpu.grads.size).toBeGreaterThan(30);
    for (const [k, g] of cpu.grads) expect(relErr(gpu.grads.get(k)!, g), k).toBeLessThan(1e-4);
  }, SLOW);

  it('three MoCo steps (two Adam updates after the first): losses, weights, key encoder, queue and Adam moments within 1e-4 relative; tensors and GPU bytes do not grow', async () => {
    const cpu = await mocoRun('cpu');
    const gpu = await mocoRun('webgpu');
    gpu.steps.forEach((s, i) => {
      expect(relErr([s.loss], [cpu.steps[i].loss]), `loss at step ${i + 1}`).toBeLessThan(1e-4);
      expect([s.top1, s.top5]).toEqual([cpu.steps[i].top1, cpu.steps[i].top5]);
    });
    expect([...gpu.weights.keys()].sort()).toEqual([...cpu.weights.keys()].sort());
    for (const [k, w] of cpu.weights) expect(relErr(gpu.weights.get(k)!, w), k).toBeLessThan(1e-4);
    // Steady state from the second step on: nothing accumulates on the device or in the engine.
    expect(gpu.memory[2]).toEqual(gpu.memory[1]);
    expect(gpu.memory[1].numBytesInGPU).toBeGreaterThan(0);
  }, SLOW);
});

describe('checkpoint and resume on webgpu', () => {
  const options = (backbone: Backbone, outDir: string): PretrainOptions => ({
    backbone,
    data: blobImages(8, 16, 1),
    outDir,
    batchSize: 4,
    queueSize: 8,
    epochs: 1,
    learningRate: 1e-3,
    momentum: 0.9,
    checkpointEvery: 1000,
    seed: 7,
    monitor: false,
    export: false,
  });

  it('2 steps straight equal 1 step, stop, resume in a new backbone, 1 more: bit for bit, whole checkpoint', async () => {
    await initBackend({ prefer: 'webgpu' });
    const a = await tinyResnet(16, 3);
    const straight = await pretrain(options(a, join(root, 'straight')));
    expect(straight).toMatchObject({ status: 'completed', step: 2 });
    const b1 = await tinyResnet(16, 3);
    expect(await pretrain({ ...options(b1, join(root, 'split')), maxSteps: 1 })).toMatchObject({ status: 'stopped', step: 1 });
    b1.dispose();
    const b2 = await tinyResnet(16, 99);
    expect(await pretrain(options(b2, join(root, 'split')))).toMatchObject({ status: 'completed', step: 2 });
    const ca = await readPretrainCheckpoint(straight.checkpoint);
    const cb = await readPretrainCheckpoint(join(root, 'split', 'checkpoint.safetensors'));
    expect([...cb.tensors.keys()].sort()).toEqual([...ca.tensors.keys()].sort());
    const va = await read(ca.tensors);
    const vb = await read(cb.tensors);
    for (const [k, v] of va) expect(Buffer.from(vb.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    expect(cb.metadata.position).toEqual(ca.metadata.position);
    for (const c of [ca, cb]) c.tensors.forEach((t) => t.dispose());
    const wa = await read(a.variables);
    const wb = await read(b2.variables);
    for (const [k, v] of wa) expect(Buffer.from(wb.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    a.dispose();
    b2.dispose();
  }, SLOW);
});
