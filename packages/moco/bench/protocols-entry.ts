// Entry the protocols bench bundles with esbuild: the linear protocol and what it is scored with.
export { linearProtocol, scoreFeatures } from '../src/protocols/linear';
export { Rng } from '@moco-cxr/bootstrap';
export { auroc } from '@moco-cxr/eval-metrics';
