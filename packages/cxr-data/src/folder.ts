import { type Dirent, readdirSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { CxrDataError } from './errors';
import { entryKind } from './paths';
import type { CxrDataset, CxrSample } from './types';

/**
 * Patient IDs in Kermany file names: `person1000_bacteria_2931.jpeg` -> `person1000`,
 * `IM-0115-0001.jpeg` and `IM-0115-0001-0002.jpeg` -> `IM-0115`, `NORMAL2-IM-0927-0001.jpeg` -> `NORMAL2-IM-0927`.
 */
export const KERMANY_PATIENT_PATTERN = /^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-/;

const IMAGE_EXT = /\.(png|jpe?g)$/i;

export interface ImageFolderOptions {
  /** Split directories to read (e.g. ['train']). Default: every directory under root. */
  splits?: string[];
  /**
   * Patient ID = the first capture group that matched the file name (a RegExp, or its source as a string).
   * Every file name must match: the error names the files that do not. `'per-image'` (or leaving it out)
   * makes each image its own patient.
   */
  patientPattern?: RegExp | string;
  /** One binary task named after this class (1 if the image is in it). Default: one task per class, one-hot. */
  positive?: string;
  /**
   * With `positive`: the class folders whose images are negatives (0). Default: the one other class when
   * there is exactly one; with more, naming them is required, so a stray folder never becomes negatives silently.
   */
  negatives?: readonly string[];
}

/** A folder dataset, with the files under it that are not images of a class folder (READMEs, other formats). */
export interface ImageFolderDataset extends CxrDataset {
  /** Paths relative to the root, sorted: non-image files in split and class folders (dot files left out). */
  ignored: string[];
}

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new CxrDataError(`loadImageFolder: cannot list ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, dir);
  }
}

// Symlinked split/class folders and images are followed (inside the root) so that no image is dropped silently.
function listDirs(root: string, dir: string): string[] {
  return list(dir).filter((e) => entryKind(root, dir, e) === 'dir').map((e) => e.name).sort();
}

/** Parses a patient ID from a file name with `pattern`; throws naming the file when it does not match. */
export function parsePatientId(fileName: string, pattern: RegExp): string {
  const m = pattern.exec(fileName);
  const id = m?.slice(1).find((g) => g !== undefined);
  if (id === undefined) throw new CxrDataError(`patientPattern ${pattern} does not match file name ${JSON.stringify(fileName)} (or has no capture group)`, fileName);
  return id;
}

function compilePattern(p: RegExp | string | undefined): RegExp | undefined {
  if (p === undefined || p === 'per-image') return undefined;
  if (p instanceof RegExp) return p;
  if (typeof p !== 'string') throw new CxrDataError(`loadImageFolder: patientPattern must be a RegExp, a regular expression string or 'per-image', got ${JSON.stringify(p)}`);
  let re: RegExp;
  try {
    re = new RegExp(p);
  } catch (err) {
    throw new CxrDataError(`loadImageFolder: patientPattern ${JSON.stringify(p)} is not a regular expression: ${(err as Error).message}`);
  }
  // An alternation with the empty string always matches, so its result has one slot per capture group.
  if (new RegExp(`(?:${p})|`).exec('')!.length < 2) throw new CxrDataError(`loadImageFolder: patientPattern ${JSON.stringify(p)} has no capture group; its first group must be the patient ID`);
  return re;
}

/** Loads the folder layout `<split>/<CLASS>/<image>` (Kermany and many others). */
export function loadImageFolder(rootDir: string, options: ImageFolderOptions = {}): ImageFolderDataset {
  const root = resolve(rootDir);
  const pattern = compilePattern(options.patientPattern);
  const splits = options.splits ?? listDirs(root, root);
  if (splits.length === 0) throw new CxrDataError(`loadImageFolder: no split directories under ${root} (expected <split>/<CLASS>/<image>)`, root);
  const entries: { split: string; cls: string; file: string }[] = [];
  const ignored: string[] = [];
  for (const split of splits) {
    if (split.includes('/') || split.includes('\\') || split === '..' || split === '.') throw new CxrDataError(`loadImageFolder: split ${JSON.stringify(split)} is not a plain directory name`);
    const splitDir = join(root, split);
    const classes: string[] = [];
    for (const e of list(splitDir)) {
      const kind = entryKind(root, splitDir, e);
      if (kind === 'dir') classes.push(e.name);
      else if (e.name.startsWith('.')) continue;
      // A file where a class folder belongs would otherwise vanish, and the split's counts mislead.
      else if (IMAGE_EXT.test(e.name)) throw new CxrDataError(`loadImageFolder: ${split}/${e.name} is an image outside a class folder (expected <split>/<CLASS>/<image>); move it into its class folder`, join(splitDir, e.name));
      else if (extname(e.name) === '') throw new CxrDataError(`loadImageFolder: ${split}/${e.name} is a file, not a class folder (expected <split>/<CLASS>/<image>)`, join(splitDir, e.name));
      else ignored.push(`${split}/${e.name}`);
    }
    for (const cls of classes.sort()) {
      const clsDir = join(root, split, cls);
      const files: string[] = [];
      for (const e of list(clsDir)) {
        if (e.name.startsWith('.')) continue;
        if (IMAGE_EXT.test(e.name) && entryKind(root, clsDir, e) === 'file') files.push(e.name);
        else ignored.push(`${split}/${cls}/${e.name}`);
      }
      for (const file of files.sort()) entries.push({ split, cls, file });
    }
  }
  if (entries.length === 0) throw new CxrDataError(`loadImageFolder: no .png/.jpg/.jpeg images under ${root}/{${splits.join(',')}}/<CLASS>/`, root);
  const classes = [...new Set(entries.map((e) => e.cls))].sort();
  if (options.positive !== undefined && !classes.includes(options.positive)) {
    throw new CxrDataError(`loadImageFolder: positive class ${JSON.stringify(options.positive)} is not among the classes found under ${root}: ${classes.join(', ')}`, root);
  }
  if (options.positive !== undefined) checkNegatives(root, entries, classes, options.positive, options.negatives);
  const tasks = options.positive !== undefined ? [options.positive] : classes;
  const K = tasks.length;
  const labels = new Float32Array(entries.length * K);
  const unmatched: string[] = [];
  const samples: CxrSample[] = entries.map((e, i) => {
    if (options.positive !== undefined) labels[i] = e.cls === options.positive ? 1 : 0;
    else labels[i * K + classes.indexOf(e.cls)] = 1;
    const path = `${e.split}/${e.cls}/${e.file}`;
    let patientId = path;
    if (pattern) {
      const m = pattern.exec(e.file);
      const id = m?.slice(1).find((g) => g !== undefined);
      if (id === undefined) unmatched.push(path);
      else patientId = id;
    }
    return { path, patientId, split: e.split, meta: { class: e.cls } };
  });
  // One error for all of them: a single odd name must not silently change how the whole set is grouped.
  if (unmatched.length > 0) {
    const shown = unmatched.slice(0, 5).map((f) => JSON.stringify(f)).join(', ');
    throw new CxrDataError(
      `loadImageFolder: ${unmatched.length} of ${entries.length} file names under ${root} do not match patientPattern ${pattern}: ${shown}${unmatched.length > 5 ? `, ... (${unmatched.length - 5} more)` : ''}; ` +
        `rename them, set patientPattern to a pattern whose first group is the patient ID, or patientPattern: 'per-image' to make each image its own patient`,
      join(root, unmatched[0]),
    );
  }
  return { root, tasks, labels, samples, ignored: ignored.sort() };
}

/** Every class besides the positive one must be a named negative (or the only other class). */
function checkNegatives(root: string, entries: { split: string; cls: string }[], classes: string[], positive: string, negatives: readonly string[] | undefined): void {
  const others = classes.filter((c) => c !== positive);
  if (negatives === undefined) {
    if (others.length <= 1) return;
    throw new CxrDataError(
      `loadImageFolder: positive class ${JSON.stringify(positive)} and ${others.length} other classes (${others.join(', ')}) under ${root}: ` +
        `name the negative classes (negatives), or remove the folders that are neither`,
      root,
    );
  }
  for (const n of negatives) {
    if (!classes.includes(n)) throw new CxrDataError(`loadImageFolder: negative class ${JSON.stringify(n)} is not among the classes found under ${root}: ${classes.join(', ')}`, root);
    if (n === positive) throw new CxrDataError(`loadImageFolder: class ${JSON.stringify(n)} is both the positive class and a negative`, root);
  }
  const stray = new Map<string, number>();
  for (const e of entries) if (e.cls !== positive && !negatives.includes(e.cls)) stray.set(`${e.split}/${e.cls}`, (stray.get(`${e.split}/${e.cls}`) ?? 0) + 1);
  if (stray.size > 0) {
    const [folder, count] = [...stray.entries()][0];
    throw new CxrDataError(
      `loadImageFolder: class folder ${folder} (${count} image${count === 1 ? '' : 's'}) is neither the positive class ${JSON.stringify(positive)} nor a negative (${negatives.join(', ')})` +
        `${stray.size > 1 ? `; also ${[...stray.keys()].slice(1).join(', ')}` : ''}; add it to the negatives or remove it`,
      join(root, folder),
    );
  }
}

/** The split folders a folder dataset is read as: train, test and (when given) `val` or `valid`. */
export const FOLDER_VAL_NAMES = ['val', 'valid'] as const;

export interface FolderSplits {
  /** Rows of the dataset in each split. */
  train: number[];
  test: number[];
  /** Rows of the `val/` or `valid/` folder (undefined without one: validation is then the caller's to carve). */
  val?: number[];
  valFolder?: string;
  /** Split folders that are none of these, with their image counts: not used, and to be said. */
  unused: { folder: string; images: number }[];
}

/** Train / val / test rows of a `loadImageFolder` dataset by split folder; throws without train/ and test/, or with both val/ and valid/. */
export function folderSplits(ds: CxrDataset): FolderSplits {
  const rows = new Map<string, number[]>();
  ds.samples.forEach((s, i) => {
    const name = s.split ?? '';
    (rows.get(name) ?? rows.set(name, []).get(name)!).push(i);
  });
  const found = [...rows.keys()].sort();
  if (!rows.has('train') || !rows.has('test')) throw new CxrDataError(`expected train/ and test/ split folders under ${ds.root}, found ${found.join(', ')}`, ds.root);
  const vals = FOLDER_VAL_NAMES.filter((v) => rows.has(v));
  if (vals.length > 1) throw new CxrDataError(`both val/ and valid/ split folders are under ${ds.root}; keep one validation folder`, ds.root);
  const used = new Set(['train', 'test', ...vals]);
  return {
    train: rows.get('train')!,
    test: rows.get('test')!,
    val: vals.length ? rows.get(vals[0]) : undefined,
    valFolder: vals[0],
    unused: found.filter((f) => !used.has(f)).map((folder) => ({ folder, images: rows.get(folder)!.length })),
  };
}
