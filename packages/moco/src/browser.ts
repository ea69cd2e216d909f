// The browser entry (`@moco-cxr/moco/browser`, and `@moco-cxr/moco` under the "browser" condition):
// the parts a training loop is made of (queue, heads, loss, momentum update, shuffled BatchNorm,
// schedules, optimisers, createMoco / mocoStep, the online kNN monitor), with no Node module.
// pretrain(), its checkpoints and its history read and write files, so they stay in Node.
export { MemoryQueue } from './queue';
export type { MemoryQueueOptions, MemoryQueueState } from './queue';
export { createProjectionHead } from './heads';
export type { HeadKind, ProjectionHead, ProjectionHeadOptions } from './heads';
export { momentumUpdate, copyVariables } from './momentum';
export { infoNceLoss, positiveTopK, positiveRanks } from './loss';
export type { InfoNceResult } from './loss';
export { groupedForward, shuffledForward, subBatches } from './split-bn';
export type { KeyBatchNorm } from './split-bn';
export { learningRate } from './schedule';
export type { LrSchedule, StepSchedule, CosineSchedule, ConstantSchedule } from './schedule';
export { Adam, Sgd, createOptimizer } from './optim';
export type { Optimizer, OptimizerState, AdamOptions, SgdOptions } from './optim';
export { createMoco, mocoStep, mocoStepAsync } from './moco';
export type { MocoBackbone, MocoModel, CreateMocoOptions, MocoStepOptions, MocoStepResult } from './moco';
export { OnlineMonitor, embedProbeImages, embedProbeImagesAsync, sampleProbeRows } from './monitor';
export type { MonitorOptions, ProbeSet, ProbeScores } from './monitor';
export { MOCO_CXR_DEFAULTS } from './defaults';
export type { NamedVariables, VariableSource } from './variables';
