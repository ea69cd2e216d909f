import { createHash, createHmac } from 'node:crypto';
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type CsvTable, readCsv } from '../csv';
import { CxrDataError } from '../errors';
import { entryKind, realDir } from '../paths';
import type { CxrDataset, CxrSample } from '../types';
import { DICOM_LIMITS, type DicomHeader, type DicomLimits, RADIOGRAPH_MODALITIES, TRANSFER_SYNTAXES, isDicomBytes, parseDicomBytes } from './header';

/** Storage classes that hold no image, named when they are skipped. */
const NON_IMAGE_CLASSES: [RegExp, string][] = [
  [/^1\.2\.840\.10008\.1\.3\.10$/, 'media storage directory (DICOMDIR)'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.59$/, 'key object selection'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\./, 'structured report'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.11\./, 'presentation state'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.104\./, 'encapsulated document'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.66/, 'raw data / registration / segmentation'],
];

export interface DicomFolderOptions {
  /**
   * Secret mixed into every patient and study key (HMAC-SHA-256), so that PatientID and StudyInstanceUID never
   * leave the loader in clear and cannot be recovered by hashing guessed IDs. At least 8 characters; keep it
   * out of shared run directories. The same salt gives the same keys. Default: a salt derived from the
   * identifiers of the images read (SOPInstanceUID, StudyInstanceUID, PatientID), so every process that reads
   * the same folder gets the same keys, and no one without the files can recompute them.
   */
  patientSalt?: string;
  /** CSV of labels (absolute, or relative to the root): a `path` (relative to the root) or `SOPInstanceUID` column, task columns of 1 / 0 / empty, optionally `split`. */
  labels?: string;
  /** Which CSV column keys a row. Default: `path` when the CSV has one, else `SOPInstanceUID`. */
  key?: 'path' | 'SOPInstanceUID';
  /** Task columns to read. Default: every column but the key and `split`. */
  tasks?: string[];
  /** Keep PA and AP views only (ViewPosition); other views and images without one are skipped and listed. Default false. */
  frontalOnly?: boolean;
  /** Modalities read; other images are skipped and listed. Default CR, DX and RG (projection radiographs). */
  modalities?: readonly string[];
  limits?: DicomLimits;
}

/** A file of the folder that is not in the dataset, and why. */
export interface SkippedDicomFile {
  path: string;
  reason: string;
}

/** What the headers of the kept images hold, counted. */
export interface DicomFolderSummary {
  views: Record<string, number>;
  modalities: Record<string, number>;
  bitsStored: Record<string, number>;
  photometricInterpretations: Record<string, number>;
  transferSyntaxes: Record<string, number>;
}

export interface DicomDataset extends CxrDataset {
  /** Files left out (not DICOM, not an image, not a radiograph, not frontal, unreadable header), each with its reason. */
  skipped: SkippedDicomFile[];
  summary: DicomFolderSummary;
  /** Things said about the data that are not errors (images without labels or without a PatientID). */
  notes: string[];
}

/** A keyed hash: the same salt and ID give the same key; without the salt, the ID cannot be guessed back. */
function keyOf(salt: string, kind: string, id: string): string {
  return createHmac('sha256', salt).update(`${kind}\0${id}`).digest('hex').slice(0, 20);
}

/** Reads just enough of a file for its header (up to the pixel data), growing the read when the header is longer. */
function readHeaderOf(path: string, file: string, limits: DicomLimits): DicomHeader | 'not-dicom' {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    let n = Math.min(size, 1 << 16);
    for (;;) {
      const buf = new Uint8Array(n);
      readSync(fd, buf, 0, n, 0);
      if (!isDicomBytes(buf)) return 'not-dicom';
      try {
        const { header } = parseDicomBytes(buf, file, { ...limits, untilPixelData: true });
        if (header.hasPixelData || n === size) return header;
      } catch (err) {
        if (n === size) throw err;
      }
      n = Math.min(size, n * 4);
    }
  } finally {
    closeSync(fd);
  }
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function labelValue(v: string, table: CsvTable, line: number, column: string): number {
  const t = v.trim();
  if (t === '') return NaN;
  if (t === '1' || t === '1.0' || t.toLowerCase() === 'true') return 1;
  if (t === '0' || t === '0.0' || t.toLowerCase() === 'false') return 0;
  throw new CxrDataError(`${table.file}: line ${line}, column "${column}": label ${JSON.stringify(v)}; expected 1, 0 or empty (unknown)`, table.file, line);
}

/**
 * Loads a folder of DICOM radiographs (any depth, any file names) into the dataset contract: the patient from
 * PatientID and the study from StudyInstanceUID, both as salted keys (never in clear), the view from ViewPosition,
 * labels from a CSV keyed by path or SOPInstanceUID (images without a row are unlabelled: NaN). Files that are
 * not DICOM, not images, not radiographs or (frontalOnly) not PA / AP are skipped and listed with their reason.
 */
export function loadDicomFolder(rootDir: string, options: DicomFolderOptions = {}): DicomDataset {
  const root = resolve(rootDir);
  const given = options?.patientSalt;
  if (given !== undefined && (typeof given !== 'string' || given.length < 8)) throw new CxrDataError('loadDicomFolder: patientSalt must be a secret string of at least 8 characters (patients and studies are keyed by a salted hash, never by their IDs), or left out to derive one from the files');
  const modalities = new Set((options.modalities ?? RADIOGRAPH_MODALITIES).map((m) => m.toUpperCase()));
  const limits = { ...DICOM_LIMITS, ...options.limits };
  const labelsFile = options.labels === undefined ? undefined : isAbsolute(options.labels) ? options.labels : join(root, options.labels);
  const files: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      throw new CxrDataError(`loadDicomFolder: cannot list ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, dir);
    }
    // A symlinked folder is walked once, so a link back to an ancestor cannot loop.
    const real = realDir(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = join(dir, e.name);
      const kind = entryKind(root, dir, e);
      if (kind === 'dir') walk(full);
      else if (kind === 'file' && full !== labelsFile) files.push(full);
    }
  };
  walk(root);
  const skipped: SkippedDicomFile[] = [];
  const kept: { path: string; h: DicomHeader }[] = [];
  const uids = new Set<string>();
  for (const full of files) {
    const path = relative(root, full).split(sep).join('/');
    let h: DicomHeader | 'not-dicom';
    try {
      h = readHeaderOf(full, full, limits);
    } catch (err) {
      skipped.push({ path, reason: (err as Error).message.replace(`${full}: `, '').replace(` ${full}`, '') });
      continue;
    }
    if (h === 'not-dicom') {
      skipped.push({ path, reason: 'not a DICOM file (no DICM marker)' });
      continue;
    }
    if (h.sopInstanceUid) uids.add(h.sopInstanceUid);
    if (!h.hasPixelData) {
      const cls = NON_IMAGE_CLASSES.find(([re]) => re.test(h.sopClassUid ?? ''))?.[1];
      skipped.push({ path, reason: `not an image: ${cls ?? 'no pixel data'} (SOP class ${h.sopClassUid ?? 'unknown'}${h.modality ? `, modality ${h.modality}` : ''})` });
      continue;
    }
    if (!h.modality || !modalities.has(h.modality)) {
      skipped.push({ path, reason: `modality ${h.modality ?? '(none)'} is not a radiograph modality read (${[...modalities].join(', ')})` });
      continue;
    }
    if (h.numberOfFrames !== undefined && h.numberOfFrames > 1) {
      skipped.push({ path, reason: `a multi-frame object (${h.numberOfFrames} frames); multi-frame objects are not read` });
      continue;
    }
    if (!TRANSFER_SYNTAXES[h.transferSyntax]) {
      skipped.push({ path, reason: `unknown transfer syntax ${h.transferSyntax || '(none)'}` });
      continue;
    }
    if (options.frontalOnly && h.viewPosition !== 'PA' && h.viewPosition !== 'AP') {
      skipped.push({ path, reason: h.viewPosition ? `view ${h.viewPosition} is not frontal (frontalOnly keeps PA and AP)` : 'no ViewPosition (frontalOnly keeps PA and AP)' });
      continue;
    }
    kept.push({ path, h });
  }
  if (kept.length === 0) {
    const why = skipped.slice(0, 3).map((s) => `${s.path}: ${s.reason}`).join('; ');
    throw new CxrDataError(`loadDicomFolder: no DICOM radiographs under ${root} (${files.length} files${why ? `; ${why}` : ''})`, root);
  }
  // Labels.
  // A salt only the files can give: the identifiers of every image read, in a fixed order.
  const salt =
    given ??
    createHash('sha256')
      .update(kept.map(({ h }) => `${h.sopInstanceUid ?? ''}\0${h.studyInstanceUid ?? ''}\0${h.patientId ?? ''}`).sort().join('\n'))
      .digest('base64');
  const notes: string[] = [];
  let tasks: string[] = [];
  const rowOf = new Map<string, number>();
  let table: CsvTable | undefined;
  let keyColumn: 'path' | 'SOPInstanceUID' = 'path';
  if (labelsFile !== undefined) {
    table = readCsv(labelsFile);
    keyColumn = options.key ?? (table.header.includes('path') ? 'path' : 'SOPInstanceUID');
    if (!table.header.includes(keyColumn)) throw new CxrDataError(`${labelsFile}: no "${keyColumn}" column to key the labels by (a path relative to ${root}, or SOPInstanceUID); columns are ${table.header.join(', ')}`, labelsFile, 1);
    const reserved = new Set(['path', 'SOPInstanceUID', 'split']);
    tasks = options.tasks ?? table.header.filter((c) => !reserved.has(c) && c !== '');
    for (const t of tasks) if (!table.header.includes(t)) throw new CxrDataError(`${labelsFile}: task column "${t}" is missing; columns are ${table.header.join(', ')}`, labelsFile, 1);
    if (tasks.length === 0) throw new CxrDataError(`${labelsFile}: no task columns (columns besides ${keyColumn} and split)`, labelsFile, 1);
    const k = table.header.indexOf(keyColumn);
    table.rows.forEach((r, i) => {
      const key = keyColumn === 'path' ? r[k].trim().replace(/\\/g, '/').replace(/^\.\//, '') : r[k].trim();
      const before = rowOf.get(key);
      if (before !== undefined) throw new CxrDataError(`${labelsFile}: ${keyColumn} ${JSON.stringify(key)} is on lines ${table!.lines[before]} and ${table!.lines[i]}`, labelsFile, table!.lines[i]);
      rowOf.set(key, i);
    });
    // Rows for skipped files are fine (e.g. lateral views with frontalOnly); rows for no file at all are an error.
    const found = keyColumn === 'path' ? new Set(files.map((f) => relative(root, f).split(sep).join('/'))) : uids;
    const missing = [...rowOf.entries()].filter(([key]) => !found.has(key));
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).map(([key, i]) => `line ${table!.lines[i]} ${JSON.stringify(key)}`).join(', ');
      throw new CxrDataError(`${labelsFile}: ${missing.length} rows name ${keyColumn === 'path' ? 'files' : 'SOPInstanceUIDs'} not found under ${root}: ${shown}${missing.length > 5 ? ', ...' : ''}`, labelsFile, table.lines[missing[0][1]]);
    }
  }
  const K = tasks.length;
  const labels = new Float32Array(kept.length * K).fill(NaN);
  const summary: DicomFolderSummary = { views: {}, modalities: {}, bitsStored: {}, photometricInterpretations: {}, transferSyntaxes: {} };
  let unlabelled = 0;
  let noPatient = 0;
  const samples: CxrSample[] = kept.map(({ path, h }, i) => {
    let split: string | undefined;
    if (table) {
      const row = rowOf.get(keyColumn === 'path' ? path : h.sopInstanceUid ?? '');
      if (row === undefined) unlabelled++;
      else {
        const r = table.rows[row];
        tasks.forEach((t, k) => {
          labels[i * K + k] = labelValue(r[table!.header.indexOf(t)], table!, table!.lines[row], t);
        });
        const s = table.header.indexOf('split');
        if (s >= 0 && r[s].trim() !== '') split = r[s].trim();
      }
    }
    if (h.patientId === undefined) noPatient++;
    const view = h.viewPosition ?? 'none';
    count(summary.views, view);
    count(summary.modalities, h.modality!);
    count(summary.bitsStored, String(h.bitsStored ?? h.bitsAllocated ?? '?'));
    count(summary.photometricInterpretations, h.photometricInterpretation ?? '(none)');
    count(summary.transferSyntaxes, TRANSFER_SYNTAXES[h.transferSyntax]);
    return {
      path,
      // Keys, never the IDs: a run directory, a cache or a log can hold these.
      patientId: h.patientId !== undefined ? `patient-${keyOf(salt, 'patient', h.patientId)}` : `file-${keyOf(salt, 'file', path)}`,
      ...(h.studyInstanceUid !== undefined ? { studyId: `study-${keyOf(salt, 'study', h.studyInstanceUid)}` } : {}),
      ...(h.viewPosition !== undefined ? { view: h.viewPosition } : {}),
      ...(split !== undefined ? { split } : {}),
      meta: {
        modality: h.modality!,
        bitsStored: String(h.bitsStored ?? h.bitsAllocated ?? ''),
        photometricInterpretation: h.photometricInterpretation ?? '',
        transferSyntax: h.transferSyntax,
      },
    };
  });
  if (table && unlabelled > 0) notes.push(`${unlabelled} of ${kept.length} images have no row in ${labelsFile}: unlabelled (NaN), usable for pretraining only`);
  if (noPatient > 0) notes.push(`${noPatient} images have no PatientID: each is its own patient`);
  return { root, tasks, labels, samples, skipped, summary, notes };
}
