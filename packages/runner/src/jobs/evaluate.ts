import { join } from 'node:path';
import { embedImages, linearHeadFromJson, loadFinetuneCheckpoint, scoreFeatures } from '@moco-cxr/protocols';
import type { Initialisation, RunnerConfig } from '../config';
import { prepareData, type SplitName } from '../data';
import { Progress, type Io } from '../progress';
import { readJson, RunDir } from '../rundir';
import { makeBackbone, startBackend } from './backbone';
import { range, writeScores } from './scores';

/**
 * `evaluate`: scores a finished linear or finetune run on a split, from its saved model (the
 * finetune checkpoint, or the linear head on top of the backbone it was trained on).
 */
export async function evaluateCheckpoint(runDir: string, split: SplitName, out: string, io: Io, argv: string[], backend?: string, precision?: RunnerConfig['precision']) {
  const cfgWithJob = readJson<RunnerConfig & { job: { protocol: string; init: Initialisation; id: string; seed?: number } }>(join(runDir, 'config.json'));
  const { job, ...cfgRest } = cfgWithJob;
  const cfg = { ...(cfgRest as RunnerConfig), ...(backend ? { backend: backend as RunnerConfig['backend'] } : {}), ...(precision ? { precision } : {}) };
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

