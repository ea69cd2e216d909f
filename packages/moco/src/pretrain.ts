import { MOCO_CXR_DEFAULTS } from './defaults';
import * as tf from '@tensorflow/tfjs-core';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeKernels, kernelsInUse, type KernelsInUse } from '@moco-cxr/compute';
import { writeFileAtomic } from '@moco-cxr/atomic-write';
import { Rng } from '@moco-cxr/rng';
import { saveBackbone } from '@moco-cxr/backbones';
import { mocoCxrCropAugment, twoViews, type AugmentOptions } from '@moco-cxr/cxr-augment';
import type { ImageSet } from '@moco-cxr/cxr-data';
import { readLatestPretrainCheckpoint, restorePretrainCheckpoint, writePretrainCheckpoint, type TrainingPosition } from './checkpoint';
import type { HeadKind } from './heads';
import { createMoco, mocoStepAsync, type MocoBackbone, type MocoModel } from './moco';
import { OnlineMonitor, type MonitorOptions, type ProbeScores } from './monitor';
import { createOptimizer, type Optimizer } from './optim';
import { learningRate, type LrSchedule } from './schedule';
import type { KeyBatchNorm } from './split-bn';

export { MOCO_CXR_DEFAULTS } from './defaults';


export interface PretrainOptions {
  /** The query encoder, trained in place (its key copy is made inside): a `createBackbone` network or any `MocoBackbone`. */
  backbone: MocoBackbone;
  /** Unlabelled images, of the size the augmentation turns into the backbone's input. */
  data: ImageSet;
  /** Run directory: config.json, metrics.jsonl, checkpoint.safetensors, exported backbones. */
  outDir: string;
  /** Queue size K. Default 24576, capped to the largest multiple of the batch not above the dataset size. */
  queueSize?: number;
  momentum?: number;
  temperature?: number;
  head?: HeadKind;
  embeddingDim?: number;
  optimizer?: 'adam' | 'sgd';
  /** Default 1e-4 when `imagenetInit`, else 5e-4 (the paper's x5 without ImageNet init). */
  learningRate?: number;
  /** Whether the backbone starts from ImageNet weights (only chooses the default learning rate). Default false. */
  imagenetInit?: boolean;
  weightDecay?: number;
  betas?: [number, number];
  sgdMomentum?: number;
  batchSize?: number;
  epochs?: number;
  schedule?: LrSchedule;
  /** Augmentation of both views; default cxr-augment's `mocoCxrCropAugment` at the backbone's input size (resize by 9/8, random crop, flip, +-10 deg rotation, CXR normalisation). */
  augment?: AugmentOptions;
  /** Single-device BatchNorm handling of the key batch; default `{mode: 'batch'}` (the paper). */
  keyBatchNorm?: KeyBatchNorm;
  seed?: number;
  /** Write a checkpoint every this many steps (and at each epoch end). Default 500. */
  checkpointEvery?: number;
  /** Stop (with a checkpoint) once this many steps are done in total; the run can be resumed later. */
  maxSteps?: number;
  /** Stop (with a checkpoint) once this call has run this many seconds: time-boxed sessions that resume later. */
  maxSeconds?: number;
  /** Continue from outDir/checkpoint.safetensors when it exists. Default true. */
  resume?: boolean;
  /** Online probe monitor; false (default when not given) turns it off. */
  monitor?: MonitorOptions | false;
  /** metrics.jsonl step records every this many steps. Default 50. */
  logEvery?: number;
  /** Write the clean backbone exports when training completes. Default true. */
  export?: boolean;
  /**
   * Stops the run between two steps: a checkpoint is written (resuming continues exactly), then
   * pretrain() rejects with a `PretrainAbortError` (name 'AbortError'). pretrain() never handles
   * process signals itself; a CLI wires Ctrl-C to an AbortController.
   */
  signal?: AbortSignal;
  /** Called after every step (after the update and any checkpoint of that step): progress, memory watch. */
  onStep?: (info: StepInfo) => void;
  /** Called at every epoch end with the record also appended to metrics.jsonl. */
  onEpoch?: (record: EpochRecord) => void;
  /** Called after every checkpoint write. */
  onCheckpoint?: (info: CheckpointInfo) => void;
  /** Human-readable notes: resuming, the probe at initialisation, stop, export. pretrain() prints nothing itself. */
  onLog?: (message: string) => void;
  /** What the user must be told: a resume on other kernels than the checkpoint's (the result will not match an uninterrupted run's bits). */
  onWarning?: (message: string) => void;
}

export interface StepInfo {
  /** The epoch this step belongs to, counted from 0 (EpochRecord.epoch counts finished epochs from 1). */
  epoch: number;
  epochs: number;
  /** Steps done in this epoch, this one included. */
  stepInEpoch: number;
  stepsPerEpoch: number;
  /** Steps done in all, this one included (counting earlier calls of a resumed run). */
  step: number;
  totalSteps: number;
  batchSize: number;
  loss: number;
  top1: number;
  top5: number;
  lr: number;
  /** Images per second of the training steps of this epoch so far in this call (monitor and checkpoints left out). */
  imagesPerSecond: number;
  model: MocoModel;
}

export interface CheckpointInfo {
  path: string;
  step: number;
  /** Finished epochs at the time of the checkpoint. */
  epoch: number;
}

export interface EpochRecord {
  event: 'epoch';
  epoch: number;
  step: number;
  loss: number;
  top1: number;
  top5: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
  probe?: ProbeScores & { initLinearAuroc: number; initKnnAuroc: number };
}

export interface PretrainResult {
  /** completed: all epochs; stopped: maxSteps or maxSeconds reached (an abort rejects with PretrainAbortError instead). */
  status: 'completed' | 'stopped';
  epoch: number;
  step: number;
  checkpoint: string;
  /** Clean backbone files (tfjs layout for createBackbone, torch layout for PyTorch) when completed. */
  exports?: { backbone: string; torchvision: string };
  config: Record<string, unknown>;
  /** Epoch records of this call (metrics.jsonl holds every call's). */
  history: EpochRecord[];
  /** Online-monitor scores at initialisation. */
  initialProbe: ProbeScores | { linearAuroc: number; knnAuroc: number } | null;
}

/** Thrown when the loss is NaN or infinite; the weights of that step are not applied. */
export class NonFiniteLossError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly loss: number,
  ) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

/**
 * Thrown when `signal` aborts the run. The checkpoint of the last finished step is written first,
 * so running again with the same outDir resumes exactly. `cause` is the signal's reason.
 */
export class PretrainAbortError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly checkpoint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    // The name fetch() and Node use for an aborted operation, so `err.name === 'AbortError'` checks work.
    this.name = 'AbortError';
  }
}

/** The warning for a resume on other kernels than the checkpoint's, or null when they are the same. */
function kernelsMismatch(path: string, saved: KernelsInUse | undefined, now: KernelsInUse): string | null {
  if (!saved) return `pretrain: ${path} does not record the kernels that computed it; this run uses the ${describeKernels(now)}. If they differ, the resumed run will not match an uninterrupted one bit for bit`;
  // A checkpoint from before precision was recorded ran fp32.
  const savedPrecision = saved.precision ?? 'fp32';
  if (saved.backend === now.backend && saved.kernels === now.kernels && saved.nativeIsa === now.nativeIsa && savedPrecision === (now.precision ?? 'fp32')) return null;
  const native = `MOCO_CXR_KERNELS=native MOCO_CXR_NATIVE_ISA=${saved.nativeIsa}${savedPrecision === 'bf16' ? ' MOCO_CXR_PRECISION=bf16' : ''}`;
  const pin = saved.kernels === 'native' ? native : saved.kernels === 'wasm' ? 'MOCO_CXR_KERNELS=wasm' : `the ${saved.backend} backend`;
  return `pretrain: ${path} was computed on the ${describeKernels(saved)}; this run resumes it on the ${describeKernels(now)}, so it will not match an uninterrupted run bit for bit (resume with ${pin} to keep them the same)`;
}

// Fields of the config that must match between a checkpoint and a resumed run.
const RESUME_KEYS = ['backbone', 'inputShape', 'queueSize', 'embeddingDim', 'head', 'batchSize', 'optimizer', 'dataCount', 'seed'] as const;

function resolveConfig(o: PretrainOptions) {
  const d = MOCO_CXR_DEFAULTS;
  const batchSize = o.batchSize ?? d.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 2) throw new RangeError(`pretrain: batchSize must be an integer >= 2, got ${batchSize}`);
  if (o.data.count < batchSize) throw new Error(`pretrain: the data has ${o.data.count} images, fewer than one batch of ${batchSize}`);
  const stepsPerEpoch = Math.floor(o.data.count / batchSize);
  const queueCap = stepsPerEpoch * batchSize;
  const requestedQueue = o.queueSize ?? d.queueSize;
  // The default K is capped for small datasets; an explicit K is used as given.
  const queueSize = o.queueSize === undefined ? Math.min(requestedQueue, queueCap) : requestedQueue;
  if (!Number.isInteger(queueSize) || queueSize < batchSize) throw new RangeError(`pretrain: queueSize must be an integer >= batchSize (${batchSize}), got ${queueSize}`);
  const imagenetInit = o.imagenetInit ?? false;
  const lr = o.learningRate ?? d.baseLearningRate * (imagenetInit ? 1 : d.randomInitLrFactor);
  const epochs = o.epochs ?? d.epochs;
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`pretrain: epochs must be a positive integer, got ${epochs}`);
  const momentum = o.momentum ?? d.momentum;
  const temperature = o.temperature ?? d.temperature;
  if (!(temperature > 0)) throw new RangeError(`pretrain: temperature must be > 0, got ${temperature}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new RangeError(`pretrain: momentum must be in [0, 1], got ${momentum}`);
  const monitor = o.monitor || null;
  return {
    backbone: o.backbone.name,
    featureDim: o.backbone.featureDim,
    inputShape: [...o.backbone.inputShape],
    dataCount: o.data.count,
    dataSize: [o.data.height, o.data.width],
    queueSize,
    queueSizeRequested: requestedQueue,
    momentum,
    temperature,
    head: o.head ?? d.head,
    embeddingDim: o.embeddingDim ?? d.embeddingDim,
    optimizer: o.optimizer ?? d.optimizer,
    learningRate: lr,
    imagenetInit,
    weightDecay: o.weightDecay ?? d.weightDecay,
    betas: o.betas ?? d.betas,
    sgdMomentum: o.sgdMomentum ?? d.sgdMomentum,
    batchSize,
    stepsPerEpoch,
    epochs,
    schedule: o.schedule ?? d.schedule,
    augment: o.augment ?? mocoCxrCropAugment([o.backbone.inputShape[0], o.backbone.inputShape[1]]),
    keyBatchNorm: o.keyBatchNorm ?? { mode: 'batch' },
    seed: o.seed ?? 0,
    checkpointEvery: o.checkpointEvery ?? MOCO_CXR_DEFAULTS.checkpointEvery,
    maxSteps: o.maxSteps ?? null,
    maxSeconds: o.maxSeconds ?? null,
    logEvery: o.logEvery ?? MOCO_CXR_DEFAULTS.logEvery,
    monitor: monitor
      ? {
          probeCount: monitor.probe.images.count,
          probePositives: Array.from(monitor.probe.labels).filter((v) => v === 1).length,
          everyEpochs: monitor.everyEpochs ?? 1,
          knnK: monitor.knnK ?? MOCO_CXR_DEFAULTS.knnK,
          trainFraction: monitor.trainFraction ?? 0.5,
          l2: monitor.l2 ?? 1,
          seed: monitor.seed ?? 0,
        }
      : null,
  };
}

export type PretrainConfig = ReturnType<typeof resolveConfig>;

/** The epochs metrics.jsonl already holds an epoch line for, since the run last started from scratch. */
function epochsRecorded(metricsPath: string): Set<number> {
  const epochs = new Set<number>();
  if (!existsSync(metricsPath)) return epochs;
  for (const line of readFileSync(metricsPath, 'utf8').split('\n')) {
    let rec: { event?: unknown; epoch?: unknown };
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // empty, or a line cut by a kill
    }
    if (rec?.event === 'start') epochs.clear();
    else if (rec?.event === 'epoch' && typeof rec.epoch === 'number') epochs.add(rec.epoch);
  }
  return epochs;
}

/**
 * MoCo v2 pretraining with the paper's defaults, exact resume from outDir, an online probe
 * monitor and NaN / abort safety. The given backbone is the query encoder and holds the trained
 * weights afterwards. Progress goes to the callbacks and metrics.jsonl, never to the terminal.
 */
export async function pretrain(options: PretrainOptions): Promise<PretrainResult> {
  const callStart = performance.now();
  const config = resolveConfig(options);
  const { outDir } = options;
  mkdirSync(outDir, { recursive: true });
  const checkpointPath = join(outDir, 'checkpoint.safetensors');
  const metricsPath = join(outDir, 'metrics.jsonl');
  const log = (message: string) => options.onLog?.(message);
  const record = (entry: Record<string, unknown>) => appendFileSync(metricsPath, `${JSON.stringify(entry)}\n`);

  const rootRng = new Rng(config.seed);
  const initRng = rootRng.fork();
  let dataRng = rootRng.fork();
  let augmentRng = rootRng.fork();
  const model = createMoco(options.backbone, { head: config.head, embeddingDim: config.embeddingDim, queueSize: config.queueSize, rng: initRng });
  const optimizer: Optimizer = createOptimizer(config.optimizer, {
    beta1: config.betas[0],
    beta2: config.betas[1],
    momentum: config.sgdMomentum,
    weightDecay: config.weightDecay,
  });
  const monitor = options.monitor ? new OnlineMonitor(options.monitor) : null;
  const configRecord = config as unknown as Record<string, unknown>;

  let position: TrainingPosition = {
    epoch: 0,
    stepInEpoch: 0,
    step: 0,
    order: null,
    dataRng: dataRng.state(),
    augmentRng: augmentRng.state(),
    epochSums: { loss: 0, top1: 0, top5: 0, steps: 0 },
    initialProbe: null,
  };
  let lastCheckpointStep: number | null = null;
  const { signal } = options;

  const save = async () => {
    position = { ...position, dataRng: dataRng.state(), augmentRng: augmentRng.state() };
    await writePretrainCheckpoint(checkpointPath, model, optimizer, position, configRecord);
    lastCheckpointStep = position.step;
    options.onCheckpoint?.({ path: checkpointPath, step: position.step, epoch: position.epoch });
  };
  const history: EpochRecord[] = [];
  let initialProbe: PretrainResult['initialProbe'] = null;

  try {
    const latest = (options.resume ?? true) ? await readLatestPretrainCheckpoint(checkpointPath) : undefined;
    const resume = latest !== undefined;
    // An epoch redone after a lost checkpoint (a kill while writing it, a damaged file) is recorded once.
    const recordedEpochs = resume ? epochsRecorded(metricsPath) : new Set<number>();
    if (latest) {
      const loaded = latest.checkpoint;
      if (latest.fallback) log(`${latest.fallback}; resuming from the previous checkpoint ${latest.path} instead`);
      try {
        const saved = loaded.metadata.config;
        for (const k of RESUME_KEYS) {
          if (JSON.stringify(saved[k]) !== JSON.stringify(configRecord[k])) {
            throw new Error(`pretrain: ${checkpointPath} was written with ${k} = ${JSON.stringify(saved[k])}, this run has ${JSON.stringify(configRecord[k])}; use another outDir or resume: false`);
          }
        }
        restorePretrainCheckpoint(loaded, model, optimizer, checkpointPath);
        position = loaded.metadata.position;
        dataRng = Rng.fromState(position.dataRng);
        augmentRng = Rng.fromState(position.augmentRng);
        lastCheckpointStep = position.step;
      } finally {
        loaded.tensors.forEach((t) => t.dispose());
      }
      log(`resuming ${latest.path} at epoch ${position.epoch + 1}, batch ${position.stepInEpoch}, step ${position.step}`);
      const kernelsWarning = kernelsMismatch(latest.path, loaded.metadata.kernels, kernelsInUse());
      if (kernelsWarning) options.onWarning?.(kernelsWarning);
      initialProbe = position.initialProbe;
    }
    writeFileAtomic(join(outDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    if (!resume) log(`starting: ${config.epochs} epochs of ${config.stepsPerEpoch} steps, batch ${config.batchSize}, queue K = ${config.queueSize}, learning rate ${config.learningRate}, outDir ${outDir}`);
    record({ event: resume ? 'resume' : 'start', step: position.step, epoch: position.epoch, time: new Date().toISOString(), ...(latest?.fallback ? { checkpoint: latest.path, fallback: latest.fallback } : {}) });

    if (monitor && position.initialProbe === null) {
      const scores = await monitor.evaluateAsync(model.query);
      // The whole score, so a resumed run returns what an uninterrupted one does.
      position.initialProbe = { linearAuroc: scores.linearAuroc, knnAuroc: scores.knnAuroc, trainRows: scores.trainRows, testRows: scores.testRows };
      initialProbe = scores;
      record({ event: 'probe', epoch: 0, step: position.step, ...scores });
      log(`probe at initialisation: linear AUROC ${scores.linearAuroc.toFixed(3)}, kNN AUROC ${scores.knnAuroc.toFixed(3)} (${scores.trainRows} fit / ${scores.testRows} scored)`);
    }

    const { batchSize, stepsPerEpoch, epochs } = config;
    const totalSteps = stepsPerEpoch * epochs;
    const stopAt = config.maxSteps ?? Infinity;
    const maxMs = (config.maxSeconds ?? Infinity) * 1000;
    const [h, w, c] = options.backbone.inputShape;
    let status: PretrainResult['status'] = 'completed';

    outer: while (position.epoch < epochs) {
      const epoch = position.epoch;
      if (position.order === null) {
        position.order = dataRng.shuffle(Array.from({ length: options.data.count }, (_, i) => i));
        position.epochSums = { loss: 0, top1: 0, top5: 0, steps: 0 };
      }
      const lr = learningRate(config.learningRate, config.schedule, epoch);
      const epochStart = performance.now();
      let computeSeconds = 0;
      let computeImages = 0;
      while (position.stepInEpoch < stepsPerEpoch) {
        if (signal?.aborted) {
          await save();
          record({ event: 'interrupted', step: position.step, epoch: epoch + 1 });
          throw new PretrainAbortError(`pretrain: aborted at step ${position.step} (epoch ${epoch + 1}, batch ${position.stepInEpoch}); checkpoint ${checkpointPath}; run again with the same outDir to resume`, position.step, checkpointPath, { cause: signal.reason });
        }
        if (position.step >= stopAt || performance.now() - callStart > maxMs) {
          status = 'stopped';
          break outer;
        }
        const t0 = performance.now();
        const b = position.stepInEpoch;
        const indices = position.order.slice(b * batchSize, (b + 1) * batchSize);
        const pixels = options.data.read(indices);
        const views = twoViews({ pixels, count: batchSize, height: options.data.height, width: options.data.width }, config.augment, augmentRng);
        let result;
        try {
          const shape = views[0].shape;
          if (shape[1] !== h || shape[2] !== w || shape[3] !== c) {
            throw new Error(`pretrain: augmented views are [${shape.join(', ')}] but the backbone takes [batch, ${h}, ${w}, ${c}]; set augment.size / channels or build the backbone for this size`);
          }
          result = await mocoStepAsync(model, views, {
            momentum: config.momentum,
            temperature: config.temperature,
            optimizer,
            learningRate: lr,
            keyBatchNorm: config.keyBatchNorm,
            rng: augmentRng,
            beforeUpdate: (loss) => Number.isFinite(loss),
          });
        } finally {
          views.forEach((v) => v.dispose());
        }
        const stepNumber = position.step + 1;
        if (!result.updated) {
          const kept = lastCheckpointStep === null ? 'no checkpoint was written yet' : `the last good checkpoint (step ${lastCheckpointStep}) is kept at ${checkpointPath}`;
          const message = `pretrain: loss is ${result.loss} at step ${stepNumber} (epoch ${epoch + 1}, batch ${b + 1}); stopped before applying that update; ${kept}. Lower the learning rate or check the data.`;
          record({ event: 'error', step: stepNumber, epoch: epoch + 1, loss: String(result.loss), message });
          log(message);
          throw new NonFiniteLossError(message, stepNumber, result.loss);
        }
        position.step = stepNumber;
        position.stepInEpoch += 1;
        const sums = position.epochSums;
        sums.loss += result.loss;
        sums.top1 += result.top1;
        sums.top5 += result.top5;
        sums.steps += 1;
        computeSeconds += (performance.now() - t0) / 1000;
        computeImages += batchSize;
        const imagesPerSecond = computeImages / computeSeconds;
        if (position.step % config.logEvery === 0) {
          record({ event: 'step', epoch: epoch + 1, step: position.step, loss: result.loss, top1: result.top1, top5: result.top5, lr, imagesPerSecond });
        }
        if (position.stepInEpoch < stepsPerEpoch && position.step % config.checkpointEvery === 0) await save();
        options.onStep?.({ epoch, epochs, stepInEpoch: position.stepInEpoch, stepsPerEpoch, step: position.step, totalSteps, batchSize, loss: result.loss, top1: result.top1, top5: result.top5, lr, imagesPerSecond, model });
        // Let the host's event loop run between steps (a Ctrl-C handler that aborts `signal`, timers).
        await new Promise((r) => setImmediate(r));
      }

      // Epoch end: means, monitor, checkpoint.
      const sums = position.epochSums;
      const entry: EpochRecord = {
        event: 'epoch',
        epoch: epoch + 1,
        step: position.step,
        loss: sums.loss / sums.steps,
        top1: sums.top1 / sums.steps,
        top5: sums.top5 / sums.steps,
        lr,
        seconds: (performance.now() - epochStart) / 1000,
        imagesPerSecond: computeSeconds > 0 ? computeImages / computeSeconds : NaN,
      };
      if (monitor && position.initialProbe && ((epoch + 1) % monitor.everyEpochs === 0 || epoch + 1 === epochs)) {
        const scores = await monitor.evaluateAsync(model.query);
        entry.probe = { ...scores, initLinearAuroc: position.initialProbe.linearAuroc, initKnnAuroc: position.initialProbe.knnAuroc };
      }
      history.push(entry);
      if (!recordedEpochs.has(entry.epoch)) record(entry as unknown as Record<string, unknown>);
      recordedEpochs.add(entry.epoch);
      position.epoch += 1;
      position.stepInEpoch = 0;
      position.order = null;
      await save();
      options.onEpoch?.(entry);
    }
    if (status === 'stopped') {
      await save();
      log(`stopped at step ${position.step} (maxSteps / maxSeconds); resume by running again with the same outDir`);
    }
    let exports: PretrainResult['exports'];
    if (status === 'completed' && (options.export ?? true)) {
      exports = { backbone: join(outDir, 'backbone.safetensors'), torchvision: join(outDir, 'backbone-torchvision.safetensors') };
      const meta = { source: 'moco-cxr pretraining', step: String(position.step) };
      await saveBackbone(model.query, exports.backbone, { layout: 'tfjs', metadata: meta });
      await saveBackbone(model.query, exports.torchvision, { layout: 'torch', metadata: meta });
      record({ event: 'export', step: position.step, ...exports });
      log(`exported ${exports.backbone} (createBackbone weights) and ${exports.torchvision} (torchvision state_dict)`);
    }
    return { status, epoch: position.epoch, step: position.step, checkpoint: checkpointPath, exports, config: configRecord, history, initialProbe };
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}
