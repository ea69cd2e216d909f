import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { dirname, extname, isAbsolute, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { validateBackboneOptions } from '@moco-cxr/backbones';
import type { Precision } from '@moco-cxr/compute';
import { AUGMENT_PRESETS } from '@moco-cxr/cxr-augment';
import { CHEXPERT_TASKS, DATA_SOURCES as CXR_DATA_SOURCES, NIH_TASKS, SOURCE_DEFAULTS as OPEN_DEFAULTS } from '@moco-cxr/cxr-data';
import { MOCO_CXR_DEFAULTS } from '@moco-cxr/moco';
import { BOOTSTRAP_DEFAULTS } from '@moco-cxr/bootstrap';
import { drawsForFraction, LOGISTIC_L2_GRID, PROTOCOL_DEFAULTS } from '@moco-cxr/protocols';

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

const show = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(show).join(', ')}]` : v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);

/** Edit distance, to suggest the field a typo meant. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/** `unknown field (did you mean "epochs"?); known fields here: ...` for one key zod reported as unrecognized. */
export function unknownFieldMessage(key: string, known: readonly string[]): string {
  const near = known.filter((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
  return `unknown field${near.length ? ` (did you mean "${near[0]}"?)` : ''}; known fields here: ${known.join(', ')}`;
}

// Every schema below carries its own message, `expected ...`; the formatter adds the path.
export const got = (iss: { input?: unknown }) => `, got ${show(iss.input)}`;

/** A number in [lo, hi] (or (lo, hi] when `open`), optionally an integer; one message for every way it can fail. */
export function num(lo: number, hi: number, opts: { integer?: boolean; open?: boolean } = {}) {
  const expected = `expected ${opts.integer ? 'an integer' : 'a number'} in ${opts.open ? '(' : '['}${lo}, ${hi}]`;
  const error = (iss: { input?: unknown }) => expected + got(iss);
  return z.number({ error }).refine((v) => (!opts.integer || Number.isInteger(v)) && v >= lo && v <= hi && !(opts.open && v === lo), { error });
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (iss) => `expected one of ${values.map((a) => `"${a}"`).join(', ')}${got(iss)}` });
}

const str = () => z.string({ error: (iss) => `expected a non-empty string${got(iss)}` }).min(1, { error: (iss) => `expected a non-empty string${got(iss)}` });
const bool = () => z.boolean({ error: (iss) => `expected true or false${got(iss)}` });

function listOf<T extends z.ZodType>(item: T, { nonEmpty = true, unique = false } = {}) {
  return z
    .array(item, { error: (iss) => `expected a list${got(iss)}` })
    .refine((v) => !nonEmpty || v.length > 0, { error: 'expected at least one entry' })
    .refine((v) => !unique || new Set(v).size === v.length, { error: (iss) => `entries must not repeat${got(iss)}` });
}

/** A strict object: an unknown key is a problem per key, with the nearest known field. */
export function obj<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') return iss.keys.map((k) => unknownFieldMessage(k, known)).join('\n');
      return `expected an object with fields ${known.join(', ')}${got(iss)}`;
    },
  });
}

export const INITIALISATIONS = ['moco', 'imagenet', 'random'] as const;
export const PROTOCOLS = ['linear', 'finetune', 'logistic'] as const;
export const BACKENDS = ['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
/** compute's initBackend precisions: 'bf16' products where the CPU has AVX512_BF16, fp32 elsewhere (said in the run's notes). */
export const PRECISIONS = ['fp32', 'bf16'] as const satisfies readonly Precision[];
export const BACKBONES = ['resnet18', 'resnet50', 'densenet121'] as const;
const SCHEDULES = ['step', 'cosine', 'constant'] as const;

/** `"paper"` or an integer in [1, hi]; one message for both (a union would report only the number's). */
const paperOr = (hi: number) =>
  z.custom<'paper' | number>((v) => v === 'paper' || (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= hi), {
    error: (iss) => `expected "paper" or a positive integer${got(iss)}`,
  });

/** One supervised protocol (linear or end-to-end): the paper's settings, @moco-cxr/protocols' PROTOCOL_DEFAULTS, and epoch formula. */
const protocolSchema = obj({
  lr: num(0, 10, { open: true }).default(PROTOCOL_DEFAULTS.lr),
  batchSize: num(1, 65536, { integer: true }).default(PROTOCOL_DEFAULTS.batchSize),
  /** `paper` = int(5 * 4^(log8(1/fraction))); a number fixes the epochs for every fraction. */
  epochs: paperOr(100000).default('paper'),
  /** Upper bound on epochs after the paper's formula (0 = none): for demos and CI. */
  maxEpochs: num(0, 100000, { integer: true }).default(0),
  /** Validation every this many examples; `paper` = min(2^17 * fraction, 8192). */
  evalEvery: paperOr(1e9).default('paper'),
});

const M = MOCO_CXR_DEFAULTS;
const paperMilestones = (): number[] => (M.schedule.kind === 'step' ? [...M.schedule.milestones] : []);

const backboneSchema = obj({
  name: oneOf(BACKBONES).default('resnet18'),
  /** Extra options passed to `createBackbone` (e.g. narrower widths for tests); checked by @moco-cxr/backbones. */
  options: z.record(z.string(), z.unknown(), { error: (iss) => `expected an object${got(iss)}` }).default(() => ({})),
}).superRefine((b, ctx) => {
  try {
    validateBackboneOptions(b.name, b.options);
  } catch (err) {
    // backbones names the option; the path names where it sits in the config.
    ctx.addIssue({ code: 'custom', path: ['options'], message: (err as Error).message.replace(/^createBackbone(\([^)]*\))?: /, '') });
  }
});

// cxr-data's openSource reads every source; the defaults below are its SOURCE_DEFAULTS.
export const DATA_SOURCES = CXR_DATA_SOURCES;
const O = OPEN_DEFAULTS;
export type DataSource = (typeof DATA_SOURCES)[number];
const POLICIES = ['ones', 'zeros', 'ignore'] as const;
const policy = oneOf(POLICIES);

/** Per-source options: given only for their own source (checked below); their defaults fill in when given. */
const folderSchema = obj({
  /** `kermany` (person1000_..., IM-0115-...), `per-image`, or a regular expression whose first group is the patient. */
  patientPattern: str().default(O.folder.patientPattern),
});
const chexpertSchema = obj({
  /** CSVs, relative to root (or absolute). */
  trainCsv: str().default(O.chexpert.trainCsv),
  testCsv: str().default(O.chexpert.testCsv),
  /** What -1 becomes: one policy for all tasks or one per task (`{Atelectasis: ones, default: ignore}`); the paper's code: ignore. */
  uncertainty: z.union([policy, z.record(z.string(), policy)], { error: (iss) => `expected "ones", "zeros", "ignore" or a per-task record of them${got(iss)}` }).default(O.chexpert.uncertainty),
  frontalOnly: bool().default(O.chexpert.frontalOnly),
});
const nihSchema = obj({
  csv: str().default(O.nih.csv),
  trainValList: str().default(O.nih.trainValList),
  testList: str().default(O.nih.testList),
});
const nlmTbSchema = obj({
  /** Which sets; the split is the paper's 65/15/20 with every split's normal:TB ratio in (0.9, 1.2). */
  sets: listOf(oneOf(['shenzhen', 'montgomery']), { unique: true }).default((): ('shenzhen' | 'montgomery')[] => [...O.nlmTb.sets]),
});
const dicomSchema = obj({
  /** Labels CSV (relative to root, or absolute): a `path` or `SOPInstanceUID` column, task columns of 1 / 0 / empty, optionally `split` (train / val / test). */
  labels: str().default(O.dicom.labels),
  /** The CSV column that keys a row; default `path` when the CSV has one, else `SOPInstanceUID`. */
  key: oneOf(['path', 'SOPInstanceUID']).optional(),
  /** Keep PA and AP views (ViewPosition) only. */
  frontalOnly: bool().default(O.dicom.frontalOnly),
  /** Modalities read; other images are skipped and listed. */
  modalities: listOf(str(), { unique: true }).default((): string[] => [...O.dicom.modalities]),
  /** Without a split column: the share of patients held out for test. */
  testFraction: num(0, 0.9, { open: true }).default(O.dicom.testFraction),
});
export const SOURCE_DEFAULTS = {
  folder: folderSchema.parse({}),
  chexpert: chexpertSchema.parse({}),
  nih: nihSchema.parse({}),
  nlmTb: nlmTbSchema.parse({}),
  dicom: dicomSchema.parse({}),
};

const dataSchema = obj({
  /** `chexpert`, `nih`, `nlm-tb`, `folder` (`<root>/<split>/<CLASS>/<image>`), `dicom` (a folder of DICOM files and a labels CSV) or `synthetic` (the default: nothing to download). */
  source: oneOf(DATA_SOURCES).optional(),
  root: str().optional(),
  /** Tasks trained and scored together (one head output each). Default: chexpert the five competition tasks, nih Effusion, nlm-tb Tuberculosis, folder positiveClass, dicom every task column of its labels CSV, synthetic Effusion. */
  tasks: listOf(str(), { unique: true }).optional(),
  /** Class folder name that is the positive label (folder source). */
  positiveClass: str().default(O.folder.positiveClass),
  /** Class folders whose images are negatives (folder source); required when there is more than one besides positiveClass. */
  negativeClasses: listOf(str(), { unique: true }).optional(),
  /**
   * A patient with images in two splits (Kermany's given train and test folders share 170): `refuse` (an
   * experiment stops when planned), `drop` (their images are left out of the earlier split) or `allow`.
   */
  sharedPatients: oneOf(['refuse', 'drop', 'allow']).default('refuse'),
  /** Square input size the images are cached at, pixels. */
  imageSize: num(16, 1024, { integer: true }).default(64),
  /** Share of train patients held out for validation (checkpoint selection); NLM TB's split fixes its own. */
  valFraction: num(0, 0.9, { open: true }).default(0.1),
  /** Use only this many images of each split (stratified by label, seeded): for CI-sized runs. */
  limit: obj({ train: num(4, 1e9, { integer: true }).optional(), test: num(4, 1e9, { integer: true }).optional() }).prefault({}),
  /** Synthetic dataset (synthetic source): sizes, effusion prevalence, exposure spread (cxr-data's `exposure`; 0 = alike). */
  synthetic: obj({
    train: num(8, 1e7, { integer: true }).default(O.synthetic.train),
    test: num(8, 1e7, { integer: true }).default(O.synthetic.test),
    prevalence: num(0, 1, { open: true }).default(O.synthetic.prevalence),
    exposure: num(0, 100).default(O.synthetic.exposure),
  }).prefault({}),
  folder: folderSchema.optional(),
  chexpert: chexpertSchema.optional(),
  nih: nihSchema.optional(),
  nlmTb: nlmTbSchema.optional(),
  dicom: dicomSchema.optional(),
  /** Skip unreadable images (counted and reported) instead of stopping. */
  skipBadImages: bool().default(true),
  /** Where the uint8 image cache lives; default `<out>/cache`. */
  cacheDir: str().optional(),
});

const pair = (lo: number, hi: number) =>
  z.tuple([num(lo, hi), num(lo, hi)], { error: (iss) => `expected [low, high]${got(iss)}` }).refine(([a, b]) => a <= b, { error: 'expected low <= high' });

/**
 * MoCo's two views: cxr-augment options over a preset (`moco-cxr-crop`, the default: the paper's flip +
 * rotation after a resize to 9/8 of the input and a random crop back, as the PyTorch reference;
 * `moco-cxr`: the paper's flip + rotation alone; `moco-v2`: random-resized crop, jitter, blur).
 */
const augmentSchema = obj({
  preset: oneOf(AUGMENT_PRESETS).default('moco-cxr-crop'),
  /** Resize the short side to this before cropping (the paper: 320, then a 320 crop). */
  resize: num(8, 4096, { integer: true }).optional(),
  /** Crop size; must equal data.imageSize (the backbone's input). */
  size: num(8, 4096, { integer: true }).optional(),
  crop: oneOf(['random', 'center']).optional(),
  padding: num(0, 1024, { integer: true }).optional(),
  flipProbability: num(0, 1).optional(),
  /** Degrees: uniform in [-rotation, rotation]. */
  rotation: num(0, 180).optional(),
  resizedCrop: obj({ scale: pair(0, 1), ratio: pair(0, 100) }).nullable().optional(),
  colorJitter: obj({ brightness: num(0, 10), contrast: num(0, 10), probability: num(0, 1) }).nullable().optional(),
  blur: obj({ sigma: pair(0, 100), probability: num(0, 1) }).nullable().optional(),
});

const fieldsSchema = obj({
  /** Seeds the data (splits, limits, synthetic images), the label-fraction draws and the bootstrap; and the training when `seeds` is absent. */
  seed: num(-(2 ** 31), 2 ** 32, { integer: true }).default(0),
  /** Training seeds of `experiment`: pretraining, the random init and every protocol cell run once per seed (absent: `[seed]`). */
  seeds: listOf(num(-(2 ** 31), 2 ** 32, { integer: true }), { unique: true }).optional(),
  backend: oneOf(BACKENDS).default('auto'),
  /** wasm threads; 0 = all cores. */
  threads: num(0, 1024, { integer: true }).default(0),
  /** The matrix products: fp32, or bf16 inputs with fp32 sums (weights and optimiser stay fp32); absent: $MOCO_CXR_PRECISION, else fp32. */
  precision: oneOf(PRECISIONS).optional(),
  data: dataSchema.prefault({}),
  /** Transfer: MoCo pretrains on this data (its own source and options) while the protocols train and test on `data`. */
  pretrainData: dataSchema.optional(),
  /** Transfer: a finished pretrain run directory or backbone file used as the MoCo initialisation (no pretraining job). */
  mocoWeights: str().optional(),
  backbone: backboneSchema.prefault({}),
  /** Initialisations compared in `experiment`; default moco and random, plus imagenet when `imagenetWeights` is given. */
  initialisations: listOf(oneOf(INITIALISATIONS), { unique: true }).optional(),
  /** A torchvision `.pth` / `.safetensors` file: the ImageNet baseline, and MoCo starts from it. */
  imagenetWeights: str().optional(),
  // The paper's MoCo settings are @moco-cxr/moco's MOCO_CXR_DEFAULTS, not copies.
  pretrain: obj({
    epochs: num(1, 10000, { integer: true }).default(M.epochs),
    batchSize: num(2, 65536, { integer: true }).default(M.batchSize),
    queueSize: num(1, 1e7, { integer: true }).default(M.queueSize),
    momentum: num(0, 1).default(M.momentum),
    temperature: num(0, 100, { open: true }).default(M.temperature),
    /** Adam learning rate; default 1e-4 with ImageNet init, 5e-4 without (the paper's x5). */
    lr: num(0, 10, { open: true }).optional(),
    weightDecay: num(0, 1).default(M.weightDecay),
    schedule: oneOf(SCHEDULES).default(M.schedule.kind),
    stepEpochs: listOf(num(1, 10000, { integer: true }), { nonEmpty: false }).default(paperMilestones),
    /** Run the kNN / linear-probe monitor every this many epochs (0 = off). */
    monitorEvery: num(0, 10000, { integer: true }).default(1),
    /** Images in the monitor's labelled probe set. */
    probeSize: num(8, 1e6, { integer: true }).default(512),
    knnK: num(1, 10000, { integer: true }).default(M.knnK),
    /** Checkpoint every this many steps (and at each epoch end). */
    checkpointEvery: num(1, 1e9, { integer: true }).default(M.checkpointEvery),
    /** The two views' augmentation; default preset moco-cxr-crop (resize to 9/8 of imageSize, random crop back, flip p=0.5, rotation +-10 deg). */
    augment: augmentSchema.prefault({}),
  }).prefault({}),
  protocols: listOf(oneOf(PROTOCOLS), { unique: true }).default((): Protocol[] => ['linear', 'finetune']),
  /** Label fractions of the train split, e.g. [0.01, 0.1, 1]. */
  fractions: listOf(num(0, 1, { open: true }), { unique: true }).default(() => [0.01, 0.1, 1]),
  /** Draws per fraction: one number for all, or one per entry of `fractions`; default the paper's (5, and 1 at 100%). */
  draws: z
    .union([num(1, 1000, { integer: true }), listOf(num(1, 1000, { integer: true }))], {
      error: (iss) => `expected a positive integer or a list of them${got(iss)}`,
    })
    .optional(),
  linear: protocolSchema.prefault({}),
  finetune: protocolSchema.prefault({}),
  logistic: obj({
    /** L2 penalties tried on standardised features (scikit-learn's C = 1 / l2); the best validation AUROC wins. */
    l2: listOf(num(0, 1e9, { open: true }), { unique: true }).default(() => [...LOGISTIC_L2_GRID]),
  }).prefault({}),
  compare: obj({
    replicates: num(10, 1e6, { integer: true }).default(BOOTSTRAP_DEFAULTS.replicates),
    confidence: num(0, 1, { open: true }).default(BOOTSTRAP_DEFAULTS.confidence),
    /** The initialisation every other one is compared against; default imagenet when it is compared (the paper's gaps), else random. */
    baseline: oneOf(INITIALISATIONS).optional(),
  }).prefault({}),
});

/**
 * The runner's config: field types, defaults and checks in one schema, then the defaults that
 * depend on other fields and the rules across fields.
 */
export const configSchema = fieldsSchema.transform((c, ctx) => {
  const fail = (path: (string | number)[], message: string) => ctx.issues.push({ code: 'custom', path, message, input: c });
  // Without explicit draws, the paper's (5 per fraction, 1 at 100%) for the fractions given.
  const draws = c.draws ?? c.fractions.map(drawsForFraction);
  const initialisations: Initialisation[] = c.initialisations ?? (c.imagenetWeights ? ['moco', 'imagenet', 'random'] : ['moco', 'random']);
  if (Array.isArray(draws) && draws.length !== c.fractions.length) {
    fail(['draws'], `has ${draws.length} entries but fractions has ${c.fractions.length}; give one per fraction or a single number`);
  }
  const data = checkData(c.data, 'data', fail);
  const pretrainData = c.pretrainData ? checkData(c.pretrainData, 'pretrainData', fail) : undefined;
  if (pretrainData && pretrainData.imageSize !== data.imageSize) fail(['pretrainData', 'imageSize'], `${pretrainData.imageSize} differs from data.imageSize ${data.imageSize}; one backbone input size serves both`);
  if (c.mocoWeights !== undefined && pretrainData) fail(['mocoWeights'], 'give either mocoWeights (an existing pretrain run or backbone file) or pretrainData (data to pretrain on), not both');
  if ((c.mocoWeights !== undefined || pretrainData) && !initialisations.includes('moco')) {
    fail([c.mocoWeights !== undefined ? 'mocoWeights' : 'pretrainData'], `only used by the "moco" initialisation, which initialisations ${show(initialisations)} leaves out`);
  }
  if (c.pretrain.augment.size !== undefined && c.pretrain.augment.size !== data.imageSize) fail(['pretrain', 'augment', 'size'], `${c.pretrain.augment.size} must equal data.imageSize ${data.imageSize} (the backbone's input)`);
  // Without size the views come out at the resize (cxr-augment's default), which the backbone would refuse only after the initial probe;
  // moco-cxr-crop crops back to imageSize itself.
  const { resize, size, preset } = c.pretrain.augment;
  if (preset !== 'moco-cxr-crop' && size === undefined && resize !== undefined && resize !== data.imageSize) fail(['pretrain', 'augment', 'size'], `missing: with resize ${resize} the views are ${resize} px but the backbone takes data.imageSize ${data.imageSize}; add size: ${data.imageSize} to crop them to it`);
  if (initialisations.includes('imagenet') && !c.imagenetWeights) {
    fail(['initialisations'], '"imagenet" needs imagenetWeights (a torchvision .pth or .safetensors file); this project cannot download ImageNet weights');
  }
  const baseline: Initialisation = c.compare.baseline ?? (initialisations.includes('imagenet') ? 'imagenet' : 'random');
  if (!initialisations.includes(baseline)) fail(['compare', 'baseline'], `"${baseline}" is not one of initialisations ${show(initialisations)}`);
  // Paths absolute here, once: the run directories and job specs written from this config work from any directory.
  const resolved = { ...c, data, pretrainData, initialisations, draws, compare: { ...c.compare, baseline } };
  return withAbsolutePaths<typeof resolved>(resolved);
});

const ROOT_HELP: Record<DataSource, string> = {
  synthetic: '',
  folder: 'a directory laid out <split>/<CLASS>/<image>',
  chexpert: "the directory holding CheXpert-v1.0-small/ (the CSVs' Path column is relative to it)",
  nih: 'the ChestX-ray14 directory: Data_Entry_2017_v2020.csv, train_val_list.txt, test_list.txt and the images at any depth',
  'nlm-tb': 'a directory holding ChinaSet_AllFiles/ and/or MontgomerySet/ (CHNCXR_*_0|1.png, ClinicalReadings/)',
  dicom: 'a directory of DICOM files at any depth, with a labels CSV (data.dicom.labels, default labels.csv)',
};
/** The tasks of sources whose labels are fixed by the dataset (the folder's are its class folders). */
const SOURCE_TASKS: Partial<Record<DataSource, { name: string; tasks: readonly string[] }>> = {
  chexpert: { name: 'CheXpert', tasks: CHEXPERT_TASKS },
  nih: { name: 'NIH ChestX-ray14', tasks: NIH_TASKS },
  'nlm-tb': { name: 'NLM TB', tasks: ['Tuberculosis'] },
};
const SOURCE_BLOCKS = { folder: 'folder', chexpert: 'chexpert', nih: 'nih', nlmTb: 'nlm-tb', dicom: 'dicom' } as const;

/** Rules of one data block: a root needs a source (no silent synthetic run), a source needs a root, per-source options fit the source. */
function checkData<D extends z.output<typeof dataSchema>>(d: D, at: string, fail: (path: (string | number)[], message: string) => void): D & { source: DataSource } {
  const choices = DATA_SOURCES.map((s) => `"${s}"`).join(', ');
  if (d.root !== undefined && d.source === undefined) fail([at, 'source'], `required with ${at}.root (${show(d.root)}): one of ${choices}`);
  const source: DataSource = d.source ?? 'synthetic';
  if (d.source !== undefined && source !== 'synthetic' && !d.root) fail([at, 'root'], `required when ${at}.source is "${source}" (${ROOT_HELP[source]})`);
  if (d.source === 'synthetic' && d.root !== undefined) fail([at, 'root'], `the synthetic source reads no files; set ${at}.source to one of ${choices}`);
  for (const [key, owner] of Object.entries(SOURCE_BLOCKS)) {
    if (d[key as keyof typeof SOURCE_BLOCKS] !== undefined && source !== owner) fail([at, key], `applies to ${at}.source "${owner}" only, but the source is "${source}"`);
  }
  // Task names fixed by the dataset are checked here, so a typo stops before any image is read.
  const known = SOURCE_TASKS[source];
  if (known) {
    const unknown = (names: readonly string[], field: (string | number)[]) =>
      names.forEach((t, i) => {
        if (known.tasks.includes(t)) return;
        const near = known.tasks.filter((k) => distance(k.toLowerCase(), t.toLowerCase()) <= 3);
        fail([...field, ...(field.at(-1) === 'tasks' ? [i] : [])], `${show(t)} is not a task of the ${known.name} data${near.length ? ` (did you mean "${near[0]}"?)` : ''}; its tasks are ${known.tasks.join(', ')}`);
      });
    if (d.tasks) unknown(d.tasks, [at, 'tasks']);
    const u = d.chexpert?.uncertainty;
    if (source === 'chexpert' && u !== undefined && typeof u === 'object') {
      for (const t of Object.keys(u)) if (t !== 'default') unknown([t], [at, 'chexpert', 'uncertainty', t]);
    }
  }
  return { ...d, source };
}

/** Everything a run or a grid needs; every field has a default except `data.root`, `data.cacheDir`, `imagenetWeights` and `pretrain.lr`. */
export type RunnerConfig = z.output<typeof configSchema>;
export type ProtocolConfig = z.output<typeof protocolSchema>;
export type Initialisation = (typeof INITIALISATIONS)[number];
/** `logistic`: L2 logistic regression fitted to convergence on the frozen features (not in the paper; the usual SSL linear evaluation). */
export type Protocol = (typeof PROTOCOLS)[number];
/** `backend` in a config: `auto` or one of compute's `BackendName`s. */
export type BackendChoice = (typeof BACKENDS)[number];
export type DataConfig = RunnerConfig['data'];
export type UncertaintyPolicy = (typeof POLICIES)[number];

/** A data block's per-source options with their defaults filled in (they are stored only when given). */
export function sourceOptions(d: DataConfig) {
  return {
    folder: d.folder ?? SOURCE_DEFAULTS.folder,
    chexpert: d.chexpert ?? SOURCE_DEFAULTS.chexpert,
    nih: d.nih ?? SOURCE_DEFAULTS.nih,
    nlmTb: d.nlmTb ?? SOURCE_DEFAULTS.nlmTb,
    dicom: d.dicom ?? SOURCE_DEFAULTS.dicom,
  };
}

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>((at, k) => (typeof k === 'number' ? `${at}[${k}]` : at ? `${at}.${String(k)}` : String(k)), '');
}

/** Zod's issues as one line each, `field.path: message` (`root` names the whole); unknown fields first (a typo often explains the rest). */
export function problemsOf(issues: readonly z.core.$ZodIssue[], root = 'config'): string[] {
  const unknown: string[] = [];
  const rest: string[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      const lines = iss.message.split('\n');
      iss.keys.forEach((k, i) => unknown.push(`${pathText([...iss.path, k])}: ${lines[i] ?? lines[0]}`));
    } else {
      const at = pathText(iss.path) || root;
      rest.push(at ? `${at}: ${iss.message}` : iss.message);
    }
  }
  return [...unknown, ...rest];
}

/** The config with every default filled in. */
export function defaultConfig(): RunnerConfig {
  return configSchema.parse({});
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
 * Validates a partial config (from a file, an API call or a job spec) and fills its defaults.
 * Throws ConfigError listing every problem, each naming its field. A resolved config resolves to itself.
 */
export function resolveConfig(partial: unknown = {}, source = 'config'): RunnerConfig {
  const parsed = configSchema.safeParse(partial);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error.issues), source);
  return parsed.data;
}

/** A config file is small: a larger one is not a config (and a device such as /dev/zero never ends). */
export const MAX_CONFIG_BYTES = 1 << 20;

const kindOf = (st: Stats) =>
  st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a file';

/** The text of a regular file of at most MAX_CONFIG_BYTES; opened without blocking (a FIFO), checked on the open descriptor (a link). */
function readSmallRegularFile(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError([`not a regular file (${kindOf(st)}); a config is a .json, .yaml or .yml file`], path);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError([`${st.size} bytes, more than a config file's ${MAX_CONFIG_BYTES}; not a config file`], path);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`], path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Reads a `.json`, `.yaml` or `.yml` config file; errors name the file (and line for YAML syntax).
 * `extends: other.yaml` (relative to this file) starts from that file's settings: objects merge,
 * lists and values replace.
 */
export function readConfigFile(path: string, seen: string[] = []): unknown {
  const ext = extname(path).toLowerCase();
  // The name first: `extends: /dev/zero` is refused before it is opened.
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') throw new ConfigError([`unknown config format "${ext}"; use .json, .yaml or .yml`], path);
  const text = readSmallRegularFile(path);
  let parsed: unknown;
  try {
    if (ext === '.json') parsed = JSON.parse(text);
    else parsed = parseYaml(text) ?? {};
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

/** The fields of a config that name files (typed apart from RunnerConfig, which is built with withAbsolutePaths). */
interface ConfigPaths {
  mocoWeights?: string;
  imagenetWeights?: string;
  data?: { root?: string; cacheDir?: string };
  pretrainData?: { root?: string; cacheDir?: string };
  backbone?: { options?: Record<string, unknown> };
}

/**
 * The config with every path it names made absolute against `base` (the working directory, where a
 * config's relative paths have always pointed from): `data.root` / `cacheDir`, the same in
 * `pretrainData`, `mocoWeights`, `imagenetWeights` and `backbone.options.weights`. Done once, when
 * the config is resolved (configSchema), so its job specs and recorded config work from any directory;
 * RunDir also applies it to a config.json recorded before then, to compare it. The files a data
 * block names inside its root (`chexpert.trainCsv`, ...) stay relative to that root.
 */
export function withAbsolutePaths<C extends ConfigPaths>(cfg: C, base: string = process.cwd()): C {
  const abs = (p: unknown) => (typeof p === 'string' && p && !isAbsolute(p) ? resolvePath(base, p) : p);
  const fix = <T extends object>(o: T, keys: string[]): T => {
    const out = { ...o } as Record<string, unknown>;
    for (const k of keys) if (out[k] !== undefined) out[k] = abs(out[k]);
    return out as unknown as T;
  };
  const out: C = fix(cfg, ['mocoWeights', 'imagenetWeights']);
  if (cfg.data) out.data = fix(cfg.data, ['root', 'cacheDir']);
  if (cfg.pretrainData) out.pretrainData = fix(cfg.pretrainData, ['root', 'cacheDir']);
  if (cfg.backbone?.options && typeof cfg.backbone.options.weights === 'string') out.backbone = { ...cfg.backbone, options: fix(cfg.backbone.options, ['weights']) };
  return out;
}

/** The training seeds of a grid: `seeds`, or `[seed]` without it. */
export function seedsOf(cfg: Pick<RunnerConfig, 'seed' | 'seeds'>): number[] {
  return cfg.seeds ?? [cfg.seed];
}

/** Number of draws for the i-th fraction. */
export function drawsFor(cfg: RunnerConfig, fractionIndex: number): number {
  return Array.isArray(cfg.draws) ? cfg.draws[fractionIndex] : cfg.draws;
}
