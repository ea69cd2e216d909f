// Entry the protocols bench bundles with esbuild: the linear protocol and what it is scored with.
export { linearProtocol, scoreFeatures } from '../src/linear';
export { Rng } from '@moco-cxr/rng';
export { auroc } from '@moco-cxr/eval-metrics';
