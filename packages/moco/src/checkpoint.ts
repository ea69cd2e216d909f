import { existsSync } from 'node:fs';
import { copyFile, link, readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { replaceFileAtomic } from '@moco-cxr/atomic-write';
import { convertLayout, parseSafetensors, writeSafetensors, type WeightLayout } from '@moco-cxr/backbones';
import { ensureSyncReadable, kernelsInUse, type KernelsInUse } from '@moco-cxr/compute';
import type { RngState } from '@moco-cxr/rng';
import type { MocoModel } from './moco';
import type { Optimizer, OptimizerState } from './optim';

export const CHECKPOINT_FORMAT = 'moco-cxr-pretrain';

/** Everything besides tensors that exact resume needs, stored as JSON in the file's metadata. */
export interface TrainingPosition {
  /** 0-based epoch being trained (equal to `epochs` when training finished). */
  epoch: number;
  /** Batches of `epoch` already done. */
  stepInEpoch: number;
  /** Optimiser steps done in total. */
  step: number;
  /** The current epoch's image order, or null when the next epoch has not drawn one yet. */
  order: number[] | null;
  /** Generator states: image order, and augmentation (plus shuffle-BN permutations). */
  dataRng: RngState;
  augmentRng: RngState;
  /** Running sums of the current epoch's step metrics, so a resumed epoch reports the same means. */
  epochSums: { loss: number; top1: number; top5: number; steps: number };
  /** Online-monitor scores at initialisation (epoch 0), for every later comparison (older checkpoints hold the two AUROCs only). */
  initialProbe: { linearAuroc: number; knnAuroc: number; trainRows?: number; testRows?: number } | null;
}

export interface CheckpointMetadata {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  backbone: string;
  position: TrainingPosition;
  queue: { size: number; dim: number; pointer: number };
  optimizer: { kind: OptimizerState['kind']; step: number; hyper: OptimizerState['hyper'] };
  /** The run's resolved configuration (also in config.json). */
  config: Record<string, unknown>;
  /** The kernels that computed the run (backend, kernel set, native instruction set): resuming on others changes its bits. */
  kernels?: KernelsInUse;
  /** CRC-32 of the file's data section: flipped bytes are caught on resume instead of trained on. */
  dataCrc32?: number;
}

/** Where the checkpoint replaced by the latest write is kept, to fall back to if the latest is damaged. */
export function previousCheckpointPath(path: string): string {
  return path.replace(/(\.safetensors)?$/, '.prev.safetensors');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp files (`.<name>.<pid>.*.tmp`) that a killed writer left next to `path`; a live writer's are kept. */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const base of [basename(path), basename(previousCheckpointPath(path))]) {
    const head = `.${base}.`;
    for (const name of names) {
      if (!name.startsWith(head) || !name.endsWith('.tmp')) continue;
      const pid = Number(name.slice(head.length).split('.')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) continue;
      if (pid === process.pid) continue;
      await rm(join(dir, name), { force: true });
      removed.push(join(dir, name));
    }
  }
  return removed;
}

/** Keeps the current checkpoint as the previous one (hard link, or copy where links are refused), atomically. */
async function keepPrevious(path: string): Promise<void> {
  if (!existsSync(path)) return;
  await replaceFileAtomic(previousCheckpointPath(path), async (tmp) => {
    try {
      await link(path, tmp);
    } catch {
      await copyFile(path, tmp);
    }
  });
}

/**
 * Writes the full MoCo state atomically as one .safetensors file: `encoder_q.*` and
 * `encoder_k.*` (torchvision names, tfjs layout, BatchNorm buffers included), `head_q.*`,
 * `head_k.*`, `queue`, `optimizer.<param>|<slot>`, and the JSON metadata above. Because the
 * query encoder is under `encoder_q.`, `createBackbone(name, {weights: file})` loads it directly.
 */
export async function writePretrainCheckpoint(path: string, model: MocoModel, optimizer: Optimizer, position: TrainingPosition, config: Record<string, unknown>): Promise<void> {
  const tensors = new Map<string, tf.Tensor>();
  for (const [n, v] of model.query.variables) tensors.set(`encoder_q.${n}`, v);
  for (const [n, v] of model.key.variables) tensors.set(`encoder_k.${n}`, v);
  for (const [n, v] of model.queryHead.variables) tensors.set(`head_q.${n}`, v);
  for (const [n, v] of model.keyHead.variables) tensors.set(`head_k.${n}`, v);
  tensors.set('queue', model.queue.keys);
  const opt = await optimizer.readState();
  const owned: tf.Tensor[] = [];
  for (const [key, { shape, data }] of opt.slots) {
    const t = tf.tensor(data, shape, 'float32');
    owned.push(t);
    tensors.set(`optimizer.${key}`, t);
  }
  const meta: CheckpointMetadata = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    backbone: model.query.name,
    position,
    queue: { size: model.queue.size, dim: model.queue.dim, pointer: model.queue.pointer },
    optimizer: { kind: opt.kind, step: opt.step, hyper: opt.hyper },
    config,
    kernels: kernelsInUse(),
  };
  try {
    await ensureSyncReadable(tensors.values());
    // The CRC covers the data section in file order (the map's order), the bytes the reader checks.
    let crc = 0;
    for (const t of tensors.values()) {
      const data = t.dataSync();
      crc = crc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), crc);
    }
    meta.dataCrc32 = crc;
    await removeStaleTempFiles(path);
    // The previous checkpoint stays until the new one is complete, and after it as the fallback.
    await keepPrevious(path);
    await writeSafetensors(path, tensors, { format: 'pt', layout: 'tfjs', backbone: model.query.name, moco: JSON.stringify(meta) });
  } finally {
    owned.forEach((t) => t.dispose());
  }
}

export interface PretrainCheckpoint {
  metadata: CheckpointMetadata;
  /** Tensors by their file name (`encoder_q.conv1.weight`, `queue`, ...); the caller disposes them. */
  tensors: Map<string, tf.Tensor>;
}

/** Reads a checkpoint written by `writePretrainCheckpoint`; errors name the file and what is wrong. */
export async function readPretrainCheckpoint(path: string): Promise<PretrainCheckpoint> {
  const bytes = new Uint8Array(await readFile(path));
  const { tensors, metadata } = parseSafetensors(bytes, path);
  if (metadata.moco === undefined) {
    tensors.forEach((t) => t.dispose());
    throw new Error(`${path}: not a MoCo pretraining checkpoint (no 'moco' metadata in the safetensors header)`);
  }
  const meta = JSON.parse(metadata.moco) as CheckpointMetadata;
  if (meta.format !== CHECKPOINT_FORMAT || meta.version !== 1) {
    tensors.forEach((t) => t.dispose());
    throw new Error(`${path}: checkpoint format ${meta.format} v${meta.version}, expected ${CHECKPOINT_FORMAT} v1`);
  }
  if (meta.dataCrc32 !== undefined) {
    const dataStart = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    if (crc32(bytes.subarray(dataStart)) !== meta.dataCrc32) {
      tensors.forEach((t) => t.dispose());
      throw new Error(`${path}: checkpoint data is damaged (CRC-32 mismatch)`);
    }
  }
  return { metadata: meta, tensors };
}

export interface LatestCheckpoint {
  checkpoint: PretrainCheckpoint;
  /** The file it came from: `path`, or the previous checkpoint when `path` was missing or damaged. */
  path: string;
  /** Set when the previous checkpoint was used: what was wrong with the latest one. */
  fallback?: string;
}

/**
 * Reads the checkpoint at `path`, falling back to the previous one (see `previousCheckpointPath`) when
 * it is missing or damaged. Undefined when neither exists; when both are unusable the error says what to do.
 */
export async function readLatestPretrainCheckpoint(path: string): Promise<LatestCheckpoint | undefined> {
  const prev = previousCheckpointPath(path);
  if (!existsSync(path) && !existsSync(prev)) return undefined;
  let latestError = `${path} does not exist`;
  if (existsSync(path)) {
    try {
      return { checkpoint: await readPretrainCheckpoint(path), path };
    } catch (err) {
      latestError = (err as Error).message;
    }
  }
  if (!existsSync(prev)) {
    throw new Error(`${latestError}; there is no previous checkpoint to fall back to. Delete ${path} to start this run over (or resume: false / another outDir)`);
  }
  try {
    return { checkpoint: await readPretrainCheckpoint(prev), path: prev, fallback: latestError };
  } catch (err) {
    throw new Error(`${latestError}; the previous checkpoint is unusable too (${(err as Error).message}). Delete ${path} and ${prev} to start this run over (or resume: false / another outDir)`);
  }
}

/** Tensors under `prefix` with the prefix removed (not copied: same tensors). */
export function withPrefix(tensors: ReadonlyMap<string, tf.Tensor>, prefix: string): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [k, t] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
  return out;
}

/** Restores model, optimiser and queue from a loaded checkpoint (strict: every name must match). */
export function restorePretrainCheckpoint(loaded: PretrainCheckpoint, model: MocoModel, optimizer: Optimizer, where: string): void {
  const { tensors, metadata } = loaded;
  if (metadata.backbone !== model.query.name) throw new Error(`${where}: checkpoint holds a ${metadata.backbone}, this run trains a ${model.query.name}`);
  model.query.loadStateDict(withPrefix(tensors, 'encoder_q.'), { layout: 'tfjs', strict: true });
  model.key.loadStateDict(withPrefix(tensors, 'encoder_k.'), { layout: 'tfjs', strict: true });
  model.queryHead.loadStateDict(withPrefix(tensors, 'head_q.'), { layout: 'tfjs', strict: true });
  model.keyHead.loadStateDict(withPrefix(tensors, 'head_k.'), { layout: 'tfjs', strict: true });
  const queue = tensors.get('queue');
  if (queue === undefined) throw new Error(`${where}: checkpoint has no 'queue' tensor`);
  if (queue.shape[0] !== model.queue.size || queue.shape[1] !== model.queue.dim) {
    throw new Error(`${where}: checkpoint queue is [${queue.shape.join(', ')}], this run's is [${model.queue.size}, ${model.queue.dim}]`);
  }
  model.queue.loadState({ size: model.queue.size, dim: model.queue.dim, pointer: metadata.queue.pointer, data: queue.dataSync() as Float32Array });
  const slots = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [k, t] of withPrefix(tensors, 'optimizer.')) slots.set(k, { shape: [...t.shape], data: t.dataSync() as Float32Array });
  optimizer.loadState({ kind: metadata.optimizer.kind, step: metadata.optimizer.step, hyper: metadata.optimizer.hyper, slots });
}

export interface ExportOptions {
  /** 'tfjs' (HWIO, exact as trained) or 'torch' (OIHW: a torchvision state_dict). Default 'torch'. */
  layout?: WeightLayout;
}

/**
 * Writes the query backbone of a pretraining checkpoint as a clean backbone file: torchvision
 * names without `encoder_q.`, no head, no key encoder, no queue. `createBackbone(name, {weights})`
 * loads it directly in either layout; the 'torch' layout loads into torchvision with strict=True.
 */
export async function exportBackbone(checkpointPath: string, outPath: string, options: ExportOptions = {}): Promise<void> {
  const layout = options.layout ?? 'torch';
  const loaded = await readPretrainCheckpoint(checkpointPath);
  const out = new Map<string, tf.Tensor>();
  try {
    for (const [k, t] of withPrefix(loaded.tensors, 'encoder_q.')) out.set(k, convertLayout(t, 'tfjs', layout));
    if (out.size === 0) throw new Error(`${checkpointPath}: no 'encoder_q.' tensors to export`);
    await writeSafetensors(outPath, out, { format: 'pt', layout, backbone: loaded.metadata.backbone, source: 'moco-cxr pretraining', step: String(loaded.metadata.position.step) });
  } finally {
    out.forEach((t) => t.dispose());
    loaded.tensors.forEach((t) => t.dispose());
  }
}
