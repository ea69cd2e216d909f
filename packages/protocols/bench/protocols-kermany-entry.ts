// Entry the Kermany protocols bench bundles with esbuild.
export { embedImages } from '../src/embed';
export { linearProtocol, scoreFeatures } from '../src/linear';
export { evaluateScores } from '../src/study';
export { createBackbone } from '@moco-cxr/backbones';
export { initBackend } from '@moco-cxr/compute';
export { buildImageCache, loadImageFolder, KERMANY_PATIENT_PATTERN } from '@moco-cxr/cxr-data';
export { Rng } from '@moco-cxr/rng';
