import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { abortError, isAbortError, signalInterrupt, stopReason } from './abort';
import { runJobChild } from './child-job';
import { resolveConfig, type RunnerConfig } from './config';
import { lockHolder } from './dir-lock';
import { gridStatus, jobCost, jobDir, planGrid, runScheduled, writeJobSpecs, type JobSpec } from './grid';
import { formatSeconds, type Io } from './progress';
import { comparisonText } from './report/report';
import { isFinished, RunDir, writeJsonAtomic } from './rundir';

/** What an experiment reports while it runs, besides the text lines it writes to `io`. */
export type ExperimentEvent =
  | { type: 'planned'; jobs: number; finished: number; remaining: number }
  | { type: 'job-started'; id: string; index: number; of: number; where: 'here' | 'child' }
  | { type: 'job-finished'; id: string; ranHere: boolean }
  /**
   * Sent at once when `signal` aborts, after run.json says `interrupted` and the job processes were
   * signalled. `prompt`: what still runs here stops at its next step (pretraining checkpoints first);
   * false while work that cannot stop part-way runs here (a cell, feature extraction, the comparison).
   */
  | { type: 'stopping'; reason: string; prompt: boolean };

export interface ExperimentOptions {
  /** Up to this many jobs at once, each in a child `moco-cxr run-job` process (needs `cliPath`); default 1, in this process. */
  jobs?: number;
  /** Write the job specs and return. */
  planOnly?: boolean;
  title?: string;
  notes?: string[];
  /** Enqueue the grid on this BullMQ queue instead of running it here. */
  queue?: { url: string; prefix: string };
  /** With `queue`: follow the grid until its report has run. */
  wait?: boolean;
  /**
   * Stops the experiment: run.json records `interrupted` at once (a rerun resumes), job processes get
   * SIGINT (or the signal the reason names, `{ signal: 'SIGTERM' }`), pretraining here stops after
   * writing a checkpoint, no further job starts, and the call rejects with an AbortError.
   */
  signal?: AbortSignal;
  /** Where human-readable progress goes (nothing is written anywhere else); default: nowhere. */
  io?: Io;
  onEvent?: (event: ExperimentEvent) => void;
  /** The command line recorded in run.json. */
  argv?: string[];
  /** The `moco-cxr` script child job processes run (for jobs > 1). */
  cliPath?: string;
  /** What names the config in messages (its file). */
  configName?: string;
}

export interface ExperimentPlan {
  experimentDir: string;
  jobs: string[];
}

const QUIET: Io = { out: () => undefined, err: () => undefined, tty: false, quiet: true };

function say(io: Io, text: string): void {
  if (!io.quiet) io.err(`${text}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a job unless another process is running or has run it: while a live process holds the job's
 * directory this waits for it, then reuses its results (or runs the job, if that process stopped
 * without finishing). Returns whether this process ran the job.
 */
async function runUnlessTaken(dir: string, id: string, io: Io, signal: AbortSignal | undefined, runIt: () => Promise<boolean>): Promise<boolean> {
  let told = '';
  for (;;) {
    if (signal?.aborted) throw abortError(`stopped before ${id}`, signal);
    const holder = lockHolder(dir);
    if (holder) {
      if (told !== holder) say(io, `  ${id}: being run by process ${holder}; waiting for it (delete ${join(dir, '.lock')} if that process is gone)`);
      told = holder;
      await sleep(1000);
      continue;
    }
    if (isFinished(dir)) return false;
    try {
      return await runIt();
    } catch (err) {
      // Refused because another process took the job first: wait for it as above.
      if (!signal?.aborted && (lockHolder(dir) || isFinished(dir))) continue;
      throw err;
    }
  }
}

/** What runs now, so that a stop request knows whom to signal and whether it takes effect soon. */
interface Running {
  children: Set<ChildProcess>;
  /** Jobs running in this process that stop only at their end. */
  unstoppableHere: number;
}

/**
 * Runs every unfinished job; `jobs` > 1 runs up to that many at once in child processes, each as
 * soon as its dependencies are done. Jobs other processes run meanwhile (another `experiment`,
 * `run-job` or a queue worker on the same directory) are waited for and counted as reused.
 */
async function runGrid(experimentDir: string, all: JobSpec[], specPaths: Map<string, string>, opts: ExperimentOptions, io: Io, running: Running) {
  const jobs = opts.jobs ?? 1;
  const { signal } = opts;
  const { finished, remaining } = gridStatus(experimentDir, all);
  say(io, `grid: ${all.length} jobs, ${finished.length} already finished, ${remaining.length} to run${jobs > 1 ? ` on ${jobs} processes` : ''}`);
  opts.onEvent?.({ type: 'planned', jobs: all.length, finished: finished.length, remaining: remaining.length });
  let started = 0;
  let ran = 0;
  let byOthers = 0;
  const { executeJob } = await import('./jobs/execute');
  const { protocolEpochs } = await import('./jobs/cell');
  const cost = (job: JobSpec) => jobCost(job, (fraction) => protocolEpochs(job.config.finetune, fraction));
  const inChildren = jobs > 1 && opts.cliPath;
  // Share the cores between the processes unless the config fixes the thread count.
  const threads = !inChildren || all[0]?.config.threads ? undefined : Math.max(1, Math.floor(cpus().length / Math.min(jobs, remaining.length || 1)));
  // Pretraining here stops at its next step when the experiment is stopped (checkpoint first).
  const jobIo: Io = signal ? { ...io, interrupt: signalInterrupt(signal) } : io;
  await runScheduled(
    remaining,
    inChildren ? jobs : 1,
    async (job) => {
      if (signal?.aborted) throw abortError(`stopped before ${job.id}`, signal);
      const index = ++started;
      say(io, `[${index}/${remaining.length}] ${job.id}`);
      opts.onEvent?.({ type: 'job-started', id: job.id, index, of: remaining.length, where: inChildren ? 'child' : 'here' });
      const specPath = specPaths.get(job.id)!;
      const here = async () => {
        const unstoppable = job.kind !== 'pretrain';
        if (unstoppable) running.unstoppableHere++;
        try {
          return !(await executeJob(job, experimentDir, jobIo, opts.argv ?? [])).skipped;
        } finally {
          if (unstoppable) running.unstoppableHere--;
        }
      };
      const ranHere = await runUnlessTaken(jobDir(experimentDir, job), job.id, io, signal, async () => (inChildren ? runJobChild(opts.cliPath!, specPath, running.children, threads) : here()));
      if (ranHere) ran++;
      else byOthers++;
      say(io, ranHere ? `  finished ${job.id}` : `  ${job.id}: finished by another process`);
      opts.onEvent?.({ type: 'job-finished', id: job.id, ranHere });
    },
    cost,
  );
  return { finished: finished.length + byOthers, ran, byOthers };
}

const interrupted = (reason: string) => `stopped by ${reason}; rerun the same command to resume`;

/**
 * The paper's experiment, from a config to its report: plans one job spec per cell (written to
 * `<out>/jobs/`), runs the ones not yet finished (a stopped experiment resumes where it stopped),
 * then runs the paired-bootstrap comparisons and writes the report. Also used by `demo`. Installs
 * nothing on the process: stop it through `options.signal`; it reports through `options.io` and
 * `options.onEvent`. run.json in `out` says how it ended: finished, failed with the reason, or interrupted.
 */
export async function runExperiment(config: RunnerConfig, out: string, options: ExperimentOptions = {}) {
  const io = options.io ?? QUIET;
  const { signal } = options;
  const jobs = options.jobs ?? 1;
  if (!(Number.isInteger(jobs) && jobs >= 1)) throw new RangeError(`runExperiment: jobs must be a positive integer, got ${jobs}`);
  if (signal?.aborted) throw abortError(`stopped by ${stopReason(signal)} before it started`, signal);
  const started = Date.now();
  // A config built by hand (not through resolveConfig) is checked and completed, and its paths made absolute, here.
  let cfg = resolveConfig(config, options.configName ?? 'config');
  // Every split and label-fraction draw the grid needs can be made: checked now, not after pretraining, and before anything is written.
  // The data may settle a default (MoCo's queue on a small dataset), said through io.
  const { checkGridData } = await import('./plan-data');
  cfg = await checkGridData(cfg, io, options.configName ?? 'config');
  const run = new RunDir(out, 'experiment', cfg.seed, options.argv ?? []);
  // A resumed grid must be the same grid: refuse a different config in a directory holding results.
  run.writeConfig(cfg);
  const running: Running = { children: new Set(), unstoppableHere: 0 };
  let phase: 'grid' | 'after' = 'grid';
  // From here run.json says how the experiment ended: finished, failed with the reason, or interrupted.
  const onAbort = () => {
    const reason = stopReason(signal!);
    try {
      run.end('interrupted', interrupted(reason));
    } finally {
      // Even if run.json cannot be written (disk full), the job processes still stop.
      const kill = (/^SIG[A-Z0-9]+$/.test(reason) ? reason : 'SIGINT') as NodeJS.Signals;
      for (const child of running.children) child.kill(kill);
      options.onEvent?.({ type: 'stopping', reason, prompt: phase === 'grid' && running.unstoppableHere === 0 });
    }
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  run.writeInfo();
  try {
    const result = await experimentSteps(cfg, out, options, io, run, started, running, () => (phase = 'after'));
    if (options.planOnly) run.handOff('planned');
    else if (options.queue && !options.wait) run.handOff('queued');
    else run.end('finished');
    return result;
  } catch (err) {
    // Stopped through the signal (pretraining wrote its checkpoint first): interrupted, not failed.
    if (signal?.aborted && isAbortError(err)) run.end('interrupted', interrupted(stopReason(signal)));
    else if (isAbortError(err)) run.end('interrupted', interrupted('SIGINT'));
    else run.end('failed', err);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function experimentSteps(cfg: RunnerConfig, out: string, opts: ExperimentOptions, io: Io, run: RunDir, started: number, running: Running, gridDone: () => void) {
  const all = planGrid(cfg);
  const paths = writeJobSpecs(out, all);
  const specPaths = new Map(all.map((j, i) => [j.id, paths[i]]));
  if (opts.planOnly) {
    say(io, `wrote ${paths.length} job specs to ${join(out, 'jobs')}`);
    return { experimentDir: out, jobs: paths };
  }
  if (opts.queue) {
    const { enqueueExperiment } = await import('./queue/enqueue');
    return enqueueExperiment(cfg, out, all, io, opts.queue, Boolean(opts.wait));
  }
  let grid: Awaited<ReturnType<typeof runGrid>>;
  try {
    grid = await runGrid(out, all, specPaths, opts, io, running);
  } catch (err) {
    // A job that failed because the experiment was stopped (its process was signalled) ends it as stopped.
    if (opts.signal?.aborted && !isAbortError(err)) throw abortError(`stopped by ${stopReason(opts.signal)}: ${err instanceof Error ? err.message : String(err)}`, opts.signal);
    throw err;
  }
  if (opts.signal?.aborted) throw abortError(`stopped by ${stopReason(opts.signal)}; rerun the same command to resume`, opts.signal);
  gridDone();
  const { experimentComparisons } = await import('./compare');
  const { buildReportData, writeExperimentReport } = await import('./experiment-report');
  const comparisons = await experimentComparisons(out, cfg, io);
  writeJsonAtomic(join(out, 'comparison.json'), comparisons);
  const data = buildReportData(out, cfg, comparisons, { title: opts.title, notes: opts.notes, wallSeconds: (Date.now() - started) / 1000 });
  const report = await writeExperimentReport(out, data);
  if (!io.quiet) {
    io.err(`\n${comparisonText(comparisons.rows)}\n\n${data.summary.map((l) => `- ${l}\n`).join('')}\n`);
    io.err(`experiment: ${grid.ran} jobs run, ${grid.finished} reused${grid.byOthers ? ` (${grid.byOthers} finished meanwhile by another process)` : ''}, ${formatSeconds((Date.now() - started) / 1000)}\n`);
    io.err(`report: ${report.html}\n        ${report.markdown}\n`);
  }
  const result = { experimentDir: out, jobsRun: grid.ran, jobsReused: grid.finished, comparisons: comparisons.rows, report };
  run.metric({ event: 'experiment-finished', jobsRun: grid.ran, jobsReused: grid.finished });
  // results.json of an experiment is rewritten on each collection (cells keep theirs untouched).
  writeJsonAtomic(join(out, 'results.json'), { ...result, report: data });
  return result;
}
