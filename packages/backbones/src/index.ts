export { createBackbone } from './create';
export { validateBackboneOptions } from './backbone';
export type {
  Backbone,
  BackboneModel,
  BackboneName,
  BackboneOptions,
  EmbedOptions,
  LoadStateDictOptions,
  LoadStateDictResult,
  StateDictOptions,
} from './backbone';
export { convertLayout } from './layout';
export type { WeightLayout } from './layout';
export { readWeights, saveBackbone, mapWeightKey, parseWeights } from './weights';
export { parseSafetensorsWeights } from './safetensors-weights';
export type { ReadWeightsOptions, SaveBackboneOptions } from './weights';
export { parseSafetensors, encodeSafetensors } from './safetensors';
export { readSafetensors, writeSafetensors } from './safetensors-file';
export type { SafetensorsContent } from './safetensors';
export { parsePth } from './pth';
export type { RawTensor } from './pth';
export type { Conv2dModule, BatchNorm2dModule } from './nn';
export type { ResNetModule, ResNetBlockModule, ResNetConfig } from './resnet';
export type { DenseNetModule, DenseLayerModule, TransitionModule, DenseNetConfig } from './densenet';
