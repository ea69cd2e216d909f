import { auroc } from './auroc';
import { rocCurveNamed, type RocCurve, type RocCurveOptions } from './curves';

export interface TaskCounts {
  positives: number;
  negatives: number;
  /** Rows whose label for this task is NaN (unknown or uncertain), left out. */
  masked: number;
}

export interface UnscorableTask extends TaskCounts {
  task: string;
  /** Why no AUROC exists, e.g. "no negative labels after masking (12 positives, 0 negatives, 3 masked)". */
  reason: string;
}

export interface MaskedAurocs {
  /** AUROC of each task that could be scored, by task name. */
  aurocs: Record<string, number>;
  /** Mean AUROC over the scored tasks. */
  mean: number;
  /** Names of the scored tasks, in column order. */
  scored: string[];
  /** Tasks left out because after masking they hold only one class (or no rows). */
  unscorable: UnscorableTask[];
  /** Label counts of every task, by task name. */
  counts: Record<string, TaskCounts>;
}

export interface MaskedAurocsOptions {
  /** When no task has both classes: throw (default) or return `mean: NaN` with every task in `unscorable`. */
  whenNoneScorable?: 'throw' | 'nan';
}

/**
 * Per-task AUROC over an N x K label matrix (rows of 1 / 0 / NaN) and an N x K score matrix;
 * NaN labels are masked out per task. Tasks with one class only are named in `unscorable`
 * rather than given a NaN. Throws if no task can be scored, on ragged rows, labels other
 * than 0 / 1 / NaN, or non-finite scores.
 */
export function maskedAurocs(
  labelMatrix: ReadonlyArray<ArrayLike<number>>,
  scoreMatrix: ReadonlyArray<ArrayLike<number>>,
  taskNames: readonly string[],
  options: MaskedAurocsOptions = {},
): MaskedAurocs {
  const k = checkMatrices(labelMatrix, scoreMatrix, taskNames, 'maskedAurocs');
  const result: MaskedAurocs = { aurocs: {}, mean: Number.NaN, scored: [], unscorable: [], counts: {} };
  let sum = 0;
  for (let t = 0; t < k; t++) {
    const task = taskNames[t];
    const m = maskTask(labelMatrix, scoreMatrix, t, task, 'maskedAurocs');
    result.counts[task] = m.counts;
    if (m.unscorable) {
      result.unscorable.push(m.unscorable);
      continue;
    }
    const value = auroc(m.labels, m.scores);
    result.aurocs[task] = value;
    result.scored.push(task);
    sum += value;
  }
  if (result.scored.length === 0) {
    // A validation set must be scorable; a test summary over subsets may report NaN instead.
    if (options.whenNoneScorable === 'nan') return result;
    throw new RangeError(
      `maskedAurocs: no task can be scored: ${result.unscorable.map((u) => `"${u.task}": ${u.reason}`).join('; ')}`,
    );
  }
  result.mean = sum / result.scored.length;
  return result;
}

export interface TaskRocCurve extends RocCurve {
  task: string;
  /** The AUROC over the same rows. */
  auroc: number;
}

export interface MaskedRocCurves {
  /** A curve per task that has both classes among its labelled rows, in column order. */
  curves: TaskRocCurve[];
  /** Tasks left out because after masking they hold only one class (or no rows). */
  unscorable: UnscorableTask[];
}

/**
 * One ROC curve per task over an N x K label matrix (rows of 1 / 0 / NaN) and an N x K score
 * matrix, each over the rows labelled for that task (NaN labels masked), as `rocCurve` draws it.
 * A task left with one class has no curve and is named in `unscorable`; none scorable is not an
 * error (a report draws what it can). Throws on ragged rows, bad labels or non-finite scores.
 */
export function maskedRocCurves(
  labelMatrix: ReadonlyArray<ArrayLike<number>>,
  scoreMatrix: ReadonlyArray<ArrayLike<number>>,
  taskNames: readonly string[],
  options: RocCurveOptions = {},
): MaskedRocCurves {
  const k = checkMatrices(labelMatrix, scoreMatrix, taskNames, 'maskedRocCurves');
  const result: MaskedRocCurves = { curves: [], unscorable: [] };
  for (let t = 0; t < k; t++) {
    const m = maskTask(labelMatrix, scoreMatrix, t, taskNames[t], 'maskedRocCurves');
    if (m.unscorable) result.unscorable.push(m.unscorable);
    else result.curves.push({ task: taskNames[t], ...rocCurveNamed(m.labels, m.scores, options, 'maskedRocCurves'), auroc: auroc(m.labels, m.scores) });
  }
  return result;
}

/** Checks that both matrices hold N rows of one value per task; returns K. */
function checkMatrices(labelMatrix: ReadonlyArray<ArrayLike<number>>, scoreMatrix: ReadonlyArray<ArrayLike<number>>, taskNames: readonly string[], fn: string): number {
  const n = labelMatrix.length;
  const k = taskNames.length;
  if (scoreMatrix.length !== n) {
    throw new RangeError(`${fn}: labelMatrix has ${n} rows but scoreMatrix has ${scoreMatrix.length}`);
  }
  if (new Set(taskNames).size !== k) throw new RangeError(`${fn}: taskNames has duplicates: ${taskNames.join(', ')}`);
  for (let i = 0; i < n; i++) {
    if (labelMatrix[i].length !== k) {
      throw new RangeError(`${fn}: labelMatrix row ${i} has ${labelMatrix[i].length} columns, expected ${k} (one per task)`);
    }
    if (scoreMatrix[i].length !== k) {
      throw new RangeError(`${fn}: scoreMatrix row ${i} has ${scoreMatrix[i].length} columns, expected ${k} (one per task)`);
    }
  }
  return k;
}

/** Task t's labelled rows (NaN labels masked) and their scores, its counts, and why it cannot be scored when it has one class. */
function maskTask(labelMatrix: ReadonlyArray<ArrayLike<number>>, scoreMatrix: ReadonlyArray<ArrayLike<number>>, t: number, task: string, fn: string) {
  const labels: number[] = [];
  const scores: number[] = [];
  let masked = 0;
  for (let i = 0; i < labelMatrix.length; i++) {
    const y = labelMatrix[i][t];
    const s = scoreMatrix[i][t];
    if (!Number.isFinite(s)) throw new RangeError(`${fn}: score at row ${i}, task "${task}" is ${s}; scores must be finite`);
    if (Number.isNaN(y)) {
      masked++;
      continue;
    }
    if (y !== 0 && y !== 1) throw new RangeError(`${fn}: label at row ${i}, task "${task}" is ${y}; expected 0, 1 or NaN`);
    labels.push(y);
    scores.push(s);
  }
  let positives = 0;
  for (const y of labels) positives += y;
  const counts: TaskCounts = { positives, negatives: labels.length - positives, masked };
  let unscorable: UnscorableTask | undefined;
  if (counts.positives === 0 || counts.negatives === 0) {
    const missing = counts.positives === 0 && counts.negatives === 0 ? 'no unmasked labels' : counts.positives === 0 ? 'no positive labels' : 'no negative labels';
    unscorable = { task, ...counts, reason: `${missing} after masking (${counts.positives} positives, ${counts.negatives} negatives, ${masked} masked)` };
  }
  return { labels, scores, counts, unscorable };
}
