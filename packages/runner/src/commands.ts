import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { backboneOption, commandConfig, intFlag, UsageError, type Command, type CommandContext } from './cli-framework';
import { BACKENDS, withAbsolutePaths, type Initialisation, type Protocol, type RunnerConfig } from './config';
import type { ExperimentComparisons } from './compare';
import { DEMO_NOTES, demoConfig } from './demo';
import { gridStatus, jobCost, jobDir, planGrid, readJobSpec, runScheduled, writeJobSpecs, type JobSpec } from './grid';
import type { JobOutcome } from './pipeline';
import { isAbortError, type Interrupt } from './interrupt';
import { formatSeconds, type Io } from './progress';
import { comparisonText } from './report/report';
import { failureFromOutput } from './cli-error';
import { lockHolder } from './dir-lock';
import { isFinished, readJson, RunDir, writeJsonAtomic } from './rundir';
import { checkQueueTarget, queueCommands, queueOptions, queueTarget } from './queue/queue-commands';

const dataOptions = {
  data: { type: 'string' as const, valueName: 'dir', description: 'image folder laid out <split>/<CLASS>/<image> (default: the synthetic dataset)' },
  'image-size': { type: 'string' as const, valueName: 'px', description: 'input size in pixels (config data.imageSize)' },
};

/** Config overrides from --data / --image-size. */
function dataOverrides(ctx: CommandContext): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (typeof ctx.values.data === 'string') Object.assign(data, { source: 'folder', root: ctx.values.data });
  const size = intFlag(ctx.values['image-size'] as string | undefined, 'image-size');
  if (size !== undefined) data.imageSize = size;
  return Object.keys(data).length ? { data } : {};
}

function requireOut(ctx: CommandContext, fallback?: string): string {
  const out = (ctx.values.out as string | undefined) ?? fallback;
  if (!out) throw new UsageError(`--out <dir> is required (see moco-cxr ${ctx.argv[0]} --help)`);
  return resolve(out);
}

function say(io: Io, text: string): void {
  if (!io.quiet) io.err(`${text}\n`);
}

/** Runs one job in this process inside its own run directory (skipped when finished). */
async function runJobHere(spec: JobSpec, experimentDir: string, io: Io, argv: string[]): Promise<JobOutcome> {
  const { executeJob } = await import('./pipeline');
  return executeJob(spec, experimentDir, io, argv);
}

/**
 * Runs one job as a child `moco-cxr run-job` process (for --jobs > 1). Resolves true when the child
 * ran it, false when it found the job finished (by another process) and skipped it.
 */
function runJobChild(cliPath: string, specPath: string, io: Io, threads?: number): Promise<boolean> {
  return new Promise<boolean>((resolveP, reject) => {
    const args = [cliPath, 'run-job', specPath, '--json', ...(threads ? ['--threads', String(threads)] : [])];
    // The same node options as this process (a checkout run from source loads the sources' hooks).
    const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    jobProcesses.add(child);
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (b: Buffer) => void (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      tail = (tail + b.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      jobProcesses.delete(child);
      if (code !== 0) {
        const reason = failureFromOutput(tail);
        return reject(new Error(`job ${specPath} failed (exit ${code}): ${reason}`));
      }
      // run-job --json prints the job's outcome; `skipped` says another process had finished it.
      let skipped = false;
      try {
        skipped = (JSON.parse(stdout) as Partial<JobOutcome>).skipped === true;
      } catch {
        // no outcome printed: the child ran the job
      }
      resolveP(!skipped);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a job unless another process is running or has run it: while a live process holds the job's
 * directory this waits for it, then reuses its results (or runs the job, if that process stopped
 * without finishing). Returns whether this process ran the job.
 */
async function runUnlessTaken(dir: string, id: string, io: Io, runIt: () => Promise<boolean>): Promise<boolean> {
  let told = '';
  for (;;) {
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
      if (lockHolder(dir) || isFinished(dir)) continue;
      throw err;
    }
  }
}

/**
 * Runs every unfinished job; `jobs` > 1 runs up to that many at once in child processes, each as
 * soon as its dependencies are done. Jobs other processes run meanwhile (another `experiment`,
 * `run-job` or a queue worker on the same directory) are waited for and counted as reused.
 */
async function runGrid(experimentDir: string, all: JobSpec[], specPaths: Map<string, string>, io: Io, jobs: number, ctx: CommandContext) {
  const { finished, remaining } = gridStatus(experimentDir, all);
  say(io, `grid: ${all.length} jobs, ${finished.length} already finished, ${remaining.length} to run${jobs > 1 ? ` on ${jobs} processes` : ''}`);
  let started = 0;
  let ran = 0;
  let byOthers = 0;
  const { protocolEpochs } = await import('./pipeline');
  const cost = (job: JobSpec) => jobCost(job, (fraction) => protocolEpochs(job.config.finetune, fraction));
  const inChildren = jobs > 1 && ctx.cliPath;
  // Share the cores between the processes unless the config fixes the thread count.
  const threads = !inChildren || all[0]?.config.threads ? undefined : Math.max(1, Math.floor(cpus().length / Math.min(jobs, remaining.length || 1)));
  await runScheduled(
    remaining,
    inChildren ? jobs : 1,
    async (job) => {
      say(io, `[${++started}/${remaining.length}] ${job.id}`);
      const specPath = specPaths.get(job.id)!;
      const ranHere = await runUnlessTaken(jobDir(experimentDir, job), job.id, io, async () =>
        inChildren ? runJobChild(ctx.cliPath!, specPath, io, threads) : !(await runJobHere(job, experimentDir, io, ctx.argv)).skipped,
      );
      if (ranHere) ran++;
      else byOthers++;
      say(io, ranHere ? `  finished ${job.id}` : `  ${job.id}: finished by another process`);
    },
    cost,
  );
  return { finished: finished.length + byOthers, ran, byOthers };
}

const experiment: Command = {
  name: 'experiment',
  summary: "the paper's grid: initialisations x protocols x label fractions x draws, then compare and report",
  usage: 'experiment --config exp.yaml --out runs/exp [--jobs N | --queue redis://host:port [--wait]] [--plan]',
  description: [
    'Plans one independent JSON job spec per cell (written to <out>/jobs/), runs the ones not yet',
    'finished (an interrupted grid resumes where it stopped), then runs the paired-bootstrap',
    'comparisons against compare.baseline and writes the report. With --plan it only writes the',
    'specs: run them anywhere with `moco-cxr run-job <spec>`, then rerun `experiment` to collect.',
    'With --queue it enqueues the grid as BullMQ jobs on Redis (pretraining, then features, then cells,',
    'then compare and report) and returns; `moco-cxr worker --queue ...` on any machine that sees',
    '--out runs them, `moco-cxr status --queue ...` lists them. --wait follows the grid until its report.',
  ].join('\n'),
  options: {
    ...dataOptions,
    ...backboneOption,
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'run up to n jobs at once in child processes (default 1)' },
    plan: { type: 'boolean', description: 'write the job specs and exit' },
    ...queueOptions,
    wait: { type: 'boolean', description: 'with --queue: follow the grid until its report has run' },
  },
  examples: [
    'moco-cxr experiment --config packages/runner/examples/kermany.yaml --out runs/kermany',
    'moco-cxr experiment --config packages/runner/examples/chexpert.yaml --backbone densenet121 --out runs/chexpert-densenet121',
    'moco-cxr experiment --config packages/runner/examples/kermany.yaml --out runs/kermany --plan && moco-cxr run-job runs/kermany/jobs/pretrain.json',
    'moco-cxr experiment --config packages/runner/examples/kermany.yaml --out /shared/runs/kermany --queue redis://10.0.0.5:6379',
  ],
  async run(ctx) {
    const out = requireOut(ctx);
    const cfg = commandConfig(ctx, dataOverrides(ctx));
    const queue = queueTarget(ctx, false);
    if (queue && ctx.values.jobs !== undefined) throw new UsageError('--jobs runs the grid here; with --queue, workers run it (moco-cxr worker --concurrency n)');
    if (ctx.values.wait && !queue) throw new UsageError('--wait follows a queued grid: give --queue redis://host:port');
    // An unreachable Redis or a database it refuses is said before anything is written.
    if (queue && !ctx.values.plan) await checkQueueTarget(queue);
    return runExperiment(cfg, out, ctx, { jobs: intFlag(ctx.values.jobs as string | undefined, 'jobs') ?? 1, planOnly: Boolean(ctx.values.plan), queue, wait: Boolean(ctx.values.wait) });
  },
};

export interface ExperimentOptions {
  jobs: number;
  planOnly?: boolean;
  title?: string;
  notes?: string[];
  queue?: { url: string; prefix: string };
  wait?: boolean;
}

/** The experiment pipeline (also used by `demo`): plan, run what is missing, compare, report. */
export async function runExperiment(cfg: RunnerConfig, out: string, ctx: CommandContext, opts: ExperimentOptions) {
  const io = ctx.io;
  if (!(opts.jobs >= 1)) throw new UsageError(`--jobs: expected a positive integer, got ${opts.jobs}`);
  const started = Date.now();
  // Job specs may run in another directory or on another machine: every path in them is absolute.
  cfg = withAbsolutePaths(cfg);
  // Every split and label-fraction draw the grid needs can be made: checked now, not after pretraining, and before anything is written.
  // The data may settle a default (MoCo's queue on a small dataset), said on stderr.
  const { checkGridData } = await import('./plan-data');
  cfg = await checkGridData(cfg, io, typeof ctx.values.config === 'string' ? ctx.values.config : 'config');
  const run = new RunDir(out, 'experiment', cfg.seed, ctx.argv);
  // A resumed grid must be the same grid: refuse a different config in a directory holding results.
  run.writeConfig(cfg);
  // From here run.json says how the experiment ended: finished, failed with the reason, or interrupted.
  const stopWatching = recordInterrupt(run, io.interrupt);
  run.writeInfo();
  try {
    const result = await experimentSteps(cfg, out, ctx, opts, run, started);
    if (opts.planOnly) run.handOff('planned');
    else if (opts.queue && !opts.wait) run.handOff('queued');
    else run.end('finished');
    return result;
  } catch (err) {
    // Pretraining stopped by Ctrl-C (checkpoint written) ends the experiment as interrupted, not failed.
    if (isAbortError(err)) run.end('interrupted', INTERRUPTED('SIGINT'));
    else run.end('failed', err);
    throw err;
  } finally {
    stopWatching();
  }
}

/** Job processes started by this one (--jobs > 1), stopped with it. */
const jobProcesses = new Set<ChildProcess>();

const INTERRUPTED = (signal: string) => `stopped by ${signal}; rerun the same command to resume`;

/**
 * On Ctrl-C or SIGTERM while an experiment runs here: records `interrupted` in its run.json, stops
 * its job processes, then lets the signal end the process as it would have. Returns the undo.
 * Ctrl-C during work of this process that stops itself (pretraining, under `interrupt`) is left to
 * that work: it writes its checkpoint, and its AbortError ends the experiment.
 */
function recordInterrupt(run: RunDir, interrupt?: Interrupt): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    stop();
    // Pretraining in this process stops itself on Ctrl-C (checkpoint first); its AbortError ends the experiment.
    if (signal === 'SIGINT' && interrupt?.active) {
      for (const child of jobProcesses) child.kill(signal);
      return;
    }
    try {
      run.end('interrupted', INTERRUPTED(signal));
    } finally {
      // Even if run.json cannot be written (disk full), the signal still stops everything.
      for (const child of jobProcesses) child.kill(signal);
      process.kill(process.pid, signal);
    }
  };
  const stop = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return stop;
}

async function experimentSteps(cfg: RunnerConfig, out: string, ctx: CommandContext, opts: ExperimentOptions, run: RunDir, started: number) {
  const io = ctx.io;
  const all = planGrid(cfg);
  const paths = writeJobSpecs(out, all);
  const specPaths = new Map(all.map((j, i) => [j.id, paths[i]]));
  if (opts.planOnly) {
    say(io, `wrote ${paths.length} job specs to ${join(out, 'jobs')}`);
    return { experimentDir: out, jobs: paths };
  }
  if (opts.queue) {
    const { enqueueExperiment } = await import('./queue/queue-commands');
    return enqueueExperiment(cfg, out, all, io, opts.queue, Boolean(opts.wait));
  }
  const grid = await runGrid(out, all, specPaths, io, opts.jobs, ctx);
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

const runJob: Command = {
  name: 'run-job',
  summary: 'run one job spec written by `experiment --plan` (one cell of a grid)',
  usage: 'run-job <experiment>/jobs/<id>.json',
  description: 'Runs the job into its directory under the experiment (the spec lives in <experiment>/jobs/); a finished job is skipped.',
  options: {},
  examples: ['moco-cxr run-job runs/kermany/jobs/linear-moco-1pct-d0.json'],
  async run(ctx) {
    const [specPath] = ctx.positionals;
    if (!specPath) throw new UsageError('give the job spec file: moco-cxr run-job <experiment>/jobs/<id>.json');
    const spec = readJobSpec(specPath);
    // Where to compute may differ per process or machine; what to compute is the spec's.
    const threads = intFlag(ctx.values.threads, 'threads');
    if (threads !== undefined) spec.config = { ...spec.config, threads };
    if (ctx.values.backend !== undefined) spec.config = commandConfigBackend(spec.config, ctx.values.backend);
    if (ctx.values.seed !== undefined || ctx.values.config !== undefined) throw new UsageError('run-job takes its seed and config from the spec; --seed and --config do not apply');
    const experimentDir = resolve(specPath, '..', '..');
    // Started by a queue worker: stop when that worker dies, so the job taken over elsewhere runs alone.
    if (process.env.MOCO_CXR_QUEUE_CHILD && process.send) {
      process.channel?.unref();
      process.once('disconnect', () => process.exit(137));
    }
    return runJobHere(spec, experimentDir, ctx.io, ctx.argv);
  },
};

function commandConfigBackend(cfg: RunnerConfig, backend: string): RunnerConfig {
  if (!(BACKENDS as readonly string[]).includes(backend)) throw new UsageError(`--backend: expected one of ${BACKENDS.join(', ')}, got "${backend}"`);
  return { ...cfg, backend: backend as RunnerConfig['backend'] };
}

/** One run of `pretrain`, `linear` or `finetune`: it trains once, with `seed`; `seeds` (the experiment's axis) is dropped, and that is said. */
function singleJobSpec(cfg: RunnerConfig, kind: 'pretrain' | 'cell', extra: Partial<JobSpec>, io: Io): JobSpec {
  const { seeds, ...one } = cfg;
  if (seeds && !io.quiet) io.err(`moco-cxr ${extra.protocol ?? kind}: seeds [${seeds.join(', ')}] are the training seeds of \`experiment\`; this run trains once, with seed ${cfg.seed} (--seed n for another)\n`);
  return { version: 1, id: extra.id ?? kind, kind, dependsOn: [], outDir: '.', seed: cfg.seed, config: one, ...extra };
}

const pretrain: Command = {
  name: 'pretrain',
  summary: 'MoCo v2 pretraining on a dataset (resumes when --out is an existing run directory)',
  usage: 'pretrain [--config c.yaml] [--data dir] --out runs/pretrain',
  description: [
    'Pretrains a backbone with MoCo on the train split (labels unused), with checkpoints every',
    'pretrain.checkpointEvery steps and at each epoch end, and the kNN / linear-probe monitor.',
    'Pointing --out at an unfinished run resumes it from its last checkpoint. Writes the clean',
    'backbone (backbone.safetensors, torchvision names) that linear / finetune --weights take.',
  ].join('\n'),
  options: { ...dataOptions, ...backboneOption, epochs: { type: 'string', valueName: 'n', description: 'pretraining epochs (config pretrain.epochs)' } },
  examples: ['moco-cxr pretrain --data ../shared/data/kermany-pediatric-cxr-224 --image-size 64 --epochs 10 --out runs/pretrain'],
  async run(ctx) {
    const out = requireOut(ctx);
    const over = dataOverrides(ctx);
    const epochs = intFlag(ctx.values.epochs as string | undefined, 'epochs');
    const cfg = commandConfig(ctx, epochs !== undefined ? { ...over, pretrain: { epochs } } : over);
    const { executeJob } = await import('./pipeline');
    return executeJob(singleJobSpec(cfg, 'pretrain', {}, ctx.io), out, ctx.io, ctx.argv);
  },
};

function protocolCommand(protocol: Protocol): Command {
  const isLinear = protocol === 'linear';
  return {
    name: protocol,
    summary: isLinear
      ? 'linear protocol: frozen backbone (BatchNorm statistics too), train only the final layer on cached features'
      : 'end-to-end protocol: train the whole network, keep the best checkpoint by validation AUROC',
    usage: `${protocol} [--weights backbone.safetensors|pretrain-run-dir] --fraction 0.01 [--draw 0] --out runs/${protocol}`,
    description: [
      `Adam lr ${isLinear ? '1e-4' : '1e-4'}, batch 16, epochs = int(5 * 4^(log8(1/fraction))), validation every min(2^17 * fraction, 8192)`,
      'examples; the label-fraction draw is sampled by patient (seeded by --seed). Without --weights the',
      'backbone starts from random init. Writes results.json and per-image test scores (scores.csv).',
    ].join('\n'),
    options: {
      ...dataOptions,
      ...backboneOption,
      weights: { type: 'string', short: 'w', valueName: 'path', description: 'backbone weights: .safetensors / .pth file or a pretrain run directory' },
      fraction: { type: 'string', short: 'f', valueName: 'x', description: 'label fraction of the train split, in (0, 1] (default 1)' },
      draw: { type: 'string', valueName: 'i', description: 'which draw of that fraction (default 0)' },
    },
    examples: [`moco-cxr ${protocol} --weights runs/pretrain --fraction 0.1 --draw 2 --out runs/${protocol}-10pct-d2`],
    async run(ctx) {
      const out = requireOut(ctx);
      const cfg = commandConfig(ctx, dataOverrides(ctx));
      const fraction = ctx.values.fraction === undefined ? 1 : Number(ctx.values.fraction);
      if (!(fraction > 0 && fraction <= 1)) throw new UsageError(`--fraction: expected a number in (0, 1], got "${ctx.values.fraction}"`);
      const draw = intFlag(ctx.values.draw as string | undefined, 'draw') ?? 0;
      const weights = ctx.values.weights as string | undefined;
      if (weights && !existsSync(weights)) throw new UsageError(`--weights: ${weights} does not exist`);
      const init: Initialisation = weights ? 'moco' : 'random';
      const draws = Math.max(draw + 1, fraction >= 1 ? 1 : 5);
      const { executeJob } = await import('./pipeline');
      const spec = singleJobSpec(cfg, 'cell', { id: `${protocol}-${init}`, protocol, init, fraction, draw, draws, drawSeed: cfg.seed }, ctx.io);
      return executeJob(spec, out, ctx.io, ctx.argv, { weights: weights ? resolve(weights) : undefined });
    },
  };
}

const evaluate: Command = {
  name: 'evaluate',
  summary: 'score a trained checkpoint (a linear or finetune run directory) on a split; per-image scores',
  usage: 'evaluate <run-dir> [--split test] --out runs/eval',
  description: 'Study-level prediction = max over a study\'s images where the dataset has studies. Writes scores.csv (per image), results.json (AUROC image- and study-level).',
  options: { split: { type: 'string', valueName: 'name', description: 'train | val | test (default test)' } },
  examples: ['moco-cxr evaluate runs/finetune-10pct-d2 --out runs/eval-10pct-d2'],
  async run(ctx) {
    const [checkpoint] = ctx.positionals;
    if (!checkpoint) throw new UsageError('give the run directory of a linear or finetune run: moco-cxr evaluate <run-dir> --out <dir>');
    if (!existsSync(join(checkpoint, 'results.json'))) throw new UsageError(`${checkpoint}: not a finished linear / finetune run (no results.json)`);
    const split = (ctx.values.split as string | undefined) ?? 'test';
    if (!['train', 'val', 'test'].includes(split)) throw new UsageError(`--split: expected train, val or test, got "${split}"`);
    const out = requireOut(ctx);
    const { evaluateCheckpoint } = await import('./pipeline');
    return evaluateCheckpoint(resolve(checkpoint), split as 'train' | 'val' | 'test', out, ctx.io, ctx.argv, ctx.values.backend as string | undefined);
  },
};

const compare: Command = {
  name: 'compare',
  summary: 'paired bootstrap of two configurations over their draws (500 replicates by default)',
  usage: 'compare --a run1,run2,... --b run3,run4,... [--replicates 500] --out runs/cmp   |   compare <experiment-dir>',
  description: [
    'Each run directory holds the test scores of one draw (scores.json). Every replicate resamples the',
    'test rows once, scores every draw of A and of B on it, and averages over draws; prints and writes',
    'the table (comparison.md, comparison.json). Given an experiment directory, compares every',
    'initialisation against compare.baseline at each protocol and fraction.',
  ].join('\n'),
  options: {
    a: { type: 'string', valueName: 'dirs', multiple: true, description: 'run directories of configuration A (comma-separated or repeated)' },
    b: { type: 'string', valueName: 'dirs', multiple: true, description: 'run directories of configuration B' },
    'name-a': { type: 'string', valueName: 'label', description: 'label of A in the table (default "A")' },
    'name-b': { type: 'string', valueName: 'label', description: 'label of B in the table (default "B")' },
    replicates: { type: 'string', valueName: 'n', description: 'bootstrap replicates (default 500)' },
  },
  examples: ['moco-cxr compare --a runs/lin-moco-d0,runs/lin-moco-d1 --b runs/lin-rand-d0,runs/lin-rand-d1 --name-a moco --name-b random --out runs/cmp', 'moco-cxr compare runs/kermany'],
  async run(ctx) {
    const replicates = intFlag(ctx.values.replicates as string | undefined, 'replicates');
    const { compareDirs, experimentComparisons } = await import('./compare');
    const [experimentDir] = ctx.positionals;
    if (experimentDir) {
      const cfg = readJson<RunnerConfig>(join(experimentDir, 'config.json'));
      if (replicates !== undefined) cfg.compare.replicates = replicates;
      const seed = intFlag(ctx.values.seed, 'seed');
      if (seed !== undefined) cfg.seed = seed;
      const result = await experimentComparisons(resolve(experimentDir), cfg, ctx.io);
      const out = resolve((ctx.values.out as string | undefined) ?? experimentDir);
      writeJsonAtomic(join(out, 'comparison.json'), result);
      if (!ctx.io.quiet) ctx.io.err(`${comparisonText(result.rows)}\n\nwritten: ${join(out, 'comparison.md')}\n`);
      return result;
    }
    const split = (v: unknown) => ((v as string[] | undefined) ?? []).flatMap((s) => s.split(',')).filter(Boolean);
    const a = split(ctx.values.a);
    const b = split(ctx.values.b);
    if (!a.length || !b.length) throw new UsageError('give both --a and --b run directories (or one experiment directory)');
    const out = requireOut(ctx);
    const seed = intFlag(ctx.values.seed, 'seed') ?? 0;
    const result = await compareDirs(a, b, {
      nameA: (ctx.values['name-a'] as string | undefined) ?? 'A',
      nameB: (ctx.values['name-b'] as string | undefined) ?? 'B',
      replicates: replicates ?? 500,
      seed,
      out,
    });
    if (!ctx.io.quiet) ctx.io.err(`${comparisonText(result.rows)}\n\nwritten: ${join(out, 'comparison.md')}\n`);
    return result;
  },
};

const report: Command = {
  name: 'report',
  summary: 'HTML page and Markdown summary of an experiment: AUROC vs label fraction, ROC, pretraining curves',
  usage: 'report <experiment-dir> [--out report-dir]',
  description: 'Figures are SVG (Vega-Lite, rendered offline) with a PNG copy. Default output: <experiment-dir>/report.',
  options: {},
  examples: ['moco-cxr report runs/kermany'],
  async run(ctx) {
    const [experimentDir] = ctx.positionals;
    if (!experimentDir) throw new UsageError('give the experiment directory: moco-cxr report <experiment-dir>');
    const dir = resolve(experimentDir);
    if (!existsSync(join(dir, 'comparison.json'))) throw new UsageError(`${dir}: no comparison.json; run \`moco-cxr experiment\` (or \`moco-cxr compare ${experimentDir}\`) first`);
    const cfg = readJson<RunnerConfig>(join(dir, 'config.json'));
    const comparisons = readJson<ExperimentComparisons>(join(dir, 'comparison.json'));
    const { buildReportData, writeExperimentReport } = await import('./experiment-report');
    const data = buildReportData(dir, cfg, comparisons, {});
    const written = await writeExperimentReport(dir, data, ctx.values.out ? resolve(ctx.values.out as string) : undefined);
    if (!ctx.io.quiet) ctx.io.err(`report: ${written.html}\n        ${written.markdown}\n`);
    return written;
  },
};

const demo: Command = {
  name: 'demo',
  summary: 'the whole pipeline on synthetic chest X-rays in a few minutes, then the report',
  usage: 'demo [--out runs/demo]',
  description: 'Synthetic dataset (nothing downloaded), 32 px input, short schedules: MoCo pretraining, linear and end-to-end protocols at two label fractions vs random init, paired bootstrap, report.',
  options: {},
  examples: ['npm run demo', 'moco-cxr demo --out /tmp/demo'],
  async run(ctx) {
    const out = resolve((ctx.values.out as string | undefined) ?? 'runs/demo');
    const fromFile = ctx.values.config ? commandConfig(ctx) : undefined;
    const cfg = fromFile ?? demoConfig({ seed: intFlag(ctx.values.seed, 'seed'), backend: ctx.values.backend as string | undefined });
    if (!ctx.io.quiet) ctx.io.err(`demo: seed ${cfg.seed}${fromFile ? '' : ctx.values.seed === undefined ? ' (fixed; --seed n for another)' : ''}\n`);
    const result = await runExperiment(cfg, out, ctx, { jobs: 1, title: 'moco-cxr demo: MoCo-CXR vs random init on synthetic chest X-rays', ...(fromFile ? {} : { notes: [...DEMO_NOTES] }) });
    if (!ctx.io.quiet && 'report' in result && typeof result.report === 'object') ctx.io.out(`${result.report.html}\n`);
    return result;
  },
};

const data: Command = {
  name: 'data',
  summary: 'inspect a dataset: counts per label, split and patient; the bad files found',
  usage: 'data [--data dir | --config c.yaml]',
  description: [
    'Lists the splits the runner would use (validation carved from train by patient), counts per label',
    'and patient, and decodes every image into the cache (default <out>/cache, or data.cacheDir), listing',
    'the unreadable ones. Writes data-summary.json to --out when given.',
  ].join('\n'),
  options: { ...dataOptions },
  examples: ['moco-cxr data --data ../shared/data/kermany-pediatric-cxr-224 --image-size 64 --out runs/data'],
  async run(ctx) {
    const cfg = commandConfig(ctx, dataOverrides(ctx));
    const out = resolve((ctx.values.out as string | undefined) ?? join('runs', 'data'));
    const { inspectData } = await import('./data-summary');
    return inspectData(cfg, ctx.io, { out });
  },
};

export const commands: Command[] = [demo, experiment, pretrain, protocolCommand('linear'), protocolCommand('finetune'), evaluate, compare, report, data, runJob, ...queueCommands];

export function isDirectory(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}
