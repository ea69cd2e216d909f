import { auroc } from '@moco-cxr/eval-metrics';
import { aurocOfCounts, sortDraw } from './count-auroc';
import { percentile, Resampler } from './resample';
import type { Rng } from '@moco-cxr/rng';
import { checkLabels, checkScores, resolveCommon } from './validate';
import type { DegenerateReplicates } from './bootstrap-ci';

export type Metric = (labels: ArrayLike<number>, scores: ArrayLike<number>) => number;

/** One score vector, or several draws (e.g. label-fraction draws) of one configuration on the same rows. */
export type Draws = ArrayLike<number> | ReadonlyArray<ArrayLike<number>>;

export interface PairedBootstrapOptions {
  /** Metric of (labels, scores). Default: auroc from @moco-cxr/eval-metrics, scored from counts without re-sorting. */
  metric?: Metric;
  /** Number of bootstrap replicates. Default 500. */
  replicates?: number;
  /** Central coverage of the percentile intervals. Default 0.95. */
  confidence?: number;
  /** A seed or an Rng (advanced in place); required so that every result can be reproduced. */
  seed: number | Rng;
  /** Resample positives and negatives separately, keeping both class counts (no degenerate replicates). Default false. */
  stratifyByLabel?: boolean;
  /** Most one-class resamples to redraw before giving up. Default: `replicates`. */
  maxRedraws?: number;
}

export interface Interval {
  /** Mean over draws of the metric on the original rows (for `difference`: a.estimate - b.estimate). */
  estimate: number;
  lower: number;
  upper: number;
}

export interface PairedBootstrapResult {
  a: Interval & { perDraw: number[] };
  b: Interval & { perDraw: number[] };
  difference: Interval;
  /** Two-sided bootstrap p-value for difference = 0: min(1, 2 (1 + min(#{d <= 0}, #{d >= 0})) / (R + 1)). */
  pValue: number;
  confidence: number;
  replicates: number;
  /** Per-replicate values, in draw order: draw-averaged metric of A and of B, and A - B. */
  samples: { a: Float64Array; b: Float64Array; difference: Float64Array };
  /** Resamples holding one class only. Without stratifyByLabel they are redrawn; with it none can occur. */
  degenerate: DegenerateReplicates;
}

export function asDraws(scores: Draws, name: string, fn: string): ArrayLike<number>[] {
  if (scores.length === 0) throw new RangeError(`${fn}: ${name} is empty; expected scores or a list of draws`);
  const first = (scores as ArrayLike<unknown>)[0];
  const draws = typeof first === 'number' ? [scores as ArrayLike<number>] : Array.from(scores as ReadonlyArray<ArrayLike<number>>);
  for (let d = 0; d < draws.length; d++) {
    if (draws[d] == null || typeof draws[d].length !== 'number') {
      throw new TypeError(`${fn}: ${name}[${d}] is not an array of scores; pass one score array or an array of draws`);
    }
  }
  return draws;
}

/**
 * Paired bootstrap of A versus B on the same test rows, as in MoCo-CXR: each replicate
 * resamples the rows once, scores every draw of A and of B on that same resample,
 * averages over draws, and records A, B and A - B. Returns point estimates, percentile
 * CIs (linear interpolation) for A, B and the difference, and a two-sided p-value.
 */
export function pairedBootstrap(labels: ArrayLike<number>, scoresA: Draws, scoresB: Draws, options: PairedBootstrapOptions): PairedBootstrapResult {
  const fn = 'pairedBootstrap';
  const { replicates, confidence, maxRedraws, rng } = resolveCommon(options, fn);
  const n = labels.length;
  checkLabels(labels, fn);
  const drawsA = asDraws(scoresA, 'scoresA', fn);
  const drawsB = asDraws(scoresB, 'scoresB', fn);
  drawsA.forEach((s, d) => checkScores(s, n, `scoresA[${d}]`, fn));
  drawsB.forEach((s, d) => checkScores(s, n, `scoresB[${d}]`, fn));
  const metric = options.metric ?? auroc;
  if (typeof metric !== 'function') throw new TypeError(`${fn}: metric must be a function (labels, scores) => number`);

  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i];
  if (positives === 0 || positives === n) {
    throw new RangeError(`${fn}: labels hold one class only (${positives} positives of ${n} rows); nothing to compare`);
  }
  const perDrawA = drawsA.map((s) => metric(labels, s));
  const perDrawB = drawsB.map((s) => metric(labels, s));
  const pointA = mean(perDrawA);
  const pointB = mean(perDrawB);

  let strata: Uint32Array[] | undefined;
  const positiveRow = new Uint8Array(n);
  for (let i = 0; i < n; i++) positiveRow[i] = labels[i];
  if (options.stratifyByLabel) {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < n; i++) (positiveRow[i] ? pos : neg).push(i);
    strata = [Uint32Array.from(neg), Uint32Array.from(pos)];
  }
  const resampler = new Resampler(n, strata);
  const scoreReplicate = metric === auroc ? countScorer(labels, drawsA, drawsB) : explicitScorer(labels, drawsA, drawsB, metric);

  const a = new Float64Array(replicates);
  const b = new Float64Array(replicates);
  const difference = new Float64Array(replicates);
  let redrawn = 0;
  for (let r = 0; r < replicates; ) {
    resampler.draw(rng);
    let drawnPositives = 0;
    for (let i = 0; i < n; i++) drawnPositives += resampler.counts[i] * positiveRow[i];
    if (drawnPositives === 0 || drawnPositives === n) {
      if (++redrawn > maxRedraws) {
        throw new RangeError(
          `${fn}: more than ${maxRedraws} resamples held one class only (${positives} positives of ${n} rows); ` +
            'pass stratifyByLabel: true or raise maxRedraws',
        );
      }
      continue;
    }
    const [va, vb] = scoreReplicate(resampler);
    if (!Number.isFinite(va) || !Number.isFinite(vb)) {
      throw new RangeError(`${fn}: the metric gave ${va} (A) and ${vb} (B) on replicate ${r}; expected finite numbers`);
    }
    a[r] = va;
    b[r] = vb;
    difference[r] = va - vb;
    r++;
  }

  const summary = pairedSummary(a, b, difference, pointA, pointB, confidence);
  return {
    a: { ...summary.a, perDraw: perDrawA },
    b: { ...summary.b, perDraw: perDrawB },
    difference: summary.difference,
    pValue: summary.pValue,
    confidence,
    replicates,
    samples: { a, b, difference },
    degenerate: { count: redrawn, policy: 'redraw', maxRedraws },
  };
}

/**
 * Percentile intervals of A, B and A - B over the replicates, around the point estimates, and the
 * two-sided p-value of A - B (the share of replicates on the far side of 0, doubled, add-one).
 */
export function pairedSummary(a: Float64Array, b: Float64Array, difference: Float64Array, pointA: number, pointB: number, confidence: number) {
  const alpha = (1 - confidence) / 2;
  const interval = (estimate: number, values: Float64Array): Interval => {
    const sorted = Float64Array.from(values).sort();
    return { estimate, lower: percentile(sorted, alpha), upper: percentile(sorted, 1 - alpha) };
  };
  let atOrBelow = 0;
  let atOrAbove = 0;
  for (const d of difference) {
    if (d <= 0) atOrBelow++;
    if (d >= 0) atOrAbove++;
  }
  return {
    a: interval(pointA, a),
    b: interval(pointB, b),
    difference: interval(pointA - pointB, difference),
    pValue: Math.min(1, (2 * (1 + Math.min(atOrBelow, atOrAbove))) / (difference.length + 1)),
  };
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

// AUROC fast path: each draw sorted once, every replicate scored from its row counts.
function countScorer(labels: ArrayLike<number>, drawsA: ArrayLike<number>[], drawsB: ArrayLike<number>[]) {
  const sortedA = drawsA.map((s) => sortDraw(labels, s));
  const sortedB = drawsB.map((s) => sortDraw(labels, s));
  return (resampler: Resampler): [number, number] => {
    let sa = 0;
    for (const d of sortedA) sa += aurocOfCounts(d, resampler.counts);
    let sb = 0;
    for (const d of sortedB) sb += aurocOfCounts(d, resampler.counts);
    return [sa / sortedA.length, sb / sortedB.length];
  };
}

// Any other metric sees the resampled rows themselves.
function explicitScorer(labels: ArrayLike<number>, drawsA: ArrayLike<number>[], drawsB: ArrayLike<number>[], metric: Metric) {
  const n = labels.length;
  const y = new Float64Array(n);
  const s = new Float64Array(n);
  const score = (draws: ArrayLike<number>[], indices: Uint32Array) => {
    let total = 0;
    for (const draw of draws) {
      for (let i = 0; i < n; i++) s[i] = draw[indices[i]];
      total += metric(y, s);
    }
    return total / draws.length;
  };
  return (resampler: Resampler): [number, number] => {
    const { indices } = resampler;
    for (let i = 0; i < n; i++) y[i] = labels[indices[i]];
    return [score(drawsA, indices), score(drawsB, indices)];
  };
}
