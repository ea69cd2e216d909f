import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { FlowProducer, Queue, type FlowJob, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { listJobSpecs, readJobSpec, type JobKind, type JobSpec } from '../grid';
import { isFinished } from '../rundir';

/** The one BullMQ queue every grid goes to; jobs carry their experiment directory. */
export const QUEUE_NAME = 'moco-cxr-grid';
export const DEFAULT_PREFIX = 'moco-cxr';

/** A queue job: a planned grid job, or the grid's compare / report step. */
export type QueueJobKind = JobKind | 'compare' | 'report';

export interface GridJobData {
  experimentDir: string;
  /** Which grid (one per experiment directory; see gridKey). */
  grid: string;
  /** The planned job's id (jobs/<id>.json), or "compare" / "report". */
  id: string;
  kind: QueueJobKind;
  /** Set by the worker: "dependants" once the job itself has finished and its dependants were enqueued. */
  step?: 'run' | 'dependants';
  /** The worker that ran the job itself (a later step may run elsewhere). */
  ranBy?: string;
}

/**
 * Every failure is final at once (no automatic retries: a bad input fails the same way each time);
 * a job whose worker died is not a failure but a stall, taken over by another worker.
 * A failed job does not block its parent: the rest of the grid still finishes.
 */
export const JOB_OPTIONS: JobsOptions = { attempts: 1, removeOnComplete: false, removeOnFail: false, ignoreDependencyOnFailure: true };

/** The grid's name in the queue: directory name plus a hash of its absolute path. */
export function gridKey(experimentDir: string): string {
  const dir = resolve(experimentDir);
  const name = basename(dir).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'grid';
  return `${name}-${createHash('sha1').update(dir).digest('hex').slice(0, 8)}`;
}

/** BullMQ job id of one job of a grid (ids must not contain ':'). */
export function queueJobId(grid: string, id: string): string {
  return `${grid}.${id}`;
}

export function jobData(experimentDir: string, id: string, kind: QueueJobKind): GridJobData {
  const dir = resolve(experimentDir);
  return { experimentDir: dir, grid: gridKey(dir), id, kind };
}

/** A grid's job graph as enqueued: which job waits for which. */
export interface PlannedJob {
  id: string;
  kind: JobKind;
  dependsOn: string[];
  /** Output directory, relative to the experiment directory. */
  outDir: string;
}

/** The planned jobs that wait for `id` (each planned job depends on at most one other). */
export function dependantsOf(jobs: PlannedJob[], id: string): PlannedJob[] {
  return jobs.filter((j) => j.dependsOn.includes(id));
}

/** Where the job graph of a grid is kept beside its queue (fixed at enqueue time: a spec file is read only to run its job). */
export function planKey(prefix: string, grid: string): string {
  return `${prefix}:${QUEUE_NAME}-plan:${grid}`;
}

export async function readPlan(connection: Redis, prefix: string, experimentDir: string): Promise<PlannedJob[] | undefined> {
  const text = await connection.get(planKey(prefix, gridKey(experimentDir)));
  return text ? (JSON.parse(text) as PlannedJob[]) : undefined;
}

/** A job id as the planner makes them ("linear-moco-1pct-d0"): one plain file name, never a path. */
const PLAIN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/;

/**
 * Why a grid's plan (read back from Redis) cannot be trusted, or undefined: every id a plain
 * name and every output directory inside the experiment directory, since Redis may be edited by anyone who reaches it.
 */
export function planProblem(plan: unknown): string | undefined {
  if (!Array.isArray(plan)) return 'the plan is not a list of jobs';
  for (const p of plan as Partial<PlannedJob>[]) {
    if (typeof p?.id !== 'string' || !PLAIN_ID.test(p.id)) return `the plan lists a job id ${JSON.stringify(p?.id)} that is not a plain name`;
    if (p.kind !== 'pretrain' && p.kind !== 'features' && p.kind !== 'cell') return `the plan gives job ${p.id} the kind ${JSON.stringify(p.kind)}`;
    if (!Array.isArray(p.dependsOn) || p.dependsOn.some((d) => typeof d !== 'string' || !PLAIN_ID.test(d))) return `the plan gives job ${p.id} dependencies that are not plain job ids`;
    const out = typeof p.outDir === 'string' ? normalize(p.outDir) : '';
    if (!out || isAbsolute(out) || out === '..' || out.startsWith(`..${sep}`)) return `the plan puts job ${p.id}'s output at ${JSON.stringify(p.outDir)}, outside the experiment directory`;
  }
  return undefined;
}

/**
 * Why a job taken from the queue must not run, or undefined. Its BullMQ id (fixed when it was
 * added) must be `<grid>.<id>`, its grid the key of its experiment directory, and its id a plain
 * name in that grid's plan (or compare / report): so edited job data can neither run a spec file
 * outside the directory nor point a job at another experiment.
 */
export function queueJobProblem(queueId: string | undefined, data: unknown, plan: PlannedJob[] | undefined): string | undefined {
  const d = (data ?? {}) as Partial<GridJobData>;
  if (typeof d.experimentDir !== 'string' || !isAbsolute(d.experimentDir) || resolve(d.experimentDir) !== d.experimentDir) return `its experiment directory ${JSON.stringify(d.experimentDir)} is not an absolute, normalised path`;
  if (typeof d.id !== 'string' || !PLAIN_ID.test(d.id)) return `its id ${JSON.stringify(d.id)} is not a plain job name`;
  const grid = gridKey(d.experimentDir);
  if (d.grid !== grid) return `it names grid ${JSON.stringify(d.grid)} but its directory ${d.experimentDir} is grid ${grid}`;
  if (queueId !== queueJobId(grid, d.id)) return `its queue id ${JSON.stringify(queueId)} is not ${queueJobId(grid, d.id)}, the id of job ${d.id} of the grid of ${d.experimentDir}`;
  if (!plan) return undefined;
  if (d.kind === 'compare' || d.kind === 'report') return d.id === d.kind ? undefined : `a ${d.kind} job must have the id ${d.kind}, not ${d.id}`;
  const planned = plan.find((p) => p.id === d.id);
  if (!planned) return `${d.id} is not a job of the grid's plan`;
  if (planned.kind !== d.kind) return `it has kind ${JSON.stringify(d.kind)} but the plan's ${d.id} is a ${planned.kind} job`;
  return undefined;
}

/** The planned jobs of an experiment directory from its spec files (jobs/*.json). */
export function plannedJobs(experimentDir: string): PlannedJob[] {
  return listJobSpecs(experimentDir)
    .sort()
    .map((p) => readJobSpec(p));
}

function flowNode(experimentDir: string, id: string, kind: QueueJobKind, children?: FlowJob[]): FlowJob {
  const data = jobData(experimentDir, id, kind);
  return { name: id, queueName: QUEUE_NAME, data, opts: { ...JOB_OPTIONS, jobId: queueJobId(data.grid, id) }, ...(children ? { children } : {}) };
}

export interface EnqueueResult {
  grid: string;
  /** False when the grid was in the queue already and still running (nothing added). */
  added: boolean;
  jobs: number;
}

/**
 * Enqueues a planned grid as one BullMQ flow: `report` waits for `compare`, which waits for the
 * jobs that depend on nothing; every other job is added by the worker that finishes its
 * dependency, as that job's child (pretraining, then features and MoCo cells, then linear cells).
 * A grid still in the queue is left alone; a grid whose report already ran (or failed) is
 * replaced, so rerunning after a fix runs what is not finished on disk.
 */
export async function enqueueGrid(connection: Redis, prefix: string, experimentDir: string, jobs: JobSpec[]): Promise<EnqueueResult> {
  for (const j of jobs) {
    if (j.dependsOn.length > 1) throw new Error(`job ${j.id} depends on ${j.dependsOn.join(', ')}; the queue expects at most one dependency per job`);
  }
  const dir = resolve(experimentDir);
  const grid = gridKey(dir);
  const queue = new Queue<GridJobData>(QUEUE_NAME, { connection, prefix });
  try {
    const report = await queue.getJob(queueJobId(grid, 'report'));
    if (report) {
      const state = await report.getState();
      if (state !== 'completed' && state !== 'failed') return { grid, added: false, jobs: jobs.length };
      await removeGrid(connection, queue, prefix, grid);
    }
    const plan: PlannedJob[] = jobs.map((j) => ({ id: j.id, kind: j.kind, dependsOn: j.dependsOn, outDir: j.outDir }));
    await connection.set(planKey(prefix, grid), JSON.stringify(plan));
    const roots = jobs.filter((j) => j.dependsOn.length === 0).map((j) => flowNode(dir, j.id, j.kind));
    const flow = new FlowProducer({ connection, prefix });
    try {
      const { opts, ...root } = flowNode(dir, 'report', 'report', [flowNode(dir, 'compare', 'compare', roots)]);
      // The root has no parent: the dependency options do not apply to it.
      const { ignoreDependencyOnFailure: _i, ...rootOpts } = opts!;
      await flow.add({ ...root, opts: rootOpts });
    } finally {
      await flow.close();
    }
    return { grid, added: true, jobs: jobs.length };
  } finally {
    await queue.close();
  }
}

const ALL_STATES = ['active', 'waiting', 'waiting-children', 'prioritized', 'delayed', 'completed', 'failed'] as const;

async function jobsOfGrid(queue: Queue<GridJobData>, grid: string): Promise<Job<GridJobData>[]> {
  const all = await queue.getJobs([...ALL_STATES], 0, -1);
  return all.filter((j) => j?.data?.grid === grid);
}

/** Removes every job of a finished grid from the queue (the results on disk stay). */
export async function removeGrid(connection: Redis, queue: Queue<GridJobData>, prefix: string, grid: string): Promise<number> {
  const jobs = await jobsOfGrid(queue, grid);
  for (const j of jobs) await queue.remove(j.id!, { removeChildren: true }).catch(() => undefined);
  await connection.del(planKey(prefix, grid));
  return jobs.length;
}

export type GridJobState = 'done' | 'active' | 'waiting' | 'failed' | 'blocked' | 'planned';

export interface GridJobStatus {
  id: string;
  kind: QueueJobKind;
  state: GridJobState;
  /** The worker running it (host:pid), or the one that ran it. */
  worker?: string;
  /** How far an active job is: the last progress line of its run. */
  progress?: string;
  /** Why it failed, or which failed job blocks it. */
  reason?: string;
  /** How many times a worker died under it and another took it over. */
  stalls?: number;
}

export interface GridStatus {
  grid: string;
  experimentDir: string;
  jobs: GridJobStatus[];
  /** The report ran, or cannot run any more: nothing of the grid is left in the queue to do. */
  settled: boolean;
}

/** The state of every job of one grid: in the queue, or not yet enqueued because its dependency has not finished (or failed). */
export async function gridQueueStatus(connection: Redis, prefix: string, experimentDir: string): Promise<GridStatus> {
  const dir = resolve(experimentDir);
  const grid = gridKey(dir);
  const queue = new Queue<GridJobData>(QUEUE_NAME, { connection, prefix });
  try {
    const planned = (await readPlan(connection, prefix, dir)) ?? plannedJobs(dir);
    const rows = new Map<string, GridJobStatus>();
    const order: { id: string; kind: QueueJobKind; dependsOn: string[] }[] = [...planned, { id: 'compare', kind: 'compare', dependsOn: [] }, { id: 'report', kind: 'report', dependsOn: [] }];
    for (const p of order) {
      const job = await queue.getJob(queueJobId(grid, p.id));
      if (!job) {
        rows.set(p.id, { id: p.id, kind: p.kind, state: 'planned' });
        continue;
      }
      const state = await job.getState();
      const row: GridJobStatus = { id: p.id, kind: p.kind, state: 'waiting' };
      const ran = job.data.step === 'dependants';
      const worker = job.data.ranBy ?? job.processedBy;
      if (worker) row.worker = worker;
      if (job.stalledCounter) row.stalls = job.stalledCounter;
      // Once its own work is done, a job only waits for (or collects) its dependants.
      if (state === 'completed' || (ran && state !== 'failed')) row.state = 'done';
      else if (state === 'failed') Object.assign(row, { state: 'failed', reason: job.failedReason });
      else if (state === 'active') {
        row.state = 'active';
        const progress = job.progress as { line?: string } | undefined;
        if (progress && typeof progress === 'object' && progress.line) row.progress = progress.line;
      } else if (state === 'waiting-children') {
        // A planned job in waiting-children has finished its own work; its dependants run.
        row.state = p.kind === 'compare' || p.kind === 'report' ? 'waiting' : 'done';
      }
      rows.set(p.id, row);
    }
    // Jobs not in the queue: finished on disk before, blocked by a failed dependency, or waiting for it.
    for (const p of planned) {
      const row = rows.get(p.id)!;
      if (row.state !== 'planned') continue;
      if (isFinished(join(dir, p.outDir))) row.state = 'done';
      const dep = p.dependsOn[0];
      if (row.state === 'planned' && dep) {
        const blocker = blockingFailure(rows, planned, dep);
        if (blocker) Object.assign(row, { state: 'blocked', reason: `${blocker} failed` });
      }
    }
    const report = rows.get('report')!;
    const settled = report.state === 'done' || report.state === 'failed' || (report.state === 'planned' && !(await queue.getJob(queueJobId(grid, 'compare'))));
    return { grid, experimentDir: dir, jobs: [...rows.values()], settled };
  } finally {
    await queue.close();
  }
}

function blockingFailure(rows: Map<string, GridJobStatus>, planned: PlannedJob[], id: string): string | undefined {
  const row = rows.get(id);
  if (row?.state === 'failed') return id;
  const dep = planned.find((p) => p.id === id)?.dependsOn[0];
  return dep ? blockingFailure(rows, planned, dep) : undefined;
}

/** The experiment directories of the grids in the queue. */
export async function gridsInQueue(connection: Redis, prefix: string): Promise<string[]> {
  const queue = new Queue<GridJobData>(QUEUE_NAME, { connection, prefix });
  try {
    const jobs = await queue.getJobs([...ALL_STATES], 0, -1);
    // A report job whose data was edited to point elsewhere names no grid of this queue.
    const reports = jobs.filter((j) => j?.data?.kind === 'report' && !queueJobProblem(j.id, j.data, undefined));
    return [...new Set(reports.map((j) => j.data.experimentDir))].filter((d) => existsSync(join(d, 'jobs')));
  } finally {
    await queue.close();
  }
}

/** The status as text: a summary line, then one line per job. */
export function statusText(s: GridStatus): string {
  const count = (st: GridJobState) => s.jobs.filter((j) => j.state === st).length;
  const parts = (['done', 'active', 'waiting', 'planned', 'blocked', 'failed'] as const).filter((st) => count(st)).map((st) => `${count(st)} ${st}`);
  const width = Math.max(...s.jobs.map((j) => j.id.length));
  const lines = s.jobs.map((j) => {
    const extra = [j.worker && j.state !== 'waiting' ? `on ${j.worker}` : '', j.stalls ? `taken over ${j.stalls}x` : '', j.progress ?? '', j.reason ?? ''].filter(Boolean).join('  ');
    return `  ${j.state.padEnd(8)} ${j.id.padEnd(width)}  ${extra}`.trimEnd();
  });
  return [`grid ${s.grid} (${s.experimentDir}): ${s.jobs.length} jobs: ${parts.join(', ')}${s.settled ? '; settled' : ''}`, ...lines].join('\n');
}
