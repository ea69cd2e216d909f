import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  embedImages,
  epochsForFraction,
  PAPER_MAX_EPOCHS,
  PROTOCOL_DEFAULTS,
  finetuneProtocol,
  linearHeadToJson,
  linearProtocol,
  logisticProtocol,
  saveFinetuneCheckpoint,
  scoreFeatures,
  type LinearHead,
} from '@moco-cxr/protocols';
import type { ProtocolConfig } from '../config';
import { labelFractionDraws, prepareData, type PreparedData, type SplitName } from '../data';
import type { CellResults } from '../experiment-report';
import { featuresDirOf, type JobSpec } from '../grid';
import { formatSeconds, Progress, type Io } from '../progress';
import { readJson, writeJsonAtomic, type RunDir } from '../rundir';
import { makeBackbone, weightsFor } from './backbone';
import { readFeatures, rows } from './features';
import { range, writeScores } from './scores';

// One cell of the grid: the linear, logistic or end-to-end protocol on one label-fraction draw.

/**
 * The protocol's epochs: the paper's formula (capped by maxEpochs when set) or a fixed count. The formula
 * stops at PAPER_MAX_EPOCHS (its value at 0.1%): below that it has no bound (1e-9 -> 5,000,000); the plan says so.
 */
export function protocolEpochs(p: ProtocolConfig, fraction: number): number {
  const paper = p.epochs === 'paper' ? Math.min(epochsForFraction(fraction), PAPER_MAX_EPOCHS) : p.epochs;
  return p.maxEpochs > 0 ? Math.min(paper, p.maxEpochs) : paper;
}

/** The rows (positions in the train split) of one label-fraction draw, sampled by patient (fraction 1: every row). */
export function drawRows(data: PreparedData, fraction: number, draws: number, draw: number, seed: number): number[] {
  // Every draw holds a positive and a negative of every task (an error says so when none can; `experiment` checks it when planning).
  const chosen = labelFractionDraws(data.dataset, data.train.indices, fraction, draws, seed)[draw];
  if (!chosen) throw new Error(`draw ${draw} does not exist: fraction ${fraction} has ${draws} draws (0-based)`);
  return chosen;
}

function protocolProgress(io: Io, label: string) {
  let bar: Progress | undefined;
  return (p: { phase: string; step: number; steps: number; loss?: number; valAuroc?: number; bestValAuroc?: number; epoch: number }) => {
    bar ??= new Progress(io, label, p.steps, 'step');
    const info: Record<string, number> = { epoch: Math.floor(p.epoch) };
    if (p.loss !== undefined && Number.isFinite(p.loss)) info.loss = p.loss;
    if (p.bestValAuroc !== undefined && Number.isFinite(p.bestValAuroc)) info['best val AUROC'] = p.bestValAuroc;
    bar.set(p.step, info);
  };
}

/** The label rows (K values each) of some rows of an N x K matrix. */
function labelRows(labels: Float32Array, K: number, rows: number[]): number[][] {
  return rows.map((i) => Array.from(labels.subarray(i * K, (i + 1) * K)));
}

/** One cell: a protocol on one label-fraction draw from one initialisation, scored on the test split. */
export async function runCellJob(spec: JobSpec, experimentDir: string, run: RunDir, io: Io, weightsOverride?: string): Promise<CellResults> {
  const cfg = spec.config;
  const started = Date.now();
  const protocol = spec.protocol!;
  const init = spec.init!;
  const fraction = spec.fraction!;
  const data = await prepareData(cfg, io, experimentDir);
  const trainRows = drawRows(data, fraction, spec.draws ?? 1, spec.draw ?? 0, spec.drawSeed ?? cfg.seed);
  const pc = protocol === 'finetune' ? cfg.finetune : cfg.linear;
  // The logistic probe is fitted to convergence: it has no epochs.
  const epochs = protocol === 'logistic' ? 0 : protocolEpochs(pc, fraction);
  const evalEvery = pc.evalEvery === 'paper' ? undefined : pc.evalEvery;
  const label = `${spec.id} (${trainRows.length} images${epochs ? `, ${epochs} epochs` : ''})`;
  let valAuroc: number;
  let testScores: Float64Array;
  let steps: number;
  let history: unknown;
  if (protocol === 'linear' || protocol === 'logistic') {
    const fdir = join(experimentDir, featuresDirOf(cfg, init, spec.seed));
    // jobs/execute.ts embeds them first when they are missing (a standalone `linear` run).
    const meta = readJson<{ featureDim: number; counts: Record<SplitName, number> }>(join(fdir, 'results.json'));
    const d = meta.featureDim;
    const train = readFeatures(fdir, 'train', d, data.train.images.count);
    const val = readFeatures(fdir, 'val', d, data.val.images.count);
    const test = readFeatures(fdir, 'test', d, data.test.images.count);
    const K = data.tasks.length;
    const common = { trainFeatures: rows(train, d, trainRows), trainLabels: labelRows(data.train.labels, K, trainRows), valFeatures: val, valLabels: labelRows(data.val.labels, K, range(data.val.images.count)), featureDim: d };
    let head: LinearHead;
    if (protocol === 'logistic') {
      if (!io.quiet) io.err(`  ${label}: logistic regression, l2 in ${JSON.stringify(cfg.logistic.l2)}\n`);
      const r = logisticProtocol({ ...common, l2: cfg.logistic.l2 });
      ({ head, valAuroc } = r);
      steps = r.candidates.reduce((a, c) => a + c.iterations, 0);
      history = { l2: r.l2, candidates: r.candidates, perTask: Object.fromEntries(data.tasks.map((t, k) => [t, r.perTask[k]])) };
    } else {
      const r = linearProtocol({
        ...common,
        fraction,
        epochs,
        ...(evalEvery ? { evalEvery } : {}),
        lr: pc.lr,
        batchSize: pc.batchSize,
        seed: spec.seed + (spec.draw ?? 0),
        onProgress: protocolProgress(io, label),
      });
      ({ head } = r);
      valAuroc = r.bestValAuroc;
      steps = r.steps;
      history = r.history;
    }
    testScores = scoreFeatures(head, test);
    writeJsonAtomic(run.path('head.json'), { init, features: relative(run.dir, fdir), ...linearHeadToJson(head) });
  } else {
    const weights = weightsFor(init, cfg, experimentDir, weightsOverride, spec.seed);
    const backbone = await makeBackbone(cfg, weights, spec.seed);
    try {
      const r = await finetuneProtocol({
        backbone,
        trainImages: data.train.images,
        trainLabels: Array.from(data.train.labels),
        trainIndices: trainRows,
        valImages: data.val.images,
        valLabels: Array.from(data.val.labels),
        fraction,
        epochs,
        ...(evalEvery ? { evalEvery } : {}),
        lr: pc.lr,
        batchSize: pc.batchSize,
        augment: PROTOCOL_DEFAULTS.finetuneAugment,
        seed: spec.seed + (spec.draw ?? 0),
        checkpointPath: run.path('checkpoint.safetensors'),
        onProgress: protocolProgress(io, label),
      });
      valAuroc = r.bestValAuroc;
      steps = r.steps;
      history = r.history;
      const test = await embedImages(backbone, data.test.images, range(data.test.images.count), { batchSize: 64 });
      testScores = scoreFeatures(r.head, test);
      if (!existsSync(run.path('checkpoint.safetensors'))) await saveFinetuneCheckpoint(run.path('checkpoint.safetensors'), backbone, r.head);
    } finally {
      backbone.dispose();
    }
  }
  const scored = await writeScores(run, data.test, testScores, data.tasks);
  writeJsonAtomic(run.path('history.json'), history);
  const seconds = (Date.now() - started) / 1000;
  run.metric({ event: 'cell', id: spec.id, valAuroc, testAuroc: scored.auroc, steps, seconds });
  if (!io.quiet) io.err(`  ${spec.id}: val AUROC ${valAuroc.toFixed(3)}, test AUROC ${scored.auroc.toFixed(3)} (${scored.rows} ${scored.level === 'study' ? 'studies' : 'images'}), ${formatSeconds(seconds)}\n`);
  return {
    id: spec.id,
    protocol,
    init,
    fraction,
    draw: spec.draw ?? 0,
    trainImages: trainRows.length,
    valAuroc,
    testAuroc: scored.auroc,
    ...(data.tasks.length > 1 ? { testAurocPerTask: scored.perTask } : {}),
    tasks: data.tasks,
    testLevel: scored.level,
    epochs,
    seconds,
  };
}

