import { auroc } from '@moco-cxr/eval-metrics';
import type { Rng } from '@moco-cxr/rng';
import { bootstrapCI, type BootstrapCI } from './bootstrap-ci';
import { aurocOfCounts, sortDraw } from './count-auroc';
import { asDraws, type Draws } from './paired';
import { checkLabels, checkScores } from './validate';

export interface MeanAurocCIOptions {
  /** Number of bootstrap replicates. Default 500. */
  replicates?: number;
  /** Central coverage of the percentile interval. Default 0.95. */
  confidence?: number;
  /** A seed or an Rng (advanced in place); required so that every interval can be reproduced. */
  seed: number | Rng;
  /** Most one-class resamples to redraw before giving up. Default: `replicates`. */
  maxRedraws?: number;
}

/**
 * Percentile bootstrap CI of one configuration's AUROC, averaged over its draws (e.g. label-fraction
 * draws) on the same test rows: each replicate resamples the rows once and scores every draw on it,
 * as `pairedBootstrap` does for each side (same seed, same interval as its `a`). For a configuration
 * with nothing to be paired with. A one-class resample is redrawn.
 */
export function meanAurocCI(labels: ArrayLike<number>, draws: Draws, options: MeanAurocCIOptions): BootstrapCI & { perDraw: number[] } {
  const fn = 'meanAurocCI';
  checkLabels(labels, fn);
  const all = asDraws(draws, 'draws', fn);
  all.forEach((s, d) => checkScores(s, labels.length, `draws[${d}]`, fn));
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  if (positives === 0 || positives === labels.length) throw new RangeError(`${fn}: labels hold one class only (${positives} positives of ${labels.length} rows); AUROC needs both`);
  const perDraw = all.map((s) => auroc(labels, s));
  // Each draw sorted once; a replicate is scored from its row counts (NaN when one class: redrawn).
  const sorted = all.map((s) => sortDraw(labels, s));
  const ci = bootstrapCI(
    (_indices, counts) => {
      let sum = 0;
      for (const d of sorted) sum += aurocOfCounts(d, counts);
      return sum / sorted.length;
    },
    labels.length,
    { replicates: options.replicates, confidence: options.confidence, seed: options.seed, maxRedraws: options.maxRedraws },
  );
  return { ...ci, perDraw };
}
