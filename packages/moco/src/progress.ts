/** Progress output: a one-line bar on a terminal, plain log lines otherwise. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  step: number;
  totalSteps: number;
  loss: number;
  top1: number;
  imagesPerSecond: number;
  batchSize: number;
  lr: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** Renders training progress; `lines` mode prints every `logEvery` steps. */
export class ProgressReporter {
  private readonly mode: 'bar' | 'lines' | 'none';
  private barVisible = false;

  constructor(
    private readonly stream: ProgressStream,
    mode: ProgressMode,
    private readonly logEvery: number,
  ) {
    this.mode = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  }

  step(p: StepProgress): void {
    const eta = formatDuration(p.imagesPerSecond > 0 ? ((p.totalSteps - p.step) * p.batchSize) / p.imagesPerSecond : NaN);
    const stats = `loss ${p.loss.toFixed(4)} acc ${p.top1.toFixed(3)} ${p.imagesPerSecond.toFixed(1)} img/s ETA ${eta}`;
    if (this.mode === 'bar') {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 100) - 80));
      const filled = Math.round((width * p.stepInEpoch) / p.stepsPerEpoch);
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      this.stream.write(`\r\x1b[2Kepoch ${p.epoch + 1}/${p.epochs} [${bar}] ${p.stepInEpoch}/${p.stepsPerEpoch} ${stats}`);
      this.barVisible = true;
    } else if (this.mode === 'lines' && (p.step % this.logEvery === 0 || p.stepInEpoch === p.stepsPerEpoch)) {
      this.stream.write(`epoch ${p.epoch + 1}/${p.epochs} step ${p.stepInEpoch}/${p.stepsPerEpoch} (total ${p.step}/${p.totalSteps}) lr ${p.lr.toExponential(2)} ${stats}\n`);
    }
  }

  /** A message on its own line (epoch summaries, checkpoints, warnings). */
  log(message: string): void {
    if (this.mode === 'none') return;
    if (this.barVisible) {
      this.stream.write('\n');
      this.barVisible = false;
    }
    this.stream.write(`${message}\n`);
  }
}
