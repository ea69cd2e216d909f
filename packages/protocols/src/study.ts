import { maskedMeanAuroc, toLabelMatrix, type LabelsInput } from './labels';

export interface StudyScores<Id> {
  /** Study ids in order of first appearance. */
  studyIds: Id[];
  /** Max score over each study's images, studies x tasks row-major. */
  scores: Float64Array;
  /** For each image, the row of its study in `studyIds`. */
  studyOfImage: Int32Array;
}

/**
 * Study-level prediction = max over the study's images (the MoCo-CXR test-time rule).
 * `scores` is images x tasks row-major (tasks = 1 for a plain score vector).
 */
export function studyMax<Id>(scores: ArrayLike<number>, studyIds: ArrayLike<Id>, tasks = 1): StudyScores<Id> {
  const n = studyIds.length;
  if (scores.length !== n * tasks) {
    throw new RangeError(`studyMax: ${n} study ids x ${tasks} tasks needs ${n * tasks} scores, got ${scores.length}`);
  }
  const rowOf = new Map<Id, number>();
  const ids: Id[] = [];
  const studyOfImage = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let row = rowOf.get(studyIds[i]);
    if (row === undefined) {
      row = ids.length;
      rowOf.set(studyIds[i], row);
      ids.push(studyIds[i]);
    }
    studyOfImage[i] = row;
  }
  const out = new Float64Array(ids.length * tasks).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < tasks; k++) {
      const s = scores[i * tasks + k];
      if (!Number.isFinite(s)) throw new RangeError(`studyMax: score of image ${i}, task ${k} is ${s}; scores must be finite`);
      const o = studyOfImage[i] * tasks + k;
      if (s > out[o]) out[o] = s;
    }
  }
  return { studyIds: ids, scores: out, studyOfImage };
}

export interface EvaluateScoresOptions<Id> {
  /** Tasks per row when `labels` is a flat N x K array (cxr-data's layout). Default 1. */
  tasks?: number;
  /** One study id per image: adds the study-level AUROC (max over a study's images). */
  studyIds?: ArrayLike<Id>;
}

export interface ScoreEvaluation {
  /** Rows scored (images, or studies for `study`). */
  count: number;
  /** Mean AUROC over the tasks that can be scored; NaN labels are masked per task. */
  auroc: number;
  aurocPerTask: number[];
  unscorableTasks: number[];
}

export interface EvaluateScoresResult extends ScoreEvaluation {
  study?: ScoreEvaluation & { scores: Float64Array; labels: Float32Array; studyIds: unknown[] };
}

/**
 * AUROC of test-split scores, image-level and (with `studyIds`) study-level. A study's label is
 * its images' common label; images with a NaN label do not vote, and disagreeing labels are an error.
 */
export function evaluateScores<Id>(labels: LabelsInput, scores: ArrayLike<number>, options: EvaluateScoresOptions<Id> = {}): EvaluateScoresResult {
  const flat = labels.length === 0 || typeof labels[0] === 'number';
  const tasksIn = options.tasks ?? 1;
  if (!Number.isInteger(tasksIn) || tasksIn < 1) throw new RangeError(`evaluateScores: tasks must be a positive integer, got ${tasksIn}`);
  const matrix = toLabelMatrix(labels, flat ? labels.length / tasksIn : labels.length, 'evaluateScores labels');
  const { rows, tasks } = matrix;
  if (scores.length !== rows * tasks) {
    throw new RangeError(`evaluateScores: ${rows} x ${tasks} labels but ${scores.length} scores`);
  }
  const image = maskedMeanAuroc(matrix, scores);
  const result: EvaluateScoresResult = { count: rows, auroc: image.mean, aurocPerTask: image.perTask, unscorableTasks: image.unscorable };
  if (options.studyIds) {
    const studies = studyMax(scores, options.studyIds, tasks);
    const studyLabels = new Float32Array(studies.studyIds.length * tasks).fill(Number.NaN);
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < tasks; k++) {
        const y = matrix.values[i * tasks + k];
        if (Number.isNaN(y)) continue;
        const o = studies.studyOfImage[i] * tasks + k;
        if (!Number.isNaN(studyLabels[o]) && studyLabels[o] !== y) {
          throw new RangeError(`evaluateScores: study ${String(studies.studyIds[studies.studyOfImage[i]])} has images labelled both 0 and 1 for task ${k} (image ${i})`);
        }
        studyLabels[o] = y;
      }
    }
    const m = maskedMeanAuroc({ rows: studies.studyIds.length, tasks, values: studyLabels }, studies.scores);
    result.study = {
      count: studies.studyIds.length,
      auroc: m.mean,
      aurocPerTask: m.perTask,
      unscorableTasks: m.unscorable,
      scores: studies.scores,
      labels: studyLabels,
      studyIds: studies.studyIds,
    };
  }
  return result;
}
