import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { CHEXPERT_COMPETITION_TASKS, loadCheXpert, type UncertaintyPolicy } from './chexpert';
import { selectTasks, subset } from './dataset';
import { loadDicomFolder, type SkippedDicomFile } from './dicom/folder';
import { RADIOGRAPH_MODALITIES } from './dicom/header';
import { CxrDataError } from './errors';
import { folderSplits, KERMANY_PATIENT_PATTERN, loadImageFolder } from './folder';
import { checkSplitLeaks, type SharedPatientPolicy } from './leaks';
import { loadNihChestXray14 } from './nih';
import { loadNlmTb } from './nlmtb';
import { shenzhenSplit, splitByPatient } from './splits';
import { syntheticCxr } from './synthetic';
import type { CxrDataset, ImageSet } from './types';

export const DATA_SOURCES = ['chexpert', 'nih', 'nlm-tb', 'folder', 'dicom', 'synthetic'] as const;
export type DataSourceName = (typeof DATA_SOURCES)[number];

/** Per-source options left out: the official downloads' file names, and the paper's choices. */
export const SOURCE_DEFAULTS = {
  /** `kermany` parses Kermany's names (KERMANY_PATIENT_PATTERN); `per-image` makes each image its own patient; else a RegExp source. */
  folder: { patientPattern: 'kermany', positiveClass: 'PNEUMONIA' },
  chexpert: { trainCsv: 'CheXpert-v1.0-small/train.csv', testCsv: 'CheXpert-v1.0-small/valid.csv', uncertainty: 'ignore' as UncertaintyPolicy, frontalOnly: true },
  nih: { csv: 'Data_Entry_2017_v2020.csv', trainValList: 'train_val_list.txt', testList: 'test_list.txt' },
  nlmTb: { sets: ['shenzhen'] as ('shenzhen' | 'montgomery')[] },
  dicom: { labels: 'labels.csv', frontalOnly: true, modalities: [...RADIOGRAPH_MODALITIES] as string[], testFraction: 0.2 },
  synthetic: { train: 400, test: 200, prevalence: 0.5, exposure: 1, size: 64 },
} as const;

export interface OpenSourceOptions {
  source: DataSourceName;
  /** The data directory (every source but synthetic); files named below are relative to it unless absolute. */
  root?: string;
  /** Seeds the splits a source draws (NLM TB's, DICOM's without a split column, synthetic's) and the synthetic images. */
  seed: number;
  /**
   * Tasks kept, in label-column order. Default: chexpert the five competition tasks, nih Effusion, nlm-tb
   * Tuberculosis, folder `positiveClass`, dicom every task column of its labels CSV, synthetic Effusion.
   */
  tasks?: readonly string[];
  /** The folder source's positive class folder (default PNEUMONIA, Kermany's) and negative ones (required with more than one other). */
  positiveClass?: string;
  negativeClasses?: readonly string[];
  /** How errors and notes name these options, e.g. a caller's config block `data` (`data.chexpert.trainCsv: ...`). Default `openSource`. */
  optionName?: string;
  /** A patient with images in two splits: an error (`refuse`, default), left out of all but the last (`drop`), or kept (`allow`); see checkSplitLeaks. */
  sharedPatients?: SharedPatientPolicy;
  folder?: { patientPattern?: RegExp | string };
  chexpert?: { trainCsv?: string; testCsv?: string; uncertainty?: UncertaintyPolicy | Readonly<Record<string, UncertaintyPolicy>>; frontalOnly?: boolean };
  nih?: { csv?: string; trainValList?: string; testList?: string };
  nlmTb?: { sets?: readonly ('shenzhen' | 'montgomery')[] };
  /** `patientSalt`: see loadDicomFolder (default: derived from the files' identifiers). */
  dicom?: { labels?: string; key?: 'path' | 'SOPInstanceUID'; frontalOnly?: boolean; modalities?: readonly string[]; testFraction?: number; patientSalt?: string };
  /** Images per split, effusion prevalence, exposure spread and image size of the generated set. */
  synthetic?: { train?: number; test?: number; prevalence?: number; exposure?: number; size?: number };
}

export interface OpenedSource {
  /** Every image of the source, restricted to the tasks; each sample's `split` is train, val, test, or undefined (in no split). */
  dataset: CxrDataset;
  /** Rows of each split; `val` only where the source fixes it (else validation is the caller's to carve from train). */
  splits: { train: number[]; val?: number[]; test: number[] };
  /** The synthetic source's images, generated in memory (the other sources' are decoded by `buildImageCache`). */
  images?: ImageSet;
  /** One line naming the source, its root and how it was split. */
  description: string;
  /** What was read differently from what a user may expect (folders not used, files skipped), to be said. */
  notes: string[];
  /** The split check (none for synthetic data): patients found in more than one split, and what was dropped or allowed, to be said. */
  leaks: { sharedPatients: string[]; notes: string[] };
}

/** A source as read, before the split check. */
type Opened = Omit<OpenedSource, 'leaks'>;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Opens a chest X-ray source into the dataset contract with its train / test (and fixed val) splits: an
 * image folder (`<split>/<CLASS>/<image>`), CheXpert (train.csv and valid.csv merged, valid as test),
 * NIH ChestX-ray14 (the official lists), the NLM TB sets (the paper's 65 / 15 / 20 split with balanced
 * normal:TB), a DICOM folder with a labels CSV, or the synthetic set. Every error names the option or file.
 */
export function openSource(options: OpenSourceOptions): OpenedSource {
  const at = options.optionName ?? 'openSource';
  const opened = options.source === 'synthetic' ? openSynthetic(options, at) : checkLeaks(openFiles(options, at), options, at);
  // Split names on the samples, so a subset of the dataset still says which split each image is in.
  const name = new Map<number, string>();
  for (const split of ['train', 'val', 'test'] as const) for (const i of opened.splits[split] ?? []) name.set(i, split);
  opened.dataset = { ...opened.dataset, samples: opened.dataset.samples.map((s, i) => ({ ...s, split: name.get(i) })) };
  return opened;
}

/** No file in two splits, and (by `sharedPatients`) no patient in two; errors and notes name the option block. */
function checkLeaks(o: Opened, options: OpenSourceOptions, at: string): OpenedSource {
  // From train to test: `drop` keeps a patient in the last split holding them.
  const { train, val, test } = o.splits;
  let checked;
  try {
    checked = checkSplitLeaks<string>(o.dataset, val ? { train, val, test } : { train, test }, { sharedPatients: options.sharedPatients ?? 'refuse', optionName: `${at}.sharedPatients` });
  } catch (err) {
    throw err instanceof CxrDataError ? new CxrDataError(`${at}: ${err.message}`, err.file, err.row) : err;
  }
  const s = checked.splits;
  return { ...o, splits: { train: s.train, test: s.test, ...(val ? { val: s.val } : {}) }, leaks: { sharedPatients: checked.sharedPatients, notes: checked.notes.map((n) => `${at}: ${n}`) } };
}

function openSynthetic(o: OpenSourceOptions, at: string): OpenedSource {
  const s = { ...SOURCE_DEFAULTS.synthetic, ...o.synthetic };
  const total = s.train + s.test;
  // Task 0 is the effusion-like finding; nodules are a second, distracting finding.
  const synth = syntheticCxr({ count: total, size: s.size, seed: o.seed, findings: { effusion: s.prevalence, nodule: 0.3 }, exposure: s.exposure });
  const dataset = chooseTasks(synth.dataset, o, at, [synth.dataset.tasks[0]]);
  // Patients hold several images: split by patient so no patient is in both train and test.
  const parts = splitByPatient(dataset, { sizes: { train: s.train, test: s.test }, seed: o.seed, stratify: [dataset.tasks[0]] });
  const description = `synthetic chest X-rays, ${total} images at ${s.size} px (seed ${o.seed}${s.exposure !== 1 ? `, exposure spread ${s.exposure}` : ''})`;
  return { dataset, splits: { train: parts.train, test: parts.test }, images: synth.images, description, notes: [], leaks: { sharedPatients: [], notes: [] } };
}

function openFiles(o: OpenSourceOptions, at: string): Opened {
  const root = o.root;
  if (!root) throw new CxrDataError(`${at}.root: the ${o.source} source reads files; give the directory that holds them`);
  if (!existsSync(root)) throw new CxrDataError(`${at}.root: ${root} does not exist`, root);
  const rowsOf = (ds: CxrDataset, split: string) => ds.samples.flatMap((s, i) => (s.split === split ? [i] : []));
  if (o.source === 'folder') return openFolder(o, root, at);
  if (o.source === 'dicom') return openDicom(o, root, at);
  if (o.source === 'chexpert') {
    const c = { ...SOURCE_DEFAULTS.chexpert, ...o.chexpert };
    checkCheXpertRoot(root, c.trainCsv, at);
    const opts = { uncertainty: c.uncertainty, frontalOnly: c.frontalOnly, tasks: o.tasks ?? [...CHEXPERT_COMPETITION_TASKS], root };
    const tr = loadCheXpert(underRoot(root, c.trainCsv, `${at}.chexpert.trainCsv`), opts);
    const te = loadCheXpert(underRoot(root, c.testCsv, `${at}.chexpert.testCsv`), opts);
    // The paper's test set is CheXpert's validation CSV: one dataset, its rows tagged train or test.
    const dataset: CxrDataset = { root, tasks: tr.tasks, labels: Float32Array.from([...tr.labels, ...te.labels]), samples: [...tr.samples.map((s) => ({ ...s, split: 'train' })), ...te.samples.map((s) => ({ ...s, split: 'test' }))] };
    return { dataset, splits: { train: rowsOf(dataset, 'train'), test: rowsOf(dataset, 'test') }, notes: [], description: `CheXpert ${root} (${c.trainCsv} / ${c.testCsv}${c.frontalOnly ? ', frontal views' : ''})` };
  }
  if (o.source === 'nih') {
    const n = { ...SOURCE_DEFAULTS.nih, ...o.nih };
    const dataset = loadNihChestXray14(underRoot(root, n.csv, `${at}.nih.csv`), {
      root,
      tasks: o.tasks ?? ['Effusion'],
      trainValList: underRoot(root, n.trainValList, `${at}.nih.trainValList`),
      testList: underRoot(root, n.testList, `${at}.nih.testList`),
    });
    return { dataset, splits: { train: rowsOf(dataset, 'train'), test: rowsOf(dataset, 'test') }, notes: [], description: `NIH ChestX-ray14 ${root} (official train_val / test lists)` };
  }
  if (o.source !== 'nlm-tb') throw new CxrDataError(`${at}.source: unknown source ${JSON.stringify(o.source)}; expected one of ${DATA_SOURCES.join(', ')}`);
  // The paper's split: 65 / 15 / 20, redrawn until every split's normal:TB ratio is in (0.9, 1.2).
  const sets = o.nlmTb?.sets ?? SOURCE_DEFAULTS.nlmTb.sets;
  const dataset = chooseTasks(loadNlmTb(root, { sets }), o, at, ['Tuberculosis']);
  const s = shenzhenSplit(dataset, { seed: o.seed });
  return { dataset, splits: { train: s.train, val: s.val, test: s.test }, notes: [], description: `NLM TB ${root} (${sets.join(' + ')}, 65/15/20 split with balanced normal:TB)` };
}

function openFolder(o: OpenSourceOptions, root: string, at: string): Opened {
  const pattern = o.folder?.patientPattern ?? SOURCE_DEFAULTS.folder.patientPattern;
  const positive = o.positiveClass ?? SOURCE_DEFAULTS.folder.positiveClass;
  const full = loadImageFolder(root, { positive, negatives: o.negativeClasses, patientPattern: pattern === 'kermany' ? KERMANY_PATIENT_PATTERN : pattern });
  // train/ and test/, and val/ or valid/ as the validation split when there is one; any other folder is said.
  const s = folderSplits(full);
  const notes = s.unused.map((u) => `${at}.root: split folder ${u.folder}/ (${plural(u.images, 'image')}) is not used; the splits are train/, test/ and val/ or valid/`);
  if (s.valFolder) notes.push(`${at}: validation is the ${s.valFolder}/ folder (${s.val!.length} images), not carved from train (${at}.valFraction is not used)`);
  const n = full.ignored.length;
  if (n) notes.push(`${at}.root: ${plural(n, 'file')} in split or class folders ${n === 1 ? 'is' : 'are'} not a .png/.jpg/.jpeg image and ${n === 1 ? 'was' : 'were'} not read: ${full.ignored.slice(0, 3).join(', ')}${n > 3 ? ', ...' : ''}`);
  const folders = ['train', ...(s.valFolder ? [s.valFolder] : []), 'test'].map((f) => `${f}/`).join(', ');
  return { dataset: chooseTasks(full, o, at, [positive]), splits: { train: s.train, test: s.test, ...(s.val ? { val: s.val } : {}) }, description: `image folder ${root} (${folders})`, notes };
}

/**
 * The dicom source: test from the CSV's split column when it has one (a patient with a test image is
 * wholly test, so MoCo never pretrains on a test patient), else `testFraction` of the patients, stratified.
 */
function openDicom(o: OpenSourceOptions, root: string, at: string): Opened {
  const d = { ...SOURCE_DEFAULTS.dicom, ...o.dicom };
  const labels = isAbsolute(d.labels) ? d.labels : join(root, d.labels);
  if (!existsSync(labels)) throw new CxrDataError(`${at}.dicom.labels: ${labels} does not exist (a CSV with a path or SOPInstanceUID column and one column per task)`, labels);
  const ds = loadDicomFolder(root, { ...(d.patientSalt ? { patientSalt: d.patientSalt } : {}), labels, key: d.key, frontalOnly: d.frontalOnly, modalities: d.modalities });
  let full: CxrDataset = ds;
  if (o.tasks) {
    const unknown = o.tasks.filter((t) => !ds.tasks.includes(t));
    if (unknown.length) throw new CxrDataError(`${at}.tasks: ${unknown.map((t) => JSON.stringify(t)).join(', ')} not among the task columns of ${d.labels} (${ds.tasks.join(', ')})`);
    full = selectTasks(ds, [...o.tasks]);
  }
  const notes = ds.notes.map((n) => `${at}: ${n}`);
  if (ds.skipped.length) notes.push(`${at}.root: ${skippedText(ds.skipped)}`);
  const named = new Set(full.samples.map((s) => s.split).filter((s) => s !== undefined));
  let splits: OpenedSource['splits'];
  let how: string;
  if (named.size > 0) {
    const bad = [...named].filter((s) => !['train', 'val', 'valid', 'test'].includes(s!));
    if (bad.length) throw new CxrDataError(`${d.labels}: split column holds ${bad.map((s) => JSON.stringify(s)).join(', ')}; expected train, val (or valid) or test`, labels);
    const testPatients = new Set(full.samples.filter((s) => s.split === 'test').map((s) => s.patientId));
    const moved = full.samples.filter((s) => s.split !== 'test' && s.split !== undefined && testPatients.has(s.patientId)).length;
    if (moved) notes.push(`${at}: ${moved} images marked train or val belong to patients with test images; they are test images here, so no test patient is trained on`);
    const splitOf = (i: number) => (testPatients.has(full.samples[i].patientId) ? 'test' : full.samples[i].split === 'valid' ? 'val' : full.samples[i].split ?? 'train');
    const rows = (name: string) => full.samples.flatMap((_, i) => (splitOf(i) === name ? [i] : []));
    const val = rows('val');
    splits = { train: rows('train'), test: rows('test'), ...(val.length ? { val } : {}) };
    how = `${d.labels}'s split column`;
  } else {
    const parts = splitByPatient(full, { fractions: { train: 1 - d.testFraction, test: d.testFraction }, seed: o.seed, stratify: [full.tasks[0]] });
    splits = { train: parts.train, test: parts.test };
    how = `test ${Math.round(d.testFraction * 100)}% of patients`;
  }
  const description = `DICOM folder ${root} (${full.samples.length} radiographs${d.frontalOnly ? ', frontal views' : ''}, labels ${d.labels}, ${how}${ds.skipped.length ? `; ${ds.skipped.length} files skipped` : ''})`;
  return { dataset: full, splits, description, notes };
}

/** Skipped files as one line: how many, and the first few with their reasons. */
function skippedText(skipped: SkippedDicomFile[]): string {
  return `${plural(skipped.length, 'file')} skipped: ${skipped.slice(0, 4).map((s) => `${s.path} (${s.reason})`).join('; ')}${skipped.length > 4 ? '; ...' : ''}`;
}

/** The tasks asked for (or the source's default), each checked to exist. */
function chooseTasks(full: CxrDataset, o: OpenSourceOptions, at: string, fallback: readonly string[]): CxrDataset {
  const tasks = o.tasks ?? [...fallback];
  const unknown = tasks.filter((t) => !full.tasks.includes(t));
  if (unknown.length) throw new CxrDataError(`${at}.tasks: ${unknown.map((t) => JSON.stringify(t)).join(', ')} not among the tasks of the ${o.source} data (${full.tasks.join(', ')})`);
  return tasks.length === full.tasks.length && tasks.every((t, k) => full.tasks[k] === t) ? full : selectTasks(full, [...tasks]);
}

/** A file named in the options: absolute, or relative to the data root. */
function underRoot(root: string, file: string, field: string): string {
  const abs = isAbsolute(file) ? file : join(root, file);
  if (!existsSync(abs)) throw new CxrDataError(`${field}: ${abs} does not exist`, abs);
  return abs;
}

/**
 * The CSVs' Path column starts with `CheXpert-v1.0-small/`, so the root is the folder above it. A root set to
 * that folder itself (or a CSV of the full-size download) is named with the fix, not only as a missing file.
 */
function checkCheXpertRoot(root: string, trainCsv: string, at: string): void {
  if (isAbsolute(trainCsv) || existsSync(join(root, trainCsv))) return;
  const inner = trainCsv.split(/[\\/]/)[0];
  if (basename(root) === inner || existsSync(join(root, basename(trainCsv)))) {
    throw new CxrDataError(`${at}.root: ${root} is the ${inner}/ folder itself; set ${at}.root to the folder that holds it (${dirname(root)}): the CSVs' Path column starts with ${inner}/`, root);
  }
  const full = ['CheXpert-v1.0', 'CheXpert-v1.0-small'].find((dir) => dir !== inner && existsSync(join(root, dir, basename(trainCsv))));
  if (full) throw new CxrDataError(`${at}.chexpert.trainCsv: ${join(root, trainCsv)} does not exist, but ${join(root, full, basename(trainCsv))} does; set ${at}.chexpert.trainCsv and testCsv to ${full}/${basename(trainCsv)} and ${full}/valid.csv`, root);
}

/**
 * The dataset of the split rows only, in train, val, test order, each sample's `split` its split's name.
 * `limit` keeps about that many images of train or test (whole patients, stratified by the first task,
 * seeded: `seed` for train, `seed + 1` for test), for CI-sized runs.
 */
export function takeSplits(ds: CxrDataset, splits: { train: readonly number[]; val?: readonly number[]; test: readonly number[] }, options: { seed: number; limit?: { train?: number; test?: number } }): CxrDataset {
  const { seed, limit = {} } = options;
  let train = [...splits.train];
  let test = [...splits.test];
  const task0 = [ds.tasks[0]];
  if (limit.train && limit.train < train.length) train = splitByPatient(ds, { sizes: { keep: limit.train }, seed, indices: train, stratify: task0 }).keep;
  if (limit.test && limit.test < test.length) test = splitByPatient(ds, { sizes: { keep: limit.test }, seed: seed + 1, indices: test, stratify: task0 }).keep;
  const order = [...train.map((i) => [i, 'train'] as const), ...(splits.val ?? []).map((i) => [i, 'val'] as const), ...test.map((i) => [i, 'test'] as const)];
  const picked = subset(ds, order.map(([i]) => i));
  return { ...picked, samples: picked.samples.map((s, j) => ({ ...s, split: order[j][1] })) };
}
