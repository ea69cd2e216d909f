// The browser entry (`@moco-cxr/backbones/browser`, and `@moco-cxr/backbones` under the "browser"
// condition): everything but the filesystem (readWeights, saveBackbone, readSafetensors,
// writeSafetensors) and the .pth reader (its zip entries may be deflated: node:zlib).
import { buildBackbone, type Backbone, type BackboneName, type BackboneOptions } from './backbone';

/** Builds a backbone with torchvision's topology, names and initialisation, optionally loading weights from a Map of tensors. */
export function createBackbone(name: BackboneName, options: BackboneOptions = {}): Promise<Backbone> {
  return buildBackbone(name, options, null);
}

export { validateBackboneOptions } from './backbone';
export type { Backbone, BackboneModel, BackboneName, BackboneOptions, EmbedOptions, LoadStateDictOptions, LoadStateDictResult, StateDictOptions } from './backbone';
export { convertLayout } from './layout';
export type { WeightLayout } from './layout';
export { parseSafetensors, encodeSafetensors } from './safetensors';
export { parseSafetensorsWeights } from './safetensors-weights';
export type { ReadWeightsOptions } from './safetensors-weights';
export type { SafetensorsContent } from './safetensors';
export type { Conv2dModule, BatchNorm2dModule } from './nn';
export type { ResNetModule, ResNetBlockModule, ResNetConfig } from './resnet';
export type { DenseNetModule, DenseLayerModule, TransitionModule, DenseNetConfig } from './densenet';
