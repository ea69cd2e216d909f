import { join, relative } from 'node:path';
import { featuresDirOf, seedTag, type JobSpec } from '../grid';
import { runPretrainJob } from './pretrain';
import type { Io } from '../progress';
import { isFinished, readJson, RunDir } from '../rundir';
import { startBackend } from './backbone';
import { runCellJob } from './cell';
import { runFeaturesJob } from './features';

export interface JobOutcome {
  id: string;
  dir: string;
  skipped: boolean;
  results: unknown;
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
    else {
      if (spec.protocol === 'linear' || spec.protocol === 'logistic') await ensureFeatures(spec, experimentDir, io, opts.weights);
      results = await runCellJob(spec, experimentDir, run, io, opts.weights);
    }
    // Exactly once: if another delivery of this job finished first, its results stand.
    if (!run.tryFinish(results)) return { id: spec.id, dir, skipped: true, results: readJson(join(dir, 'results.json')) };
    return { id: spec.id, dir, skipped: false, results };
  } catch (err) {
    run.fail(err);
    throw err;
  }
}


/** A linear or logistic cell's frozen features: a standalone `linear` run (or a grid whose features job was removed) embeds them now. */
async function ensureFeatures(spec: JobSpec, experimentDir: string, io: Io, weights?: string): Promise<void> {
  const fdir = join(experimentDir, featuresDirOf(spec.config, spec.init!, spec.seed));
  if (isFinished(fdir)) return;
  await executeJob({ ...spec, id: `features-${spec.init}${seedTag(spec.config, spec.seed)}`, kind: 'features', outDir: relative(experimentDir, fdir), dependsOn: [] }, experimentDir, io, [], { weights });
}
