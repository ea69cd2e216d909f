export { bootstrapCI } from './bootstrap-ci';
export { pairedBootstrap } from './paired';
export { aurocFromCounts } from './count-auroc';
export type { BootstrapCI, BootstrapCIOptions, DegenerateReplicates } from './bootstrap-ci';
export type { Draws, Interval, Metric, PairedBootstrapOptions, PairedBootstrapResult } from './paired';
