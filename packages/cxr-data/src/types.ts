/** One image of a dataset. `path` is relative to the dataset root and never escapes it. */
export interface CxrSample {
  path: string;
  patientId: string;
  studyId?: string;
  view?: string;
  sex?: string;
  age?: number;
  split?: string;
  meta?: Record<string, string>;
}

/** The one dataset contract every adapter returns. */
export interface CxrDataset {
  root: string;
  tasks: string[];
  /** N x K row-major: 1 positive, 0 negative, NaN unknown / uncertain-ignored. */
  labels: Float32Array;
  samples: CxrSample[];
}

/** Grey uint8 images of one size, read by index. */
export interface ImageSet {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  /** Pixels of `indices`, `indices.length * height * width` bytes, row-major. */
  read(indices: ArrayLike<number>): Uint8Array;
}
