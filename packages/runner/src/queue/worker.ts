import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { Queue, UnrecoverableError, WaitingChildrenError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { failureFromOutput } from '../child-job';
import { readJobSpec } from '../grid';
import { isFinished } from '../rundir';
import { isConnectionError } from './connection';
import { dependantsOf, JOB_OPTIONS, jobData, planKey, planProblem, QUEUE_NAME, queueJobId, queueJobProblem, readPlan, type GridJobData, type PlannedJob } from './grid-queue';

export interface WorkerOptions {
  connection: Redis;
  prefix: string;
  /** Jobs this worker runs at once, each in its own `moco-cxr` process (default 1). */
  concurrency?: number;
  /** The `moco-cxr` script, and node flags, the job processes are started with. */
  cliPath: string;
  execArgv?: string[];
  /**
   * Seconds without a lock renewal after which a job counts as stalled (its worker died) and
   * another worker takes it over (default 30, BullMQ's).
   */
  stallSeconds?: number;
  /** Worker name shown by `status` (default host:pid). */
  name?: string;
  /** Lines for the terminal: which job starts, finishes or fails. */
  log?: (line: string) => void;
}

export interface GridWorker {
  name: string;
  /** Stops taking jobs; waits for the running ones unless `force` (then they are taken over elsewhere). */
  close(force?: boolean): Promise<void>;
  /** Stops the job processes at once (they resume elsewhere from their checkpoints). */
  killChildren(signal?: NodeJS.Signals): void;
}

/**
 * A BullMQ worker for experiment grids. Each job runs in a child `moco-cxr` process (`run-job`,
 * `compare`, `report`), so this process stays free to renew the job's lock while the child
 * computes; the child exits when this process dies, and the job is then taken over by another
 * worker after the stall interval and resumed from its checkpoint. After a planned job finishes,
 * the jobs that depend on it are enqueued as its children.
 */
export function startWorker(opts: WorkerOptions): GridWorker {
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const concurrency = opts.concurrency ?? 1;
  const children = new Set<ChildProcess>();
  let stopping = false;
  const log = opts.log ?? (() => undefined);
  const stallMs = Math.round((opts.stallSeconds ?? 30) * 1000);
  const queue = new Queue<GridJobData>(QUEUE_NAME, { connection: opts.connection, prefix: opts.prefix });
  // Share the cores between the job processes unless a job's config fixes its thread count.
  const threads = Math.max(1, Math.floor(cpus().length / concurrency));

  const runChild = (job: Job<GridJobData>, args: string[]) =>
    new Promise<void>((resolveP, reject) => {
      const child = spawn(process.execPath, [...(opts.execArgv ?? []), opts.cliPath, ...args], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { ...process.env, MOCO_CXR_QUEUE_CHILD: '1' },
      });
      children.add(child);
      let tail = '';
      let lastProgress = 0;
      child.stderr!.on('data', (b: Buffer) => {
        tail = (tail + b.toString()).slice(-4000);
        const now = Date.now();
        if (now - lastProgress < 1000) return;
        lastProgress = now;
        const line = lastLine(tail);
        if (line) job.updateProgress({ line, at: new Date(now).toISOString() }).catch(() => undefined);
      });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        children.delete(child);
        // Stopped with this worker: not a failure. The job stays active until its lock runs out,
        // then another worker takes it over.
        if (stopping) return;
        if (code === 0) return resolveP();
        const reason = failureFromOutput(tail, { headline: true }).replace(/^moco-cxr [\w-]+: /, '') || (signal ? `killed by ${signal}` : `exit ${code}`);
        // The same input fails the same way each time: fail once, with its message.
        reject(new UnrecoverableError(`${job.data.id}: ${reason}`));
      });
    });

  /** `moco-cxr run-job` on the job's spec file (its input: a broken one fails this job alone, with the child's message). */
  const runPlannedJob = async (job: Job<GridJobData>) => {
    const d = job.data;
    log(`${d.grid}: ${d.id} started`);
    const specPath = join(d.experimentDir, 'jobs', `${d.id}.json`);
    const args = ['run-job', specPath];
    if (!configuredThreads(specPath)) args.push('--threads', String(threads));
    for (;;) {
      try {
        await runChild(job, args);
        break;
      } catch (err) {
        // A duplicate delivery (the job was taken over while its first run still lives): wait for
        // that run to end, then run again, which skips the job if that run finished it.
        if (!/ is in use by process /.test((err as Error).message)) throw err;
        log(`${d.grid}: ${d.id}: ${(err as Error).message.replace(/^[^:]*: /, '')}; waiting`);
        await job.updateProgress({ line: `waiting: ${(err as Error).message.replace(/;.*$/, '')}`, at: new Date().toISOString() }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    log(`${d.grid}: ${d.id} done`);
  };

  const processor = async (job: Job<GridJobData>, token?: string) => {
    const d = job.data;
    const dir = d.experimentDir;
    // Job data in Redis is editable by anyone who reaches it: run only the grid's own planned jobs, by plain name, inside its directory.
    const refuse = (problem: string) => new UnrecoverableError(`queue job ${JSON.stringify(job.id)} refused: ${problem}; a worker runs only the jobs of a grid's own plan, inside its experiment directory`);
    const early = queueJobProblem(job.id, d, undefined);
    if (early) throw refuse(early);
    let planned: PlannedJob[] | undefined;
    try {
      planned = await readPlan(opts.connection, opts.prefix, dir);
    } catch (err) {
      throw refuse(`the grid's plan ${planKey(opts.prefix, d.grid)} is not readable (${(err as Error).message})`);
    }
    if (!planned) throw new UnrecoverableError(`${d.id}: the grid's plan is not in the queue any more (${planKey(opts.prefix, d.grid)}); enqueue it again with moco-cxr experiment --queue`);
    const problem = planProblem(planned) ?? queueJobProblem(job.id, d, planned);
    if (problem) throw refuse(problem);
    if (d.kind === 'compare' || d.kind === 'report') {
      log(`${d.grid}: ${d.id}`);
      await runChild(job, d.kind === 'compare' ? ['compare', dir] : ['report', dir]);
      log(`${d.grid}: ${d.id} done`);
      return { id: d.id };
    }
    if (d.step !== 'dependants') {
      const outDir = planned.find((p) => p.id === d.id)?.outDir;
      if (outDir !== undefined && isFinished(join(dir, outDir))) log(`${d.grid}: ${d.id} finished earlier, skipped`);
      else await runPlannedJob(job);
      // Dependants become this job's children: BullMQ completes it once they have all finished.
      for (const dep of dependantsOf(planned, d.id)) {
        const data = jobData(dir, dep.id, dep.kind);
        await queue.add(dep.id, data, { ...JOB_OPTIONS, jobId: queueJobId(d.grid, dep.id), parent: { id: job.id!, queue: job.queueQualifiedName } });
      }
      await job.updateData({ ...d, step: 'dependants', ranBy: name });
    }
    if (token && (await job.moveToWaitingChildren(token))) throw new WaitingChildrenError();
    return { id: d.id };
  };

  const worker = new Worker<GridJobData>(QUEUE_NAME, processor, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency,
    name,
    lockDuration: stallMs,
    stalledInterval: stallMs,
    // A worker may die more than once under a long job (machines lost); each time it resumes.
    maxStalledCount: 5,
  });
  worker.on('failed', (job, err) => {
    // A refused job's data is not to be trusted, even for printing: name it by its queue id.
    if (job && !(err instanceof WaitingChildrenError)) log(`${queueJobProblem(job.id, job.data, undefined) ? JSON.stringify(job.id) : `${job.data.grid}: ${job.data.id}`} failed: ${err.message}`);
  });
  // During a Redis outage every client errors on each retry: one line when it goes, one when it is back.
  let redisDown = false;
  const onError = (err: Error) => {
    if (!isConnectionError(err)) return log(`worker: ${err.message}`);
    if (redisDown || opts.connection.status === 'ready') return;
    redisDown = true;
    const at = `${opts.connection.options.host ?? 'localhost'}:${opts.connection.options.port ?? 6379}`;
    log(`worker ${name}: lost Redis at ${at} (${(err as NodeJS.ErrnoException).code ?? err.message.replace(/\.$/, '')}); retrying until it is back`);
  };
  const onReady = () => {
    if (!redisDown) return;
    redisDown = false;
    log(`worker ${name}: Redis is back; taking jobs again`);
  };
  worker.on('error', onError);
  queue.on('error', onError);
  opts.connection.on('error', onError);
  opts.connection.on('ready', onReady);
  return {
    name,
    async close(force = false) {
      opts.connection.off('error', onError);
      opts.connection.off('ready', onReady);
      await worker.close(force);
      await queue.close();
    },
    killChildren(signal: NodeJS.Signals = 'SIGTERM') {
      stopping = true;
      for (const c of children) c.kill(signal);
    },
  };
}

/** The spec's own thread count (0: not fixed); an unreadable spec is left to run-job to report. */
function configuredThreads(specPath: string): number {
  try {
    return readJobSpec(specPath).config.threads ?? 0;
  } catch {
    return 1;
  }
}

function lastLine(text: string): string {
  const lines = text.split(/[\r\n]+/).map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim());
  return lines.filter(Boolean).pop() ?? '';
}
