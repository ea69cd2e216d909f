import { resolve } from 'node:path';
import { UsageError } from '../errors';
import type { Io } from '../progress';
import { connectRedis, parseQueueUrl, shownUrl } from '../queue/connection';
import { DEFAULT_PREFIX, gridQueueStatus, gridsInQueue, statusText, type GridStatus } from '../queue/grid-queue';
import { intFlag, type Command, type CommandContext } from './framework';

export const queueOptions = {
  queue: { type: 'string' as const, valueName: 'url', description: 'Redis of the job queue, redis://host:port[/db] (BullMQ)' },
  'queue-prefix': { type: 'string' as const, valueName: 'name', description: `key prefix of the queue in Redis (default ${DEFAULT_PREFIX})` },
};

export function queueTarget(ctx: CommandContext, required: boolean): { url: string; prefix: string } | undefined {
  const url = ctx.values.queue as string | undefined;
  if (!url) {
    if (required) throw new UsageError(`--queue redis://host:port is required (see moco-cxr ${ctx.argv[0]} --help)`);
    return undefined;
  }
  try {
    parseQueueUrl(url);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { url, prefix: (ctx.values['queue-prefix'] as string | undefined) ?? DEFAULT_PREFIX };
}

/** Connects once to the queue's Redis and its database, so a bad --queue fails before any work. */
export async function checkQueueTarget(target: { url: string }): Promise<void> {
  (await connectRedis(target.url)).disconnect();
}

function say(io: Io, text: string): void {
  if (!io.quiet) io.err(`${text}\n`);
}

const worker: Command = {
  name: 'worker',
  summary: 'run grid jobs from the queue (any machine that sees the experiment directory)',
  usage: 'worker --queue redis://host:port[/db] [--concurrency n]',
  description: [
    'Takes jobs of every grid enqueued by `experiment --queue` and runs each in a child moco-cxr',
    'process. When a worker dies mid-job, another one takes the job over after the stall interval',
    'and resumes it from its checkpoint. Ctrl-C stops it: its running jobs stop (pretraining saves a',
    'checkpoint) and are taken over by another worker after the stall interval.',
  ].join('\n'),
  options: {
    ...queueOptions,
    concurrency: { type: 'string', valueName: 'n', description: 'jobs at once on this machine, each in its own process (default 1)' },
    'stall-seconds': { type: 'string', valueName: 's', description: 'seconds before a job whose worker died is taken over (default 30)' },
  },
  examples: ['moco-cxr worker --queue redis://10.0.0.5:6379', 'moco-cxr worker --queue redis://10.0.0.5:6379/2 --concurrency 2'],
  async run(ctx) {
    const target = queueTarget(ctx, true)!;
    const concurrency = intFlag(ctx.values.concurrency as string | undefined, 'concurrency') ?? 1;
    if (concurrency < 1) throw new UsageError(`--concurrency: expected a positive integer, got ${concurrency}`);
    const stall = ctx.values['stall-seconds'] === undefined ? 30 : Number(ctx.values['stall-seconds']);
    if (!(stall >= 1)) throw new UsageError(`--stall-seconds: expected a number of seconds >= 1, got "${ctx.values['stall-seconds']}"`);
    if (!ctx.cliPath) throw new UsageError('worker runs jobs in child moco-cxr processes: start it as the moco-cxr executable');
    const connection = await connectRedis(target.url);
    const { startWorker } = await import('../queue/worker');
    const w = startWorker({ connection, prefix: target.prefix, concurrency, cliPath: ctx.cliPath, execArgv: process.execArgv, stallSeconds: stall, log: (l) => say(ctx.io, l) });
    say(ctx.io, `worker ${w.name}: taking jobs from ${shownUrl(target.url)} (prefix ${target.prefix}), ${concurrency} at a time; Ctrl-C to stop`);
    // The CLI owns the process: on a signal, stop the job processes (they checkpoint) and leave their jobs to other workers.
    const signal = await new Promise<NodeJS.Signals>((resolveP) => {
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolveP(s));
    });
    say(ctx.io, `worker ${w.name}: ${signal}, stopping; other workers take its running jobs over after the stall interval`);
    w.killChildren(signal);
    await w.close(true);
    connection.disconnect();
    return { worker: w.name, stoppedBy: signal };
  },
};

const status: Command = {
  name: 'status',
  summary: 'the grids in the queue: waiting, active (which worker, how far), done, failed with the reason',
  usage: 'status --queue redis://host:port[/db] [experiment-dir]',
  description: 'Lists every job of the grid of experiment-dir (or of every grid in the queue): done, active with its worker and progress, waiting, planned (its dependency has not finished), failed with the reason, or blocked by a failed dependency.',
  options: { ...queueOptions },
  examples: ['moco-cxr status --queue redis://10.0.0.5:6379', 'moco-cxr status --queue redis://10.0.0.5:6379 runs/kermany'],
  async run(ctx) {
    const target = queueTarget(ctx, true)!;
    const connection = await connectRedis(target.url);
    try {
      const dirs = ctx.positionals.length ? ctx.positionals.map((d) => resolve(d)) : await gridsInQueue(connection, target.prefix);
      const grids: GridStatus[] = [];
      for (const dir of dirs) grids.push(await gridQueueStatus(connection, target.prefix, dir));
      if (!ctx.io.quiet) ctx.io.out(grids.length ? `${grids.map(statusText).join('\n\n')}\n` : `no grids in the queue at ${shownUrl(target.url)} (prefix ${target.prefix})\n`);
      return { grids };
    } finally {
      connection.disconnect();
    }
  },
};

export const queueCommands: Command[] = [worker, status];
