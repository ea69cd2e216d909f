import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import {
  buildImageCache,
  checkSplitLeaks,
  CxrDataError,
  CHEXPERT_COMPETITION_TASKS,
  KERMANY_PATIENT_PATTERN,
  loadCheXpert,
  folderSplits,
  loadImageFolder,
  loadNihChestXray14,
  loadNlmTb,
  sampleFraction,
  selectTasks,
  shenzhenSplit,
  splitByPatient,
  subset,
  subsetImages,
  syntheticCxr,
  type CxrDataset,
  type ImageSet,
  type SkippedImage,
} from '@moco-cxr/cxr-data';
import { MOCO_CXR_DEFAULTS } from '@moco-cxr/moco';
import { epochsForFraction, PAPER_MAX_EPOCHS } from '@moco-cxr/protocols';
import { ConfigError, drawsFor, sourceOptions, type DataConfig, type RunnerConfig } from './config';
import { dicomDataSummary, dicomSummaryLines, loadDicomSource, type DicomDataSummary } from './dicom-source';
import { Progress, type Io } from './progress';
import { writeJsonAtomic } from './rundir';

export type SplitName = 'train' | 'val' | 'test';

/** One split as the protocols see it: an ImageSet in row order, with K labels (1 / 0 / NaN = masked) per image. */
export interface SplitData {
  name: SplitName;
  /** Rows of `PreparedData.dataset`, in image order. */
  indices: number[];
  images: ImageSet;
  /** N x K row-major, K = the number of tasks. */
  labels: Float32Array;
  paths: string[];
  patients: string[];
  studies: string[];
  /** True when some study holds several images (then the test-time prediction is the study max). */
  hasStudies: boolean;
}

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

function splitData(name: SplitName, ds: CxrDataset, images: ImageSet, rows: number[]): SplitData {
  const K = ds.tasks.length;
  const studies = rows.map((i) => ds.samples[i].studyId ?? ds.samples[i].path);
  const labels = new Float32Array(rows.length * K);
  rows.forEach((i, j) => labels.set(ds.labels.subarray(i * K, (i + 1) * K), j * K));
  return {
    name,
    indices: rows,
    images: subsetImages(images, rows),
    labels,
    paths: rows.map((i) => ds.samples[i].path),
    patients: rows.map((i) => ds.samples[i].patientId),
    studies,
    hasStudies: new Set(studies).size < studies.length,
  };
}

/** Positives, negatives and masked (NaN) labels of task k in an N x K matrix. */
function countLabels(labels: Float32Array, K: number, k: number): { positive: number; negative: number; masked: number } {
  let positive = 0;
  let negative = 0;
  for (let i = k; i < labels.length; i += K) {
    if (labels[i] === 1) positive++;
    else if (labels[i] === 0) negative++;
  }
  return { positive, negative, masked: labels.length / K - positive - negative };
}

/** Resolves a data root given relative to the working directory (or via MOCO_CXR_DATA). */
export function dataRoot(cfg: RunnerConfig, d: DataConfig = cfg.data, path = 'data'): string {
  const root = d.root ?? process.env.MOCO_CXR_DATA;
  if (!root) throw new Error(`${path}.root: no data directory given (use --data <dir>, ${path}.root in the config, or MOCO_CXR_DATA)`);
  const abs = isAbsolute(root) ? root : resolve(root);
  if (!existsSync(abs)) throw new Error(`${path}.root: ${abs} does not exist`);
  return abs;
}

/** A file named in the config: absolute, or relative to the data root. */
function underRoot(root: string, file: string, field: string): string {
  const abs = isAbsolute(file) ? file : join(root, file);
  if (!existsSync(abs)) throw new Error(`${field}: ${abs} does not exist`);
  return abs;
}

/**
 * The CSVs' Path column starts with `CheXpert-v1.0-small/`, so the root is the folder above it. A root set to
 * that folder itself (or a CSV of the full-size download) is named with the fix, not only as a missing file.
 */
function checkCheXpertRoot(root: string, trainCsv: string, path: string): void {
  if (isAbsolute(trainCsv) || existsSync(join(root, trainCsv))) return;
  const inner = trainCsv.split(/[\\/]/)[0];
  if (basename(root) === inner || existsSync(join(root, basename(trainCsv)))) {
    throw new Error(`${path}.root: ${root} is the ${inner}/ folder itself; set ${path}.root to the folder that holds it (${dirname(root)}): the CSVs' Path column starts with ${inner}/`);
  }
  const full = ['CheXpert-v1.0', 'CheXpert-v1.0-small'].find((dir) => dir !== inner && existsSync(join(root, dir, basename(trainCsv))));
  if (full) throw new Error(`${path}.chexpert.trainCsv: ${join(root, trainCsv)} does not exist, but ${join(root, full, basename(trainCsv))} does; set ${path}.chexpert.trainCsv and testCsv to ${full}/${basename(trainCsv)} and ${full}/valid.csv`);
}

/** The folder source's patient IDs: the Kermany names, each image its own patient, or the user's pattern. */
function folderPattern(p: string): RegExp | 'per-image' | string {
  return p === 'kermany' ? KERMANY_PATIENT_PATTERN : p;
}

/** Tasks a source trains by default, and the check that asked-for tasks exist. */
function chooseTasks(full: CxrDataset, d: DataConfig, path: string, fallback: readonly string[]): CxrDataset {
  const tasks = d.tasks ?? [...fallback];
  const unknown = tasks.filter((t) => !full.tasks.includes(t));
  if (unknown.length) throw new Error(`${path}.tasks: ${unknown.map((t) => JSON.stringify(t)).join(', ')} not among the tasks of the ${d.source} data (${full.tasks.join(', ')})`);
  return tasks.length === full.tasks.length && tasks.every((t, k) => full.tasks[k] === t) ? full : selectTasks(full, tasks);
}

/** A source's rows: the dataset (all tasks asked for), and its train / test rows (val is carved from train, or given). */
interface Loaded {
  full: CxrDataset;
  train: number[];
  test: number[];
  val?: number[];
  description: string;
  /** What was read differently from what a user may expect (folders not used, files ignored), to be said. */
  notes: string[];
}

/** Reads a real-data source into the dataset contract with its splits; every error names the config field or file. */
function loadSource(d: DataConfig, root: string, seed: number, path: string): Loaded {
  const o = sourceOptions(d);
  const rowsOf = (ds: CxrDataset, split: string) => ds.samples.flatMap((s, i) => (s.split === split ? [i] : []));
  if (d.source === 'folder') {
    const full = loadImageFolder(root, { positive: d.positiveClass, negatives: d.negativeClasses, patientPattern: folderPattern(o.folder.patientPattern) });
    // train/ and test/, and val/ or valid/ as the validation split when there is one; any other folder is said.
    const s = folderSplits(full);
    const notes = s.unused.map((u) => `${path}.root: split folder ${u.folder}/ (${u.images} image${u.images === 1 ? '' : 's'}) is not used; the splits are train/, test/ and val/ or valid/`);
    if (s.valFolder) notes.push(`${path}: validation is the ${s.valFolder}/ folder (${s.val!.length} images), not carved from train (${path}.valFraction is not used)`);
    if (full.ignored.length) notes.push(`${path}.root: ${full.ignored.length} file${full.ignored.length === 1 ? '' : 's'} in split or class folders ${full.ignored.length === 1 ? 'is' : 'are'} not a .png/.jpg/.jpeg image and ${full.ignored.length === 1 ? 'was' : 'were'} not read: ${full.ignored.slice(0, 3).join(', ')}${full.ignored.length > 3 ? ', ...' : ''}`);
    const folders = ['train', ...(s.valFolder ? [s.valFolder] : []), 'test'].map((f) => `${f}/`).join(', ');
    return { full: chooseTasks(full, d, path, [d.positiveClass]), train: s.train, test: s.test, val: s.val, description: `image folder ${root} (${folders})`, notes };
  }
  if (d.source === 'dicom') return loadDicomSource(d, root, seed, path);
  if (d.source === 'chexpert') {
    checkCheXpertRoot(root, o.chexpert.trainCsv, path);
    const opts = { uncertainty: o.chexpert.uncertainty, frontalOnly: o.chexpert.frontalOnly, tasks: d.tasks ?? [...CHEXPERT_COMPETITION_TASKS], root };
    const tr = loadCheXpert(underRoot(root, o.chexpert.trainCsv, `${path}.chexpert.trainCsv`), opts);
    const te = loadCheXpert(underRoot(root, o.chexpert.testCsv, `${path}.chexpert.testCsv`), opts);
    const full: CxrDataset = { root, tasks: tr.tasks, labels: Float32Array.from([...tr.labels, ...te.labels]), samples: [...tr.samples.map((s) => ({ ...s, split: 'train' })), ...te.samples.map((s) => ({ ...s, split: 'test' }))] };
    return { full, train: rowsOf(full, 'train'), test: rowsOf(full, 'test'), notes: [], description: `CheXpert ${root} (${o.chexpert.trainCsv} / ${o.chexpert.testCsv}${o.chexpert.frontalOnly ? ', frontal views' : ''})` };
  }
  if (d.source === 'nih') {
    const full = loadNihChestXray14(underRoot(root, o.nih.csv, `${path}.nih.csv`), {
      root,
      tasks: d.tasks ?? ['Effusion'],
      trainValList: underRoot(root, o.nih.trainValList, `${path}.nih.trainValList`),
      testList: underRoot(root, o.nih.testList, `${path}.nih.testList`),
    });
    return { full, train: rowsOf(full, 'train'), test: rowsOf(full, 'test'), notes: [], description: `NIH ChestX-ray14 ${root} (official train_val / test lists)` };
  }
  // nlm-tb: the paper's split, 65 / 15 / 20 redrawn until every split's normal:TB ratio is in (0.9, 1.2).
  const full = chooseTasks(loadNlmTb(root, { sets: o.nlmTb.sets }), d, path, ['Tuberculosis']);
  const s = shenzhenSplit(full, { seed });
  return { full, train: s.train, val: s.val, test: s.test, notes: [], description: `NLM TB ${root} (${o.nlmTb.sets.join(' + ')}, 65/15/20 split with balanced normal:TB)` };
}

const memo = new Map<string, Promise<PreparedData>>();

/**
 * The train / val / test splits a run uses, deterministic for a config: the synthetic dataset
 * (default), an image folder, CheXpert, NIH ChestX-ray14 or the NLM TB sets (validation carved from
 * train by patient unless the source fixes it), decoded once into the uint8 cache. `which` picks
 * `pretrainData` (transfer: MoCo pretrains on other data) when the config has one.
 */
export function prepareData(cfg: RunnerConfig, io: Io, experimentDir: string, which: 'data' | 'pretrainData' = 'data'): Promise<PreparedData> {
  const d = which === 'pretrainData' && cfg.pretrainData ? cfg.pretrainData : cfg.data;
  const path = d === cfg.data ? 'data' : 'pretrainData';
  const key = JSON.stringify([d, cfg.seed, experimentDir]);
  let p = memo.get(key);
  if (!p) {
    p = prepareDataUncached(d, path, cfg.seed, io, experimentDir);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

/** A source's images in split order: decoded into the cache, or (`decode` false) their labels only. */
interface LoadedRows {
  dataset: CxrDataset;
  images?: ImageSet;
  trainRows: number[];
  testRows: number[];
  valRows?: number[];
  skipped: SkippedImage[];
  description: string;
  notes: string[];
}

/**
 * The splits with no file in two of them and, by `sharedPatients`, no patient in two: `refuse` stops a
 * grid when it is planned (`plan`), and is said when a single command or job reads the data.
 */
function leakChecked(loaded: Loaded, d: DataConfig, path: string, plan: boolean): Loaded {
  // From train to test: `drop` keeps a patient in the last split holding them.
  const given: Record<string, number[]> = loaded.val ? { train: loaded.train, val: loaded.val, test: loaded.test } : { train: loaded.train, test: loaded.test };
  const policy = d.sharedPatients === 'refuse' && !plan ? 'allow' : d.sharedPatients;
  let checked;
  try {
    checked = checkSplitLeaks(loaded.full, given, { sharedPatients: policy, optionName: `${path}.sharedPatients` });
  } catch (err) {
    throw err instanceof CxrDataError ? new Error(`${path}: ${err.message}`) : err;
  }
  const notes = [...loaded.notes];
  if (policy === d.sharedPatients) notes.push(...checked.notes.map((n) => `${path}: ${n}`));
  else if (checked.sharedPatients.length) {
    const n = checked.sharedPatients.length;
    notes.push(`${path}: ${n} patient${n === 1 ? ' has' : 's have'} images in more than one split (${checked.sharedPatients.slice(0, 5).join(', ')}${n > 5 ? ', ...' : ''}); \`experiment\` refuses such data: set ${path}.sharedPatients to drop or allow`);
  }
  const out = checked.splits;
  return { ...loaded, train: out.train, test: out.test, ...(loaded.val ? { val: out.val } : {}), notes };
}

async function loadRows(d: DataConfig, path: string, seed: number, io: Io, experimentDir: string, decode: boolean, plan = false): Promise<LoadedRows> {
  if (d.source === 'synthetic') {
    const total = d.synthetic.train + d.synthetic.test;
    // Task 0 is the effusion-like finding; nodules are a second, distracting finding.
    const synth = syntheticCxr({ count: total, size: d.imageSize, seed, findings: { effusion: d.synthetic.prevalence, nodule: 0.3 }, exposure: d.synthetic.exposure });
    const dataset = chooseTasks(synth.dataset, d, path, [synth.dataset.tasks[0]]);
    // Patients hold several images: split by patient so no patient is in both train and test.
    const parts = splitByPatient(dataset, { sizes: { train: d.synthetic.train, test: d.synthetic.test }, seed, stratify: [dataset.tasks[0]] });
    const description = `synthetic chest X-rays, ${total} images at ${d.imageSize} px (seed ${seed}${d.synthetic.exposure !== 1 ? `, exposure spread ${d.synthetic.exposure}` : ''})`;
    return { dataset, images: synth.images, trainRows: parts.train, testRows: parts.test, skipped: [], description, notes: [] };
  }
  const root = dataRoot({ data: d } as RunnerConfig, d, path);
  const loaded = leakChecked(loadSource(d, root, seed, path), d, path, plan);
  const full = loaded.full;
  let tr = loaded.train;
  let te = loaded.test;
  const va = loaded.val ?? [];
  // A CI-sized slice: whole patients, stratified by the first task, seeded.
  const task0 = [full.tasks[0]];
  if (d.limit.train && d.limit.train < tr.length) tr = splitByPatient(full, { sizes: { keep: d.limit.train }, seed, indices: tr, stratify: task0 }).keep;
  if (d.limit.test && d.limit.test < te.length) te = splitByPatient(full, { sizes: { keep: d.limit.test }, seed: seed + 1, indices: te, stratify: task0 }).keep;
  const tag = (rows: number[], split: string) => rows.map((i) => ({ i, split }));
  const order = [...tag(tr, 'train'), ...tag(va, 'val'), ...tag(te, 'test')];
  const picked = subset(full, order.map((o) => o.i));
  // The run's own split names (NLM TB's val is fixed by the paper's split; NIH and CheXpert keep their lists').
  picked.samples = picked.samples.map((s, j) => ({ ...s, split: order[j].split }));
  let dataset = picked;
  let images: ImageSet | undefined;
  let skipped: SkippedImage[] = [];
  if (decode) {
    const cacheDir = d.cacheDir ? resolve(d.cacheDir) : join(experimentDir, 'cache');
    const bar = new Progress(io, 'decode images', picked.samples.length, 'img');
    const cache = await buildImageCache(picked, {
      size: d.imageSize,
      cacheDir,
      onBadImage: d.skipBadImages ? 'skip' : 'throw',
      onProgress: (p) => bar.set(p.done, { reused: p.reused, skipped: p.skipped }),
    });
    skipped = cache.skipped;
    dataset = cache.dataset;
    images = cache;
    if (skipped.length && !io.quiet) io.err(`data: skipped ${skipped.length} unreadable images, e.g. ${skipped[0].path}: ${skipped[0].reason}\n`);
  }
  const rowsOf = (split: string) => dataset.samples.flatMap((s, i) => (s.split === split ? [i] : []));
  const description = `${loaded.description} (${dataset.samples.length} images at ${d.imageSize} px${skipped.length ? `, ${skipped.length} bad images skipped` : ''})`;
  return { dataset, images, trainRows: rowsOf('train'), testRows: rowsOf('test'), ...(loaded.val ? { valRows: rowsOf('val') } : {}), skipped, description, notes: loaded.notes };
}

/** Train / val / test rows with a known label, validation carved from train by patient unless the source fixes it; plus the unlabelled train rows (MoCo still pretrains on them). */
function carveSplits(dataset: CxrDataset, r: LoadedRows, d: DataConfig, seed: number) {
  const K = dataset.tasks.length;
  // Rows with no known label on any task can be neither trained nor scored.
  const known = (rows: number[]) => rows.filter((i) => Array.from(dataset.labels.subarray(i * K, (i + 1) * K)).some((v) => !Number.isNaN(v)));
  const knownTrain = new Set(known(r.trainRows));
  const unlabelled = r.trainRows.filter((i) => !knownTrain.has(i));
  const trainRows = known(r.trainRows);
  const test = known(r.testRows);
  const carved = r.valRows
    ? { train: trainRows, val: known(r.valRows) }
    : splitByPatient(dataset, { fractions: { train: 1 - d.valFraction, val: d.valFraction }, seed, indices: trainRows, stratify: [dataset.tasks[0]] });
  return { train: carved.train, val: carved.val, test, unlabelled };
}

/** Every split needs a positive and a negative of every task: AUROC needs both. */
function checkSplitLabels(dataset: CxrDataset, splits: Record<SplitName, number[]>, path: string): void {
  const K = dataset.tasks.length;
  for (const name of ['train', 'val', 'test'] as const) {
    const labels = new Float32Array(splits[name].length * K);
    splits[name].forEach((i, j) => labels.set(dataset.labels.subarray(i * K, (i + 1) * K), j * K));
    dataset.tasks.forEach((task, k) => {
      const c = countLabels(labels, K, k);
      if (c.positive === 0 || c.negative === 0) {
        throw new Error(`${path}: the ${name} split has ${c.positive} positive and ${c.negative} negative images for task "${task}"${c.masked ? ` (${c.masked} masked)` : ''}; AUROC needs both (raise ${path}.limit or ${path}.valFraction, or drop the task from ${path}.tasks)`);
      }
    });
  }
}

/** Notes said once per process (a grid run here plans, then runs its jobs, on the same data). */
const said = new Set<string>();
function sayNotes(io: Io, notes: string[]): void {
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
  const tasks = dataset.tasks;
  const K = tasks.length;
  const carved = carveSplits(dataset, loaded, d, seed);
  checkSplitLabels(dataset, carved, path);
  const pretrainRows = [...carved.train, ...carved.val, ...carved.unlabelled];
  return {
    dataset,
    tasks,
    task: tasks[0],
    train: splitData('train', dataset, images, carved.train),
    val: splitData('val', dataset, images, carved.val),
    test: splitData('test', dataset, images, carved.test),
    pretrainImages: subsetImages(images, pretrainRows),
    pretrainLabels: Float32Array.from(pretrainRows, (i) => dataset.labels[i * K]),
    skipped,
    description,
  };
}

/**
 * The label-fraction draws of the train split: each about `fraction` of its patients, holding a positive
 * and a negative of every task. A fraction that cannot give them is an error naming the fraction, the
 * task and what to change (the same whether found when the grid is planned or when its cell runs).
 */
export function fractionDraws(dataset: CxrDataset, trainIndices: number[], tasks: string[], fraction: number, draws: number, seed: number): number[][] {
  // A draw holds at least two patients (a positive and a negative): a smaller fraction would be raised to two silently.
  const units = new Set(trainIndices.map((i) => dataset.samples[i].patientId)).size;
  if (fraction < 1 && Math.round(fraction * units) < 2) {
    // 1.5 / units, rounded up to three significant digits: the smallest fraction whose draw rounds to 2.
    const mag = 10 ** (Math.floor(Math.log10(1.5 / units)) - 2);
    const smallest = Number((Math.ceil(1.5 / units / mag) * mag).toPrecision(3));
    throw new Error(
      `fractions: ${fraction} of the ${units} train patients is ${+(fraction * units).toPrecision(3)} patients; a draw needs at least 2 (a positive and a negative), ` +
        `so the smallest fraction this train split allows is ${smallest}: raise or remove this fraction in fractions`,
    );
  }
  try {
    return sampleFraction(dataset, fraction, { draws, seed, by: 'patient', indices: trainIndices, tasks });
  } catch (err) {
    if (!(err instanceof CxrDataError)) throw err;
    // One task alone always fits in 2 patients once the split has both labels (checked first): it is the tasks together.
    const patients = new Set(trainIndices.map((i) => dataset.samples[i].patientId)).size;
    const n = Math.min(patients, Math.max(2, Math.round(fraction * patients)));
    const fix = ['raise or remove this fraction in fractions', ...(tasks.length > 1 ? ['drop tasks from data.tasks'] : []), 'give the train split more patients (data.limit.train, data.valFraction)'];
    throw new Error(
      `fractions: ${fraction} (${draws} draw${draws > 1 ? 's' : ''}) cannot be drawn: no draw of ${n} of the ${patients} train patients holds a positive and a negative image of ` +
        `${tasks.length > 1 ? `every task together (${tasks.map((t) => JSON.stringify(t)).join(', ')})` : `task ${JSON.stringify(tasks[0])}`}; ${fix.slice(0, -1).join(', ')} or ${fix.at(-1)}`,
    );
  }
}

/**
 * What an experiment checks when it plans its grid, before any job runs and without decoding an
 * image: every split has a positive and a negative of every task, and every label fraction x draw
 * can be drawn. Throws naming the field (`fractions: 0.001 ...`) and what to change.
 */
export async function checkGridData(cfg: RunnerConfig, io: Io, source = 'config'): Promise<RunnerConfig> {
  const d = cfg.data;
  const quiet = { ...io, quiet: true };
  // `plan`: a patient in two splits stops the grid here unless data.sharedPatients says otherwise.
  const loaded = await loadRows(d, 'data', cfg.seed, quiet, '', false, true);
  const carved = carveSplits(loaded.dataset, loaded, d, cfg.seed);
  const notes = [...loaded.notes];
  // MoCo pretrains on the train and validation images (all of them, labelled or not), of pretrainData when given.
  let moco: { images: number; of: string } | undefined;
  if (cfg.initialisations.includes('moco') && !cfg.mocoWeights) {
    if (cfg.pretrainData) {
      const pre = await loadRows(cfg.pretrainData, 'pretrainData', cfg.seed, quiet, '', false, true);
      const c = carveSplits(pre.dataset, pre, cfg.pretrainData, cfg.seed);
      notes.push(...pre.notes);
      moco = { images: c.train.length + c.val.length + c.unlabelled.length, of: 'pretrainData' };
    } else moco = { images: carved.train.length + carved.val.length + carved.unlabelled.length, of: 'data' };
  }
  let queueSize = cfg.pretrain.queueSize;
  try {
    checkSplitLabels(loaded.dataset, carved, 'data');
    cfg.fractions.forEach((fraction, fi) => {
      if (fraction < 1) fractionDraws(loaded.dataset, carved.train, loaded.dataset.tasks, fraction, drawsFor(cfg, fi), cfg.seed);
    });
    if (moco) queueSize = checkPretrainSizes(cfg, moco.images, moco.of, notes);
    notes.push(...epochCapNotes(cfg));
  } catch (err) {
    // The config asks for what the data cannot give: a config problem (exit code 2), found before any job runs.
    throw new ConfigError([(err as Error).message], source);
  } finally {
    sayNotes(io, notes);
  }
  return queueSize === cfg.pretrain.queueSize ? cfg : { ...cfg, pretrain: { ...cfg.pretrain, queueSize } };
}

/** The fractions whose paper epochs are capped at PAPER_MAX_EPOCHS (as protocolEpochs does), to be said when the grid is planned. */
function epochCapNotes(cfg: RunnerConfig): string[] {
  const notes: string[] = [];
  for (const protocol of ['linear', 'finetune'] as const) {
    const p = cfg[protocol];
    if (!cfg.protocols.includes(protocol) || p.epochs !== 'paper' || (p.maxEpochs > 0 && p.maxEpochs <= PAPER_MAX_EPOCHS)) continue;
    for (const f of cfg.fractions) {
      const n = epochsForFraction(f);
      if (n > PAPER_MAX_EPOCHS) notes.push(`${protocol}.epochs: the paper's formula gives ${n} epochs at fraction ${f}; capped at ${PAPER_MAX_EPOCHS}, its value at 0.1%, the smallest fraction the paper trains`);
    }
  }
  return notes;
}

/**
 * MoCo's batch and queue against the images it pretrains on: a batch needs that many images, and the
 * queue holds keys of earlier batches, which must be other images (the paper's K = 24576 is far below
 * CheXpert's ~190,000 training images). K is at most the images of one epoch (full batches).
 */
function checkPretrainSizes(cfg: RunnerConfig, images: number, of: string, notes: string[]): number {
  const { batchSize, queueSize } = cfg.pretrain;
  const what = `${images} ${of} train and validation images MoCo pretrains on`;
  if (images < batchSize) throw new Error(`pretrain.batchSize: ${batchSize} is more than the ${what}; lower it`);
  const perEpoch = Math.floor(images / batchSize) * batchSize;
  if (queueSize > perEpoch && queueSize === MOCO_CXR_DEFAULTS.queueSize) {
    // The paper's K is for CheXpert; on smaller data the default is capped (as @moco-cxr/moco caps its own default), and said.
    notes.push(`pretrain.queueSize: the default ${queueSize} is capped at ${perEpoch}, the images of one epoch (the ${what}, in batches of ${batchSize})`);
    return perEpoch;
  }
  if (queueSize > perEpoch) {
    throw new Error(
      `pretrain.queueSize: ${queueSize} is larger than the ${perEpoch} images of one epoch (the ${what}, in batches of ${batchSize}); ` +
        `the queue's keys must be other images than the batch's, so set pretrain.queueSize to at most ${perEpoch}`,
    );
  }
  return queueSize;
}

export interface DataSummary {
  description: string;
  /** The first (main) task, and every task. */
  task: string;
  tasks: string[];
  /** positive / negative count the first task; `perTask` every task (masked = NaN labels). */
  splits: Record<SplitName, { images: number; patients: number; positive: number; negative: number; perTask: Record<string, { positive: number; negative: number; masked: number }>; imagesPerPatient: { max: number; mean: number } }>;
  patientsInTwoSplits: number;
  skipped: SkippedImage[];
  /** A DICOM source: views, modalities, bits stored, photometric interpretations and transfer syntaxes found, and the files left out. */
  dicom?: DicomDataSummary;
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
    const K = data.tasks.length;
    const first = countLabels(s.labels, K, 0);
    splits[s.name] = {
      images: s.images.count,
      patients: perPatient.size,
      positive: first.positive,
      negative: first.negative,
      perTask: Object.fromEntries(data.tasks.map((t, k) => [t, countLabels(s.labels, K, k)])),
      imagesPerPatient: { max: Math.max(...counts), mean: s.images.count / perPatient.size },
    };
  }
  // The Kermany test split is given by its authors; a patient may appear in both train and test there.
  const patientsInTwoSplits = [...seen.values()].filter((v) => v.size > 1).length;
  const dicom = cfg.data.source === 'dicom' ? dicomDataSummary(cfg.data, dataRoot(cfg), 'data') : undefined;
  const summary: DataSummary = { description: data.description, task: data.task, tasks: data.tasks, splits, patientsInTwoSplits, skipped: data.skipped, ...(dicom ? { dicom } : {}) };
  writeJsonAtomic(join(opts.out, 'data-summary.json'), summary);
  if (!io.quiet) {
    const lines = [`${data.description}; task${data.tasks.length > 1 ? 's' : ''} ${data.tasks.map((t) => `"${t}"`).join(', ')}`, `split   images  patients  positive  negative  max img/patient${data.tasks.length > 1 ? `  (counts of "${data.task}")` : ''}`];
    for (const [name, s] of Object.entries(splits)) {
      lines.push(`${name.padEnd(6)}  ${String(s.images).padStart(6)}  ${String(s.patients).padStart(8)}  ${String(s.positive).padStart(8)}  ${String(s.negative).padStart(8)}  ${String(s.imagesPerPatient.max).padStart(15)}`);
    }
    if (data.tasks.length > 1) {
      for (const t of data.tasks) lines.push(`${t}: ${(['train', 'val', 'test'] as const).map((n) => `${n} ${splits[n].perTask[t].positive}+/${splits[n].perTask[t].negative}-${splits[n].perTask[t].masked ? `/${splits[n].perTask[t].masked} masked` : ''}`).join(', ')}`);
    }
    lines.push(`patients in more than one split: ${patientsInTwoSplits}`);
    lines.push(`bad files: ${data.skipped.length}${data.skipped.slice(0, 10).map((s) => `\n  ${s.path}: ${s.reason}`).join('')}`);
    if (dicom) lines.push(...dicomSummaryLines(dicom));
    io.err(`${lines.join('\n')}\n`);
  }
  return summary;
}
