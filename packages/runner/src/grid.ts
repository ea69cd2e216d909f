import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, configSchema, drawsFor, seedsOf, got, INITIALISATIONS, num, obj, oneOf, problemsOf, PROTOCOLS, type Initialisation, type Protocol, type RunnerConfig } from './config';
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

/** A training seed as it appears in ids and paths: `-s1` in a grid of several seeds, nothing in a grid of one (its layout predates seeds). */
export function seedTag(config: Pick<RunnerConfig, 'seed' | 'seeds'>, seed: number): string {
  return seedsOf(config).length > 1 ? `-s${seed}` : '';
}

export function cellId(protocol: Protocol, init: Initialisation, fraction: number, draw: number, tag = ''): string {
  return `${protocol}-${init}-${fractionTag(fraction)}-d${draw}${tag}`;
}

/** The pretraining job's id and directory (relative to the experiment) for one training seed. */
export function pretrainDirOf(config: Pick<RunnerConfig, 'seed' | 'seeds'>, seed: number): string {
  return `pretrain${seedTag(config, seed)}`;
}

/** The frozen-feature directory (relative to the experiment) of one initialisation and training seed. */
export function featuresDirOf(config: Pick<RunnerConfig, 'seed' | 'seeds'>, init: Initialisation, seed: number): string {
  return join('features', `${init}${seedTag(config, seed)}`);
}

/**
 * The paper's grid: initialisations x protocols x label fractions x draws, once per training seed
 * (`seeds`), plus the jobs they depend on (MoCo pretraining per seed; one frozen-feature extraction
 * per initialisation and seed for the linear protocols). The label-fraction draws are seeded by
 * `seed` alone, so every initialisation and every training seed trains on the same draws. Returned in
 * an order where every job follows its dependencies. `config` is resolved (resolveConfig), so the
 * specs' paths are absolute and run from any working directory (run-job, a worker).
 */
export function planGrid(config: RunnerConfig): JobSpec[] {
  const jobs: JobSpec[] = [];
  const seeds = seedsOf(config);
  // With mocoWeights the MoCo backbone exists already (transfer from an earlier pretrain run).
  const needsPretrain = config.initialisations.includes('moco') && !config.mocoWeights;
  const initDeps = (init: Initialisation, seed: number) => (init === 'moco' && needsPretrain ? [pretrainDirOf(config, seed)] : []);
  if (needsPretrain) {
    for (const seed of seeds) jobs.push({ version: 1, seed, config, id: pretrainDirOf(config, seed), kind: 'pretrain', dependsOn: [], outDir: pretrainDirOf(config, seed) });
  }
  const featuresId = (init: Initialisation, seed: number) => `features-${init}${seedTag(config, seed)}`;
  if (config.protocols.includes('linear') || config.protocols.includes('logistic')) {
    for (const seed of seeds) {
      for (const init of config.initialisations) {
        jobs.push({ version: 1, seed, config, id: featuresId(init, seed), kind: 'features', init, dependsOn: initDeps(init, seed), outDir: featuresDirOf(config, init, seed) });
      }
    }
  }
  for (const seed of seeds) {
    for (const protocol of config.protocols) {
      for (const init of config.initialisations) {
        config.fractions.forEach((fraction, fi) => {
          const draws = drawsFor(config, fi);
          for (let draw = 0; draw < draws; draw++) {
            const id = cellId(protocol, init, fraction, draw, seedTag(config, seed));
            jobs.push({
              version: 1,
              seed,
              config,
              id,
              kind: 'cell',
              init,
              protocol,
              fraction,
              draw,
              draws,
              drawSeed: config.seed,
              dependsOn: protocol === 'finetune' ? initDeps(init, seed) : [featuresId(init, seed)],
              outDir: join('cells', id),
            });
          }
        });
      }
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

const jobId = z.string({ error: (iss) => `expected a job id${got(iss)}` }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: (iss) => `expected a job id (letters, digits, ".", "_", "-")${got(iss)}` });

/** A job spec is input (it may be edited, or written elsewhere): checked as strictly as a config. */
const jobSpecSchema = obj({
  version: z.literal(1, { error: (iss) => `expected 1${got(iss)}` }),
  id: jobId,
  kind: oneOf(['pretrain', 'features', 'cell']),
  dependsOn: z.array(jobId, { error: (iss) => `expected a list of job ids${got(iss)}` }),
  outDir: z.string({ error: (iss) => `expected a path relative to the experiment directory${got(iss)}` }),
  init: oneOf(INITIALISATIONS).optional(),
  protocol: oneOf(PROTOCOLS).optional(),
  fraction: num(0, 1, { open: true }).optional(),
  draw: num(0, 1e6, { integer: true }).optional(),
  draws: num(1, 1e6, { integer: true }).optional(),
  drawSeed: num(-(2 ** 31), 2 ** 32, { integer: true }).optional(),
  seed: num(-(2 ** 31), 2 ** 32, { integer: true }),
  config: configSchema,
}).superRefine((spec, ctx) => {
  if (spec.kind === 'cell' && (spec.fraction === undefined || spec.draw === undefined || !spec.protocol || !spec.init)) {
    ctx.addIssue({ code: 'custom', path: [], message: 'a cell needs protocol, init, fraction and draw' });
  }
  if (spec.kind === 'features' && !spec.init) ctx.addIssue({ code: 'custom', path: ['init'], message: 'a features job needs init' });
});

/**
 * Reads and checks a job spec (its config against the config schema) and keeps its output
 * directory inside the experiment (`<experiment>/jobs/<id>.json` by default). Errors name the file and field.
 */
export function readJobSpec(path: string, experimentDir = resolve(path, '..', '..')): JobSpec {
  const parsed = jobSpecSchema.safeParse(readJson<unknown>(path));
  // One line (as a worker reports a failed job by its last line), every problem named.
  if (!parsed.success) throw new ConfigError([problemsOf(parsed.error.issues, '').join('; ')], path);
  const spec: JobSpec = parsed.data;
  const inside = relative(experimentDir, resolve(experimentDir, spec.outDir));
  if (isAbsolute(spec.outDir) || !inside || inside.startsWith('..') || isAbsolute(inside)) {
    throw new ConfigError([`outDir: must be a directory inside the experiment ${experimentDir}, got ${JSON.stringify(spec.outDir)}`], path);
  }
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
