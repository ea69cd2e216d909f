export { MemoryQueue } from './queue';
export type { MemoryQueueOptions, MemoryQueueState } from './queue';
export { createProjectionHead } from './heads';
export type { HeadKind, ProjectionHead, ProjectionHeadOptions, WeightLayout } from './heads';
export { momentumUpdate, copyVariables } from './momentum';
export { infoNceLoss, positiveTopK } from './loss';
export type { InfoNceResult } from './loss';
export { groupedForward, shuffledForward, subBatches } from './split-bn';
export type { KeyBatchNorm } from './split-bn';
export { learningRate } from './schedule';
export type { LrSchedule, StepSchedule, CosineSchedule, ConstantSchedule } from './schedule';
export { Adam, Sgd, createOptimizer } from './optim';
export type { Optimizer, OptimizerState, AdamOptions, SgdOptions } from './optim';
export { createMoco, mocoStep } from './moco';
export type { MocoModel, CreateMocoOptions, MocoStepOptions, MocoStepResult } from './moco';
export { fitLogisticRegression, knnScores, stratifiedSplit } from './probe';
export type { LogisticModel, LogisticRegressionOptions, KnnOptions } from './probe';
export { OnlineMonitor, embedProbeImages } from './monitor';
export type { MonitorOptions, ProbeSet, ProbeScores } from './monitor';
export { ProgressReporter, formatDuration } from './progress';
export type { ProgressMode, ProgressStream, StepProgress } from './progress';
export { writePretrainCheckpoint, readPretrainCheckpoint, readLatestPretrainCheckpoint, previousCheckpointPath, removeStaleTempFiles, restorePretrainCheckpoint, exportBackbone, CHECKPOINT_FORMAT } from './checkpoint';
export type { PretrainCheckpoint, CheckpointMetadata, LatestCheckpoint, TrainingPosition, ExportOptions } from './checkpoint';
export { pretrain, NonFiniteLossError, MOCO_CXR_DEFAULTS } from './pretrain';
export type { PretrainOptions, PretrainResult, PretrainConfig, EpochRecord, StepInfo } from './pretrain';
export type { NamedVariables, VariableSource } from './variables';
// pretraining parts: above this line

// protocols
export { epochsForFraction, evalInterval, linearProtocol, logisticProtocol, LOGISTIC_L2_GRID, scoreFeatures, embedImages, finetuneProtocol, maskedBceWithLogits, snapshotWeights, restoreWeights, saveFinetuneCheckpoint, loadFinetuneCheckpoint, FINETUNE_CHECKPOINT_FORMAT, predict, predictEnsemble, studyMax, evaluateScores } from './protocols';
export type { LinearHead, LinearProtocolOptions, LinearProtocolResult, LogisticProtocolOptions, LogisticProtocolResult, ProtocolEvalRecord, ProtocolProgress, EmbedImagesOptions, ImageInputOptions, ProtocolBackbone, FinetuneProtocolOptions, FinetuneProtocolResult, FinetuneSnapshot, WeightsSnapshot, CheckpointBackbone, SaveCheckpointOptions, LoadedCheckpoint, StudyScores, EvaluateScoresOptions, EvaluateScoresResult, ScoreEvaluation, LabelsInput } from './protocols';
