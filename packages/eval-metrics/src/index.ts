export { auroc } from './auroc';
export { rocCurve, prCurve, averagePrecision } from './curves';
export { confusionAt, youdenThreshold } from './confusion';
export { maskedAurocs } from './masked';
export type { RocCurve, RocCurveOptions, PrCurve } from './curves';
export type { Confusion, YoudenPoint } from './confusion';
export type { MaskedAurocs, MaskedAurocsOptions, TaskCounts, UnscorableTask } from './masked';
