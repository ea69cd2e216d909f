import { createBackbone, type Backbone } from '@moco-cxr/backbones';
import { pairedBootstrap } from '@moco-cxr/bootstrap';
import { mocoCxrAugment, twoViews } from '@moco-cxr/cxr-augment';
import { sampleFraction, selectTasks, splitByPatient, subsetImages, syntheticCxr, type ImageSet } from '@moco-cxr/cxr-data';
import { createMoco, createOptimizer, learningRate, MOCO_CXR_DEFAULTS, mocoStepAsync, OnlineMonitor } from '@moco-cxr/moco';
import { embedImages, linearProtocol, scoreFeatures } from '@moco-cxr/protocols';
import { Rng } from '@moco-cxr/rng';
import type { DemoSchedule } from './schedule';

/** One finished pretraining epoch (epoch 0: the network at initialisation, probe only). */
export interface DemoEpoch {
  epoch: number;
  loss?: number;
  top1?: number;
  knnAuroc: number;
  linearAuroc: number;
  seconds: number;
}

/** One row of the MoCo-vs-random table: a label fraction, test AUROC of each (mean over draws) with the paired bootstrap CI of their difference. */
export interface DemoComparison {
  fraction: number;
  draws: number;
  trainImages: number[];
  moco: { estimate: number; lower: number; upper: number; perDraw: number[] };
  random: { estimate: number; lower: number; upper: number; perDraw: number[] };
  difference: { estimate: number; lower: number; upper: number };
  pValue: number;
  replicates: number;
}

export interface DemoResult {
  schedule: DemoSchedule;
  images: { train: number; val: number; test: number };
  epochs: DemoEpoch[];
  comparisons: DemoComparison[];
  seconds: number;
}

export interface DemoCallbacks {
  /** Each training step: for a progress bar. */
  onStep?: (info: { epoch: number; step: number; totalSteps: number; loss: number }) => void;
  onEpoch?: (epoch: DemoEpoch) => void;
  /** What runs now ("embedding test images with MoCo weights"). */
  onPhase?: (message: string) => void;
  onComparison?: (row: DemoComparison) => void;
  signal?: AbortSignal;
}

const TASK = 'Effusion';

/**
 * The runner's demo, computed in this tab: synthetic radiographs, MoCo pretraining of a small
 * ResNet18 on train + val images with the online probe each epoch, frozen features of MoCo and of
 * random init, the linear protocol per label-fraction draw, and the paired bootstrap of their test
 * AUROCs. The loop is moco's pretrain() without its run directory (a tab has no file system): same
 * seeded streams, views and steps. Runs on whichever tfjs backend is active.
 */
export async function runDemo(s: DemoSchedule, cb: DemoCallbacks = {}): Promise<DemoResult> {
  const started = performance.now();
  const say = (m: string) => cb.onPhase?.(m);
  const checkAbort = () => {
    if (cb.signal?.aborted) throw new DOMException('the demo was stopped', 'AbortError');
  };

  // Data, as the runner's prepareData does for data.source synthetic.
  say(`making ${s.train + s.test} synthetic radiographs at ${s.imageSize} px`);
  const synth = syntheticCxr({ count: s.train + s.test, size: s.imageSize, seed: s.seed, findings: { effusion: s.prevalence, nodule: 0.3 }, exposure: s.exposure });
  const dataset = selectTasks(synth.dataset, [TASK]);
  // Patients hold several images: split by patient so no patient is in two splits.
  const parts = splitByPatient(dataset, { sizes: { train: s.train, test: s.test }, seed: s.seed, stratify: [TASK] });
  const carved = splitByPatient(dataset, { fractions: { train: 1 - s.valFraction, val: s.valFraction }, seed: s.seed, indices: parts.train, stratify: [TASK] });
  const split = { train: carved.train, val: carved.val, test: parts.test };
  const labelOf = (i: number) => dataset.labels[i];
  const pretrainRows = [...split.train, ...split.val];
  const pretrainImages = subsetImages(synth.images, pretrainRows);

  const backboneOptions = { inputShape: [s.imageSize, s.imageSize, 3] as [number, number, number], widths: s.widths, stemWidth: s.stemWidth, ...(s.blocks ? { blocks: s.blocks } : {}), seed: s.seed };
  const epochs: DemoEpoch[] = [];
  const mocoBackbone = await createBackbone('resnet18', backboneOptions);
  let randomBackbone: Backbone | undefined;
  try {
    await pretrainInTab(s, mocoBackbone, pretrainImages, pretrainRows.map(labelOf), epochs, cb);
    checkAbort();

    // Frozen features of every split under both initialisations (random init from the same seed).
    randomBackbone = await createBackbone('resnet18', backboneOptions);
    const features: Record<'moco' | 'random', Record<'train' | 'val' | 'test', Float32Array>> = { moco: {} as never, random: {} as never };
    for (const [init, net] of [['moco', mocoBackbone], ['random', randomBackbone]] as const) {
      for (const name of ['train', 'val', 'test'] as const) {
        say(`embedding the ${name} images with ${init === 'moco' ? 'MoCo' : 'random-init'} weights`);
        features[init][name] = await embedImages(net, synth.images, split[name], { batchSize: 64 });
        checkAbort();
      }
    }

    const d = mocoBackbone.featureDim;
    const position = new Map(split.train.map((row, i) => [row, i]));
    const testLabels = split.test.map(labelOf);
    const comparisons: DemoComparison[] = [];
    for (let f = 0; f < s.fractions.length; f++) {
      const fraction = s.fractions[f];
      const draws = s.draws[f];
      const drawRows = fraction >= 1 ? [split.train] : sampleFraction(dataset, fraction, { draws, seed: s.seed, by: 'patient', indices: split.train, tasks: [TASK] });
      const scores: Record<'moco' | 'random', Float64Array[]> = { moco: [], random: [] };
      for (let draw = 0; draw < drawRows.length; draw++) {
        const rows = drawRows[draw].map((r) => position.get(r)!);
        for (const init of ['moco', 'random'] as const) {
          say(`linear protocol: ${init === 'moco' ? 'MoCo' : 'random init'}, ${Math.round(fraction * 100)}% of the labels, draw ${draw + 1} of ${drawRows.length}`);
          // Yield to the page between protocol runs: they are plain JavaScript loops.
          await new Promise((r) => setTimeout(r, 0));
          const r = linearProtocol({
            trainFeatures: pickRows(features[init].train, d, rows),
            trainLabels: rows.map((i) => [labelOf(split.train[i])]),
            valFeatures: features[init].val,
            valLabels: split.val.map((i) => [labelOf(i)]),
            featureDim: d,
            fraction,
            epochs: s.linearEpochs,
            lr: s.linearLr,
            seed: s.seed + draw,
          });
          scores[init].push(scoreFeatures(r.head, features[init].test));
          checkAbort();
        }
      }
      const b = pairedBootstrap(testLabels, scores.moco, scores.random, { replicates: s.replicates, seed: s.seed });
      const row: DemoComparison = {
        fraction,
        draws: drawRows.length,
        trainImages: drawRows.map((r) => r.length),
        moco: { estimate: b.a.estimate, lower: b.a.lower, upper: b.a.upper, perDraw: b.a.perDraw },
        random: { estimate: b.b.estimate, lower: b.b.lower, upper: b.b.upper, perDraw: b.b.perDraw },
        difference: b.difference,
        pValue: b.pValue,
        replicates: b.replicates,
      };
      comparisons.push(row);
      cb.onComparison?.(row);
    }
    return { schedule: s, images: { train: split.train.length, val: split.val.length, test: split.test.length }, epochs, comparisons, seconds: (performance.now() - started) / 1000 };
  } finally {
    mocoBackbone.dispose();
    randomBackbone?.dispose();
  }
}

/** moco's pretrain() loop held in memory: the root seed forks init, data order and augmentation streams as it does. */
async function pretrainInTab(s: DemoSchedule, backbone: Backbone, data: ImageSet, labels: number[], epochs: DemoEpoch[], cb: DemoCallbacks): Promise<void> {
  const d = MOCO_CXR_DEFAULTS;
  const rootRng = new Rng(s.seed);
  const initRng = rootRng.fork();
  const dataRng = rootRng.fork();
  const augmentRng = rootRng.fork();
  const model = createMoco(backbone, { head: d.head, embeddingDim: d.embeddingDim, queueSize: s.queueSize, rng: initRng });
  const optimizer = createOptimizer(d.optimizer, { beta1: d.betas[0], beta2: d.betas[1], momentum: d.sgdMomentum, weightDecay: d.weightDecay });
  // The monitor's probe: a fixed, seeded sample of the pretraining images; labels serve only this diagnostic.
  const probeRows = new Rng(s.seed)
    .shuffle(Array.from({ length: data.count }, (_, i) => i))
    .slice(0, s.probeSize);
  const monitor = new OnlineMonitor({ probe: { images: subsetImages(data, probeRows), labels: probeRows.map((i) => labels[i]) }, knnK: s.knnK, seed: s.seed });
  const augment = mocoCxrAugment;
  const stepsPerEpoch = Math.floor(data.count / s.batchSize);
  const totalSteps = stepsPerEpoch * s.epochs;
  try {
    cb.onPhase?.('probing the network at initialisation');
    let t0 = performance.now();
    const init = await monitor.evaluateAsync(model.query);
    const first: DemoEpoch = { epoch: 0, knnAuroc: init.knnAuroc, linearAuroc: init.linearAuroc, seconds: (performance.now() - t0) / 1000 };
    epochs.push(first);
    cb.onEpoch?.(first);
    let step = 0;
    for (let epoch = 0; epoch < s.epochs; epoch++) {
      cb.onPhase?.(`MoCo pretraining: epoch ${epoch + 1} of ${s.epochs}`);
      t0 = performance.now();
      const order = dataRng.shuffle(Array.from({ length: data.count }, (_, i) => i));
      const lr = learningRate(s.lr, { kind: 'constant' }, epoch);
      let loss = 0;
      let top1 = 0;
      for (let b = 0; b < stepsPerEpoch; b++) {
        if (cb.signal?.aborted) throw new DOMException('the demo was stopped', 'AbortError');
        const pixels = data.read(order.slice(b * s.batchSize, (b + 1) * s.batchSize));
        const views = twoViews({ pixels, count: s.batchSize, height: data.height, width: data.width }, augment, augmentRng);
        let r;
        try {
          r = await mocoStepAsync(model, views, { momentum: s.momentum, temperature: d.temperature, optimizer, learningRate: lr, keyBatchNorm: { mode: 'batch' }, rng: augmentRng, beforeUpdate: (l) => Number.isFinite(l) });
        } finally {
          views.forEach((v) => v.dispose());
        }
        if (!r.updated) throw new Error(`MoCo pretraining: the loss is ${r.loss} at epoch ${epoch + 1}, step ${b + 1}; the update was not applied (lower the learning rate)`);
        loss += r.loss;
        top1 += r.top1;
        step += 1;
        cb.onStep?.({ epoch, step, totalSteps, loss: r.loss });
        // Let the page paint and take input between steps.
        await new Promise((r) => setTimeout(r, 0));
      }
      const probe = await monitor.evaluateAsync(model.query);
      const record: DemoEpoch = { epoch: epoch + 1, loss: loss / stepsPerEpoch, top1: top1 / stepsPerEpoch, knnAuroc: probe.knnAuroc, linearAuroc: probe.linearAuroc, seconds: (performance.now() - t0) / 1000 };
      epochs.push(record);
      cb.onEpoch?.(record);
    }
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}

function pickRows(features: Float32Array, d: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(features.subarray(r * d, (r + 1) * d), i * d));
  return out;
}
