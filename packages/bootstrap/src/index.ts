export { bootstrapCI } from './bootstrap-ci';
export { pairedBootstrap } from './paired';
export { meanAurocCI } from './mean-auroc';
export { pairedBootstrapTasks } from './tasks';
export { aurocFromCounts } from './count-auroc';
export type { BootstrapCI, BootstrapCIOptions, DegenerateReplicates } from './bootstrap-ci';
export type { MeanAurocCIOptions } from './mean-auroc';
export type { Draws, Interval, Metric, PairedBootstrapOptions, PairedBootstrapResult } from './paired';
export type { PairedBootstrapTasksOptions, PairedBootstrapTasksResult, TaskComparison, TaskDraws } from './tasks';
