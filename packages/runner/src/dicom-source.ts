import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { type CxrDataset, type DicomDataset, type DicomFolderSummary, type SkippedDicomFile, loadDicomFolder, selectTasks, splitByPatient } from '@moco-cxr/cxr-data';
import { type DataConfig, sourceOptions } from './config';

/**
 * The secret that keys patients and studies: MOCO_CXR_PATIENT_SALT when set, else (undefined) cxr-data derives one
 * from the files' identifiers, so every process and queue worker reading the same folder keys it alike (study keys
 * pair the cells' test scores) and nothing that can recompute the keys is ever written. Splits do not depend on it.
 */
export function patientSalt(): string | undefined {
  const env = process.env.MOCO_CXR_PATIENT_SALT;
  if (env === undefined || env === '') return undefined;
  if (env.length < 8) throw new Error('MOCO_CXR_PATIENT_SALT: the salt of patient keys must be at least 8 characters');
  return env;
}

/** The DICOM folder of a data block, read with its options; `path` names the block in errors. */
export function readDicomFolder(d: DataConfig, root: string, path: string): DicomDataset {
  const o = sourceOptions(d).dicom;
  const labels = isAbsolute(o.labels) ? o.labels : join(root, o.labels);
  if (!existsSync(labels)) throw new Error(`${path}.dicom.labels: ${labels} does not exist (a CSV with a path or SOPInstanceUID column and one column per task)`);
  const salt = patientSalt();
  return loadDicomFolder(root, { ...(salt ? { patientSalt: salt } : {}), labels, key: o.key, frontalOnly: o.frontalOnly, modalities: o.modalities });
}

/** Skipped files as one line: how many, and the first few with their reasons. */
function skippedText(skipped: SkippedDicomFile[]): string {
  return `${skipped.length} file${skipped.length === 1 ? '' : 's'} skipped: ${skipped.slice(0, 4).map((s) => `${s.path} (${s.reason})`).join('; ')}${skipped.length > 4 ? '; ...' : ''}`;
}

/**
 * The dicom source's rows: test from the CSV's split column when it has one (a patient with a test image is
 * wholly test, so MoCo never pretrains on a test patient), else `testFraction` of the patients, stratified.
 */
export function loadDicomSource(d: DataConfig, root: string, seed: number, path: string): { full: CxrDataset; train: number[]; test: number[]; val?: number[]; description: string; notes: string[] } {
  const o = sourceOptions(d).dicom;
  const ds = readDicomFolder(d, root, path);
  let full: CxrDataset = ds;
  if (d.tasks) {
    const unknown = d.tasks.filter((t) => !ds.tasks.includes(t));
    if (unknown.length) throw new Error(`${path}.tasks: ${unknown.map((t) => JSON.stringify(t)).join(', ')} not among the task columns of ${o.labels} (${ds.tasks.join(', ')})`);
    full = selectTasks(ds, d.tasks);
  }
  const notes = ds.notes.map((n) => `${path}: ${n}`);
  if (ds.skipped.length) notes.push(`${path}.root: ${skippedText(ds.skipped)}`);
  const splits = new Set(full.samples.map((s) => s.split).filter((s) => s !== undefined));
  let train: number[];
  let test: number[];
  let val: number[] | undefined;
  let how: string;
  if (splits.size > 0) {
    const bad = [...splits].filter((s) => !['train', 'val', 'valid', 'test'].includes(s!));
    if (bad.length) throw new Error(`${o.labels}: split column holds ${bad.map((s) => JSON.stringify(s)).join(', ')}; expected train, val (or valid) or test`);
    const testPatients = new Set(full.samples.filter((s) => s.split === 'test').map((s) => s.patientId));
    const moved = full.samples.filter((s) => s.split !== 'test' && s.split !== undefined && testPatients.has(s.patientId)).length;
    if (moved) notes.push(`${path}: ${moved} images marked train or val belong to patients with test images; they are test images here, so no test patient is trained on`);
    const splitOf = (i: number) => (testPatients.has(full.samples[i].patientId) ? 'test' : full.samples[i].split === 'valid' ? 'val' : full.samples[i].split ?? 'train');
    const rows = (name: string) => full.samples.flatMap((_, i) => (splitOf(i) === name ? [i] : []));
    train = rows('train');
    test = rows('test');
    const v = rows('val');
    if (v.length) val = v;
    how = `${o.labels}'s split column`;
  } else {
    const parts = splitByPatient(full, { fractions: { train: 1 - o.testFraction, test: o.testFraction }, seed, stratify: [full.tasks[0]] });
    train = parts.train;
    test = parts.test;
    how = `test ${Math.round(o.testFraction * 100)}% of patients`;
  }
  const description = `DICOM folder ${root} (${full.samples.length} radiographs${o.frontalOnly ? ', frontal views' : ''}, labels ${o.labels}, ${how}${ds.skipped.length ? `; ${ds.skipped.length} files skipped` : ''})`;
  return { full, train, test, ...(val ? { val } : {}), description, notes };
}

/** What `moco-cxr data` shows of a DICOM source beyond the counts: what the headers hold, and every file left out. */
export interface DicomDataSummary extends DicomFolderSummary {
  skipped: SkippedDicomFile[];
}

export function dicomDataSummary(d: DataConfig, root: string, path: string): DicomDataSummary {
  const ds = readDicomFolder(d, root, path);
  return { ...ds.summary, skipped: ds.skipped };
}

/** The summary as lines for the terminal. */
export function dicomSummaryLines(s: DicomDataSummary): string[] {
  const counts = (m: Record<string, number>) => Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k, n]) => `${k} ${n}`).join(', ');
  return [
    `views: ${counts(s.views)}`,
    `modalities: ${counts(s.modalities)}`,
    `bits stored: ${counts(s.bitsStored)}`,
    `photometric interpretations: ${counts(s.photometricInterpretations)}`,
    `transfer syntaxes: ${counts(s.transferSyntaxes)}`,
    `files skipped: ${s.skipped.length}${s.skipped.slice(0, 10).map((f) => `\n  ${f.path}: ${f.reason}`).join('')}${s.skipped.length > 10 ? `\n  ... (${s.skipped.length - 10} more)` : ''}`,
  ];
}
