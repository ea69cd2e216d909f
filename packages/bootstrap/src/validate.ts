import { Rng } from '@moco-cxr/rng';

/** The paper's statistics: 500 bootstrap replicates, 95% percentile intervals (2.5th and 97.5th percentiles). */
export const BOOTSTRAP_DEFAULTS = Object.freeze({ replicates: 500, confidence: 0.95 });

export function checkLabels(labels: ArrayLike<number>, fn: string): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new RangeError(`${fn}: labels[${i}] is ${y}; labels must be 0 or 1`);
  }
}

export function checkScores(scores: ArrayLike<number>, n: number, name: string, fn: string): void {
  if (scores.length !== n) throw new RangeError(`${fn}: ${name} has length ${scores.length} but labels has length ${n}`);
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) throw new RangeError(`${fn}: ${name}[${i}] is ${s}; scores must be finite numbers`);
  }
}

export interface CommonOptions {
  replicates?: number;
  confidence?: number;
  seed: number | Rng;
  maxRedraws?: number;
}

export function resolveCommon(options: CommonOptions | undefined, fn: string) {
  if (!options || options.seed === undefined) {
    throw new TypeError(`${fn}: options.seed is required (a number or an Rng) so that the result can be reproduced`);
  }
  const replicates = options.replicates ?? BOOTSTRAP_DEFAULTS.replicates;
  const confidence = options.confidence ?? BOOTSTRAP_DEFAULTS.confidence;
  if (!Number.isInteger(replicates) || replicates < 1) throw new RangeError(`${fn}: replicates must be a positive integer, got ${replicates}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`${fn}: confidence must lie in (0, 1), got ${confidence}`);
  const maxRedraws = options.maxRedraws ?? replicates;
  if (!Number.isInteger(maxRedraws) || maxRedraws < 0) throw new RangeError(`${fn}: maxRedraws must be a non-negative integer, got ${maxRedraws}`);
  const rng = options.seed instanceof Rng ? options.seed : new Rng(options.seed);
  return { replicates, confidence, maxRedraws, rng };
}

/** Task k's rows with a 0 / 1 label (NaN is masked) and those labels; AUROC needs both classes among them. */
export function labelledRows(labels: ArrayLike<number>, n: number, tasks: number, k: number, name: string, fn: string): { rows: number[]; y: number[] } {
  const rows: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = labels[i * tasks + k];
    if (v === 0 || v === 1) rows.push(i);
    else if (!Number.isNaN(v)) throw new RangeError(`${fn}: label at row ${i}, task ${name} is ${v}; expected 1, 0 or NaN (masked)`);
  }
  const y = rows.map((i) => labels[i * tasks + k]);
  const pos = y.filter((v) => v === 1).length;
  if (pos === 0 || pos === y.length) throw new RangeError(`${fn}: task ${name} has ${pos} positives and ${y.length - pos} negatives among its labelled rows; AUROC needs both`);
  return { rows, y };
}
