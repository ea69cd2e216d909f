import { join } from 'node:path';
import type { RunnerConfig } from '../config';
import type { JobSpec } from '../grid';
import type { Io } from '../progress';
import { connectRedis, shownUrl } from './connection';
import { DEFAULT_PREFIX, enqueueGrid, gridQueueStatus, type GridJobStatus, type GridStatus } from './grid-queue';

function say(io: Io, text: string): void {
  if (!io.quiet) io.err(`${text}\n`);
}

/**
 * `experiment --queue`: enqueues the planned grid and returns, or with `wait` follows it until
 * its report has run; failed jobs are listed and make it throw.
 */
export async function enqueueExperiment(cfg: RunnerConfig, out: string, jobs: JobSpec[], io: Io, target: { url: string; prefix: string }, wait: boolean) {
  const connection = await connectRedis(target.url);
  try {
    const r = await enqueueGrid(connection, target.prefix, out, jobs);
    say(io, r.added ? `queued grid ${r.grid}: ${r.jobs} jobs, then compare and report, on ${shownUrl(target.url)}` : `grid ${r.grid} is in the queue already and not finished; following it`);
    say(io, `run \`moco-cxr worker --queue ${shownUrl(target.url)}${target.prefix === DEFAULT_PREFIX ? '' : ` --queue-prefix ${target.prefix}`}\` on each machine that sees ${out}`);
    if (!wait) return { experimentDir: out, grid: r.grid, queued: r.added, jobs: r.jobs };
    const status = await followGrid(connection, target.prefix, out, io);
    const failed = status.jobs.filter((j) => j.state === 'failed' || j.state === 'blocked');
    const summary = { experimentDir: out, grid: r.grid, jobs: status.jobs, report: join(out, 'report', 'index.html') };
    if (failed.length) throw new Error(`${failed.length} of ${status.jobs.length} jobs did not finish: ${failed.map((j) => `${j.id} (${j.reason})`).join('; ')}`);
    say(io, `report: ${summary.report}`);
    return summary;
  } finally {
    connection.disconnect();
  }
}

/** Polls the grid's status and prints each job as it starts, finishes or fails, until nothing is left to do. */
async function followGrid(connection: Awaited<ReturnType<typeof connectRedis>>, prefix: string, out: string, io: Io, everyMs = 1000): Promise<GridStatus> {
  const seen = new Map<string, string>();
  for (;;) {
    const status = await gridQueueStatus(connection, prefix, out);
    for (const j of status.jobs) {
      const key = `${j.state}${j.worker ?? ''}`;
      if (seen.get(j.id) === key) continue;
      const before = seen.get(j.id);
      seen.set(j.id, key);
      if (j.state === 'planned' || (j.state === 'waiting' && !before)) continue;
      say(io, `  ${j.state.padEnd(7)} ${j.id}${describe(j)}`);
    }
    if (status.settled) return status;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function describe(j: GridJobStatus): string {
  if (j.state === 'failed' || j.state === 'blocked') return `: ${j.reason}`;
  return j.worker ? ` (${j.worker})` : '';
}

