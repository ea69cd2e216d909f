import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { commandConfig, intFlag, precisionFlag, UsageError, type Command, type CommandContext, type OptionSpec } from './framework';

// `export-model` and `evaluate --bundle`: a finished run's model as a bundle, and scoring with one.

const PROTOCOLS = ['linear', 'logistic', 'finetune'];

export const exportModel: Command = {
  name: 'export-model',
  summary: 'write the model of a finished linear / finetune run as a bundle a page or `evaluate --bundle` loads',
  usage: 'export-model <run-dir|experiment-dir> -o <bundle-dir> [--cell id | --protocol p --init i --fraction x --draw d --seed s]',
  description: [
    'Writes bundle.json (tasks, input size and normalisation, the head, out-of-distribution statistics,',
    'provenance: config, data, test AUROC per task, versions) and backbone.safetensors. From an experiment,',
    'it takes the runs matching the flags, then the largest label fraction, then the best validation AUROC',
    '(a tie is an error listing the runs). Out-of-distribution statistics come from the train split, their',
    'thresholds (99th percentile) from the validation split. See packages/model-bundle/README.md.',
  ].join('\n'),
  options: {
    cell: { type: 'string', valueName: 'id', description: 'the run to export, by id (cells/<id>)' },
    protocol: { type: 'string', valueName: 'name', description: 'linear | logistic | finetune' },
    init: { type: 'string', valueName: 'name', description: 'moco | random | imagenet' },
    fraction: { type: 'string', valueName: 'x', description: 'label fraction (default: the largest there is)' },
    draw: { type: 'string', valueName: 'i', description: 'label-fraction draw' },
    percentile: { type: 'string', valueName: 'p', description: 'percentile of the validation distances that flags an image (default 99)' },
  },
  examples: ['moco-cxr export-model runs/kermany -o models/kermany', 'moco-cxr export-model runs/kermany --cell finetune-moco-100pct-d0 -o models/kermany-ft'],
  async run(ctx) {
    const [runDir] = ctx.positionals;
    if (!runDir) throw new UsageError('give the run or experiment directory: moco-cxr export-model <run-dir> -o <bundle-dir>');
    if (!existsSync(runDir)) throw new UsageError(`${runDir}: no such directory`);
    const out = ctx.values.out as string | undefined;
    if (!out) throw new UsageError('-o <bundle-dir> is required: where to write the bundle');
    const protocol = ctx.values.protocol as string | undefined;
    if (protocol !== undefined && !PROTOCOLS.includes(protocol)) throw new UsageError(`--protocol: expected ${PROTOCOLS.join(', ')}, got "${protocol}"`);
    const number = (flag: string) => {
      const v = ctx.values[flag] as string | undefined;
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`--${flag}: expected a number, got "${v}"`);
      return n;
    };
    const percentile = number('percentile');
    if (percentile !== undefined && !(percentile > 0 && percentile <= 100)) throw new UsageError(`--percentile: expected a number in (0, 100], got ${percentile}`);
    const { exportModel: run } = await import('../bundle/export');
    return run(resolve(runDir), resolve(out), ctx.io, {
      cell: ctx.values.cell as string | undefined,
      protocol,
      init: ctx.values.init as string | undefined,
      fraction: number('fraction'),
      draw: intFlag(ctx.values.draw as string | undefined, 'draw'),
      seed: intFlag(ctx.values.seed, 'seed'),
      backend: ctx.values.backend as string | undefined,
      precision: precisionFlag(ctx.values.precision),
      percentile,
    });
  },
};

/** The options `evaluate` takes for a bundle. */
export const bundleOptions: Record<string, OptionSpec> = {
  bundle: { type: 'string', valueName: 'dir', description: 'score with a model bundle (export-model) instead of a run: image files or folders, or --config/--data with --split' },
  data: { type: 'string', valueName: 'dir', description: 'with --bundle: an image folder laid out <split>/<CLASS>/<image>, scored by split (images cached in data.cacheDir, else beside --out, else ./cache)' },
};

/**
 * `evaluate --bundle <dir> <images...>` or `evaluate --bundle <dir> --config c.yaml [--split test]`:
 * per-image, per-task probabilities and the out-of-distribution flag, as CSV on stdout (or --json,
 * or a file with --out: .json or .csv).
 */
export async function evaluateWithBundle(ctx: CommandContext) {
  const bundleDir = ctx.values.bundle as string;
  if (!existsSync(resolve(bundleDir, 'bundle.json'))) throw new UsageError(`--bundle: ${bundleDir} holds no bundle.json (write one with moco-cxr export-model)`);
  const split = ((ctx.values.split as string | undefined) ?? 'test') as 'train' | 'val' | 'test';
  if (!['train', 'val', 'test'].includes(split)) throw new UsageError(`--split: expected train, val or test, got "${split}"`);
  const fromData = ctx.values.config !== undefined || ctx.values.data !== undefined;
  if (fromData && ctx.positionals.length) throw new UsageError('give image files or a dataset (--config / --data), not both');
  if (!fromData && !ctx.positionals.length) throw new UsageError('give image files or folders to score, or a dataset: moco-cxr evaluate --bundle <dir> <images...> | --config c.yaml [--split test]');
  const out = ctx.values.out as string | undefined;
  const { evaluateBundle, bundleScoresCsv } = await import('../bundle/evaluate');
  const data = fromData
    ? {
        config: commandConfig(ctx, typeof ctx.values.data === 'string' ? { data: { source: 'folder', root: ctx.values.data } } : {}),
        split,
        // The image cache goes where the config says, else beside the scores (or in the working directory).
        experimentDir: resolve(out ? resolve(out, '..') : '.'),
      }
    : undefined;
  const result = await evaluateBundle(bundleDir, ctx.io, {
    ...(data ? { data } : { images: ctx.positionals }),
    ...(out ? { out: resolve(out) } : {}),
    ...(ctx.values.backend !== undefined ? { backend: ctx.values.backend as string } : {}),
    ...(ctx.values.threads !== undefined ? { threads: intFlag(ctx.values.threads, 'threads') } : {}),
    ...(ctx.values.precision !== undefined ? { precision: precisionFlag(ctx.values.precision) } : {}),
  });
  // Without --json or --out the scores go to stdout as CSV.
  if (!ctx.values.json && !out) ctx.io.out(bundleScoresCsv(result.tasks, result.images));
  else if (out && !ctx.io.quiet) ctx.io.err(`evaluate: ${result.images.length} images scored; ${result.written}\n`);
  return result;
}
