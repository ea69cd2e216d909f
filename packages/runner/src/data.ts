import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  buildImageCache,
  KERMANY_PATIENT_PATTERN,
  loadImageFolder,
  splitByPatient,
  subset,
  subsetImages,
  syntheticCxr,
  type CxrDataset,
  type ImageSet,
  type SkippedImage,
} from '@moco-cxr/cxr-data';
import type { RunnerConfig } from './config';
import { Progress, type Io } from './progress';
import { writeJsonAtomic } from './rundir';

export type SplitName = 'train' | 'val' | 'test';

/** One split as the protocols see it: an ImageSet in row order, with one 0/1 label per image. */
export interface SplitData {
  name: SplitName;
  /** Rows of `PreparedData.dataset`, in image order. */
  indices: number[];
  images: ImageSet;
  labels: Float32Array;
  paths: string[];
  patients: string[];
  studies: string[];
  /** True when some study holds several images (then the test-time prediction is the study max). */
  hasStudies: boolean;
}

export interface PreparedData {
  /** The dataset of the images held (bad images skipped), one task. */
  dataset: CxrDataset;
  task: string;
  train: SplitData;
  val: SplitData;
  test: SplitData;
  /** Train and validation images: what MoCo pretrains on (labels unused there). */
  pretrainImages: ImageSet;
  /** Their labels, for the pretraining monitor's probe only. */
  pretrainLabels: Float32Array;
  skipped: SkippedImage[];
  description: string;
}

function splitData(name: SplitName, ds: CxrDataset, images: ImageSet, rows: number[], taskIndex: number): SplitData {
  const K = ds.tasks.length;
  const studies = rows.map((i) => ds.samples[i].studyId ?? ds.samples[i].path);
  return {
    name,
    indices: rows,
    images: subsetImages(images, rows),
    labels: Float32Array.from(rows, (i) => ds.labels[i * K + taskIndex]),
    paths: rows.map((i) => ds.samples[i].path),
    patients: rows.map((i) => ds.samples[i].patientId),
    studies,
    hasStudies: new Set(studies).size < studies.length,
  };
}

function countLabels(labels: Float32Array): { positive: number; negative: number } {
  let positive = 0;
  for (const y of labels) positive += y === 1 ? 1 : 0;
  return { positive, negative: labels.length - positive };
}

/** Resolves a data root given relative to the working directory (or via MOCO_CXR_DATA). */
export function dataRoot(cfg: RunnerConfig): string {
  const root = cfg.data.root ?? process.env.MOCO_CXR_DATA;
  if (!root) throw new Error('data.root: no image folder given (use --data <dir>, data.root in the config, or MOCO_CXR_DATA)');
  const abs = isAbsolute(root) ? root : resolve(root);
  if (!existsSync(abs)) throw new Error(`data.root: ${abs} does not exist`);
  return abs;
}

const memo = new Map<string, Promise<PreparedData>>();

/**
 * The train / val / test splits a run uses, deterministic for a config: the synthetic dataset
 * (default) or an image folder `<root>/<split>/<CLASS>/<image>` (validation carved from train by
 * patient, test = the folder's test split), decoded once into the uint8 cache.
 */
export function prepareData(cfg: RunnerConfig, io: Io, experimentDir: string): Promise<PreparedData> {
  const key = JSON.stringify([cfg.data, cfg.seed, experimentDir]);
  let p = memo.get(key);
  if (!p) {
    p = prepareDataUncached(cfg, io, experimentDir);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

async function prepareDataUncached(cfg: RunnerConfig, io: Io, experimentDir: string): Promise<PreparedData> {
  const d = cfg.data;
  let dataset: CxrDataset;
  let images: ImageSet;
  let trainRows: number[];
  let testRows: number[];
  let skipped: SkippedImage[] = [];
  let description: string;
  if (d.source === 'synthetic') {
    const total = d.synthetic.train + d.synthetic.test;
    // Task 0 is the effusion-like finding; nodules are a second, distracting finding.
    const synth = syntheticCxr({ count: total, size: d.imageSize, seed: cfg.seed, findings: { effusion: d.synthetic.prevalence, nodule: 0.3 }, exposure: d.synthetic.exposure });
    dataset = synth.dataset;
    images = synth.images;
    // Patients hold several images: split by patient so no patient is in both train and test.
    const parts = splitByPatient(dataset, { sizes: { train: d.synthetic.train, test: d.synthetic.test }, seed: cfg.seed, stratify: [dataset.tasks[0]] });
    trainRows = parts.train;
    testRows = parts.test;
    description = `synthetic chest X-rays, ${total} images at ${d.imageSize} px (seed ${cfg.seed}${d.synthetic.exposure !== 1 ? `, exposure spread ${d.synthetic.exposure}` : ''})`;
  } else {
    const root = dataRoot(cfg);
    let full: CxrDataset;
    try {
      full = loadImageFolder(root, { positive: d.positiveClass, patientPattern: KERMANY_PATIENT_PATTERN });
    } catch (err) {
      // Folders whose file names carry no patient id: each image is its own patient.
      if (!/patientPattern/.test((err as Error).message)) throw err;
      if (!io.quiet) io.err(`data: file names do not carry Kermany-style patient ids; treating each image as its own patient\n`);
      full = loadImageFolder(root, { positive: d.positiveClass });
    }
    const splitNames = new Set(full.samples.map((s) => s.split));
    if (!splitNames.has('train') || !splitNames.has('test')) {
      throw new Error(`${root}: expected train/ and test/ split folders, found ${[...splitNames].join(', ')}`);
    }
    let tr = full.samples.flatMap((s, i) => (s.split === 'train' ? [i] : []));
    let te = full.samples.flatMap((s, i) => (s.split === 'test' ? [i] : []));
    // A CI-sized slice: whole patients, stratified by label, seeded.
    if (d.limit.train && d.limit.train < tr.length) tr = splitByPatient(full, { sizes: { keep: d.limit.train }, seed: cfg.seed, indices: tr }).keep;
    if (d.limit.test && d.limit.test < te.length) te = splitByPatient(full, { sizes: { keep: d.limit.test }, seed: cfg.seed + 1, indices: te }).keep;
    const selected = subset(full, [...tr, ...te]);
    const cacheDir = d.cacheDir ? resolve(d.cacheDir) : join(experimentDir, 'cache');
    const bar = new Progress(io, 'decode images', selected.samples.length, 'img');
    const cache = await buildImageCache(selected, {
      size: d.imageSize,
      cacheDir,
      onBadImage: d.skipBadImages ? 'skip' : 'throw',
      onProgress: (p) => bar.set(p.done, { reused: p.reused, skipped: p.skipped }),
    });
    skipped = cache.skipped;
    dataset = cache.dataset;
    images = cache;
    trainRows = dataset.samples.flatMap((s, i) => (s.split === 'train' ? [i] : []));
    testRows = dataset.samples.flatMap((s, i) => (s.split === 'test' ? [i] : []));
    description = `${root} (${dataset.samples.length} images at ${d.imageSize} px${skipped.length ? `, ${skipped.length} bad images skipped` : ''})`;
    if (skipped.length && !io.quiet) io.err(`data: skipped ${skipped.length} unreadable images, e.g. ${skipped[0].path}: ${skipped[0].reason}\n`);
  }
  const task = dataset.tasks[0];
  const K = dataset.tasks.length;
  // Rows whose label is unknown cannot be scored on this binary task.
  const known = (rows: number[]) => rows.filter((i) => !Number.isNaN(dataset.labels[i * K]));
  trainRows = known(trainRows);
  testRows = known(testRows);
  const carved = splitByPatient(dataset, { fractions: { train: 1 - d.valFraction, val: d.valFraction }, seed: cfg.seed, indices: trainRows, stratify: [task] });
  const data: PreparedData = {
    dataset,
    task,
    train: splitData('train', dataset, images, carved.train, 0),
    val: splitData('val', dataset, images, carved.val, 0),
    test: splitData('test', dataset, images, testRows, 0),
    pretrainImages: subsetImages(images, [...carved.train, ...carved.val]),
    pretrainLabels: Float32Array.from([...carved.train, ...carved.val], (i) => dataset.labels[i * K]),
    skipped,
    description,
  };
  for (const s of [data.train, data.val, data.test]) {
    const c = countLabels(s.labels);
    if (c.positive === 0 || c.negative === 0) throw new Error(`data: the ${s.name} split has ${c.positive} positive and ${c.negative} negative images for task "${task}"; AUROC needs both (raise data.limit or data.valFraction)`);
  }
  return data;
}

export interface DataSummary {
  description: string;
  task: string;
  splits: Record<SplitName, { images: number; patients: number; positive: number; negative: number; imagesPerPatient: { max: number; mean: number } }>;
  patientsInTwoSplits: number;
  skipped: SkippedImage[];
}

/** `data`: counts per split, label and patient, and the bad files found. */
export async function inspectData(cfg: RunnerConfig, io: Io, opts: { out: string }): Promise<DataSummary> {
  const data = await prepareData(cfg, io, opts.out);
  const splits = {} as DataSummary['splits'];
  const seen = new Map<string, Set<string>>();
  for (const s of [data.train, data.val, data.test]) {
    const perPatient = new Map<string, number>();
    for (const p of s.patients) perPatient.set(p, (perPatient.get(p) ?? 0) + 1);
    for (const p of perPatient.keys()) (seen.get(p) ?? seen.set(p, new Set()).get(p)!).add(s.name);
    const counts = [...perPatient.values()];
    splits[s.name] = {
      images: s.images.count,
      patients: perPatient.size,
      ...countLabels(s.labels),
      imagesPerPatient: { max: Math.max(...counts), mean: s.images.count / perPatient.size },
    };
  }
  // The Kermany test split is given by its authors; a patient may appear in both train and test there.
  const patientsInTwoSplits = [...seen.values()].filter((v) => v.size > 1).length;
  const summary: DataSummary = { description: data.description, task: data.task, splits, patientsInTwoSplits, skipped: data.skipped };
  writeJsonAtomic(join(opts.out, 'data-summary.json'), summary);
  if (!io.quiet) {
    const lines = [`${data.description}; task "${data.task}"`, 'split   images  patients  positive  negative  max img/patient'];
    for (const [name, s] of Object.entries(splits)) {
      lines.push(`${name.padEnd(6)}  ${String(s.images).padStart(6)}  ${String(s.patients).padStart(8)}  ${String(s.positive).padStart(8)}  ${String(s.negative).padStart(8)}  ${String(s.imagesPerPatient.max).padStart(15)}`);
    }
    lines.push(`patients in more than one split: ${patientsInTwoSplits}`);
    lines.push(`bad files: ${data.skipped.length}${data.skipped.slice(0, 10).map((s) => `\n  ${s.path}: ${s.reason}`).join('')}`);
    io.err(`${lines.join('\n')}\n`);
  }
  return summary;
}
