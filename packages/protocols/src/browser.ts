// The browser entry (`@moco-cxr/protocols/browser`, and `@moco-cxr/protocols` under the "browser"
// condition): the linear and logistic protocols, embedding, scoring and evaluation, with no Node
// module. Fine-tuning writes its best checkpoint to a file, so it and the checkpoint files stay in Node.
export { drawsForFraction, epochsForFraction, evalInterval, PAPER_MAX_EPOCHS, PROTOCOL_DEFAULTS } from './schedule';
export { linearProtocol, scoreFeatures } from './linear';
export { linearHeadFromJson, linearHeadToJson } from './head-json';
export type { LinearHeadJson } from './head-json';
export type { LinearHead, LinearProtocolOptions, LinearProtocolResult, ProtocolEvalRecord, ProtocolProgress } from './linear';
export { logisticProtocol, LOGISTIC_L2_GRID } from './logistic';
export type { LogisticProtocolOptions, LogisticProtocolResult, LogisticTaskFit } from './logistic';
export { embedImages } from './embed';
export type { EmbedImagesOptions, ImageInputOptions, ProtocolBackbone } from './embed';
export { snapshotWeights, restoreWeights } from './weights-snapshot';
export type { WeightsSnapshot } from './weights-snapshot';
export type { FinetuneSnapshot } from './finetune';
export { predict, predictEnsemble } from './predict';
export { studyMax, evaluateScores } from './study';
export type { StudyScores, EvaluateScoresOptions, EvaluateScoresResult, ScoreEvaluation } from './study';
export type { LabelsInput } from './labels';
