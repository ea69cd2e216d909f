export { auroc } from './auroc';
export { rocCurve, prCurve, averagePrecision } from './curves';
export { confusionAt, youdenThreshold } from './confusion';
export { maskedAurocs, maskedRocCurves } from './masked';
export { fitLogisticRegression, knnScores, stratifiedSplit } from './probe';
export type { RocCurve, RocCurveOptions, PrCurve } from './curves';
export type { Confusion, YoudenPoint } from './confusion';
export type { MaskedAurocs, MaskedAurocsOptions, MaskedRocCurves, TaskCounts, TaskRocCurve, UnscorableTask } from './masked';
export type { LogisticModel, LogisticRegressionOptions, KnnOptions } from './probe';
