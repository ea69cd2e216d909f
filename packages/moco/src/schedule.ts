/** Step decay: lr x gamma at each milestone epoch reached (the paper: x0.1 at 12, 18, 24). */
export interface StepSchedule {
  kind: 'step';
  milestones: number[];
  gamma?: number;
}

/** Half-cosine from the base rate at epoch 0 to 0 at `epochs` (MoCo v2's `--cos`). */
export interface CosineSchedule {
  kind: 'cosine';
  epochs: number;
}

export interface ConstantSchedule {
  kind: 'constant';
}

export type LrSchedule = StepSchedule | CosineSchedule | ConstantSchedule;

/**
 * The learning rate for a (0-based) epoch, as the reference's `adjust_learning_rate`:
 * the rate changes at epoch boundaries, and `epoch` may be fractional for per-step schedules.
 */
export function learningRate(baseLr: number, schedule: LrSchedule, epoch: number): number {
  if (!(epoch >= 0)) throw new RangeError(`learningRate: epoch must be >= 0, got ${epoch}`);
  switch (schedule.kind) {
    case 'constant':
      return baseLr;
    case 'step': {
      const gamma = schedule.gamma ?? 0.1;
      let lr = baseLr;
      for (const milestone of schedule.milestones) if (epoch >= milestone) lr *= gamma;
      return lr;
    }
    case 'cosine': {
      if (!(schedule.epochs > 0)) throw new RangeError(`learningRate: cosine schedule needs epochs > 0, got ${schedule.epochs}`);
      return baseLr * 0.5 * (1 + Math.cos((Math.PI * Math.min(epoch, schedule.epochs)) / schedule.epochs));
    }
    default:
      throw new Error(`learningRate: unknown schedule kind '${(schedule as { kind: string }).kind}' (expected step, cosine or constant)`);
  }
}
