import { auroc } from '@moco-cxr/eval-metrics';
import type { Rng } from '@moco-cxr/rng';
import type { DegenerateReplicates } from './bootstrap-ci';
import { aurocOfCounts, sortDraw, type SortedDraw } from './count-auroc';
import { mean, pairedSummary, type Interval } from './paired';
import { Resampler } from './resample';
import { labelledRows, resolveCommon } from './validate';

/** One configuration's scores per training seed: `seeds[s]` is one N x K score array or a list of its draws. */
export type SeedDraws = ReadonlyArray<ArrayLike<number> | ReadonlyArray<ArrayLike<number>>>;

export interface PairedSeedBootstrapOptions {
  /** A seed or an Rng (advanced in place); required so that every result can be reproduced. */
  seed: number | Rng;
  /** Tasks K: labels and every score array are N x K, row-major. Default 1. */
  tasks?: number;
  /** Task names, one per column (default '0', '1', ...). */
  taskNames?: readonly string[];
  replicates?: number;
  confidence?: number;
  /** Resample the training seeds as well as the test rows. Default true; false gives the test-rows-only interval of the pooled estimate. */
  resampleSeeds?: boolean;
  /** Most resamples in which some task holds one class only to redraw before giving up. Default: `replicates`. */
  maxRedraws?: number;
}

export interface SeedComparison {
  /** Pooled over seeds; `perSeed[s]` is seed s's AUROC (mean over its draws), `perDraw[s][d]` each draw's. */
  a: Interval & { perSeed: number[]; perDraw: number[][] };
  b: Interval & { perSeed: number[]; perDraw: number[][] };
  /** A minus B pooled over seeds; `perSeed[s]` is seed s of A minus seed s of B. */
  difference: Interval & { perSeed: number[] };
  pValue: number;
}

export interface PairedSeedBootstrapResult {
  tasks: string[];
  /** Number of training seeds per configuration. */
  seeds: number;
  /** One comparison per task, in column order. */
  perTask: SeedComparison[];
  /** The mean AUROC over tasks (with one task: that task), compared the same way. */
  mean: SeedComparison;
  resampleSeeds: boolean;
  confidence: number;
  replicates: number;
  /** Per-replicate values of the mean over tasks: A, B and A - B. */
  samples: { a: Float64Array; b: Float64Array; difference: Float64Array };
  degenerate: DegenerateReplicates;
}

function checkSeeds(scores: SeedDraws, name: string, size: number, tasks: number, fn: string): ArrayLike<number>[][] {
  if (!Array.isArray(scores) || scores.length === 0) throw new RangeError(`${fn}: ${name} must list the scores of at least one seed`);
  return scores.map((entry, s) => {
    if (entry == null || typeof entry.length !== 'number' || entry.length === 0) throw new RangeError(`${fn}: ${name}[${s}] is empty; expected seed ${s}'s scores or a list of its draws`);
    const draws = typeof (entry as ArrayLike<unknown>)[0] === 'number' ? [entry as ArrayLike<number>] : Array.from(entry as ReadonlyArray<ArrayLike<number>>);
    draws.forEach((d, j) => {
      if (d == null || d.length !== size) throw new RangeError(`${fn}: ${name}[${s}][${j}] has ${d?.length} scores, expected ${size} (rows x tasks)`);
      for (let i = 0; i < size; i++) {
        if (typeof d[i] !== 'number' || !Number.isFinite(d[i])) throw new RangeError(`${fn}: ${name}[${s}][${j}] score at row ${Math.floor(i / tasks)}, task ${i % tasks} is ${d[i]}; scores must be finite`);
      }
    });
    return draws;
  });
}

/**
 * Paired bootstrap of A versus B pooled over training seeds, each seed with its label-fraction draws,
 * all scored on the same test rows. Each replicate resamples the test rows once (the same rows for
 * every seed, for A and for B) and, when there is more than one seed, draws S seed indices with
 * replacement; seed i of A is paired with seed i of B, so both sides take the same indices. The
 * replicate's AUROC of a side is its mean over the drawn seeds of each seed's mean over its draws.
 * With one seed nothing is drawn for seeds, and the result equals `pairedBootstrap` (one task) or
 * `pairedBootstrapTasks`. Labels are N x K of 1 / 0 / NaN (masked per task).
 */
export function pairedSeedBootstrap(labels: ArrayLike<number>, scoresA: SeedDraws, scoresB: SeedDraws, options: PairedSeedBootstrapOptions): PairedSeedBootstrapResult {
  const fn = 'pairedSeedBootstrap';
  const { replicates, confidence, maxRedraws, rng } = resolveCommon(options, fn);
  const tasks = options.tasks ?? 1;
  if (!Number.isInteger(tasks) || tasks < 1) throw new RangeError(`${fn}: tasks must be a positive integer, got ${tasks}`);
  if (labels.length === 0 || labels.length % tasks !== 0) throw new RangeError(`${fn}: labels has ${labels.length} values, not a positive multiple of ${tasks} tasks`);
  const n = labels.length / tasks;
  const names = options.taskNames ? [...options.taskNames] : Array.from({ length: tasks }, (_, k) => String(k));
  if (names.length !== tasks) throw new RangeError(`${fn}: taskNames has ${names.length} names for ${tasks} tasks`);
  const seedsA = checkSeeds(scoresA, 'scoresA', labels.length, tasks, fn);
  const seedsB = checkSeeds(scoresB, 'scoresB', labels.length, tasks, fn);
  const S = seedsA.length;
  if (seedsB.length !== S) throw new RangeError(`${fn}: scoresA has ${S} seeds but scoresB has ${seedsB.length}; seed i of A is paired with seed i of B, so both need the same seeds`);
  const resampleSeeds = (options.resampleSeeds ?? true) && S > 1;

  // Per task: the labelled rows, and every seed's draws sorted once on them (scored from row counts per replicate).
  const rows: Uint32Array[] = [];
  const sortedA: SortedDraw[][][] = [];
  const sortedB: SortedDraw[][][] = [];
  const pointA: number[][][] = [];
  const pointB: number[][][] = [];
  for (let k = 0; k < tasks; k++) {
    const { rows: r, y } = labelledRows(labels, n, tasks, k, names[k], fn);
    const col = (d: ArrayLike<number>) => r.map((i) => d[i * tasks + k]);
    rows.push(Uint32Array.from(r));
    sortedA.push(seedsA.map((draws) => draws.map((d) => sortDraw(y, col(d)))));
    sortedB.push(seedsB.map((draws) => draws.map((d) => sortDraw(y, col(d)))));
    pointA.push(seedsA.map((draws) => draws.map((d) => auroc(y, col(d)))));
    pointB.push(seedsB.map((draws) => draws.map((d) => auroc(y, col(d)))));
  }

  const resampler = new Resampler(n);
  const picks = new Uint32Array(S);
  const counts = rows.map((r) => new Uint32Array(r.length));
  // valX[k * S + s]: seed s's draw-mean AUROC of task k on this replicate's rows.
  const valA = new Float64Array(tasks * S);
  const valB = new Float64Array(tasks * S);
  const pooledA = new Float64Array(tasks);
  const pooledB = new Float64Array(tasks);
  const taskA = Array.from({ length: tasks }, () => new Float64Array(replicates));
  const taskB = Array.from({ length: tasks }, () => new Float64Array(replicates));
  const meanA = new Float64Array(replicates);
  const meanB = new Float64Array(replicates);
  const drawMean = (draws: SortedDraw[], c: Uint32Array) => {
    let sum = 0;
    for (const d of draws) sum += aurocOfCounts(d, c);
    return sum / draws.length;
  };
  let redrawn = 0;
  for (let rep = 0; rep < replicates; ) {
    resampler.draw(rng);
    let degenerate = false;
    for (let k = 0; k < tasks && !degenerate; k++) {
      const c = counts[k];
      const r = rows[k];
      for (let j = 0; j < r.length; j++) c[j] = resampler.counts[r[j]];
      for (let s = 0; s < S; s++) {
        valA[k * S + s] = drawMean(sortedA[k][s], c);
        valB[k * S + s] = drawMean(sortedB[k][s], c);
      }
      // NaN: this task's labelled rows drew one class only.
      if (Number.isNaN(valA[k * S])) degenerate = true;
    }
    if (degenerate) {
      if (++redrawn > maxRedraws) throw new RangeError(`${fn}: more than ${maxRedraws} resamples left some task with one class only; raise maxRedraws or use a larger test set`);
      continue;
    }
    // The seeds of this replicate, drawn after its rows (one seed: nothing to draw).
    if (resampleSeeds) rng.ints(S, picks);
    else for (let s = 0; s < S; s++) picks[s] = s;
    for (let k = 0; k < tasks; k++) {
      let sa = 0;
      let sb = 0;
      for (let j = 0; j < S; j++) {
        sa += valA[k * S + picks[j]];
        sb += valB[k * S + picks[j]];
      }
      pooledA[k] = sa / S;
      pooledB[k] = sb / S;
      taskA[k][rep] = pooledA[k];
      taskB[k][rep] = pooledB[k];
    }
    meanA[rep] = mean(pooledA);
    meanB[rep] = mean(pooledB);
    rep++;
  }

  const compare = (a: Float64Array, b: Float64Array, drawsA: number[][], drawsB: number[][]) => {
    const diff = new Float64Array(replicates);
    for (let r = 0; r < replicates; r++) diff[r] = a[r] - b[r];
    const perSeedA = drawsA.map(mean);
    const perSeedB = drawsB.map(mean);
    const s = pairedSummary(a, b, diff, mean(perSeedA), mean(perSeedB), confidence);
    const comparison: SeedComparison = {
      a: { ...s.a, perSeed: perSeedA, perDraw: drawsA },
      b: { ...s.b, perSeed: perSeedB, perDraw: drawsB },
      difference: { ...s.difference, perSeed: perSeedA.map((v, i) => v - perSeedB[i]) },
      pValue: s.pValue,
    };
    return { comparison, diff };
  };
  const perTask = names.map((_, k) => compare(taskA[k], taskB[k], pointA[k], pointB[k]).comparison);
  // The mean over tasks per draw (each seed's draws are the same across tasks), as pairedBootstrapTasks does.
  const overTasks = (point: number[][][]) => point[0].map((draws, s) => draws.map((_, d) => mean(point.map((p) => p[s][d]))));
  const { comparison: meanCmp, diff } = compare(meanA, meanB, overTasks(pointA), overTasks(pointB));
  return {
    tasks: names,
    seeds: S,
    perTask,
    mean: meanCmp,
    resampleSeeds,
    confidence,
    replicates,
    samples: { a: meanA, b: meanB, difference: diff },
    degenerate: { count: redrawn, policy: 'redraw', maxRedraws },
  };
}
