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
  /** Patient ID = the first capture group that matched the file name. Without it, each image is its own patient. */
  patientPattern?: RegExp;
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

/** Loads the folder layout `<split>/<CLASS>/<image>` (Kermany and many others). */
export function loadImageFolder(rootDir: string, options: ImageFolderOptions = {}): CxrDataset {
  const root = resolve(rootDir);
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
  const samples: CxrSample[] = entries.map((e, i) => {
    if (options.positive !== undefined) labels[i] = e.cls === options.positive ? 1 : 0;
    else labels[i * K + classes.indexOf(e.cls)] = 1;
    const path = `${e.split}/${e.cls}/${e.file}`;
    const patientId = options.patientPattern ? parsePatientId(e.file, options.patientPattern) : path;
    return { path, patientId, split: e.split, meta: { class: e.cls } };
  });
  return { root, tasks, labels, samples };
}
