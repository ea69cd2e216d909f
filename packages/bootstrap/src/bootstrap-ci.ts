import type { Rng } from '@moco-cxr/rng';
import { percentile, Resampler, strataOf } from './resample';
import { resolveCommon } from './validate';

export interface BootstrapCIOptions {
  /** Number of bootstrap replicates. Default 500. */
  replicates?: number;
  /** Central coverage of the percentile interval. Default 0.95 (2.5th and 97.5th percentiles). */
  confidence?: number;
  /** A seed or an Rng (advanced in place); required so that every interval can be reproduced. */
  seed: number | Rng;
  /** One key per row (e.g. the labels): rows are resampled within each key, so each group keeps its size. */
  stratify?: ArrayLike<number>;
  /** Most degenerate resamples (statistic not finite) to redraw before giving up. Default: `replicates`. */
  maxRedraws?: number;
}

export interface DegenerateReplicates {
  /** Resamples that were discarded and drawn again. */
  count: number;
  /** `redraw`: a degenerate resample is discarded and a new one drawn; more than `maxRedraws` is an error. */
  policy: 'redraw';
  maxRedraws: number;
}

export interface BootstrapCI {
  /** The statistic on the original rows. */
  estimate: number;
  lower: number;
  upper: number;
  confidence: number;
  /** The statistic on each kept replicate, in draw order. */
  replicates: Float64Array;
  degenerate: DegenerateReplicates;
}

/**
 * Percentile bootstrap CI of `statistic` over n rows. Each replicate draws n row indices
 * with replacement (within each stratum when `stratify` is given) and calls
 * `statistic(indices, counts)`, where counts[i] is how often row i was drawn. A statistic
 * that returns NaN or an infinity marks the resample degenerate: it is redrawn, at most
 * `maxRedraws` times in all. Percentiles interpolate linearly (numpy's default).
 */
export function bootstrapCI(
  statistic: (indices: Uint32Array, counts: Uint32Array) => number,
  n: number,
  options: BootstrapCIOptions,
): BootstrapCI {
  const fn = 'bootstrapCI';
  if (typeof statistic !== 'function') throw new TypeError(`${fn}: statistic must be a function (indices, counts) => number`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${fn}: n must be a positive integer (the number of rows), got ${n}`);
  const { replicates, confidence, maxRedraws, rng } = resolveCommon(options, fn);
  const resampler = new Resampler(n, options.stratify ? strataOf(options.stratify, n, fn) : undefined);

  const identity = new Uint32Array(n);
  for (let i = 0; i < n; i++) identity[i] = i;
  const estimate = statistic(identity, new Uint32Array(n).fill(1));
  if (!Number.isFinite(estimate)) throw new RangeError(`${fn}: the statistic on the original ${n} rows is ${estimate}; expected a finite number`);

  const values = new Float64Array(replicates);
  let redrawn = 0;
  for (let r = 0; r < replicates; ) {
    resampler.draw(rng);
    const value = statistic(resampler.indices, resampler.counts);
    if (Number.isFinite(value)) {
      values[r++] = value;
    } else if (++redrawn > maxRedraws) {
      throw new RangeError(
        `${fn}: more than ${maxRedraws} resamples gave a non-finite statistic (last: ${value}) after ${r} good replicates; ` +
          'stratify the resampling (e.g. stratify: labels) or raise maxRedraws',
      );
    }
  }
  const sorted = Float64Array.from(values).sort();
  const alpha = (1 - confidence) / 2;
  return {
    estimate,
    lower: percentile(sorted, alpha),
    upper: percentile(sorted, 1 - alpha),
    confidence,
    replicates: values,
    degenerate: { count: redrawn, policy: 'redraw', maxRedraws },
  };
}
