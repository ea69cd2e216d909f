import { CxrDataError } from './errors';
import { subsetImages } from './image-set';
import { splitByPatient } from './splits';
import type { CxrDataset, ImageSet } from './types';

export type SplitName = 'train' | 'val' | 'test';

/** One split as a protocol sees it: an ImageSet in row order, with K labels (1 / 0 / NaN = masked) per image. */
export interface SplitData {
  name: SplitName;
  /** Rows of the dataset, in image order. */
  indices: number[];
  images: ImageSet;
  /** N x K row-major, K = the number of tasks. */
  labels: Float32Array;
  paths: string[];
  patients: string[];
  /** A sample's study, or its path when the source has no studies. */
  studies: string[];
  /** True when some study holds several images (then the test-time prediction is the study max). */
  hasStudies: boolean;
}

/** Rows `rows` of a dataset and of its images (image i = dataset row i) as one split. */
export function splitData(name: SplitName, ds: CxrDataset, images: ImageSet, rows: readonly number[]): SplitData {
  const K = ds.tasks.length;
  const studies = rows.map((i) => ds.samples[i].studyId ?? ds.samples[i].path);
  const labels = new Float32Array(rows.length * K);
  rows.forEach((i, j) => labels.set(ds.labels.subarray(i * K, (i + 1) * K), j * K));
  return {
    name,
    indices: [...rows],
    images: subsetImages(images, rows),
    labels,
    paths: rows.map((i) => ds.samples[i].path),
    patients: rows.map((i) => ds.samples[i].patientId),
    studies,
    hasStudies: new Set(studies).size < studies.length,
  };
}

export interface LabelCounts {
  task: string;
  positive: number;
  negative: number;
  /** Labels that are NaN (unknown, uncertain under U-Ignore). */
  masked: number;
}

/** Positives, negatives and masked labels of every task, over `rows` (default all), in label-column order. */
export function countLabels(ds: CxrDataset, rows?: ArrayLike<number>): LabelCounts[] {
  const K = ds.tasks.length;
  const n = rows ? rows.length : ds.samples.length;
  return ds.tasks.map((task, k) => {
    let positive = 0;
    let negative = 0;
    for (let j = 0; j < n; j++) {
      const v = ds.labels[(rows ? rows[j] : j) * K + k];
      if (v === 1) positive++;
      else if (v === 0) negative++;
    }
    return { task, positive, negative, masked: n - positive - negative };
  });
}

export interface CheckSplitLabelsOptions {
  /** How the error names the data (a caller's config block, e.g. `data`). Default `checkSplitLabels`. */
  optionName?: string;
  /** What the caller can change, said after the counts (e.g. `raise data.limit, or drop the task from data.tasks`). */
  fix?: string;
}

/** Every split needs a positive and a negative image of every task (AUROC needs both): else an error naming the split, the task and the counts. */
export function checkSplitLabels(ds: CxrDataset, splits: Readonly<Record<string, readonly number[]>>, options: CheckSplitLabelsOptions = {}): void {
  const at = options.optionName ?? 'checkSplitLabels';
  for (const [name, rows] of Object.entries(splits)) {
    for (const c of countLabels(ds, rows)) {
      if (c.positive > 0 && c.negative > 0) continue;
      throw new CxrDataError(
        `${at}: the ${name} split has ${c.positive} positive and ${c.negative} negative images for task "${c.task}"${c.masked ? ` (${c.masked} masked)` : ''}; AUROC needs both${options.fix ? ` (${options.fix})` : ''}`,
      );
    }
  }
}

export interface CarvedSplits {
  train: number[];
  val: number[];
  test: number[];
  /** Train rows with no known label on any task: MoCo still pretrains on them; no protocol trains or scores them. */
  unlabelled: number[];
}

/**
 * The rows a run trains, validates and tests on: the dataset's rows by sample `split` (train / val / test),
 * those with no known label on any task left out (`unlabelled` holds the train ones). Validation is the
 * `val` rows when `valFraction` is left out (a source that fixes it), else `valFraction` of the train
 * patients, stratified by the first task and seeded.
 */
export function carveSplits(ds: CxrDataset, options: { seed: number; valFraction?: number }): CarvedSplits {
  const K = ds.tasks.length;
  const rowsOf = (split: string) => ds.samples.flatMap((s, i) => (s.split === split ? [i] : []));
  const known = (rows: number[]) => rows.filter((i) => Array.from(ds.labels.subarray(i * K, (i + 1) * K)).some((v) => !Number.isNaN(v)));
  const allTrain = rowsOf('train');
  const train = known(allTrain);
  const knownTrain = new Set(train);
  const unlabelled = allTrain.filter((i) => !knownTrain.has(i));
  const test = known(rowsOf('test'));
  const { valFraction, seed } = options;
  if (valFraction === undefined) return { train, val: known(rowsOf('val')), test, unlabelled };
  const carved = splitByPatient(ds, { fractions: { train: 1 - valFraction, val: valFraction }, seed, indices: train, stratify: [ds.tasks[0]] });
  return { train: carved.train, val: carved.val, test, unlabelled };
}

export interface SplitSummary {
  images: number;
  patients: number;
  /** Counts of every task, by task name. */
  perTask: Record<string, Omit<LabelCounts, 'task'>>;
  imagesPerPatient: { max: number; mean: number };
}

/** Images, patients, labels of every task and images per patient of each split, and how many patients are in more than one split. */
export function summarizeSplits<T extends string>(ds: CxrDataset, splits: Readonly<Record<T, readonly number[]>>): { splits: Record<T, SplitSummary>; patientsInTwoSplits: number } {
  const out = {} as Record<T, SplitSummary>;
  const seen = new Map<string, Set<string>>();
  for (const name of Object.keys(splits) as T[]) {
    const rows = splits[name];
    const perPatient = new Map<string, number>();
    for (const i of rows) perPatient.set(ds.samples[i].patientId, (perPatient.get(ds.samples[i].patientId) ?? 0) + 1);
    for (const p of perPatient.keys()) (seen.get(p) ?? seen.set(p, new Set()).get(p)!).add(name);
    out[name] = {
      images: rows.length,
      patients: perPatient.size,
      perTask: Object.fromEntries(countLabels(ds, rows).map(({ task, ...c }) => [task, c])),
      imagesPerPatient: { max: Math.max(...perPatient.values()), mean: rows.length / perPatient.size },
    };
  }
  return { splits: out, patientsInTwoSplits: [...seen.values()].filter((v) => v.size > 1).length };
}
