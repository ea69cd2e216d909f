import { parseArgs, type ParseArgsConfig } from 'node:util';
import { validateBackboneOptions } from '@moco-cxr/backbones';
import { BACKBONES, PRECISIONS, readConfigFile, resolveConfig, mergeConfig, type BackendChoice, type RunnerConfig } from '../config';
import { UsageError } from '../errors';
import type { Io } from '../progress';

// A usage problem (bad flag, missing argument): exit code 2.
export { UsageError };

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  valueName?: string;
}

export interface CommonOptions {
  config?: string;
  seed?: string;
  out?: string;
  backend?: string;
  json?: boolean;
  help?: boolean;
  threads?: string;
  precision?: string;
}

export interface CommandContext {
  io: Io;
  argv: string[];
  values: Record<string, string | boolean | string[] | undefined> & CommonOptions;
  positionals: string[];
  /** The path of the CLI script, when running as the `moco-cxr` executable (for child processes). */
  cliPath?: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  description: string;
  options: Record<string, OptionSpec>;
  examples: string[];
  run(ctx: CommandContext): Promise<unknown>;
}

export const commonOptions: Record<string, OptionSpec> = {
  config: { type: 'string', short: 'c', valueName: 'file', description: 'config file (.json, .yaml or .yml); fields not given take their defaults' },
  seed: { type: 'string', valueName: 'n', description: 'seed for every random choice (overrides the config)' },
  out: { type: 'string', short: 'o', valueName: 'dir', description: 'output run directory' },
  backend: { type: 'string', valueName: 'name', description: 'auto | tensorflow-gpu | webgpu | tensorflow | wasm | cpu (overrides the config)' },
  threads: { type: 'string', valueName: 'n', description: 'wasm threads (default: all cores)' },
  precision: { type: 'string', valueName: 'p', description: 'fp32 | bf16: bf16 matrix products (fp32 sums and weights) where the CPU has AVX512_BF16, else fp32 with a note (overrides the config)' },
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout instead of text' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export function helpText(cmd: Command): string {
  const all = { ...cmd.options, ...commonOptions };
  const rows = Object.entries(all).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`;
    return `  ${flag.padEnd(30)} ${o.description}`;
  });
  return [
    `moco-cxr ${cmd.name}: ${cmd.summary}`,
    '',
    `Usage: moco-cxr ${cmd.usage}`,
    '',
    cmd.description,
    '',
    'Options:',
    ...rows,
    '',
    'Examples:',
    ...cmd.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/**
 * `--epochs -1` as `--epochs=-1`: node's parseArgs calls a value starting with a dash ambiguous,
 * which hid a bad number behind a usage error. Only number-like values are joined.
 */
function negativeValuesInline(argv: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return [...out, ...argv.slice(i)];
    const name = arg.startsWith('--') ? arg.slice(2) : arg.length === 2 && arg[0] === '-' ? Object.keys(options).find((k) => options[k].short === arg[1]) : undefined;
    if (name && options[name]?.type === 'string' && i + 1 < argv.length && /^-(\d|\.\d|Infinity)/.test(argv[i + 1])) {
      out.push(`--${name}=${argv[++i]}`);
    } else {
      out.push(arg);
    }
  }
  return out;
}

export function parseCommandArgs(cmd: Command, argv: string[]): { values: CommandContext['values']; positionals: string[] } {
  const options: ParseArgsConfig['options'] = {};
  for (const [name, o] of Object.entries({ ...cmd.options, ...commonOptions })) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: negativeValuesInline(argv, options), options, allowPositionals: true, strict: true });
    return { values: values as CommandContext['values'], positionals };
  } catch (err) {
    // Node's messages name the flag; add where to look.
    throw new UsageError(`${(err as Error).message.split('\n')[0]} (see moco-cxr ${cmd.name} --help)`);
  }
}

function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${flag}: expected an integer, got "${value}"`);
  return n;
}

/**
 * The config a command runs with: the file given by --config (validated), then the command's
 * own overrides, then --seed / --backend / --threads / --precision; every problem names its field. Relative paths
 * (data.root, mocoWeights, ...) come out absolute against the working directory (resolveConfig makes them so).
 */
export function commandConfig(ctx: CommandContext, overrides: Record<string, unknown> = {}): RunnerConfig {
  const fromFile = ctx.values.config ? readConfigFile(ctx.values.config) : {};
  // Validate the file alone first, so its problems are reported against the file.
  if (ctx.values.config) resolveConfig(fromFile, ctx.values.config);
  const flags: Record<string, unknown> = {};
  const seed = intFlag(ctx.values.seed, 'seed');
  if (seed !== undefined) flags.seed = seed;
  if (ctx.values.backend !== undefined) flags.backend = ctx.values.backend as BackendChoice;
  const threads = intFlag(ctx.values.threads, 'threads');
  if (threads !== undefined) flags.threads = threads;
  if (ctx.values.precision !== undefined) flags.precision = ctx.values.precision;
  let merged = mergeConfig(mergeConfig(fromFile, overrides), flags);
  if (ctx.values.backbone !== undefined) merged = withBackbone(ctx, merged);
  return resolveConfig(merged, ctx.values.config ? `${ctx.values.config} (with command-line overrides)` : 'command-line options');
}

/** `--precision` for the commands whose config is not commandConfig's (a job spec, a finished run's, a bundle's). */
export function precisionFlag(value: unknown): RunnerConfig['precision'] {
  if (value === undefined) return undefined;
  if (!(PRECISIONS as readonly unknown[]).includes(value)) throw new UsageError(`--precision: expected one of ${PRECISIONS.join(', ')}, got "${String(value)}"`);
  return value as RunnerConfig['precision'];
}

/** `--backbone`, for the commands that build a backbone from their config. */
export const backboneOption: Record<string, OptionSpec> = {
  backbone: { type: 'string', valueName: 'name', description: `${BACKBONES.join(' | ')} (overrides backbone.name; options of the config's backbone that the new one does not take are dropped)` },
};

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `--backbone name` over the config: the same experiment with another backbone. backbone.options the
 * config gave for its own backbone that the new one does not take (ResNet's widths under densenet121,
 * DenseNet's growthRate under a ResNet) are dropped, with a note; options the new one takes stay.
 */
function withBackbone(ctx: CommandContext, cfg: unknown): unknown {
  const name = ctx.values.backbone as string;
  if (!(BACKBONES as readonly string[]).includes(name)) throw new UsageError(`--backbone: expected one of ${BACKBONES.join(', ')}, got "${name}"`);
  const c = isObject(cfg) ? cfg : {};
  const backbone = isObject(c.backbone) ? c.backbone : {};
  const from = typeof backbone.name === 'string' ? backbone.name : 'resnet18';
  const options = isObject(backbone.options) ? backbone.options : {};
  const fits = (b: string, key: string) => {
    try {
      validateBackboneOptions(b as (typeof BACKBONES)[number], { [key]: options[key] });
      return true;
    } catch {
      return false;
    }
  };
  // Dropped: what was right for the config's backbone and is not for the new one; anything else is left for the config check to name.
  const dropped = Object.keys(options).filter((k) => fits(from, k) && !fits(name, k));
  if (dropped.length && !ctx.io.quiet) ctx.io.err(`moco-cxr: --backbone ${name}: dropped backbone.options ${dropped.join(', ')} (${from} options that ${name} does not take)\n`);
  const kept = Object.fromEntries(Object.entries(options).filter(([k]) => !dropped.includes(k)));
  return { ...c, backbone: { ...backbone, name, options: kept } };
}

export { intFlag };
