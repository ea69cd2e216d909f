import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { maskedRocCurves } from '@moco-cxr/eval-metrics';
import type { ExperimentComparisons } from './compare';
import { intervalText, readScores, taskCount } from './compare';
import { seedsOf, sourceOptions, type RunnerConfig } from './config';
import { cellId, jobDir, planGrid, pretrainDirOf, seedTag } from './grid';
import { backboneFileOf } from './jobs/backbone';
import { formatSeconds } from './progress';
import type { PretrainPoint, RocSeries } from './report/figures';
import { summarise, writeReport, type ReportData, type WrittenReport } from './report/report';
import { isFinished, readJson, type RunInfo } from './rundir';

/** What a finished cell job writes to its results.json. */
export interface CellResults {
  id: string;
  protocol: string;
  init: string;
  fraction: number;
  draw: number;
  trainImages: number;
  valAuroc: number;
  /** Mean over tasks when there are several (then `testAurocPerTask` holds each). */
  testAuroc: number;
  testAurocPerTask?: Record<string, number>;
  tasks?: string[];
  testLevel: 'study' | 'image';
  epochs: number;
  seconds: number;
}

/** Gathers an experiment directory's finished results into what the report shows. */
export function buildReportData(experimentDir: string, cfg: RunnerConfig, comparisons: ExperimentComparisons, opts: { title?: string; wallSeconds?: number; notes?: string[] }): ReportData {
  const cells: ReportData['cells'] = [];
  let cellTasks: string[] | undefined;
  const seeds = seedsOf(cfg);
  for (const seed of seeds) {
    for (const protocol of cfg.protocols) {
      for (const init of cfg.initialisations) {
        cfg.fractions.forEach((fraction, fi) => {
          const draws = Array.isArray(cfg.draws) ? cfg.draws[fi] : cfg.draws;
          for (let d = 0; d < draws; d++) {
            const dir = join(experimentDir, 'cells', cellId(protocol, init, fraction, d, seedTag(cfg, seed)));
            if (!isFinished(dir)) continue;
            const r = readJson<CellResults>(join(dir, 'results.json'));
            cellTasks ??= r.tasks;
            cells.push({ id: r.id, protocol, initialisation: init, fraction, draw: d, valAuroc: r.valAuroc, testAuroc: r.testAuroc, epochs: r.epochs, seconds: r.seconds });
          }
        });
      }
    }
  }
  // ROC curves at the smallest label fraction (where the paper's gap is largest), first draw of the first training seed.
  const roc: RocSeries[] = [];
  const smallest = Math.min(...cfg.fractions);
  for (const protocol of cfg.protocols) {
    for (const init of cfg.initialisations) {
      const dir = join(experimentDir, 'cells', cellId(protocol, init, smallest, 0, seedTag(cfg, seeds[0])));
      if (!isFinished(dir)) continue;
      const s = readScores(dir);
      // A curve per task, each over the rows labelled for it; a task with one class in the test split has none.
      const K = taskCount(s);
      const rows = (a: ArrayLike<number>) => s.ids.map((_, i) => Array.from({ length: K }, (_, k) => a[i * K + k]));
      for (const c of maskedRocCurves(rows(s.labels), rows(s.scores), s.tasks ?? Array.from({ length: K }, (_, k) => `task ${k}`)).curves) {
        roc.push({ ...(K > 1 && s.tasks ? { task: c.task } : {}), protocol, initialisation: init, fraction: smallest, fpr: Array.from(c.fpr), tpr: Array.from(c.tpr), auroc: c.auroc });
      }
    }
  }
  // Every training seed's pretraining monitor, each line marked with its seed when there are several.
  const pretrain = seeds.flatMap((seed) => {
    const file = join(experimentDir, pretrainDirOf(cfg, seed), 'history.json');
    if (!existsSync(file)) return [];
    return readJson<PretrainPoint[]>(file).map((p) => (seeds.length > 1 ? { seed, ...p } : p));
  });
  // The tasks as trained (a cell's results), else as the comparison names them, else as configured.
  const tasks = cellTasks ?? taskNames(comparisons) ?? cfg.data.tasks;
  const moco = cfg.initialisations.includes('moco');
  const given = moco && cfg.mocoWeights ? mocoWeightsOrigin(cfg.mocoWeights) : undefined;
  const context = [
    `data: ${describeData(cfg.data)}; input ${cfg.data.imageSize} px${tasks && tasks.length > 1 ? `; tasks ${tasks.join(', ')} (one head output each, NaN labels masked)` : tasks?.length === 1 ? `; task ${tasks[0]}` : ''}`,
    ...(moco ? [`MoCo pretrained on: ${cfg.mocoWeights ? `the given weights ${cfg.mocoWeights}` : cfg.pretrainData ? `${describeData(cfg.pretrainData)} (transfer: the baselines and every protocol train and test on the data above)` : 'the train and validation images of the data above (labels unused)'}`] : []),
    `backbone: ${cfg.backbone.name}${Object.keys(cfg.backbone.options).length ? ` ${JSON.stringify(cfg.backbone.options)}` : ''}; initialisations: ${cfg.initialisations.join(', ')}${cfg.imagenetWeights ? ` (ImageNet weights ${cfg.imagenetWeights})` : ''}`,
    // With given weights this experiment pretrained nothing: say where they came from, not the config's unused settings.
    ...(given
      ? [`MoCo pretraining: not run by this experiment; the MoCo backbone is ${given.file}${given.settings ? `, pretrained with ${pretrainSettings(given.settings)} (${given.settingsFile})` : ' (no pretraining record beside it: its settings are not known)'}`]
      : moco
        ? [`MoCo pretraining: ${pretrainSettings(cfg.pretrain)}`]
        : []),
    `protocols: ${cfg.protocols.join(', ')}; label fractions ${cfg.fractions.join(', ')} with ${Array.isArray(cfg.draws) ? cfg.draws.join('/') : cfg.draws} draws (sampled by patient)`,
    ...(seeds.length > 1 ? [`training seeds: ${seeds.join(', ')} (pretraining, the random init and every cell once per seed; data split and label-fraction draws from seed ${cfg.seed}, the same for every training seed)`] : []),
    `statistics: paired bootstrap over the test rows${seeds.length > 1 ? ' (per seed) and over the training seeds and test rows (pooled)' : ''}, ${cfg.compare.replicates} replicates, ${Math.round(cfg.compare.confidence * 100)}% percentile CIs, seed ${cfg.seed}`,
    ...(opts.wallSeconds !== undefined ? [`wall time of this invocation: ${formatSeconds(opts.wallSeconds)}`] : []),
    ...gridTimes(experimentDir, cfg),
    ...(comparisons.incomplete.length ? [`left out (unfinished draws): ${comparisons.incomplete.join(', ')}`] : []),
  ];
  return {
    title: opts.title ?? `MoCo-CXR experiment: ${cfg.initialisations.join(' vs ')}`,
    summary: summarise(comparisons.rows, cfg.compare.confidence),
    notShown: [...(opts.notes ?? []), ...notShown(cfg, comparisons)],
    context,
    points: comparisons.points,
    comparisons: comparisons.rows,
    roc,
    pretrain,
    cells,
    confidence: cfg.compare.confidence,
    intervals: comparisons.intervals ?? intervalText(cfg),
  };
}

/** A one-task grid's task as its comparisons name it. */
function taskNames(comparisons: Pick<ExperimentComparisons, 'rows' | 'points'>): string[] | undefined {
  const names = [...new Set([...comparisons.rows, ...comparisons.points].map((r) => r.task).filter((t): t is string => t !== undefined))];
  return names.length === 1 ? names : undefined;
}

interface PretrainSettings {
  epochs: number;
  batchSize: number;
  queueSize: number;
  temperature: number;
  momentum: number;
}

function pretrainSettings(p: PretrainSettings): string {
  return `${p.epochs} epochs, batch ${p.batchSize}, queue ${p.queueSize}, T ${p.temperature}, m ${p.momentum}`;
}

/**
 * The backbone file mocoWeights names, and the settings it was pretrained with when a moco-cxr
 * pretraining wrote it (its config.json beside it), else none.
 */
export function mocoWeightsOrigin(mocoWeights: string): { file: string; settings?: PretrainSettings; settingsFile?: string } {
  const file = backboneFileOf(resolve(mocoWeights));
  const settingsFile = join(dirname(file), 'config.json');
  try {
    const c = readJson<Partial<PretrainSettings>>(settingsFile);
    const keys = ['epochs', 'batchSize', 'queueSize', 'temperature', 'momentum'] as const;
    if (keys.every((k) => typeof c[k] === 'number')) return { file, settings: c as PretrainSettings, settingsFile };
  } catch {
    // no record beside the file, or not a pretraining's
  }
  return { file };
}

/** One line naming a data block's source, where it lives and its limits. */
export function describeData(d: RunnerConfig['data']): string {
  const o = sourceOptions(d);
  const limit = d.limit.train || d.limit.test ? `, limited to ${d.limit.train ?? 'all'} train / ${d.limit.test ?? 'all'} test images` : '';
  const where: Record<string, string> = {
    synthetic: `synthetic chest X-rays (${d.synthetic.train} train / ${d.synthetic.test} test, seeded)`,
    folder: `image folder ${d.root}`,
    chexpert: `CheXpert ${d.root}${o.chexpert.frontalOnly ? ' (frontal views)' : ''}, uncertain labels ${typeof o.chexpert.uncertainty === 'string' ? `"${o.chexpert.uncertainty}"` : JSON.stringify(o.chexpert.uncertainty)}`,
    nih: `NIH ChestX-ray14 ${d.root} (official lists)`,
    'nlm-tb': `NLM TB ${d.root} (${o.nlmTb.sets.join(' + ')})`,
  };
  return `${where[d.source]}${limit}`;
}

/** The limits of what an experiment's page can claim, read from its config. */
export function notShown(cfg: RunnerConfig, comparisons: Pick<ExperimentComparisons, 'rows'>): string[] {
  const out: string[] = [];
  if (cfg.data.source === 'synthetic') {
    out.push('Real patients: the images are synthetic radiographs made by code with a known finding. The page shows that the pipeline reproduces the method\'s effect there, not how large the effect is on real chest X-rays.');
  }
  const seeds = seedsOf(cfg);
  const draws = comparisons.rows.some((r) => r.drawsA > 1) ? ' and the label-fraction draws' : '';
  if (seeds.length === 1) out.push(`Other seeds: one pretraining run and one random init (seed ${seeds[0]}). The CIs cover the test images${draws}, not the spread between training runs.`);
  else {
    // Multisets of S seeds drawn from S: C(2S - 1, S).
    let multisets = 1;
    for (let i = 1; i <= seeds.length; i++) multisets = (multisets * (seeds.length - 1 + i)) / i;
    out.push(`More seeds: ${seeds.length} pretraining runs and ${seeds.length} random inits (seeds ${seeds.join(', ')}). The pooled CIs cover these seeds, the test images${draws}, but ${seeds.length} seeds give the seed level of the bootstrap only ${Math.round(multisets)} distinct draws, so the pooled intervals are rough.`);
  }
  if (!cfg.initialisations.includes('imagenet')) out.push('ImageNet initialisation, the paper\'s main baseline: no ImageNet weights were given.');
  const paper: string[] = [];
  if (cfg.data.imageSize < 224) paper.push(`${cfg.data.imageSize} px input (the paper: 224 px)`);
  if (Object.keys(cfg.backbone.options).length) paper.push(`a ${cfg.backbone.name} changed by ${JSON.stringify(cfg.backbone.options)}`);
  // The epochs the MoCo backbone was pretrained for: the given weights' when they say, else this config's.
  const pretrained = !cfg.initialisations.includes('moco') ? undefined : cfg.mocoWeights ? mocoWeightsOrigin(cfg.mocoWeights).settings?.epochs : cfg.pretrain.epochs;
  if (pretrained !== undefined && pretrained < 20) paper.push(`${pretrained} pretraining epochs (the paper: 20)`);
  if (paper.length) out.push(`The paper's scale: ${paper.join(', ')}.`);
  if (comparisons.rows.length > 1) out.push(`Multiple comparisons: each row's CI and p-value stand alone; nothing corrects for the ${comparisons.rows.length} rows.`);
  return out;
}

export function writeExperimentReport(experimentDir: string, data: ReportData, dir = join(experimentDir, 'report')): Promise<WrittenReport> {
  return writeReport(data, dir);
}

/** When the grid's jobs ran (their last invocations): compute time summed over jobs, and first start to last finish. */
function gridTimes(experimentDir: string, cfg: RunnerConfig): string[] {
  let summed = 0;
  let first = Infinity;
  let last = -Infinity;
  let count = 0;
  for (const job of planGrid(cfg)) {
    const file = join(jobDir(experimentDir, job), 'run.json');
    if (!existsSync(file)) continue;
    const info = readJson<RunInfo>(file);
    if (info.status !== 'finished' || !info.finished) continue;
    const start = Date.parse(info.started);
    const end = Date.parse(info.finished);
    summed += (end - start) / 1000;
    first = Math.min(first, start);
    last = Math.max(last, end);
    count++;
  }
  if (!count) return [];
  return [`jobs: ${count} finished, ${formatSeconds(summed)} of job time in all, from ${new Date(first).toISOString()} to ${new Date(last).toISOString()} (${formatSeconds((last - first) / 1000)} wall)`];
}
