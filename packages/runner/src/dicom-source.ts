import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { type DicomDataset, type DicomFolderSummary, type SkippedDicomFile, loadDicomFolder } from '@moco-cxr/cxr-data';
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
