import { maskedAurocs } from '@moco-cxr/eval-metrics';

/**
 * Labels as callers hold them: a flat row-major N x K array (cxr-data's `labels`; K = 1 for a
 * plain label vector) or one row of K values per sample. 1 = positive, 0 = negative,
 * NaN = unknown / masked (U-Ignore).
 */
export type LabelsInput = ArrayLike<number> | ArrayLike<ArrayLike<number>>;

/** Row-major N x K labels. */
export interface LabelMatrix {
  rows: number;
  tasks: number;
  values: Float32Array;
}

/** Normalises a labels input into an N x K matrix, checking it has `rows` rows of 0 / 1 / NaN. */
export function toLabelMatrix(labels: LabelsInput, rows: number, what: string): LabelMatrix {
  if (!(rows > 0)) throw new RangeError(`${what}: no rows`);
  const flat = labels.length === 0 || typeof labels[0] === 'number';
  if (flat) {
    if (labels.length % rows !== 0 || labels.length === 0) {
      throw new RangeError(`${what}: expected ${rows} label rows (a flat array of ${rows} x K values), got ${labels.length} values`);
    }
    const tasks = labels.length / rows;
    const values = new Float32Array(rows * tasks);
    for (let i = 0; i < values.length; i++) {
      values[i] = checkLabel((labels as ArrayLike<number>)[i], what, Math.floor(i / tasks), i % tasks);
    }
    return { rows, tasks, values };
  }
  if (labels.length !== rows) {
    throw new RangeError(`${what}: expected ${rows} label rows (one per feature row / image), got ${labels.length}`);
  }
  const tasks = (labels[0] as ArrayLike<number>).length;
  if (tasks < 1) throw new RangeError(`${what}: label rows must hold at least one task`);
  const values = new Float32Array(rows * tasks);
  for (let i = 0; i < rows; i++) {
    const row = labels[i] as ArrayLike<number>;
    if (typeof row === 'number' || row.length !== tasks) {
      throw new RangeError(`${what}: row ${i} has ${typeof row === 'number' ? 'a single number' : `${row.length} tasks`}, row 0 has ${tasks}`);
    }
    for (let k = 0; k < tasks; k++) values[i * tasks + k] = checkLabel(row[k], what, i, k);
  }
  return { rows, tasks, values };
}

function checkLabel(y: number, what: string, row: number, task: number): number {
  if (y === 0 || y === 1 || Number.isNaN(y)) return y;
  throw new RangeError(`${what}: label at row ${row}, task ${task} is ${y}; expected 1, 0 or NaN (masked)`);
}

/** Per-task AUROC over rows whose label is not NaN, and their mean over the tasks that can be scored. */
export interface MaskedAurocResult {
  perTask: number[];
  mean: number;
  /** Tasks with only one class among their labelled rows (AUROC undefined), by index. */
  unscorable: number[];
}

export function maskedMeanAuroc(labels: LabelMatrix, scores: ArrayLike<number>): MaskedAurocResult {
  const { rows, tasks, values } = labels;
  if (scores.length !== rows * tasks) {
    throw new RangeError(`maskedMeanAuroc: ${rows} x ${tasks} labels but ${scores.length} scores`);
  }
  const flat = Float64Array.from(scores);
  const names = Array.from({ length: tasks }, (_, k) => String(k));
  const row = (a: ArrayLike<number> & { subarray(b: number, e: number): ArrayLike<number> }) => Array.from({ length: rows }, (_, i) => a.subarray(i * tasks, i * tasks + tasks));
  const r = maskedAurocs(row(values), row(flat), names, { whenNoneScorable: 'nan' });
  return { perTask: names.map((k) => r.aurocs[k] ?? Number.NaN), mean: r.mean, unscorable: r.unscorable.map((u) => Number(u.task)) };
}

/** Throws unless every task has both classes among its labelled rows: a validation set must be scorable. */
export function requireScorable(labels: LabelMatrix, what: string): void {
  for (let k = 0; k < labels.tasks; k++) {
    let pos = 0;
    let neg = 0;
    for (let i = 0; i < labels.rows; i++) {
      const v = labels.values[i * labels.tasks + k];
      if (v === 1) pos++;
      else if (v === 0) neg++;
    }
    if (pos === 0 || neg === 0) {
      throw new RangeError(`${what}: task ${k} has ${pos} positives and ${neg} negatives; AUROC needs both classes`);
    }
  }
}
