import { auroc } from '@moco-cxr/eval-metrics';
import { aurocOfCounts, sortDraw, type SortedDraw } from './count-auroc';
import type { DegenerateReplicates } from './bootstrap-ci';
import { mean, pairedSummary, type Interval } from './paired';
import { Resampler } from './resample';
import { labelledRows, resolveCommon } from './validate';
import type { Rng } from '@moco-cxr/rng';

export interface PairedBootstrapTasksOptions {
  /** Task names, one per column (default '0', '1', ...). */
  taskNames?: readonly string[];
  replicates?: number;
  confidence?: number;
  seed: number | Rng;
  /** Most resamples in which some task holds one class only to redraw before giving up. Default: `replicates`. */
  maxRedraws?: number;
}

export interface TaskComparison {
  a: Interval & { perDraw: number[] };
  b: Interval & { perDraw: number[] };
  difference: Interval;
  pValue: number;
}

export interface PairedBootstrapTasksResult {
  tasks: string[];
  /** One paired comparison per task, in column order. */
  perTask: TaskComparison[];
  /** The mean AUROC over tasks, compared the same way (each replicate's mean over its per-task AUROCs). */
  mean: TaskComparison;
  confidence: number;
  replicates: number;
  samples: { a: Float64Array; b: Float64Array; difference: Float64Array };
  degenerate: DegenerateReplicates;
}

/** N x K scores (flat, row-major), or several draws of them. */
export type TaskDraws = ArrayLike<number> | ReadonlyArray<ArrayLike<number>>;

function asDraws(scores: TaskDraws, name: string, n: number, tasks: number, fn: string): ArrayLike<number>[] {
  const size = n * tasks;
  if (scores.length === 0) throw new RangeError(`${fn}: ${name} is empty; expected N x K scores or a list of draws`);
  const draws = typeof (scores as ArrayLike<unknown>)[0] === 'number' ? [scores as ArrayLike<number>] : Array.from(scores as ReadonlyArray<ArrayLike<number>>);
  draws.forEach((d, j) => {
    if (d == null || d.length !== size) throw new RangeError(`${fn}: ${name}[${j}] has ${d?.length} scores, expected ${size} (rows x tasks)`);
    for (let i = 0; i < size; i++) if (!Number.isFinite(d[i])) throw new RangeError(`${fn}: ${name}[${j}] score at row ${Math.floor(i / tasks)}, task ${i % tasks} is ${d[i]}; scores must be finite`);
  });
  return draws;
}

/**
 * MoCo-CXR's paired bootstrap over several tasks at once: each replicate resamples the test rows once,
 * scores every draw of A and B on every task over the resampled rows whose label is known (NaN labels
 * are masked per task, as U-Ignore), averages over draws, and records per-task AUROCs and their mean
 * over tasks. Labels are a flat N x K matrix of 1 / 0 / NaN.
 */
export function pairedBootstrapTasks(labels: ArrayLike<number>, tasks: number, scoresA: TaskDraws, scoresB: TaskDraws, options: PairedBootstrapTasksOptions): PairedBootstrapTasksResult {
  const fn = 'pairedBootstrapTasks';
  const { replicates, confidence, maxRedraws, rng } = resolveCommon(options, fn);
  if (!Number.isInteger(tasks) || tasks < 1) throw new RangeError(`${fn}: tasks must be a positive integer, got ${tasks}`);
  if (labels.length === 0 || labels.length % tasks !== 0) throw new RangeError(`${fn}: labels has ${labels.length} values, not a positive multiple of ${tasks} tasks`);
  const n = labels.length / tasks;
  const names = options.taskNames ? [...options.taskNames] : Array.from({ length: tasks }, (_, k) => String(k));
  if (names.length !== tasks) throw new RangeError(`${fn}: taskNames has ${names.length} names for ${tasks} tasks`);
  const drawsA = asDraws(scoresA, 'scoresA', n, tasks, fn);
  const drawsB = asDraws(scoresB, 'scoresB', n, tasks, fn);

  // Per task: the rows with a known label, their labels, and each draw's scores sorted once.
  const rows: Uint32Array[] = [];
  const sortedA: SortedDraw[][] = [];
  const sortedB: SortedDraw[][] = [];
  const perDrawA: number[][] = [];
  const perDrawB: number[][] = [];
  for (let k = 0; k < tasks; k++) {
    const { rows: r, y } = labelledRows(labels, n, tasks, k, names[k], fn);
    const col = (d: ArrayLike<number>) => r.map((i) => d[i * tasks + k]);
    rows.push(Uint32Array.from(r));
    sortedA.push(drawsA.map((d) => sortDraw(y, col(d))));
    sortedB.push(drawsB.map((d) => sortDraw(y, col(d))));
    perDrawA.push(drawsA.map((d) => auroc(y, col(d))));
    perDrawB.push(drawsB.map((d) => auroc(y, col(d))));
  }
  const resampler = new Resampler(n);
  const taskA = Array.from({ length: tasks }, () => new Float64Array(replicates));
  const taskB = Array.from({ length: tasks }, () => new Float64Array(replicates));
  const meanA = new Float64Array(replicates);
  const meanB = new Float64Array(replicates);
  const counts = rows.map((r) => new Uint32Array(r.length));
  const valA = new Float64Array(tasks);
  const valB = new Float64Array(tasks);
  let redrawn = 0;
  for (let rep = 0; rep < replicates; ) {
    resampler.draw(rng);
    let degenerate = false;
    for (let k = 0; k < tasks && !degenerate; k++) {
      const c = counts[k];
      const r = rows[k];
      for (let j = 0; j < r.length; j++) c[j] = resampler.counts[r[j]];
      let sa = 0;
      let sb = 0;
      for (const d of sortedA[k]) sa += aurocOfCounts(d, c);
      for (const d of sortedB[k]) sb += aurocOfCounts(d, c);
      valA[k] = sa / sortedA[k].length;
      valB[k] = sb / sortedB[k].length;
      // NaN: this task's labelled rows drew one class only.
      if (Number.isNaN(valA[k])) degenerate = true;
    }
    if (degenerate) {
      if (++redrawn > maxRedraws) throw new RangeError(`${fn}: more than ${maxRedraws} resamples left some task with one class only; raise maxRedraws or use a larger test set`);
      continue;
    }
    for (let k = 0; k < tasks; k++) {
      taskA[k][rep] = valA[k];
      taskB[k][rep] = valB[k];
    }
    meanA[rep] = mean(valA);
    meanB[rep] = mean(valB);
    rep++;
  }

  const compare = (a: Float64Array, b: Float64Array, drawsOfA: number[], drawsOfB: number[]) => {
    const diff = new Float64Array(replicates);
    for (let r = 0; r < replicates; r++) diff[r] = a[r] - b[r];
    const summary = pairedSummary(a, b, diff, mean(drawsOfA), mean(drawsOfB), confidence);
    return { comparison: { ...summary, a: { ...summary.a, perDraw: drawsOfA }, b: { ...summary.b, perDraw: drawsOfB } }, diff };
  };
  const perTask = names.map((_, k) => compare(taskA[k], taskB[k], perDrawA[k], perDrawB[k]).comparison);
  // The mean's per-draw values: draw d's mean over tasks (draw counts agree across tasks).
  const meanDrawsA = drawsA.map((_, d) => mean(perDrawA.map((p) => p[d])));
  const meanDrawsB = drawsB.map((_, d) => mean(perDrawB.map((p) => p[d])));
  const { comparison: meanCmp, diff } = compare(meanA, meanB, meanDrawsA, meanDrawsB);
  return {
    tasks: names,
    perTask,
    mean: meanCmp,
    confidence,
    replicates,
    samples: { a: meanA, b: meanB, difference: diff },
    degenerate: { count: redrawn, policy: 'redraw', maxRedraws },
  };
}
