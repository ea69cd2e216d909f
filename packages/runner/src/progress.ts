import type { Interrupt } from './abort';

/** Where commands write: human text to `err`-like streams, machine output (`--json`) to `out`. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when `err` is a terminal: progress bars redraw in place; otherwise plain log lines. */
  tty: boolean;
  /** Suppress human progress (e.g. with --json, or in tests). */
  quiet?: boolean;
  /** Seconds between plain progress lines off a terminal. Default PROGRESS_SECONDS (`MOCO_CXR_PROGRESS_SECONDS` in the CLI). */
  progressSeconds?: number;
  /** Stop requests for work that can stop cleanly (pretraining saves a checkpoint): the CLI's Ctrl-C, an experiment's AbortSignal. */
  interrupt?: Interrupt;
}

/** Seconds between plain progress lines when stderr is not a terminal (a log file, a pipe). */
export const PROGRESS_SECONDS = 30;

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface ProgressOptions {
  /** Seconds between plain lines off a terminal; default `io.progressSeconds`, else 30. */
  logEverySeconds?: number;
  /** Work done before this process started (a resumed run): counted in the bar, not in the rate. */
  initial?: number;
  /** Milliseconds clock; tests inject one. */
  now?: () => number;
}

/**
 * A progress bar with rate and ETA. On a terminal it redraws one line; elsewhere it prints a
 * plain line at most every `logEverySeconds` (and at the end), so logs stay readable.
 */
export class Progress {
  private done: number;
  private readonly initial: number;
  private readonly start: number;
  private readonly now: () => number;
  private readonly logEveryMs: number;
  // Plain logs: the first line after logEverySeconds, so quick loops print only their end line.
  private lastLog: number;
  private lastDraw = 0;
  private barVisible = false;
  private ended = false;

  constructor(
    private readonly io: Io,
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    options: ProgressOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.initial = options.initial ?? 0;
    this.done = this.initial;
    this.start = this.now();
    this.lastLog = this.start;
    this.logEveryMs = (options.logEverySeconds ?? io.progressSeconds ?? PROGRESS_SECONDS) * 1000;
  }

  tick(n = 1, info: Record<string, number | string> = {}): void {
    this.done += n;
    this.render(info, this.done >= this.total);
  }

  set(done: number, info: Record<string, number | string> = {}): void {
    this.done = done;
    this.render(info, done >= this.total);
  }

  /** Units per second in this process. */
  rate(): number {
    return (this.done - this.initial) / Math.max((this.now() - this.start) / 1000, 1e-3);
  }

  /** Seconds left at the current rate. */
  eta(): number {
    const rate = this.rate();
    return rate > 0 ? (this.total - this.done) / rate : Infinity;
  }

  /** A message on its own line; a bar being drawn is cleared first and redrawn by the next update. */
  log(message: string): void {
    if (this.io.quiet) return;
    this.io.err(`${this.barVisible ? '\r\x1b[2K' : ''}${message}\n`);
    this.barVisible = false;
    this.lastDraw = 0;
  }

  private render(info: Record<string, number | string>, final: boolean): void {
    if (this.io.quiet || this.ended) return;
    if (final) this.ended = true;
    const now = this.now();
    const secs = (now - this.start) / 1000;
    const rate = this.rate();
    const extras = Object.entries(info)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3)) : v}`)
      .join('  ');
    const stats = `${this.done}/${this.total} ${this.unit}  ${rate.toFixed(rate < 10 ? 2 : 0)} ${this.unit}/s  ${final ? `took ${formatSeconds(secs)}` : `ETA ${formatSeconds(this.eta())}`}${extras ? `  ${extras}` : ''}`;
    if (this.io.tty) {
      if (!final && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((width * Math.min(this.done, this.total)) / Math.max(this.total, 1));
      this.io.err(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}${final ? '\n' : ''}`);
      this.barVisible = !final;
    } else if (final || now - this.lastLog >= this.logEveryMs) {
      this.lastLog = now;
      this.io.err(`${this.label}: ${stats}\n`);
    }
  }
}
