import { type Dirent, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
export function loadImageFolder(rootDir: string, options: ImageFolderOptions = {}): CxrDataset {
  const root = resolve(rootDir);
  const pattern = compilePattern(options.patientPattern);
  const splits = options.splits ?? listDirs(root, root);
  if (splits.length === 0) throw new CxrDataError(`loadImageFolder: no split directories under ${root} (expected <split>/<CLASS>/<image>)`, root);
  const entries: { split: string; cls: string; file: string }[] = [];
  for (const split of splits) {
    if (split.includes('/') || split.includes('\\') || split === '..' || split === '.') throw new CxrDataError(`loadImageFolder: split ${JSON.stringify(split)} is not a plain directory name`);
    for (const cls of listDirs(root, join(root, split))) {
      const clsDir = join(root, split, cls);
      const files = list(clsDir)
        .filter((e) => IMAGE_EXT.test(e.name) && entryKind(root, clsDir, e) === 'file')
        .map((e) => e.name)
        .sort();
      for (const file of files) entries.push({ split, cls, file });
    }
  }
  if (entries.length === 0) throw new CxrDataError(`loadImageFolder: no .png/.jpg/.jpeg images under ${root}/{${splits.join(',')}}/<CLASS>/`, root);
  const classes = [...new Set(entries.map((e) => e.cls))].sort();
  if (options.positive !== undefined && !classes.includes(options.positive)) {
    throw new CxrDataError(`loadImageFolder: positive class ${JSON.stringify(options.positive)} is not among the classes found under ${root}: ${classes.join(', ')}`, root);
  }
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
  return { root, tasks, labels, samples };
}
