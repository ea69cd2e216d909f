import { readFileSync } from 'node:fs';
import { dirname, extname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';

export type Initialisation = 'moco' | 'imagenet' | 'random';
/** `logistic`: L2 logistic regression fitted to convergence on the frozen features (not in the paper; the usual SSL linear evaluation). */
export type Protocol = 'linear' | 'finetune' | 'logistic';
export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Everything a run or a grid needs; every field has a default except where noted. */
export interface RunnerConfig {
  seed: number;
  backend: BackendName;
  /** wasm threads; 0 = all cores. */
  threads: number;
  data: {
    /** `synthetic` (the default: nothing to download) or `folder` (`<root>/<split>/<CLASS>/<image>`, e.g. Kermany). */
    source: 'synthetic' | 'folder';
    root?: string;
    /** Class folder name that is the positive label (folder source). */
    positiveClass: string;
    /** Square input size the images are cached at, pixels. */
    imageSize: number;
    /** Share of train patients held out for validation (checkpoint selection). */
    valFraction: number;
    /** Use only this many images of each split (stratified by label, seeded): for CI-sized runs. */
    limit: { train?: number; test?: number };
    /** Synthetic dataset (synthetic source): sizes, effusion prevalence, exposure spread (cxr-data's `exposure`; 0 = alike). */
    synthetic: { train: number; test: number; prevalence: number; exposure: number };
    /** Skip unreadable images (counted and reported) instead of stopping. */
    skipBadImages: boolean;
    /** Where the uint8 image cache lives; default `<out>/cache`. */
    cacheDir?: string;
  };
  backbone: {
    name: 'resnet18' | 'resnet50' | 'densenet121';
    /** Extra options passed to `createBackbone` (e.g. narrower widths for tests). */
    options: Record<string, unknown>;
  };
  /** Initialisations compared in `experiment`; `imagenet` needs `imagenetWeights`. */
  initialisations: Initialisation[];
  /** A torchvision `.pth` / `.safetensors` file: the ImageNet baseline, and MoCo starts from it. */
  imagenetWeights?: string;
  pretrain: {
    epochs: number;
    batchSize: number;
    queueSize: number;
    momentum: number;
    temperature: number;
    /** Adam learning rate; default 1e-4 with ImageNet init, 5e-4 without (the paper's x5). */
    lr?: number;
    weightDecay: number;
    schedule: 'step' | 'cosine' | 'constant';
    stepEpochs: number[];
    /** Run the kNN / linear-probe monitor every this many epochs (0 = off). */
    monitorEvery: number;
    /** Images in the monitor's labelled probe set. */
    probeSize: number;
    knnK: number;
    /** Checkpoint every this many steps (and at each epoch end). */
    checkpointEvery: number;
  };
  protocols: Protocol[];
  /** Label fractions of the train split, e.g. [0.01, 0.1, 1]. */
  fractions: number[];
  /** Draws per fraction: one number for all, or one per entry of `fractions`. */
  draws: number | number[];
  linear: ProtocolConfig;
  finetune: ProtocolConfig;
  logistic: {
    /** L2 penalties tried on standardised features (scikit-learn's C = 1 / l2); the best validation AUROC wins. */
    l2: number[];
  };
  compare: {
    replicates: number;
    confidence: number;
    /** The initialisation every other one is compared against. */
    baseline: Initialisation;
  };
}

export interface ProtocolConfig {
  lr: number;
  batchSize: number;
  /** `paper` = int(5 * 4^(log8(1/fraction))); a number fixes the epochs for every fraction. */
  epochs: 'paper' | number;
  /** Upper bound on epochs after the paper's formula (0 = none): for demos and CI. */
  maxEpochs: number;
  /** Validation every this many examples; `paper` = min(2^17 * fraction, 8192). */
  evalEvery: 'paper' | number;
}

export function defaultConfig(): RunnerConfig {
  return {
    seed: 0,
    backend: 'auto',
    threads: 0,
    data: {
      source: 'synthetic',
      positiveClass: 'PNEUMONIA',
      imageSize: 64,
      valFraction: 0.1,
      limit: {},
      synthetic: { train: 400, test: 200, prevalence: 0.5, exposure: 1 },
      skipBadImages: true,
    },
    backbone: { name: 'resnet18', options: {} },
    initialisations: ['moco', 'random'],
    pretrain: {
      epochs: 20,
      batchSize: 16,
      queueSize: 24576,
      momentum: 0.999,
      temperature: 0.2,
      weightDecay: 1e-4,
      schedule: 'step',
      stepEpochs: [12, 18, 24],
      monitorEvery: 1,
      probeSize: 512,
      knnK: 20,
      checkpointEvery: 500,
    },
    protocols: ['linear', 'finetune'],
    fractions: [0.01, 0.1, 1],
    draws: [5, 5, 1],
    linear: { lr: 1e-4, batchSize: 16, epochs: 'paper', maxEpochs: 0, evalEvery: 'paper' },
    finetune: { lr: 1e-4, batchSize: 16, epochs: 'paper', maxEpochs: 0, evalEvery: 'paper' },
    logistic: { l2: [0.1, 1, 10, 100, 1000] },
    compare: { replicates: 500, confidence: 0.95, baseline: 'random' },
  };
}

/** A config problem: every message names the field (`pretrain.epochs`) or the file. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    source = 'config',
  ) {
    super(problems.length === 1 ? `${source}: ${problems[0]}` : `${source}: ${problems.length} problems:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Check = (value: unknown, path: string, problems: string[]) => void;
type Schema = { [key: string]: Check | Schema };

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(show).join(', ')}]` : String(v));
const num =
  (lo: number, hi: number, opts: { integer?: boolean; open?: boolean } = {}): Check =>
  (v, path, problems) => {
    const kind = opts.integer ? 'an integer' : 'a number';
    const bad = typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v));
    const outside = !bad && ((v as number) < lo || (v as number) > hi || (opts.open && (v as number) === lo));
    if (bad || outside) problems.push(`${path}: expected ${kind} in ${opts.open ? '(' : '['}${lo}, ${hi}], got ${show(v)}`);
  };
const oneOf =
  (...allowed: string[]): Check =>
  (v, path, problems) => {
    if (typeof v !== 'string' || !allowed.includes(v)) problems.push(`${path}: expected one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${show(v)}`);
  };
const str: Check = (v, path, problems) => {
  if (typeof v !== 'string' || v.length === 0) problems.push(`${path}: expected a non-empty string, got ${show(v)}`);
};
const bool: Check = (v, path, problems) => {
  if (typeof v !== 'boolean') problems.push(`${path}: expected true or false, got ${show(v)}`);
};
const listOf =
  (item: Check, { nonEmpty = true, unique = false } = {}): Check =>
  (v, path, problems) => {
    if (!Array.isArray(v)) return void problems.push(`${path}: expected a list, got ${show(v)}`);
    if (nonEmpty && v.length === 0) problems.push(`${path}: expected at least one entry`);
    v.forEach((x, i) => item(x, `${path}[${i}]`, problems));
    if (unique && new Set(v).size !== v.length) problems.push(`${path}: entries must not repeat, got ${show(v)}`);
  };
const either =
  (a: Check, b: Check, what: string): Check =>
  (v, path, problems) => {
    const pa: string[] = [];
    const pb: string[] = [];
    a(v, path, pa);
    b(v, path, pb);
    if (pa.length && pb.length) problems.push(`${path}: expected ${what}, got ${show(v)}`);
  };
const anyObject: Check = (v, path, problems) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) problems.push(`${path}: expected an object, got ${show(v)}`);
};

const protocolSchema: Schema = {
  lr: num(0, 10, { open: true }),
  batchSize: num(1, 65536, { integer: true }),
  epochs: either(oneOf('paper'), num(1, 100000, { integer: true }), '"paper" or a positive integer'),
  maxEpochs: num(0, 100000, { integer: true }),
  evalEvery: either(oneOf('paper'), num(1, 1e9, { integer: true }), '"paper" or a positive integer'),
};

const schema: Schema = {
  seed: num(-(2 ** 31), 2 ** 32, { integer: true }),
  backend: oneOf('auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'),
  threads: num(0, 1024, { integer: true }),
  data: {
    source: oneOf('synthetic', 'folder'),
    root: str,
    positiveClass: str,
    imageSize: num(16, 1024, { integer: true }),
    valFraction: num(0, 0.9, { open: true }),
    limit: { train: num(4, 1e9, { integer: true }), test: num(4, 1e9, { integer: true }) },
    synthetic: { train: num(8, 1e7, { integer: true }), test: num(8, 1e7, { integer: true }), prevalence: num(0, 1, { open: true }), exposure: num(0, 100) },
    skipBadImages: bool,
    cacheDir: str,
  },
  backbone: { name: oneOf('resnet18', 'resnet50', 'densenet121'), options: anyObject },
  initialisations: listOf(oneOf('moco', 'imagenet', 'random'), { unique: true }),
  imagenetWeights: str,
  pretrain: {
    epochs: num(0, 10000, { integer: true }),
    batchSize: num(2, 65536, { integer: true }),
    queueSize: num(1, 1e7, { integer: true }),
    momentum: num(0, 1),
    temperature: num(0, 100, { open: true }),
    lr: num(0, 10, { open: true }),
    weightDecay: num(0, 1),
    schedule: oneOf('step', 'cosine', 'constant'),
    stepEpochs: listOf(num(1, 10000, { integer: true }), { nonEmpty: false }),
    monitorEvery: num(0, 10000, { integer: true }),
    probeSize: num(8, 1e6, { integer: true }),
    knnK: num(1, 10000, { integer: true }),
    checkpointEvery: num(1, 1e9, { integer: true }),
  },
  protocols: listOf(oneOf('linear', 'finetune', 'logistic'), { unique: true }),
  fractions: listOf(num(0, 1, { open: true }), { unique: true }),
  draws: either(num(1, 1000, { integer: true }), listOf(num(1, 1000, { integer: true })), 'a positive integer or a list of them'),
  linear: protocolSchema,
  finetune: protocolSchema,
  logistic: { l2: listOf(num(0, 1e9, { open: true }), { unique: true }) },
  compare: { replicates: num(10, 1e6, { integer: true }), confidence: num(0, 1, { open: true }), baseline: oneOf('moco', 'imagenet', 'random') },
};

/** Edit distance, to suggest the field a typo meant. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

function checkObject(value: unknown, s: Schema, path: string, problems: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${path || 'config'}: expected an object with fields ${Object.keys(s).join(', ')}, got ${show(value)}`);
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    const rule = s[key];
    if (rule === undefined) {
      const near = Object.keys(s).filter((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
      problems.push(`${at}: unknown field${near.length ? ` (did you mean "${near[0]}"?)` : ''}; known fields here: ${Object.keys(s).join(', ')}`);
    } else if (v === undefined) {
      continue;
    } else if (typeof rule === 'function') {
      rule(v, at, problems);
    } else {
      checkObject(v, rule, at, problems);
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deep merge: objects merge, everything else (lists included) replaces. */
export function mergeConfig<T>(base: T, override: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(override)) return (override === undefined ? base : override) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === undefined) continue;
    // backbone.options is passed through whole, not merged with defaults.
    out[k] = isPlainObject(out[k]) && isPlainObject(v) && k !== 'options' ? mergeConfig(out[k], v) : v;
  }
  return out as T;
}

/**
 * Validates a partial config (from a file or an API call), fills defaults and checks the
 * cross-field rules. Throws ConfigError listing every problem, each naming its field.
 */
export function resolveConfig(partial: unknown = {}, source = 'config'): RunnerConfig {
  const problems: string[] = [];
  checkObject(partial, schema, '', problems);
  if (problems.length) throw new ConfigError(problems, source);
  const cfg = mergeConfig(defaultConfig(), partial);
  const given = partial as Partial<RunnerConfig>;
  // Without explicit draws, use the paper's (5 per fraction, 1 at 100%) for the fractions given.
  if (given.fractions && given.draws === undefined) cfg.draws = cfg.fractions.map((f) => (f >= 1 ? 1 : 5));
  if (given.imagenetWeights && !given.initialisations) cfg.initialisations = ['moco', 'imagenet', 'random'];
  if (Array.isArray(cfg.draws) && cfg.draws.length !== cfg.fractions.length) {
    problems.push(`draws: has ${cfg.draws.length} entries but fractions has ${cfg.fractions.length}; give one per fraction or a single number`);
  }
  if (cfg.data.source === 'folder' && !cfg.data.root) problems.push('data.root: required when data.source is "folder" (a directory laid out <split>/<CLASS>/<image>)');
  if (cfg.initialisations.includes('imagenet') && !cfg.imagenetWeights) {
    problems.push('initialisations: "imagenet" needs imagenetWeights (a torchvision .pth or .safetensors file); this project cannot download ImageNet weights');
  }
  if (!cfg.initialisations.includes(cfg.compare.baseline)) {
    problems.push(`compare.baseline: "${cfg.compare.baseline}" is not one of initialisations ${show(cfg.initialisations)}`);
  }
  if (problems.length) throw new ConfigError(problems, source);
  return cfg;
}

/**
 * Reads a `.json`, `.yaml` or `.yml` config file; errors name the file (and line for YAML syntax).
 * `extends: other.yaml` (relative to this file) starts from that file's settings: objects merge,
 * lists and values replace.
 */
export function readConfigFile(path: string, seen: string[] = []): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`], path);
  }
  const ext = extname(path).toLowerCase();
  let parsed: unknown;
  try {
    if (ext === '.json') parsed = JSON.parse(text);
    else if (ext === '.yaml' || ext === '.yml') parsed = parseYaml(text) ?? {};
    else throw new ConfigError([`unknown config format "${ext}"; use .json, .yaml or .yml`], path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`], path);
  }
  if (!isPlainObject(parsed) || parsed.extends === undefined) return parsed;
  const { extends: base, ...rest } = parsed;
  if (typeof base !== 'string' || !base) throw new ConfigError([`extends: expected the path of another config file, got ${show(base)}`], path);
  const basePath = resolvePath(dirname(path), base);
  if (seen.includes(resolvePath(path)) || resolvePath(path) === basePath) throw new ConfigError([`extends: ${base} leads back to this file (${[...seen, resolvePath(path)].join(' -> ')})`], path);
  return mergeConfig(readConfigFile(basePath, [...seen, resolvePath(path)]), rest);
}

/** Reads, validates and fills a config file. */
export function loadConfig(path: string): RunnerConfig {
  return resolveConfig(readConfigFile(path), path);
}

/** Number of draws for the i-th fraction. */
export function drawsFor(cfg: RunnerConfig, fractionIndex: number): number {
  return Array.isArray(cfg.draws) ? cfg.draws[fractionIndex] : cfg.draws;
}
