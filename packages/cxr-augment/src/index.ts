export { toTensor, resolveNormalization, CXR_MEAN, CXR_STD, IMAGENET_MEAN, IMAGENET_STD } from './normalize';
export type { Normalization, ImageShape, ToTensorOptions, ResolvedNormalization } from './normalize';
export { augment, twoViews, applyAugmentParams, mocoCxrAugment, mocoCxrCropAugment, MOCO_CXR_CROP_ZOOM, mocoV2Augment, evalAugment } from './augment';
export type { PixelBatch, AugmentInput } from './augment';
export { AUGMENT_PRESETS, augmentPreset } from './presets';
export type { AugmentOverrides, AugmentPresetName } from './presets';
export { sampleAugmentParams, warpMatrix, geometryOf } from './params';
export type { AugmentOptions, AugmentParams, Geometry, ResizedCropOptions, ColorJitterOptions, BlurOptions } from './params';
export { gaussianKernel } from './photometric';
