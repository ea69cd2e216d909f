// Everything the browser entry has (the parts of a training loop), then what reads and writes files.
export * from './browser';
export { writePretrainCheckpoint, readPretrainCheckpoint, readLatestPretrainCheckpoint, previousCheckpointPath, removeStaleTempFiles, restorePretrainCheckpoint, exportBackbone, CHECKPOINT_FORMAT } from './checkpoint';
export type { PretrainCheckpoint, CheckpointMetadata, LatestCheckpoint, TrainingPosition, ExportOptions } from './checkpoint';
export { pretrain, NonFiniteLossError, PretrainAbortError } from './pretrain';
export type { PretrainOptions, PretrainResult, PretrainConfig, EpochRecord, StepInfo, CheckpointInfo } from './pretrain';
export { readPretrainHistory } from './history';
export type { PretrainHistoryPoint } from './history';
