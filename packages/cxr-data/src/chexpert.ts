import { dirname, resolve } from 'node:path';
import { column, readCsv } from './csv';
import { CxrDataError } from './errors';
import { resolveInsideRoot } from './paths';
import type { CxrDataset, CxrSample } from './types';

/** CheXpert's 14 observation columns, in the CSV's order. */
export const CHEXPERT_TASKS = [
  'No Finding',
  'Enlarged Cardiomediastinum',
  'Cardiomegaly',
  'Lung Opacity',
  'Lung Lesion',
  'Edema',
  'Consolidation',
  'Pneumonia',
  'Atelectasis',
  'Pneumothorax',
  'Pleural Effusion',
  'Pleural Other',
  'Fracture',
  'Support Devices',
] as const;

const LABEL_SPELLINGS = new Map([
  ['1.0', 1],
  ['1', 1],
  ['0.0', 0],
  ['0', 0],
  ['-1.0', -1],
  ['-1', -1],
]);

export interface CheXpertOptions {
  /** Directory the CSV's `Path` column is relative to. Default: the parent of the CSV's directory. */
  root?: string;
  /** Keep only `Frontal/Lateral == Frontal`. */
  frontalOnly?: boolean;
  /** Keep only these `AP/PA` values (e.g. ['AP', 'PA']); blank AP/PA is written ''. */
  apPa?: string[];
  /** What `-1` (uncertain) becomes: 1, 0, or NaN (masked). */
  uncertainty: 'ones' | 'zeros' | 'ignore';
  /** What a blank cell (not mentioned) becomes: 0 (default, as the paper) or NaN. */
  blank?: 'zero' | 'nan';
  /** Label columns to keep, in this order. Default: all 14. */
  tasks?: string[];
}

/** Loads a CheXpert `train.csv` / `valid.csv` into the dataset contract. */
export function loadCheXpert(csvPath: string, options: CheXpertOptions): CxrDataset {
  const { uncertainty } = options;
  if (uncertainty !== 'ones' && uncertainty !== 'zeros' && uncertainty !== 'ignore') {
    throw new CxrDataError(`loadCheXpert: uncertainty must be 'ones', 'zeros' or 'ignore', got ${JSON.stringify(uncertainty)}`);
  }
  const blank = options.blank ?? 'zero';
  if (blank !== 'zero' && blank !== 'nan') throw new CxrDataError(`loadCheXpert: blank must be 'zero' or 'nan', got ${JSON.stringify(blank)}`);
  const root = resolve(options.root ?? resolve(dirname(csvPath), '..'));
  const table = readCsv(csvPath);
  const tasks = options.tasks ?? [...CHEXPERT_TASKS];
  const taskCols = tasks.map((t) => column(table, t));
  const pathCol = column(table, 'Path');
  const sexCol = column(table, 'Sex');
  const ageCol = column(table, 'Age');
  const flCol = column(table, 'Frontal/Lateral');
  const apCol = column(table, 'AP/PA');
  const apPa = options.apPa ? new Set(options.apPa) : undefined;
  const uncertainValue = uncertainty === 'ones' ? 1 : uncertainty === 'zeros' ? 0 : NaN;
  const blankValue = blank === 'zero' ? 0 : NaN;

  const samples: CxrSample[] = [];
  const labels: number[] = [];
  for (let r = 0; r < table.rows.length; r++) {
    const row = table.rows[r];
    const line = table.lines[r];
    const where = `${csvPath} line ${line}`;
    const view = row[flCol].trim();
    if (view !== 'Frontal' && view !== 'Lateral') {
      throw new CxrDataError(`${where}, column "Frontal/Lateral": unknown value ${JSON.stringify(row[flCol])} (expected Frontal or Lateral)`, csvPath, line);
    }
    const ap = row[apCol].trim();
    if (!['AP', 'PA', 'LL', 'RL', ''].includes(ap)) {
      throw new CxrDataError(`${where}, column "AP/PA": unknown value ${JSON.stringify(row[apCol])} (expected AP, PA, LL, RL or blank)`, csvPath, line);
    }
    if (options.frontalOnly && view !== 'Frontal') continue;
    if (apPa && !apPa.has(ap)) continue;
    const path = row[pathCol].trim();
    resolveInsideRoot(root, path, `${where}, column "Path"`);
    const rowLabels = taskCols.map((c, k) => {
      const cell = row[c].trim();
      if (cell === '') return blankValue;
      // Only the spellings CheXpert writes: Number() would also take 0x1, 1e0 or +1.
      const v = LABEL_SPELLINGS.get(cell);
      if (v === 1) return 1;
      if (v === 0) return 0;
      if (v === -1) return uncertainValue;
      throw new CxrDataError(`${where}, column "${tasks[k]}": unknown label value ${JSON.stringify(row[c])} (expected 1.0, 0.0, -1.0 or blank)`, csvPath, line);
    });
    const m = /(patient\d+)\/(study\d+)\//.exec(path);
    if (!m) throw new CxrDataError(`${where}, column "Path": ${JSON.stringify(path)} has no patientNNNNN/studyN/ part`, csvPath, line);
    const ageText = row[ageCol].trim();
    const age = ageText === '' ? undefined : /^\d+(\.\d+)?$/.test(ageText) ? Number(ageText) : NaN;
    if (age !== undefined && !Number.isFinite(age)) {
      throw new CxrDataError(`${where}, column "Age": not a number: ${JSON.stringify(row[ageCol])}`, csvPath, line);
    }
    const sex = row[sexCol].trim();
    samples.push({
      path,
      patientId: m[1],
      studyId: `${m[1]}/${m[2]}`,
      view,
      sex: sex === '' || sex === 'Unknown' ? undefined : sex,
      age,
      meta: { apPa: ap, csvLine: String(line) },
    });
    labels.push(...rowLabels);
  }
  if (samples.length === 0) {
    throw new CxrDataError(`loadCheXpert: no rows of ${csvPath} are left after filtering (frontalOnly=${!!options.frontalOnly}, apPa=${options.apPa ? options.apPa.join('/') : 'any'})`, csvPath);
  }
  return { root, tasks: [...tasks], labels: Float32Array.from(labels), samples };
}
