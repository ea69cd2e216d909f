import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { buildImageCache, carveSplits, checkSplitLabels, fractionDraws, openSource, splitData, subsetImages, takeSplits } from '@moco-cxr/cxr-data';
import type { CarvedSplits, CxrDataset, ImageSet, SkippedImage, SplitData, SplitName } from '@moco-cxr/cxr-data';
import { sourceOptions, type DataConfig, type RunnerConfig } from './config';
import { patientSalt } from './dicom-source';
import { Progress, type Io } from './progress';

export type { SplitData, SplitName };

export interface PreparedData {
  /** The dataset of the images held (bad images skipped), restricted to the tasks. */
  dataset: CxrDataset;
  /** The tasks, in label-column order; the first is the main one (the pretraining monitor's). */
  tasks: string[];
  task: string;
  train: SplitData;
  val: SplitData;
  test: SplitData;
  /** Train and validation images: what MoCo pretrains on (labels unused there). */
  pretrainImages: ImageSet;
  /** Their labels of the first task (NaN where unknown), for the pretraining monitor's probe only. */
  pretrainLabels: Float32Array;
  skipped: SkippedImage[];
  description: string;
}

/** Resolves a data root given relative to the working directory (or via MOCO_CXR_DATA). */
export function dataRoot(cfg: RunnerConfig, d: DataConfig = cfg.data, path = 'data'): string {
  const root = d.root ?? process.env.MOCO_CXR_DATA;
  if (!root) throw new Error(`${path}.root: no data directory given (use --data <dir>, ${path}.root in the config, or MOCO_CXR_DATA)`);
  const abs = isAbsolute(root) ? root : resolve(root);
  if (!existsSync(abs)) throw new Error(`${path}.root: ${abs} does not exist`);
  return abs;
}

const memo = new Map<string, Promise<PreparedData>>();

/**
 * The train / val / test splits a run uses, deterministic for a config (cxr-data's openSource on the
 * config's source, validation carved from train by patient unless the source fixes it), decoded once
 * into the uint8 cache. `which` picks `pretrainData` (transfer: MoCo pretrains on other data) when given.
 */
export function prepareData(cfg: RunnerConfig, io: Io, experimentDir: string, which: 'data' | 'pretrainData' = 'data'): Promise<PreparedData> {
  const d = which === 'pretrainData' && cfg.pretrainData ? cfg.pretrainData : cfg.data;
  const key = JSON.stringify([d, cfg.seed, experimentDir]);
  let p = memo.get(key);
  if (!p) {
    p = prepareDataUncached(d, d === cfg.data ? 'data' : 'pretrainData', cfg.seed, io, experimentDir);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

/** A source's images in split order, each sample's split named (cxr-data's openSource on the config's source): decoded into the cache, or (`decode` false) their labels only. */
export interface LoadedRows {
  dataset: CxrDataset;
  images?: ImageSet;
  /** The source fixes validation (else it is carved from train). */
  valGiven: boolean;
  skipped: SkippedImage[];
  description: string;
  notes: string[];
}

export async function loadRows(d: DataConfig, path: string, seed: number, io: Io, experimentDir: string, decode: boolean, plan = false): Promise<LoadedRows> {
  const o = sourceOptions(d);
  const salt = d.source === 'dicom' ? patientSalt() : undefined;
  const where = d.source === 'synthetic' ? { synthetic: { ...d.synthetic, size: d.imageSize } } : { root: dataRoot({ data: d } as RunnerConfig, d, path) };
  // A patient in two splits stops a grid when it is planned (`plan`) unless data.sharedPatients says otherwise; a single job says so.
  const downgraded = d.sharedPatients === 'refuse' && !plan;
  const opened = openSource({ source: d.source, seed, tasks: d.tasks, optionName: path, positiveClass: d.positiveClass, negativeClasses: d.negativeClasses, sharedPatients: downgraded ? 'allow' : d.sharedPatients, ...o, dicom: { ...o.dicom, patientSalt: salt }, ...where });
  const valGiven = opened.splits.val !== undefined;
  const shared = opened.leaks.sharedPatients;
  const refused = `${path}: ${shared.length} patient${shared.length === 1 ? ' has' : 's have'} images in more than one split (${shared.slice(0, 5).join(', ')}${shared.length > 5 ? ', ...' : ''}); \`experiment\` refuses such data: set ${path}.sharedPatients to drop or allow`;
  const notes = [...opened.notes, ...(!downgraded ? opened.leaks.notes : shared.length ? [refused] : [])];
  // Synthetic images are made in memory and split by patient: nothing to limit or decode.
  if (opened.images) return { dataset: opened.dataset, images: opened.images, valGiven, skipped: [], description: opened.description, notes };
  let dataset = takeSplits(opened.dataset, opened.splits, { seed, limit: d.limit });
  let images: ImageSet | undefined;
  let skipped: SkippedImage[] = [];
  if (decode) {
    const bar = new Progress(io, 'decode images', dataset.samples.length, 'img');
    const cache = await buildImageCache(dataset, {
      size: d.imageSize,
      cacheDir: d.cacheDir ? resolve(d.cacheDir) : join(experimentDir, 'cache'),
      onBadImage: d.skipBadImages ? 'skip' : 'throw',
      onProgress: (p) => bar.set(p.done, { reused: p.reused, skipped: p.skipped }),
    });
    ({ skipped, dataset } = cache);
    images = cache;
    if (skipped.length && !io.quiet) io.err(`data: skipped ${skipped.length} unreadable images, e.g. ${skipped[0].path}: ${skipped[0].reason}\n`);
  }
  const description = `${opened.description} (${dataset.samples.length} images at ${d.imageSize} px${skipped.length ? `, ${skipped.length} bad images skipped` : ''})`;
  return { dataset, images, valGiven, skipped, description, notes };
}

/** Train / val / test rows with a known label: validation carved from train by patient unless the source fixes it. */
export function splitsOf(r: LoadedRows, d: DataConfig, seed: number): CarvedSplits {
  return carveSplits(r.dataset, { seed, ...(r.valGiven ? {} : { valFraction: d.valFraction }) });
}

/** Every split needs a positive and a negative of every task (AUROC needs both); the error names the fields to change. */
export function checkLabels(dataset: CxrDataset, { train, val, test }: CarvedSplits, path: string): void {
  checkSplitLabels(dataset, { train, val, test }, { optionName: path, fix: `raise ${path}.limit or ${path}.valFraction, or drop the task from ${path}.tasks` });
}

/** The label-fraction draws of the train split, as positions in it; errors name the config fields to change. */
export function labelFractionDraws(dataset: CxrDataset, train: readonly number[], fraction: number, draws: number, seed: number): number[][] {
  const fix = { tasks: 'drop tasks from data.tasks', patients: 'give the train split more patients (data.limit.train, data.valFraction)' };
  return fractionDraws(dataset, train, fraction, { draws, seed, tasks: dataset.tasks, optionName: 'fractions', fix });
}

/** Notes said once per process (a grid run here plans, then runs its jobs, on the same data). */
const said = new Set<string>();
export function sayNotes(io: Io, notes: string[]): void {
  for (const n of notes) {
    if (said.has(n)) continue;
    said.add(n);
    if (!io.quiet) io.err(`note: ${n}\n`);
  }
}

async function prepareDataUncached(d: DataConfig, path: string, seed: number, io: Io, experimentDir: string): Promise<PreparedData> {
  const loaded = await loadRows(d, path, seed, io, experimentDir, true);
  sayNotes(io, loaded.notes);
  const { dataset, skipped, description } = loaded;
  const images = loaded.images!;
  const carved = splitsOf(loaded, d, seed);
  checkLabels(dataset, carved, path);
  const pretrainRows = [...carved.train, ...carved.val, ...carved.unlabelled];
  const K = dataset.tasks.length;
  return {
    dataset,
    tasks: dataset.tasks,
    task: dataset.tasks[0],
    train: splitData('train', dataset, images, carved.train),
    val: splitData('val', dataset, images, carved.val),
    test: splitData('test', dataset, images, carved.test),
    pretrainImages: subsetImages(images, pretrainRows),
    pretrainLabels: Float32Array.from(pretrainRows, (i) => dataset.labels[i * K]),
    skipped,
    description,
  };
}
