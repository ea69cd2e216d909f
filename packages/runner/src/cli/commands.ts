import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BOOTSTRAP_DEFAULTS } from '@moco-cxr/bootstrap';
import { drawsForFraction, PROTOCOL_DEFAULTS } from '@moco-cxr/protocols';
import { BACKENDS, type Initialisation, type Protocol, type RunnerConfig } from '../config';
import type { ExperimentComparisons } from '../compare';
import { DEMO_NOTES, demoConfig } from '../demo';
import { runExperiment, type ExperimentOptions } from '../experiment';
import { readJobSpec, type JobSpec } from '../grid';
import type { JobOutcome } from '../jobs/execute';
import type { Io } from '../progress';
import { comparisonText } from '../report/report';
import { readJson, writeJsonAtomic } from '../rundir';
import { backboneOption, commandConfig, intFlag, precisionFlag, UsageError, type Command, type CommandContext } from './framework';
import { underStopSignals } from './interrupt';
import { checkQueueTarget, queueCommands, queueOptions, queueTarget } from './queue-commands';
import { bundleOptions, evaluateWithBundle, exportModel } from './bundle-commands';

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
  const { executeJob } = await import('../jobs/execute');
  return executeJob(spec, experimentDir, io, argv);
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
    const jobs = intFlag(ctx.values.jobs as string | undefined, 'jobs') ?? 1;
    if (jobs < 1) throw new UsageError(`--jobs: expected a positive integer, got ${jobs}`);
    return experimentHere(cfg, out, ctx, { jobs, planOnly: Boolean(ctx.values.plan), queue, wait: Boolean(ctx.values.wait) });
  },
};

/**
 * `experiment` and `demo`: the library's runExperiment with this process's SIGINT / SIGTERM as its
 * AbortSignal (see underStopSignals), this command's output and the CLI script for child jobs.
 */
function experimentHere(cfg: RunnerConfig, out: string, ctx: CommandContext, opts: Omit<ExperimentOptions, 'signal' | 'io' | 'onEvent' | 'argv' | 'cliPath' | 'configName'>) {
  const io = ctx.io;
  return underStopSignals(
    (t) => io.err(io.tty ? `\n${t}` : t),
    (signal, onStopping) =>
      runExperiment(cfg, out, {
        ...opts,
        signal,
        io,
        onEvent: (e) => e.type === 'stopping' && onStopping(e.prompt),
        argv: ctx.argv,
        cliPath: ctx.cliPath,
        configName: typeof ctx.values.config === 'string' ? ctx.values.config : 'config',
      }),
  );
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
    const precision = precisionFlag(ctx.values.precision);
    if (precision) spec.config = { ...spec.config, precision };
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
    const { executeJob } = await import('../jobs/execute');
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
      `Adam lr ${PROTOCOL_DEFAULTS.lr} (betas ${PROTOCOL_DEFAULTS.betas.join(', ')}), batch ${PROTOCOL_DEFAULTS.batchSize}${isLinear ? '' : `, flip p = ${PROTOCOL_DEFAULTS.finetuneAugment.flipProbability} and rotation +-${PROTOCOL_DEFAULTS.finetuneAugment.rotation} deg`},`,
      'epochs = int(5 * 4^(log8(1/fraction))), validation every min(2^17 * fraction, 8192) examples;',
      'the label-fraction draw is sampled by patient (seeded by --seed). Without --weights the',
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
      const draws = Math.max(draw + 1, drawsForFraction(fraction));
      const { executeJob } = await import('../jobs/execute');
      const spec = singleJobSpec(cfg, 'cell', { id: `${protocol}-${init}`, protocol, init, fraction, draw, draws, drawSeed: cfg.seed }, ctx.io);
      return executeJob(spec, out, ctx.io, ctx.argv, { weights: weights ? resolve(weights) : undefined });
    },
  };
}

const evaluate: Command = {
  name: 'evaluate',
  summary: 'score a trained checkpoint (a linear or finetune run directory) on a split; per-image scores',
  usage: 'evaluate <run-dir> [--split test] --out runs/eval   |   evaluate --bundle <dir> <images...> | --config c.yaml [--split test]',
  description: 'Study-level prediction = max over a study\'s images where the dataset has studies. Writes scores.csv (per image), results.json (AUROC image- and study-level).',
  options: { split: { type: 'string', valueName: 'name', description: 'train | val | test (default test)' }, ...bundleOptions },
  examples: ['moco-cxr evaluate runs/finetune-10pct-d2 --out runs/eval-10pct-d2', 'moco-cxr evaluate --bundle models/kermany scans/*.png'],
  async run(ctx) {
    if (ctx.values.bundle !== undefined) return evaluateWithBundle(ctx);
    const [checkpoint] = ctx.positionals;
    if (!checkpoint) throw new UsageError('give the run directory of a linear or finetune run: moco-cxr evaluate <run-dir> --out <dir>');
    if (!existsSync(join(checkpoint, 'results.json'))) throw new UsageError(`${checkpoint}: not a finished linear / finetune run (no results.json)`);
    const split = (ctx.values.split as string | undefined) ?? 'test';
    if (!['train', 'val', 'test'].includes(split)) throw new UsageError(`--split: expected train, val or test, got "${split}"`);
    const out = requireOut(ctx);
    const { evaluateCheckpoint } = await import('../jobs/evaluate');
    return evaluateCheckpoint(resolve(checkpoint), split as 'train' | 'val' | 'test', out, ctx.io, ctx.argv, ctx.values.backend as string | undefined, precisionFlag(ctx.values.precision));
  },
};

const compare: Command = {
  name: 'compare',
  summary: `paired bootstrap of two configurations over their draws (${BOOTSTRAP_DEFAULTS.replicates} replicates by default)`,
  usage: `compare --a run1,run2,... --b run3,run4,... [--replicates ${BOOTSTRAP_DEFAULTS.replicates}] --out runs/cmp   |   compare <experiment-dir>`,
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
    replicates: { type: 'string', valueName: 'n', description: `bootstrap replicates (default ${BOOTSTRAP_DEFAULTS.replicates})` },
  },
  examples: ['moco-cxr compare --a runs/lin-moco-d0,runs/lin-moco-d1 --b runs/lin-rand-d0,runs/lin-rand-d1 --name-a moco --name-b random --out runs/cmp', 'moco-cxr compare runs/kermany'],
  async run(ctx) {
    const replicates = intFlag(ctx.values.replicates as string | undefined, 'replicates');
    const { compareDirs, experimentComparisons } = await import('../compare');
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
      replicates: replicates ?? BOOTSTRAP_DEFAULTS.replicates,
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
    const { buildReportData, writeExperimentReport } = await import('../experiment-report');
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
    const cfg = fromFile ?? demoConfig({ seed: intFlag(ctx.values.seed, 'seed'), backend: ctx.values.backend as string | undefined, precision: precisionFlag(ctx.values.precision) });
    if (!ctx.io.quiet) ctx.io.err(`demo: seed ${cfg.seed}${fromFile ? '' : ctx.values.seed === undefined ? ' (fixed; --seed n for another)' : ''}\n`);
    const result = await experimentHere(cfg, out, ctx, { jobs: 1, title: 'moco-cxr demo: MoCo-CXR vs random init on synthetic chest X-rays', ...(fromFile ? {} : { notes: [...DEMO_NOTES] }) });
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
    const { inspectData } = await import('../data-summary');
    return inspectData(cfg, ctx.io, { out });
  },
};

export const commands: Command[] = [demo, experiment, pretrain, protocolCommand('linear'), protocolCommand('finetune'), evaluate, exportModel, compare, report, data, runJob, ...queueCommands];

export function isDirectory(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}
