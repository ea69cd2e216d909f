/**
 * The paper's downstream training settings (linear and end-to-end protocols): Adam at 1e-4 with
 * torch's betas, batches of 16; the end-to-end protocol trains on flipped (p = 0.5) and rotated
 * (+-10 degrees) images; 5 label-fraction draws below 100% of the labels, 1 at 100%.
 */
export const PROTOCOL_DEFAULTS = Object.freeze({
  lr: 1e-4,
  batchSize: 16,
  betas: Object.freeze([0.9, 0.999] as const),
  finetuneAugment: Object.freeze({ flipProbability: 0.5, rotation: 10 }),
  draws: Object.freeze({ partial: 5, full: 1 }),
});

/** The paper's number of label-fraction draws at `fraction`: PROTOCOL_DEFAULTS.draws (5 below 100%, 1 at 100%). */
export function drawsForFraction(fraction: number): number {
  checkFraction(fraction, 'drawsForFraction');
  return fraction >= 1 ? PROTOCOL_DEFAULTS.draws.full : PROTOCOL_DEFAULTS.draws.partial;
}

/**
 * The MoCo-CXR downstream schedule: epochs = int(5 * 4^(log8(1/fraction))), so each 8x fewer
 * labels buys 4x more epochs (1 -> 5, 1/8 -> 20, 1/64 -> 80, 1/512 -> 320).
 */
export function epochsForFraction(fraction: number): number {
  checkFraction(fraction, 'epochsForFraction');
  const exact = 5 * Math.pow(4, Math.log(1 / fraction) / Math.log(8));
  // A 1e-9 nudge keeps exact powers (80 computed as 79.99999999999999) on the integer the paper means.
  return Math.floor(exact + 1e-9);
}

/**
 * The most epochs the formula is used for: its value at 0.1%, the smallest label fraction the paper trains.
 * Below it the formula has no bound (a fraction of 1e-9 gives 5,000,000 epochs); callers cap at this and say so.
 */
export const PAPER_MAX_EPOCHS = epochsForFraction(0.001);

/** Validation interval in training examples: min(2^17 * fraction, 8192), as in the reference code. */
export function evalInterval(fraction: number): number {
  checkFraction(fraction, 'evalInterval');
  return Math.min(2 ** 17 * fraction, 8192);
}

function checkFraction(fraction: number, fn: string): void {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`${fn}: fraction must be in (0, 1], got ${fraction}`);
  }
}

/** Resolves the epoch count and evaluation interval from `fraction` and/or explicit overrides. */
export function resolveSchedule(
  options: { fraction?: number; epochs?: number; evalEvery?: number },
  trainCount: number,
  fn: string,
): { epochs: number; evalEvery: number } {
  const { fraction, epochs, evalEvery } = options;
  if (fraction === undefined && epochs === undefined) {
    throw new RangeError(`${fn}: give the label fraction (the paper's schedule) or an explicit epochs count`);
  }
  const resolvedEpochs = epochs ?? epochsForFraction(fraction as number);
  if (!Number.isInteger(resolvedEpochs) || resolvedEpochs < 1) {
    throw new RangeError(`${fn}: epochs must be a positive integer, got ${resolvedEpochs}`);
  }
  // Without a fraction the natural default is one validation per epoch.
  const resolvedEvery = evalEvery ?? (fraction !== undefined ? evalInterval(fraction) : trainCount);
  if (!(resolvedEvery > 0)) throw new RangeError(`${fn}: evalEvery must be > 0 examples, got ${resolvedEvery}`);
  return { epochs: resolvedEpochs, evalEvery: resolvedEvery };
}
