import { existsSync } from 'node:fs';
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

/** The five CheXpert competition tasks, Pleural Effusion first (the paper's task). */
export const CHEXPERT_COMPETITION_TASKS = ['Pleural Effusion', 'Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema'] as const;

/** What an uncertain (`-1`) label becomes: 1 (U-Ones), 0 (U-Zeros) or NaN, masked from loss and metric (U-Ignore). */
export type UncertaintyPolicy = 'ones' | 'zeros' | 'ignore';

/**
 * The paper's code: U-Ignore for every task when fine-tuning (its masked loss skips -1), blank = 0.
 * (U-Ones is used only when building unlabeled pretraining folders, where labels are unused.)
 */
export const MOCO_CXR_UNCERTAINTY: Readonly<Record<string, UncertaintyPolicy>> = Object.freeze(
  Object.fromEntries(CHEXPERT_TASKS.map((t) => [t, 'ignore' as const])),
);

const POLICIES = ['ones', 'zeros', 'ignore'];

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
  /**
   * What `-1` (uncertain) becomes: one policy for every task, or one per task
   * (`{'Pleural Effusion': 'ignore', Atelectasis: 'ones', default: 'ignore'}`; `default` covers tasks not named).
   * `MOCO_CXR_UNCERTAINTY` is the paper's code (U-Ignore everywhere).
   */
  uncertainty: UncertaintyPolicy | Readonly<Record<string, UncertaintyPolicy>>;
  /** What a blank cell (not mentioned) becomes: 0 (default, as the paper) or NaN. */
  blank?: 'zero' | 'nan';
  /** Label columns to keep, in this order. Default: the five competition tasks, Pleural Effusion first. */
  tasks?: readonly string[];
  /** A row whose image file is absent: 'throw' (default, naming the row) or 'skip' (listed in `missing`). */
  onMissingImage?: 'throw' | 'skip';
}

export interface CheXpertDataset extends CxrDataset {
  /** CSV rows whose image was not found (only with onMissingImage 'skip'). */
  missing: { line: number; path: string }[];
}

/** The policy of each task, checked: unknown task names and policies are errors naming the option. */
function resolvePolicies(uncertainty: CheXpertOptions['uncertainty'], tasks: readonly string[]): UncertaintyPolicy[] {
  if (typeof uncertainty === 'string') {
    if (!POLICIES.includes(uncertainty)) throw new CxrDataError(`loadCheXpert: uncertainty must be 'ones', 'zeros' or 'ignore', got ${JSON.stringify(uncertainty)}`);
    return tasks.map(() => uncertainty);
  }
  if (uncertainty === null || typeof uncertainty !== 'object') {
    throw new CxrDataError(`loadCheXpert: uncertainty must be 'ones', 'zeros', 'ignore' or a per-task record of them, got ${JSON.stringify(uncertainty)}`);
  }
  for (const [task, policy] of Object.entries(uncertainty)) {
    if (task !== 'default' && !(CHEXPERT_TASKS as readonly string[]).includes(task)) {
      throw new CxrDataError(`loadCheXpert: uncertainty names unknown task ${JSON.stringify(task)}; CheXpert tasks are ${CHEXPERT_TASKS.join(', ')} (or 'default')`);
    }
    if (!POLICIES.includes(policy)) throw new CxrDataError(`loadCheXpert: uncertainty[${JSON.stringify(task)}] must be 'ones', 'zeros' or 'ignore', got ${JSON.stringify(policy)}`);
  }
  return tasks.map((t) => {
    const p = uncertainty[t] ?? uncertainty.default;
    if (p === undefined) throw new CxrDataError(`loadCheXpert: uncertainty gives no policy for task ${JSON.stringify(t)} (name it or add 'default')`);
    return p;
  });
}

/** Loads a CheXpert `train.csv` / `valid.csv` into the dataset contract. */
export function loadCheXpert(csvPath: string, options: CheXpertOptions): CheXpertDataset {
  const tasks = [...(options.tasks ?? CHEXPERT_COMPETITION_TASKS)];
  if (tasks.length === 0) throw new CxrDataError('loadCheXpert: tasks is empty; name at least one CheXpert task');
  for (const t of tasks) {
    if (!(CHEXPERT_TASKS as readonly string[]).includes(t)) throw new CxrDataError(`loadCheXpert: unknown task ${JSON.stringify(t)}; CheXpert tasks are ${CHEXPERT_TASKS.join(', ')}`);
  }
  if (new Set(tasks).size !== tasks.length) throw new CxrDataError(`loadCheXpert: tasks lists a task twice: ${tasks.join(', ')}`);
  const policies = resolvePolicies(options.uncertainty, tasks);
  const onMissing = options.onMissingImage ?? 'throw';
  if (onMissing !== 'throw' && onMissing !== 'skip') throw new CxrDataError(`loadCheXpert: onMissingImage must be 'throw' or 'skip', got ${JSON.stringify(onMissing)}`);
  const blank = options.blank ?? 'zero';
  if (blank !== 'zero' && blank !== 'nan') throw new CxrDataError(`loadCheXpert: blank must be 'zero' or 'nan', got ${JSON.stringify(blank)}`);
  const root = resolve(options.root ?? resolve(dirname(csvPath), '..'));
  const table = readCsv(csvPath);
  const taskCols = tasks.map((t) => column(table, t));
  const pathCol = column(table, 'Path');
  const sexCol = column(table, 'Sex');
  const ageCol = column(table, 'Age');
  const flCol = column(table, 'Frontal/Lateral');
  const apCol = column(table, 'AP/PA');
  const apPa = options.apPa ? new Set(options.apPa) : undefined;
  const uncertainValues = policies.map((p) => (p === 'ones' ? 1 : p === 'zeros' ? 0 : NaN));
  const blankValue = blank === 'zero' ? 0 : NaN;

  const samples: CxrSample[] = [];
  const labels: number[] = [];
  const missing: { line: number; path: string }[] = [];
  // Every row's Path, filtered or not: a row listed twice (even with other labels) is a defect of the CSV.
  const firstLine = new Map<string, number>();
  for (let r = 0; r < table.rows.length; r++) {
    const row = table.rows[r];
    const line = table.lines[r];
    const where = `${csvPath} line ${line}`;
    const path = row[pathCol].trim();
    const abs = resolveInsideRoot(root, path, `${where}, column "Path"`);
    // `valid/../train/patient1/...` stays inside the root yet files an image under another split and patient.
    const odd = path.split(/[\\/]/).find((seg) => seg === '..' || seg === '.');
    if (odd !== undefined) throw new CxrDataError(`${where}, column "Path": ${JSON.stringify(path)} has a "${odd}" segment; CheXpert paths are plain <split>/patientN/studyN/viewN_<view>.jpg`, csvPath, line);
    const first = firstLine.get(path);
    if (first !== undefined) throw new CxrDataError(`${where}, column "Path": image ${JSON.stringify(path)} is listed twice (first on line ${first}); keep one row per image`, csvPath, line);
    firstLine.set(path, line);
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
    const rowLabels = taskCols.map((c, k) => {
      const cell = row[c].trim();
      if (cell === '') return blankValue;
      // Only the spellings CheXpert writes: Number() would also take 0x1, 1e0 or +1.
      const v = LABEL_SPELLINGS.get(cell);
      if (v === 1) return 1;
      if (v === 0) return 0;
      if (v === -1) return uncertainValues[k];
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
    // Only kept rows are checked, so a frontal-only load of the small set does not stat every lateral.
    if (!existsSync(abs)) {
      if (onMissing === 'skip') {
        missing.push({ line, path });
        continue;
      }
      throw new CxrDataError(`${where}, column "Path": image ${JSON.stringify(path)} not found under ${root} (set the CheXpert root, or onMissingImage: 'skip')`, csvPath, line);
    }
    samples.push({
      path,
      patientId: m[1],
      studyId: `${m[1]}/${m[2]}`,
      view,
      sex: sex === '' || sex === 'Unknown' ? undefined : sex,
      age,
      meta: { apPa: ap, csv: csvPath, csvLine: String(line) },
    });
    labels.push(...rowLabels);
  }
  if (samples.length === 0) {
    throw new CxrDataError(`loadCheXpert: no rows of ${csvPath} are left after filtering (frontalOnly=${!!options.frontalOnly}, apPa=${options.apPa ? options.apPa.join('/') : 'any'}${missing.length ? `, ${missing.length} images missing` : ''})`, csvPath);
  }
  return { root, tasks, labels: Float32Array.from(labels), samples, missing };
}
