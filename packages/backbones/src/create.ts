import { buildBackbone, type Backbone, type BackboneName, type BackboneOptions } from './backbone';
import { readWeights } from './weights';

/** Builds a backbone with torchvision's topology, names and initialisation, optionally loading weights (a Map, or a `.pth` / `.safetensors` path). */
export function createBackbone(name: BackboneName, options: BackboneOptions = {}): Promise<Backbone> {
  return buildBackbone(name, options, readWeights);
}
