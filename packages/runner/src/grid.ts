import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { drawsFor, type Initialisation, type Protocol, type RunnerConfig } from './config';
import { isFinished, readJson, writeJsonAtomic } from './rundir';

export type JobKind = 'pretrain' | 'features' | 'cell';

/**
 * One independent unit of an experiment grid. A spec is self-contained (it carries the
 * resolved config) and names its output directory relative to the experiment directory,
 * so it can be run by `moco-cxr run-job` in another process or on another machine that
 * shares the experiment directory.
 */
export interface JobSpec {
  version: 1;
  id: string;
  kind: JobKind;
  /** Jobs whose results this one reads (run them first). */
  dependsOn: string[];
  /** Output directory, relative to the experiment directory. */
  outDir: string;
  init?: Initialisation;
  protocol?: Protocol;
  fraction?: number;
  /** Which of the fraction's draws (0-based), and how many draws that fraction has. */
  draw?: number;
  draws?: number;
  /** Seed of the label-fraction draw: the same for every initialisation, so comparisons are paired. */
  drawSeed?: number;
  seed: number;
  config: RunnerConfig;
}

/** A fraction as it appears in ids and paths: 0.01 -> "1pct", 1 -> "100pct". */
export function fractionTag(fraction: number): string {
  return `${+(fraction * 100).toPrecision(6)}pct`.replace('.', 'p');
}

export function cellId(protocol: Protocol, init: Initialisation, fraction: number, draw: number): string {
  return `${protocol}-${init}-${fractionTag(fraction)}-d${draw}`;
}

/**
 * The paper's grid: initialisations x protocols x label fractions x draws, plus the jobs
 * they depend on (MoCo pretraining; one frozen-feature extraction per initialisation for the
 * linear protocol). Returned in an order where every job follows its dependencies.
 */
export function planGrid(config: RunnerConfig): JobSpec[] {
  const jobs: JobSpec[] = [];
  const base = { version: 1 as const, seed: config.seed, config };
  const needsPretrain = config.initialisations.includes('moco');
  if (needsPretrain) jobs.push({ ...base, id: 'pretrain', kind: 'pretrain', dependsOn: [], outDir: 'pretrain' });
  const initDeps = (init: Initialisation) => (init === 'moco' ? ['pretrain'] : []);
  if (config.protocols.includes('linear') || config.protocols.includes('logistic')) {
    for (const init of config.initialisations) {
      jobs.push({ ...base, id: `features-${init}`, kind: 'features', init, dependsOn: initDeps(init), outDir: join('features', init) });
    }
  }
  for (const protocol of config.protocols) {
    for (const init of config.initialisations) {
      config.fractions.forEach((fraction, fi) => {
        const draws = drawsFor(config, fi);
        for (let draw = 0; draw < draws; draw++) {
          const id = cellId(protocol, init, fraction, draw);
          jobs.push({
            ...base,
            id,
            kind: 'cell',
            init,
            protocol,
            fraction,
            draw,
            draws,
            drawSeed: config.seed,
            dependsOn: protocol === 'finetune' ? initDeps(init) : [`features-${init}`],
            outDir: join('cells', id),
          });
        }
      });
    }
  }
  return jobs;
}

/** Groups jobs into stages: every job's dependencies are in earlier stages. */
export function stages(jobs: JobSpec[]): JobSpec[][] {
  const level = new Map<string, number>();
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const levelOf = (j: JobSpec): number => {
    const known = level.get(j.id);
    if (known !== undefined) return known;
    const l = Math.max(-1, ...j.dependsOn.map((d) => (byId.has(d) ? levelOf(byId.get(d)!) : -1))) + 1;
    level.set(j.id, l);
    return l;
  };
  const out: JobSpec[][] = [];
  for (const j of jobs) (out[levelOf(j)] ??= []).push(j);
  return out.filter(Boolean);
}

/**
 * Runs jobs on up to `parallel` workers, each as soon as its dependencies have finished (not stage
 * by stage: random-init cells run beside MoCo pretraining). Among the ready jobs the costliest
 * (by `cost`, see `jobCost`) starts first, else the planned order holds. A failed job's dependants are not started; every other job still runs, then the
 * first failure is thrown, so no finished work is lost.
 */
export async function runScheduled(jobs: JobSpec[], parallel: number, runOne: (job: JobSpec) => Promise<void>, cost?: (job: JobSpec) => number): Promise<void> {
  if (!(Number.isInteger(parallel) && parallel >= 1)) throw new RangeError(`runScheduled: parallel must be a positive integer, got ${parallel}`);
  const pending = new Set(jobs.map((j) => j.id));
  const waiting = [...jobs];
  const failed = new Set<string>();
  const errors: unknown[] = [];
  let running = 0;
  await new Promise<void>((resolveAll) => {
    const pump = () => {
      // Drop jobs that can never run: a dependency failed or was skipped for that reason.
      for (let i = waiting.length - 1; i >= 0; i--) {
        if (waiting[i].dependsOn.some((d) => failed.has(d))) {
          failed.add(waiting[i].id);
          pending.delete(waiting[i].id);
          waiting.splice(i, 1);
          i = waiting.length; // a newly failed id may block jobs already scanned
        }
      }
      while (running < parallel) {
        // Longest first among the ready jobs (ties in planned order): the long ones must not start last.
        let i = -1;
        for (let k = 0; k < waiting.length; k++) {
          if (!waiting[k].dependsOn.every((d) => !pending.has(d))) continue;
          if (i < 0 || (cost && cost(waiting[k]) > cost(waiting[i]))) i = k;
        }
        if (i < 0) break;
        const [job] = waiting.splice(i, 1);
        running++;
        runOne(job).then(
          () => {
            pending.delete(job.id);
          },
          (err) => {
            errors.push(err);
            failed.add(job.id);
            pending.delete(job.id);
          },
        ).finally(() => {
          running--;
          pump();
        });
      }
      if (running === 0) resolveAll();
    };
    pump();
  });
  if (errors.length) throw errors[0];
}

/**
 * Relative cost of a job, for scheduling: pretraining first, then end-to-end cells by the training
 * examples they see (fraction x epochs); feature extraction and linear / logistic cells are cheap.
 */
export function jobCost(job: JobSpec, finetuneEpochs: (fraction: number) => number): number {
  if (job.kind === 'pretrain') return Number.POSITIVE_INFINITY;
  if (job.kind === 'cell' && job.protocol === 'finetune') return job.fraction! * finetuneEpochs(job.fraction!);
  return job.kind === 'features' ? 1e-3 : 0;
}

export function jobDir(experimentDir: string, job: JobSpec): string {
  return join(experimentDir, job.outDir);
}

export function jobFinished(experimentDir: string, job: JobSpec): boolean {
  return isFinished(jobDir(experimentDir, job));
}

/** Writes every spec to `<experiment>/jobs/<id>.json`; returns the paths. */
export function writeJobSpecs(experimentDir: string, jobs: JobSpec[]): string[] {
  return jobs.map((job) => {
    const path = join(experimentDir, 'jobs', `${job.id}.json`);
    writeJsonAtomic(path, job);
    return path;
  });
}

export function readJobSpec(path: string): JobSpec {
  const spec = readJson<JobSpec>(path);
  const problems: string[] = [];
  if (spec?.version !== 1) problems.push(`version: expected 1, got ${JSON.stringify(spec?.version)}`);
  if (typeof spec?.id !== 'string') problems.push('id: expected a string');
  if (!['pretrain', 'features', 'cell'].includes(spec?.kind)) problems.push(`kind: expected "pretrain", "features" or "cell", got ${JSON.stringify(spec?.kind)}`);
  if (typeof spec?.outDir !== 'string') problems.push('outDir: expected a path relative to the experiment directory');
  if (spec?.kind === 'cell' && (typeof spec.fraction !== 'number' || typeof spec.draw !== 'number' || !spec.protocol || !spec.init)) {
    problems.push('a cell needs protocol, init, fraction and draw');
  }
  if (problems.length) throw new Error(`${path}: not a job spec: ${problems.join('; ')}`);
  return spec;
}

/** The status of every planned job: which are finished, which remain. */
export function gridStatus(experimentDir: string, jobs: JobSpec[]): { finished: JobSpec[]; remaining: JobSpec[] } {
  const finished = jobs.filter((j) => jobFinished(experimentDir, j));
  return { finished, remaining: jobs.filter((j) => !finished.includes(j)) };
}

/** Job specs already written under `<experiment>/jobs`. */
export function listJobSpecs(experimentDir: string): string[] {
  const dir = join(experimentDir, 'jobs');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f)) : [];
}
