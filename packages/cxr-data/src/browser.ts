// The browser entry (`@moco-cxr/cxr-data/browser`, and `@moco-cxr/cxr-data` under the "browser"
// condition): everything that needs no filesystem. Images come as a File, Blob, ImageBitmap,
// ImageData or bytes (decodeImageInput); the dataset loaders, CSV files and the cache stay in Node.
export { CxrDataError } from './errors';
export { describeDataset, filter, filterIndices, groupStudies, labelAt, maxOverStudies, relabel, selectTasks, subset } from './dataset';
export { sampleFraction, shenzhenSplit, splitByPatient } from './splits';
export { checkImageBytes, cropGrey, resizeGrey, resizeShortSideAndCrop } from './grey';
export { decodeImageBytes, decodeImageInput } from './decode-browser';
export { batchIterator, epochOrder } from './batches';
export { subsetImages } from './image-set';
export { syntheticCxr } from './synthetic';
export { RADIOGRAPH_MODALITIES, TRANSFER_SYNTAXES, isDicomBytes } from './dicom/header';
export { decodeDicomBytes } from './dicom/pixels';

export type { CxrDataset, CxrSample, ImageSet } from './types';
export type { DatasetSummary, FilterOptions, StudyGroups } from './dataset';
export type { SampleFractionOptions, ShenzhenSplit, ShenzhenSplitOptions, SplitByPatientOptions } from './splits';
export type { GreyImage, ResizeCropOptions } from './grey';
export type { DecodeInputOptions, ImageBitmapLike, ImageDataLike, ImageInput } from './decode-browser';
export type { Batch, BatchIteratorOptions } from './batches';
export type { SyntheticCxr, SyntheticFindings, SyntheticOptions } from './synthetic';
export type { DicomLimits } from './dicom/header';
export type { DicomDecodeOptions, DicomGreyImage } from './dicom/pixels';
