import type { HeadKind } from './heads';
import type { LrSchedule } from './schedule';

/** The paper's (MoCo-CXR) pretraining settings. */
export const MOCO_CXR_DEFAULTS = Object.freeze({
  queueSize: 24576,
  momentum: 0.999,
  temperature: 0.2,
  head: 'mlp' as HeadKind,
  embeddingDim: 128,
  optimizer: 'adam' as 'adam' | 'sgd',
  /** Adam lr with ImageNet initialisation; x5 without. */
  baseLearningRate: 1e-4,
  randomInitLrFactor: 5,
  weightDecay: 1e-4,
  betas: [0.9, 0.999] as [number, number],
  sgdMomentum: 0.9,
  batchSize: 16,
  epochs: 20,
  schedule: { kind: 'step', milestones: [12, 18, 24], gamma: 0.1 } as LrSchedule,
  /** Steps between checkpoints (one is also written at every epoch end). */
  checkpointEvery: 500,
  /** Steps between `step` records in metrics.jsonl. */
  logEvery: 50,
  /** Neighbours of the monitor's kNN probe. */
  knnK: 20,
});
