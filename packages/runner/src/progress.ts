/** Where commands write: human text to `err`-like streams, machine output (`--json`) to `out`. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when `err` is a terminal: progress bars redraw in place; otherwise plain log lines. */
  tty: boolean;
  /** Suppress human progress (e.g. with --json, or in tests). */
  quiet?: boolean;
}

export function processIo(): Io {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: Boolean(process.stderr.isTTY),
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * A progress bar with rate and ETA. On a terminal it redraws one line; elsewhere it prints a
 * plain line at most every `logEverySeconds` (and at the end), so logs stay readable.
 */
export class Progress {
  private done = 0;
  private readonly start = Date.now();
  // Plain logs: the first line after logEverySeconds, so quick loops print only their end line.
  private lastLog = Date.now();
  private lastDraw = 0;
  private ended = false;

  constructor(
    private readonly io: Io,
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    private readonly logEverySeconds = 10,
  ) {}

  tick(n = 1, info: Record<string, number | string> = {}): void {
    this.done += n;
    this.render(info, this.done >= this.total);
  }

  set(done: number, info: Record<string, number | string> = {}): void {
    this.done = done;
    this.render(info, done >= this.total);
  }

  private render(info: Record<string, number | string>, final: boolean): void {
    if (this.io.quiet || this.ended) return;
    if (final) this.ended = true;
    const now = Date.now();
    const secs = (now - this.start) / 1000;
    const rate = this.done / Math.max(secs, 1e-3);
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const extras = Object.entries(info)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3)) : v}`)
      .join('  ');
    const stats = `${this.done}/${this.total} ${this.unit}  ${rate.toFixed(rate < 10 ? 2 : 0)} ${this.unit}/s  ${final ? `took ${formatSeconds(secs)}` : `ETA ${formatSeconds(eta)}`}${extras ? `  ${extras}` : ''}`;
    if (this.io.tty) {
      if (!final && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((width * Math.min(this.done, this.total)) / Math.max(this.total, 1));
      this.io.err(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}${final ? '\n' : ''}`);
    } else if (final || now - this.lastLog >= this.logEverySeconds * 1000) {
      this.lastLog = now;
      this.io.err(`${this.label}: ${stats}\n`);
    }
  }
}
