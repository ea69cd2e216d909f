import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { column, readCsv } from './csv';
import { CxrDataError } from './errors';
import { entryKind, realDir, resolveInsideRoot } from './paths';
import type { CxrDataset, CxrSample } from './types';

/** The 14 ChestX-ray14 findings, in the order of the NIH paper. */
export const NIH_TASKS = [
  'Atelectasis',
  'Cardiomegaly',
  'Effusion',
  'Infiltration',
  'Mass',
  'Nodule',
  'Pneumonia',
  'Pneumothorax',
  'Consolidation',
  'Edema',
  'Emphysema',
  'Fibrosis',
  'Pleural_Thickening',
  'Hernia',
] as const;

export interface NihOptions {
  /** Directory holding the PNGs, at any depth (images/ or images_001/images/ ...). */
  root: string;
  /** A row whose image is not under root: 'throw' (default, naming the row) or 'skip' (listed in `missing`). */
  onMissingImage?: 'throw' | 'skip';
  /** Label columns to keep, in this order. Default: all 14. */
  tasks?: readonly string[];
  /**
   * The official split lists (`train_val_list.txt`, `test_list.txt`: one image name a line). Given, each
   * sample's `split` is 'train' or 'test', and rows in neither list are left out (counted in `unlisted`).
   * A listed image with no CSV row is an error naming the list file and line.
   */
  trainValList?: string;
  testList?: string;
}

export interface NihDataset extends CxrDataset {
  /** CSV rows whose image was not found (only with onMissingImage 'skip'). */
  missing: { line: number; image: string }[];
  /** CSV rows in neither split list (only when lists are given). */
  unlisted: number;
}

/** Reads an NIH split list: image name -> line number; blank lines skipped, duplicates are errors. */
function readList(file: string): Map<string, number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CxrDataError(`cannot read split list ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
  }
  const out = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const name = raw.trim();
    if (name === '') return;
    if (!/^[^/\\]+\.png$/i.test(name)) throw new CxrDataError(`${file} line ${i + 1}: ${JSON.stringify(name)} is not an image name (expected e.g. 00000001_000.png)`, file, i + 1);
    if (out.has(name)) throw new CxrDataError(`${file} line ${i + 1}: image ${name} is listed twice (first on line ${out.get(name)})`, file, i + 1);
    out.set(name, i + 1);
  });
  return out;
}

function indexImages(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const seen = new Set<string>();
  const walk = (dir: string) => {
    // A symlinked folder is walked once, so a link back to an ancestor cannot loop.
    const real = realDir(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const kind = entryKind(root, dir, entry);
      if (kind === 'dir') walk(full);
      else if (kind === 'file' && /\.png$/i.test(entry.name)) {
        const rel = relative(root, full);
        const other = found.get(entry.name);
        if (other === undefined) found.set(entry.name, rel);
        // Two files of one name: which one a row means would depend on the listing order. A link to the same file is one image.
        else if (realpathSync.native(join(root, other)) !== realpathSync.native(full)) {
          const [a, b] = [other, rel].sort();
          throw new CxrDataError(`loadNihChestXray14: ${entry.name} is found twice under ${root}: ${a} and ${b} are different files; keep one copy`, full);
        }
      }
    }
  };
  walk(root);
  return found;
}

/** Loads NIH ChestX-ray14's `Data_Entry_2017*.csv`; finding labels are `|`-separated or `No Finding`. */
export function loadNihChestXray14(csvPath: string, options: NihOptions): NihDataset {
  if (!options || typeof options.root !== 'string') throw new CxrDataError('loadNihChestXray14: options.root (the image directory) is required');
  const root = resolve(options.root);
  const table = readCsv(csvPath);
  const tasks = [...(options.tasks ?? NIH_TASKS)];
  for (const t of tasks) {
    if (!(NIH_TASKS as readonly string[]).includes(t)) throw new CxrDataError(`loadNihChestXray14: unknown task ${JSON.stringify(t)}; known: ${NIH_TASKS.join(', ')}`);
  }
  const imgCol = column(table, 'Image Index');
  const findCol = column(table, 'Finding Labels');
  const fuCol = column(table, 'Follow-up #');
  const patCol = column(table, 'Patient ID');
  const ageCol = column(table, 'Patient Age');
  const sexCol = column(table, 'Patient Gender');
  const viewCol = column(table, 'View Position');
  let images: Map<string, string>;
  try {
    images = indexImages(root);
  } catch (err) {
    if (err instanceof CxrDataError) throw err;
    throw new CxrDataError(`loadNihChestXray14: cannot list image root ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, root);
  }
  const taskIndex = new Map(tasks.map((t, k) => [t, k]));
  if ((options.trainValList === undefined) !== (options.testList === undefined)) {
    throw new CxrDataError(`loadNihChestXray14: give both trainValList and testList (the official split lists), or neither`);
  }
  const lists = options.trainValList !== undefined ? { train: readList(options.trainValList), test: readList(options.testList!) } : undefined;
  if (lists) {
    for (const [name, line] of lists.test) {
      if (lists.train.has(name)) throw new CxrDataError(`${options.testList} line ${line}: image ${name} is also in ${options.trainValList} (line ${lists.train.get(name)})`, options.testList, line);
    }
  }
  // Image name -> its first CSV line: a row listed twice (even with other labels) is a defect of the CSV.
  const inCsv = new Map<string, number>();
  let unlisted = 0;
  const samples: CxrSample[] = [];
  const missing: { line: number; image: string }[] = [];
  const labels: number[] = [];
  for (let r = 0; r < table.rows.length; r++) {
    const row = table.rows[r];
    const line = table.lines[r];
    const where = `${csvPath} line ${line}`;
    const image = row[imgCol].trim();
    resolveInsideRoot(root, image, `${where}, column "Image Index"`);
    const first = inCsv.get(image);
    if (first === undefined) inCsv.set(image, line);
    // Checked once the row's own fields are, whichever way the row leaves the loop.
    const once = () => {
      if (first !== undefined) throw new CxrDataError(`${where}, column "Image Index": image ${image} is listed twice (first on line ${first}); keep one row per image`, csvPath, line);
    };
    const split = lists ? (lists.train.has(image) ? 'train' : lists.test.has(image) ? 'test' : undefined) : undefined;
    if (lists && split === undefined) {
      once();
      unlisted++;
      continue;
    }
    const findings = row[findCol].trim();
    const rowLabels = new Array<number>(tasks.length).fill(0);
    if (findings !== 'No Finding') {
      for (const f of findings.split('|')) {
        const name = f.trim();
        if (!(NIH_TASKS as readonly string[]).includes(name)) {
          throw new CxrDataError(`${where}, column "Finding Labels": unknown label value ${JSON.stringify(name)} in ${JSON.stringify(findings)}`, csvPath, line);
        }
        const k = taskIndex.get(name);
        if (k !== undefined) rowLabels[k] = 1;
      }
    }
    const path = images.get(image);
    if (path === undefined) {
      if (options.onMissingImage === 'skip') {
        once();
        missing.push({ line, image });
        continue;
      }
      throw new CxrDataError(`${where}: image ${image} not found under ${root}`, csvPath, line);
    }
    const ageText = row[ageCol].trim();
    // Older releases write ages as "058Y"; months/days ("011M") are converted to years.
    const am = /^(\d+)\s*([YMD]?)$/i.exec(ageText);
    if (ageText !== '' && !am) throw new CxrDataError(`${where}, column "Patient Age": not an age: ${JSON.stringify(ageText)}`, csvPath, line);
    const age = am ? Number(am[1]) / (am[2].toUpperCase() === 'M' ? 12 : am[2].toUpperCase() === 'D' ? 365 : 1) : undefined;
    // Digits only: Number('') is 0, which would merge every blank row into one patient.
    const idText = row[patCol].trim();
    if (!/^\d+$/.test(idText)) throw new CxrDataError(`${where}, column "Patient ID": not a patient number: ${JSON.stringify(row[patCol])}`, csvPath, line);
    const patientId = String(Number(idText));
    once();
    samples.push({
      path,
      patientId,
      studyId: `${patientId}/${row[fuCol].trim()}`,
      view: row[viewCol].trim() || undefined,
      sex: row[sexCol].trim() || undefined,
      age,
      split,
      meta: { findings, csv: csvPath, csvLine: String(line) },
    });
    labels.push(...rowLabels);
  }
  if (lists) {
    for (const [file, list] of [[options.trainValList!, lists.train], [options.testList!, lists.test]] as const) {
      for (const [name, line] of list) {
        if (!inCsv.has(name)) throw new CxrDataError(`${file} line ${line}: image ${name} is listed but has no row in ${csvPath}`, file, line);
      }
    }
  }
  if (samples.length === 0) throw new CxrDataError(`loadNihChestXray14: no rows of ${csvPath} have an image under ${root}${lists ? ' and in a split list' : ''}`, csvPath);
  return { root, tasks, labels: Float32Array.from(labels), samples, missing, unlisted };
}
