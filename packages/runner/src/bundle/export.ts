import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { Backbone } from '@moco-cxr/backbones';
import { CXR_MEAN, CXR_STD } from '@moco-cxr/cxr-augment';
import { fitOodStatistics, OOD_DEFAULTS, type BundleInput, type BundleManifest } from '@moco-cxr/model-bundle';
import { writeBundle } from '@moco-cxr/model-bundle/node';
import { linearHeadFromJson, loadFinetuneCheckpoint, type LinearHead } from '@moco-cxr/protocols';
import type { Initialisation, RunnerConfig } from '../config';
import { prepareData } from '../data';
import { Progress, type Io } from '../progress';
import { isFinished, readJson } from '../rundir';
import { makeBackbone, startBackend } from '../jobs/backbone';

// `export-model`: the trained model of one finished linear / logistic / finetune run as a model bundle.

/** The protocols whose runs hold a model (a head, and a backbone to put under it). */
const MODEL_PROTOCOLS = ['linear', 'logistic', 'finetune'];

/** One finished run that holds a model: a cell of an experiment or a standalone linear / finetune run. */
export interface ModelRun {
  dir: string;
  id: string;
  protocol: string;
  init: Initialisation;
  fraction: number;
  draw: number;
  seed: number;
  valAuroc: number;
  testAuroc: number;
}

interface RunConfig extends RunnerConfig {
  job: { id: string; protocol: string; init: Initialisation; fraction: number; draw?: number; seed?: number };
}

interface CellResultsFile {
  id?: string;
  protocol: string;
  fraction: number;
  valAuroc: number;
  testAuroc: number;
  testAurocPerTask?: Record<string, number | null>;
  tasks?: string[];
  testLevel?: string;
  trainImages?: number;
  epochs?: number;
}

function modelRunOf(dir: string): ModelRun | undefined {
  if (!isFinished(dir) || !existsSync(join(dir, 'config.json'))) return undefined;
  const cfg = readJson<Partial<RunConfig>>(join(dir, 'config.json'));
  const job = cfg.job;
  if (!job || !MODEL_PROTOCOLS.includes(job.protocol)) return undefined;
  const r = readJson<CellResultsFile>(join(dir, 'results.json'));
  return { dir, id: job.id, protocol: job.protocol, init: job.init, fraction: job.fraction, draw: job.draw ?? 0, seed: job.seed ?? cfg.seed ?? 0, valAuroc: r.valAuroc, testAuroc: r.testAuroc };
}

/** The finished runs holding a model under `runDir`: the run itself, or an experiment's cells. */
export function modelRuns(runDir: string): ModelRun[] {
  const self = modelRunOf(runDir);
  if (self) return [self];
  const cells = join(runDir, 'cells');
  if (!existsSync(cells)) return [];
  return readdirSync(cells)
    .sort()
    .map((d) => modelRunOf(join(cells, d)))
    .filter((r): r is ModelRun => r !== undefined);
}

/** Which run to export; every field narrows the choice. */
export interface ModelChoice {
  cell?: string;
  protocol?: string;
  init?: string;
  fraction?: number;
  draw?: number;
  seed?: number;
}

const describe = (r: ModelRun) => `${r.id} (val AUROC ${r.valAuroc.toFixed(4)})`;

/**
 * The run to export: the runs matching `choice`; among them the largest label fraction, and of
 * those the best validation AUROC (never the test AUROC: the bundle reports that one). A tie, or
 * nothing matching, is an error that lists the runs there are and the flags that choose.
 */
export function chooseModelRun(runDir: string, choice: ModelChoice): { chosen: ModelRun; passedOver: ModelRun[] } {
  const all = modelRuns(runDir);
  if (all.length === 0) throw new Error(`${runDir}: no finished linear, logistic or finetune run here (a run directory with head.json or checkpoint.safetensors, or an experiment with cells/)`);
  const list = (runs: ModelRun[]) => runs.map(describe).join(', ');
  const matching = all.filter(
    (r) =>
      (choice.cell === undefined || r.id === choice.cell) &&
      (choice.protocol === undefined || r.protocol === choice.protocol) &&
      (choice.init === undefined || r.init === choice.init) &&
      (choice.fraction === undefined || r.fraction === choice.fraction) &&
      (choice.draw === undefined || r.draw === choice.draw) &&
      (choice.seed === undefined || r.seed === choice.seed),
  );
  const asked = Object.entries(choice).filter(([, v]) => v !== undefined).map(([k, v]) => `--${k} ${v}`).join(' ');
  if (matching.length === 0) throw new Error(`${runDir}: no finished model run matches ${asked}; the runs are ${list(all)}; choose with --cell <id>, or --protocol, --init, --fraction, --draw, --seed`);
  const top = Math.max(...matching.map((r) => r.fraction));
  const atTop = matching.filter((r) => r.fraction === top);
  const best = Math.max(...atTop.map((r) => r.valAuroc));
  const tied = atTop.filter((r) => r.valAuroc === best);
  if (tied.length > 1) throw new Error(`${runDir}: ${tied.length} runs tie at label fraction ${top} with validation AUROC ${best.toFixed(4)}: ${list(tied)}; choose one with --cell <id>`);
  return { chosen: tied[0], passedOver: matching.filter((r) => r !== tied[0]) };
}

/** A cell lives at <experiment>/cells/<id>; a standalone run is its own experiment directory. */
function experimentDirOf(runDir: string): string {
  const parent = join(runDir, '..');
  return /[\\/]cells$/.test(resolve(parent)) ? join(runDir, '..', '..') : runDir;
}

/** The run's trained backbone and head, as its test scores were computed. */
async function loadRunModel(run: ModelRun, cfg: RunnerConfig): Promise<{ backbone: Backbone; head: LinearHead }> {
  if (run.protocol === 'finetune') {
    const backbone = await makeBackbone(cfg);
    try {
      const { head } = await loadFinetuneCheckpoint(join(run.dir, 'checkpoint.safetensors'), backbone);
      return { backbone, head };
    } catch (err) {
      backbone.dispose();
      throw err;
    }
  }
  const headFile = join(run.dir, 'head.json');
  const headJson = readJson<{ features: string }>(headFile);
  const head = linearHeadFromJson(headJson, headFile);
  const features = join(run.dir, headJson.features, 'results.json');
  const { weights } = readJson<{ weights: string }>(features);
  // A random init is rebuilt from the cell's training seed, as the features job built it.
  const backbone = await makeBackbone(cfg, weights.startsWith('random init') ? undefined : weights, run.seed);
  return { backbone, head };
}

const requireHere = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);

/** The version of the package that writes the bundle (the run's own versions come from its run.json). */
function modelBundleVersion(): string {
  return (requireHere('@moco-cxr/model-bundle/package.json') as { version: string }).version;
}

/** The runner's evaluation input: the cached size, 'cxr' normalisation, grey on three channels (embedImages' defaults). */
export function runnerInput(cfg: RunnerConfig): BundleInput {
  return {
    size: cfg.data.imageSize,
    channels: 3,
    normalize: { name: 'cxr', mean: [CXR_MEAN, CXR_MEAN, CXR_MEAN], std: [CXR_STD, CXR_STD, CXR_STD] },
    resize: 'short side to size with an antialiased bilinear filter (PIL BILINEAR), then a centre crop (cxr-data image cache)',
  };
}

export interface ExportModelOptions extends ModelChoice {
  backend?: string;
  /** The products' precision for computing the OOD statistics (default: the run's). */
  precision?: RunnerConfig['precision'];
  percentile?: number;
}

export interface ExportModelResult {
  bundle: string;
  run: ModelRun;
  passedOver: string[];
  tasks: string[];
  testAuroc: Record<string, number | null>;
  ood: { featureThreshold: number; histogramThreshold: number; percentile: number };
}

/**
 * Writes the model of the chosen run under `runDir` as a bundle in `out`: its backbone and head,
 * the input its evaluation used, OOD statistics from its train split (thresholds from its
 * validation split) and its provenance.
 */
export async function exportModel(runDir: string, out: string, io: Io, options: ExportModelOptions = {}): Promise<ExportModelResult> {
  const { chosen, passedOver } = chooseModelRun(runDir, options);
  const { job, ...rest } = readJson<RunConfig>(join(chosen.dir, 'config.json'));
  const cfg = { ...(rest as RunnerConfig), ...(options.backend ? { backend: options.backend as RunnerConfig['backend'] } : {}), ...(options.precision ? { precision: options.precision } : {}) };
  const results = readJson<CellResultsFile>(join(chosen.dir, 'results.json'));
  if (!io.quiet) {
    io.err(`export-model: ${describe(chosen)}, ${chosen.protocol}, ${chosen.init} init, label fraction ${chosen.fraction}, draw ${chosen.draw}, seed ${chosen.seed}\n`);
    if (passedOver.length) io.err(`  also there (choose with --cell <id>): ${passedOver.map(describe).join(', ')}\n`);
  }
  await startBackend(cfg, io);
  const data = await prepareData(cfg, io, experimentDirOf(chosen.dir));
  const { backbone, head } = await loadRunModel(chosen, cfg);
  try {
    const input = runnerInput(cfg);
    const bar = new Progress(io, 'OOD statistics', data.train.images.count + data.val.images.count, 'img');
    const ood = await fitOodStatistics({
      backbone,
      fit: { images: data.train.images, split: 'train' },
      threshold: { images: data.val.images, split: 'val' },
      input,
      percentile: options.percentile ?? OOD_DEFAULTS.percentile,
      onProgress: (done) => bar.set(done),
    });
    const testAuroc = results.testAurocPerTask ?? { [data.tasks[0]]: results.testAuroc };
    const trained = existsSync(join(chosen.dir, 'run.json')) ? readJson<{ versions?: Record<string, string> }>(join(chosen.dir, 'run.json')).versions : undefined;
    const manifest: BundleManifest = await writeBundle(out, {
      backbone,
      head,
      tasks: data.tasks,
      input,
      ood,
      provenance: {
        createdAt: new Date().toISOString(),
        source: { run: resolve(chosen.dir), id: chosen.id, protocol: chosen.protocol, init: chosen.init, fraction: chosen.fraction, draw: chosen.draw, seed: chosen.seed, trainImages: results.trainImages, epochs: results.epochs },
        config: { ...cfg, job },
        data: data.description,
        testAuroc: testAuroc as Record<string, number>,
        testLevel: results.testLevel ?? 'image',
        valAuroc: results.valAuroc,
        packages: { ...(trained ?? {}), '@moco-cxr/model-bundle': modelBundleVersion() },
      },
    });
    if (!io.quiet) io.err(`export-model: wrote ${out} (${manifest.tasks.join(', ')}; test AUROC ${Object.values(testAuroc).map((a) => (a === null ? 'n/a' : a.toFixed(4))).join(', ')})\n`);
    return {
      bundle: out,
      run: chosen,
      passedOver: passedOver.map((r) => r.id),
      tasks: manifest.tasks,
      testAuroc,
      ood: { featureThreshold: ood.features.threshold, histogramThreshold: ood.histogram.threshold, percentile: ood.percentile },
    };
  } finally {
    backbone.dispose();
  }
}
