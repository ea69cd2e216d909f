import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createBackbone, type Backbone } from '@moco-cxr/backbones';
import { formatAdapter, initBackend, type BackendInfo } from '@moco-cxr/compute';
import {
  embedImages,
  epochsForFraction,
  evaluateScores,
  PAPER_MAX_EPOCHS,
  finetuneProtocol,
  linearHeadFromJson,
  linearHeadToJson,
  linearProtocol,
  logisticProtocol,
  loadFinetuneCheckpoint,
  saveFinetuneCheckpoint,
  scoreFeatures,
  type LinearHead,
} from '@moco-cxr/protocols';
import type { Initialisation, ProtocolConfig, RunnerConfig } from './config';
import { labelFractionDraws, prepareData, type PreparedData, type SplitData, type SplitName } from './data';
import type { CellResults } from './experiment-report';
import { featuresDirOf, pretrainDirOf, seedTag, type JobSpec } from './grid';
import { runPretrainJob, backboneFileOf } from './pretrain-job';
import { formatSeconds, Progress, type Io } from './progress';
import { isFinished, readJson, RunDir, writeFileAtomic, writeJsonAtomic } from './rundir';

export interface JobOutcome {
  id: string;
  dir: string;
  skipped: boolean;
  results: unknown;
}

let backendPromise: Promise<BackendInfo> | undefined;
let backendKey = '';

/** Starts the configured backend once per process; its warnings (a slower start than asked) go to `io`. */
export function startBackend(cfg: RunnerConfig, io?: Io): Promise<BackendInfo> {
  const key = `${cfg.backend}/${cfg.threads}`;
  if (backendPromise && key === backendKey) return backendPromise;
  backendKey = key;
  const onWarning = (w: string) => io?.err(`moco-cxr: warning: ${w}\n`);
  const started = initBackend({ ...(cfg.backend === 'auto' ? {} : { prefer: cfg.backend }), ...(cfg.threads > 0 ? { threads: cfg.threads } : {}), onWarning }).then((info) => {
    // Which GPU trained is said once (a software adapter's warning names it already); run.json keeps it too.
    if (info.adapter && !info.adapter.software && !io?.quiet) io?.err(`moco-cxr: training on webgpu, adapter ${formatAdapter(info.adapter)}\n`);
    return info;
  });
  backendPromise = started;
  // More threads than the backend runs are capped: said here, not only in run.json.
  started.then((info) => {
    const cap = info.notes.find((n) => /threads capped/.test(n));
    if (info.backend === 'wasm' && cfg.threads > info.threads && !io?.quiet) io?.err(`moco-cxr: note: ${cfg.threads} threads asked, ${info.threads} used${cap ? ` (${cap.replace(/^wasm: /, '')})` : ''}\n`);
  }, () => undefined);
  return started;
}

/** The weights a given initialisation starts from (undefined = random init from the seed); MoCo's from the pretraining of training seed `seed`. */
export function weightsFor(init: Initialisation, cfg: RunnerConfig, experimentDir: string, override?: string, seed = cfg.seed): string | undefined {
  if (init === 'random') return undefined;
  if (override) return backboneFileOf(override);
  if (init === 'imagenet') return cfg.imagenetWeights;
  if (cfg.mocoWeights) {
    // Transfer: MoCo weights from an earlier pretrain run (possibly on other data) or a backbone file.
    const given = backboneFileOf(resolve(cfg.mocoWeights));
    if (!existsSync(given)) throw new Error(`mocoWeights: ${given} does not exist (give a finished pretrain run directory or a backbone .safetensors / .pth file)`);
    return given;
  }
  const pretrainDir = pretrainDirOf(cfg, seed);
  const file = backboneFileOf(join(experimentDir, pretrainDir));
  if (!existsSync(file)) throw new Error(`${file}: the MoCo-pretrained backbone is missing; run the pretrain job first (moco-cxr run-job ${join(experimentDir, 'jobs', `${pretrainDir}.json`)})`);
  return file;
}

/** The backbone with the given weights, or randomly initialised from the training seed `seed`. */
export async function makeBackbone(cfg: RunnerConfig, weights?: string, seed = cfg.seed): Promise<Backbone> {
  const s = cfg.data.imageSize;
  return createBackbone(cfg.backbone.name, { ...(cfg.backbone.options as object), inputShape: [s, s, 3], seed, ...(weights ? { weights } : {}) });
}

/** Runs one job of a grid in its directory; a finished job is skipped and its results returned. */
export async function executeJob(spec: JobSpec, experimentDir: string, io: Io, argv: string[], opts: { weights?: string } = {}): Promise<JobOutcome> {
  const dir = join(experimentDir, spec.outDir);
  if (isFinished(dir)) {
    if (!io.quiet) io.err(`  ${spec.id}: finished earlier, skipped (${relative(process.cwd(), dir) || '.'})\n`);
    return { id: spec.id, dir, skipped: true, results: readJson(join(dir, 'results.json')) };
  }
  const run = new RunDir(dir, spec.kind === 'cell' ? spec.protocol! : spec.kind, spec.seed, argv);
  run.lock();
  try {
    return await executeLocked(spec, experimentDir, io, opts, run, dir);
  } finally {
    run.unlock();
  }
}

async function executeLocked(spec: JobSpec, experimentDir: string, io: Io, opts: { weights?: string }, run: RunDir, dir: string): Promise<JobOutcome> {
  // Another process may have finished it while this one waited for the lock.
  if (isFinished(dir)) return { id: spec.id, dir, skipped: true, results: readJson(join(dir, 'results.json')) };
  run.writeConfig({ ...spec.config, job: { id: spec.id, kind: spec.kind, init: spec.init, protocol: spec.protocol, fraction: spec.fraction, draw: spec.draw, draws: spec.draws, drawSeed: spec.drawSeed, seed: spec.seed } });
  run.writeInfo();
  try {
    const backend = await startBackend(spec.config, io);
    run.setBackend(backend);
    let results: unknown;
    if (spec.kind === 'pretrain') results = await runPretrainJob(spec.config, run, io, experimentDir, spec.seed);
    else if (spec.kind === 'features') results = await runFeaturesJob(spec.config, spec.init!, spec.seed, experimentDir, run, io, opts.weights);
    else results = await runCellJob(spec, experimentDir, run, io, opts.weights);
    // Exactly once: if another delivery of this job finished first, its results stand.
    if (!run.tryFinish(results)) return { id: spec.id, dir, skipped: true, results: readJson(join(dir, 'results.json')) };
    return { id: spec.id, dir, skipped: false, results };
  } catch (err) {
    run.fail(err);
    throw err;
  }
}

const SPLITS: SplitName[] = ['train', 'val', 'test'];

/** Frozen features of every train / val / test image under one initialisation and training seed (embedded once, eval mode). */
async function runFeaturesJob(cfg: RunnerConfig, init: Initialisation, seed: number, experimentDir: string, run: RunDir, io: Io, weightsOverride?: string) {
  const data = await prepareData(cfg, io, experimentDir);
  const weights = weightsFor(init, cfg, experimentDir, weightsOverride, seed);
  const backbone = await makeBackbone(cfg, weights, seed);
  try {
    const counts: Record<string, number> = {};
    const started = Date.now();
    for (const name of SPLITS) {
      const split = data[name];
      const bar = new Progress(io, `embed ${init} ${name}`, split.images.count, 'img');
      const features = await embedImages(backbone, split.images, range(split.images.count), { batchSize: 64, onProgress: (done) => bar.set(done) });
      writeFileAtomic(run.path(`${name}.f32`), new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
      counts[name] = split.images.count;
    }
    run.metric({ event: 'features', init, seconds: (Date.now() - started) / 1000, ...counts });
    return { init, featureDim: backbone.featureDim, counts, weights: weights ?? `random init, seed ${seed}` };
  } finally {
    backbone.dispose();
  }
}

function readFeatures(dir: string, split: SplitName, featureDim: number, count: number): Float32Array {
  const bytes = readFileSync(join(dir, `${split}.f32`));
  const f = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (f.length !== featureDim * count) throw new Error(`${join(dir, `${split}.f32`)}: holds ${f.length} floats, expected ${count} x ${featureDim}; delete the features directory to recompute it`);
  return f;
}

function rows(features: Float32Array, d: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * d);
  for (let i = 0; i < indices.length; i++) out.set(features.subarray(indices[i] * d, indices[i] * d + d), i * d);
  return out;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * The protocol's epochs: the paper's formula (capped by maxEpochs when set) or a fixed count. The formula
 * stops at PAPER_MAX_EPOCHS (its value at 0.1%): below that it has no bound (1e-9 -> 5,000,000); the plan says so.
 */
export function protocolEpochs(p: ProtocolConfig, fraction: number): number {
  const paper = p.epochs === 'paper' ? Math.min(epochsForFraction(fraction), PAPER_MAX_EPOCHS) : p.epochs;
  return p.maxEpochs > 0 ? Math.min(paper, p.maxEpochs) : paper;
}

/** The rows (positions in the train split) of one label-fraction draw, sampled by patient (fraction 1: every row). */
export function drawRows(data: PreparedData, fraction: number, draws: number, draw: number, seed: number): number[] {
  // Every draw holds a positive and a negative of every task (an error says so when none can; `experiment` checks it when planning).
  const chosen = labelFractionDraws(data.dataset, data.train.indices, fraction, draws, seed)[draw];
  if (!chosen) throw new Error(`draw ${draw} does not exist: fraction ${fraction} has ${draws} draws (0-based)`);
  return chosen;
}

function protocolProgress(io: Io, label: string) {
  let bar: Progress | undefined;
  return (p: { phase: string; step: number; steps: number; loss?: number; valAuroc?: number; bestValAuroc?: number; epoch: number }) => {
    bar ??= new Progress(io, label, p.steps, 'step');
    const info: Record<string, number> = { epoch: Math.floor(p.epoch) };
    if (p.loss !== undefined && Number.isFinite(p.loss)) info.loss = p.loss;
    if (p.bestValAuroc !== undefined && Number.isFinite(p.bestValAuroc)) info['best val AUROC'] = p.bestValAuroc;
    bar.set(p.step, info);
  };
}

/** Test scores at the level the dataset supports (study max where studies exist), per task and their mean, plus per-image rows. */
async function writeScores(run: RunDir, split: SplitData, scores: ArrayLike<number>, tasks: string[]) {
  const K = tasks.length;
  const labels = Array.from(split.labels);
  const evaluation = evaluateScores(labels, scores, { tasks: K, ...(split.hasStudies ? { studyIds: split.studies } : {}) });
  const cell = (a: ArrayLike<number>, i: number) => Array.from({ length: K }, (_, k) => a[i * K + k]).join(',');
  const head = K === 1 ? 'label,score' : [...tasks.map((t) => `label:${t}`), ...tasks.map((t) => `score:${t}`)].map(csvCell).join(',');
  const csv = [`path,patient,study,${head}`, ...split.paths.map((p, i) => `${csvCell(p)},${csvCell(split.patients[i])},${csvCell(split.studies[i])},${cell(labels, i)},${cell(scores, i)}`)].join('\n');
  writeFileAtomic(run.path('scores.csv'), `${csv}\n`);
  // labels and scores are rows x tasks, row-major (one value per row when there is one task).
  const level = evaluation.study ?? evaluation;
  const perTask = Object.fromEntries(tasks.map((t, k) => [t, level.aurocPerTask[k]]));
  if (evaluation.study) {
    writeJsonAtomic(run.path('scores.json'), { level: 'study', tasks, ids: evaluation.study.studyIds.map(String), labels: Array.from(evaluation.study.labels), scores: Array.from(evaluation.study.scores) });
    return { auroc: evaluation.study.auroc, imageAuroc: evaluation.auroc, perTask, level: 'study' as const, rows: evaluation.study.count };
  }
  writeJsonAtomic(run.path('scores.json'), { level: 'image', tasks, ids: split.paths, labels, scores: Array.from(scores) });
  return { auroc: evaluation.auroc, imageAuroc: evaluation.auroc, perTask, level: 'image' as const, rows: evaluation.count };
}

/** The label rows (K values each) of some rows of an N x K matrix. */
function labelRows(labels: Float32Array, K: number, rows: number[]): number[][] {
  return rows.map((i) => Array.from(labels.subarray(i * K, (i + 1) * K)));
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One cell: a protocol on one label-fraction draw from one initialisation, scored on the test split. */
async function runCellJob(spec: JobSpec, experimentDir: string, run: RunDir, io: Io, weightsOverride?: string): Promise<CellResults> {
  const cfg = spec.config;
  const started = Date.now();
  const protocol = spec.protocol!;
  const init = spec.init!;
  const fraction = spec.fraction!;
  const data = await prepareData(cfg, io, experimentDir);
  const trainRows = drawRows(data, fraction, spec.draws ?? 1, spec.draw ?? 0, spec.drawSeed ?? cfg.seed);
  const pc = protocol === 'finetune' ? cfg.finetune : cfg.linear;
  // The logistic probe is fitted to convergence: it has no epochs.
  const epochs = protocol === 'logistic' ? 0 : protocolEpochs(pc, fraction);
  const evalEvery = pc.evalEvery === 'paper' ? undefined : pc.evalEvery;
  const label = `${spec.id} (${trainRows.length} images${epochs ? `, ${epochs} epochs` : ''})`;
  let valAuroc: number;
  let testScores: Float64Array;
  let steps: number;
  let history: unknown;
  if (protocol === 'linear' || protocol === 'logistic') {
    const fdir = join(experimentDir, featuresDirOf(cfg, init, spec.seed));
    if (!isFinished(fdir)) {
      // A standalone `linear` run (or a grid whose features job was removed): embed now.
      await executeJob({ ...spec, id: `features-${init}${seedTag(cfg, spec.seed)}`, kind: 'features', outDir: relative(experimentDir, fdir), dependsOn: [] }, experimentDir, io, [], { weights: weightsOverride });
    }
    const meta = readJson<{ featureDim: number; counts: Record<SplitName, number> }>(join(fdir, 'results.json'));
    const d = meta.featureDim;
    const train = readFeatures(fdir, 'train', d, data.train.images.count);
    const val = readFeatures(fdir, 'val', d, data.val.images.count);
    const test = readFeatures(fdir, 'test', d, data.test.images.count);
    const K = data.tasks.length;
    const common = { trainFeatures: rows(train, d, trainRows), trainLabels: labelRows(data.train.labels, K, trainRows), valFeatures: val, valLabels: labelRows(data.val.labels, K, range(data.val.images.count)), featureDim: d };
    let head: LinearHead;
    if (protocol === 'logistic') {
      if (!io.quiet) io.err(`  ${label}: logistic regression, l2 in ${JSON.stringify(cfg.logistic.l2)}\n`);
      const r = logisticProtocol({ ...common, l2: cfg.logistic.l2 });
      ({ head, valAuroc } = r);
      steps = r.candidates.reduce((a, c) => a + c.iterations, 0);
      history = { l2: r.l2, candidates: r.candidates, perTask: Object.fromEntries(data.tasks.map((t, k) => [t, r.perTask[k]])) };
    } else {
      const r = linearProtocol({
        ...common,
        fraction,
        epochs,
        ...(evalEvery ? { evalEvery } : {}),
        lr: pc.lr,
        batchSize: pc.batchSize,
        seed: spec.seed + (spec.draw ?? 0),
        onProgress: protocolProgress(io, label),
      });
      ({ head } = r);
      valAuroc = r.bestValAuroc;
      steps = r.steps;
      history = r.history;
    }
    testScores = scoreFeatures(head, test);
    writeJsonAtomic(run.path('head.json'), { init, features: relative(run.dir, fdir), ...linearHeadToJson(head) });
  } else {
    const weights = weightsFor(init, cfg, experimentDir, weightsOverride, spec.seed);
    const backbone = await makeBackbone(cfg, weights, spec.seed);
    try {
      const r = await finetuneProtocol({
        backbone,
        trainImages: data.train.images,
        trainLabels: Array.from(data.train.labels),
        trainIndices: trainRows,
        valImages: data.val.images,
        valLabels: Array.from(data.val.labels),
        fraction,
        epochs,
        ...(evalEvery ? { evalEvery } : {}),
        lr: pc.lr,
        batchSize: pc.batchSize,
        augment: { flipProbability: 0.5, rotation: 10 },
        seed: spec.seed + (spec.draw ?? 0),
        checkpointPath: run.path('checkpoint.safetensors'),
        onProgress: protocolProgress(io, label),
      });
      valAuroc = r.bestValAuroc;
      steps = r.steps;
      history = r.history;
      const test = await embedImages(backbone, data.test.images, range(data.test.images.count), { batchSize: 64 });
      testScores = scoreFeatures(r.head, test);
      if (!existsSync(run.path('checkpoint.safetensors'))) await saveFinetuneCheckpoint(run.path('checkpoint.safetensors'), backbone, r.head);
    } finally {
      backbone.dispose();
    }
  }
  const scored = await writeScores(run, data.test, testScores, data.tasks);
  writeJsonAtomic(run.path('history.json'), history);
  const seconds = (Date.now() - started) / 1000;
  run.metric({ event: 'cell', id: spec.id, valAuroc, testAuroc: scored.auroc, steps, seconds });
  if (!io.quiet) io.err(`  ${spec.id}: val AUROC ${valAuroc.toFixed(3)}, test AUROC ${scored.auroc.toFixed(3)} (${scored.rows} ${scored.level === 'study' ? 'studies' : 'images'}), ${formatSeconds(seconds)}\n`);
  return {
    id: spec.id,
    protocol,
    init,
    fraction,
    draw: spec.draw ?? 0,
    trainImages: trainRows.length,
    valAuroc,
    testAuroc: scored.auroc,
    ...(data.tasks.length > 1 ? { testAurocPerTask: scored.perTask } : {}),
    tasks: data.tasks,
    testLevel: scored.level,
    epochs,
    seconds,
  };
}

/**
 * `evaluate`: scores a finished linear or finetune run on a split, from its saved model (the
 * finetune checkpoint, or the linear head on top of the backbone it was trained on).
 */
export async function evaluateCheckpoint(runDir: string, split: SplitName, out: string, io: Io, argv: string[], backend?: string) {
  const cfgWithJob = readJson<RunnerConfig & { job: { protocol: string; init: Initialisation; id: string; seed?: number } }>(join(runDir, 'config.json'));
  const { job, ...cfgRest } = cfgWithJob;
  const cfg = { ...(cfgRest as RunnerConfig), ...(backend ? { backend: backend as RunnerConfig['backend'] } : {}) };
  if (!job?.protocol) throw new Error(`${runDir}/config.json: not a linear or finetune run (no job.protocol)`);
  const run = new RunDir(out, 'evaluate', cfg.seed, argv);
  if (run.finished) throw new Error(`${out} already holds a finished evaluation; use a new --out directory`);
  run.writeConfig({ ...cfg, evaluate: { runDir, split } });
  run.setBackend(await startBackend(cfg, io));
  try {
    const experimentDir = findExperimentDir(runDir);
    const data = await prepareData(cfg, io, experimentDir);
    const target = data[split];
    let scores: Float64Array;
    if (job.protocol === 'linear' || job.protocol === 'logistic') {
      const headFile = join(runDir, 'head.json');
      const headJson = readJson<{ features: string }>(headFile);
      const head = linearHeadFromJson(headJson, headFile);
      const fmeta = readJson<{ weights: string }>(join(runDir, headJson.features, 'results.json'));
      const weights = fmeta.weights.startsWith('random init') ? undefined : fmeta.weights;
      // A random init is rebuilt from the training seed of its cell (recorded since seeds became a grid axis).
      const backbone = await makeBackbone(cfg, weights, job.seed ?? cfg.seed);
      try {
        const bar = new Progress(io, `embed ${split}`, target.images.count, 'img');
        const f = await embedImages(backbone, target.images, range(target.images.count), { batchSize: 64, onProgress: (d) => bar.set(d) });
        scores = scoreFeatures(head, f);
      } finally {
        backbone.dispose();
      }
    } else {
      const backbone = await makeBackbone(cfg);
      try {
        const { head } = await loadFinetuneCheckpoint(join(runDir, 'checkpoint.safetensors'), backbone);
        const bar = new Progress(io, `embed ${split}`, target.images.count, 'img');
        const f = await embedImages(backbone, target.images, range(target.images.count), { batchSize: 64, onProgress: (d) => bar.set(d) });
        scores = scoreFeatures(head, f);
      } finally {
        backbone.dispose();
      }
    }
    const scored = await writeScores(run, target, scores, data.tasks);
    const results = { runDir, split, auroc: scored.auroc, imageAuroc: scored.imageAuroc, ...(data.tasks.length > 1 ? { aurocPerTask: scored.perTask } : {}), level: scored.level, rows: scored.rows };
    run.finish(results);
    if (!io.quiet) io.err(`evaluate: ${split} AUROC ${scored.auroc.toFixed(4)} over ${scored.rows} ${scored.level === 'study' ? 'studies (max over images)' : 'images'}; per-image scores: ${run.path('scores.csv')}\n`);
    return results;
  } catch (err) {
    run.fail(err);
    throw err;
  }
}

/** A cell lives at <experiment>/cells/<id>; a standalone run is its own experiment directory. */
function findExperimentDir(runDir: string): string {
  const parent = join(runDir, '..');
  return parent.endsWith('cells') || /[\\/]cells$/.test(parent) ? join(runDir, '..', '..') : runDir;
}

export { inspectData } from './data-summary';
export type { PreparedData };
