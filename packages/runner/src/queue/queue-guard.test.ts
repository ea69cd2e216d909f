import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../test-support/io';
import { cliProcessArgs } from '../test-support/cli-process';
import { runCli } from '../cli/main';
import { connectRedis } from './connection';
import { gridKey, gridsInQueue, planKey, planProblem, QUEUE_NAME, queueJobId, queueJobProblem, type GridJobData, type PlannedJob } from './grid-queue';
import { startWorker, type GridWorker } from './worker';

// The real Redis of the project; this file's own key prefix, removed at the end.
const REDIS = process.env.MOCO_CXR_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `moco-cxr-guard-${process.pid}-${Date.now().toString(36)}`;

const config = `
seed: 7
threads: 1
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
initialisations: [random]
protocols: [linear]
fractions: [1]
draws: [1]
linear: { epochs: 2 }
compare: { replicates: 20 }
`;

const base = mkdtempSync(join(tmpdir(), 'runner-queue-guard-'));
const dirA = join(base, 'a');
const dirB = join(base, 'b');
const evil = join(base, 'evil');
let redis: Redis;
let worker: GridWorker | undefined;
const logLines: string[] = [];

/** Every file under `dir`, relative to it, sorted. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

async function settledState(queue: Queue<GridJobData>, jobId: string, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const job = await queue.getJob(jobId);
    const state = job ? await job.getState() : 'missing';
    if (state === 'failed' || state === 'completed' || state === 'waiting-children') return { state, reason: job!.failedReason };
    if (Date.now() > end) throw new Error(`timed out waiting for ${jobId} (${state}); worker log:\n${logLines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a queue worker runs only the jobs of a grid\'s own plan (real Redis)', () => {
  beforeAll(async () => {
    writeFileSync(join(base, 'grid.yaml'), config);
    for (const out of [dirA, dirB]) {
      const r = await runCli(['experiment', '-c', join(base, 'grid.yaml'), '-o', out, '--plan'], captureIo());
      expect(r.error).toBeUndefined();
    }
    // Another experiment's directory, holding a valid spec the attacker wants run.
    mkdirSync(join(evil, 'jobs'), { recursive: true });
    copyFileSync(join(dirA, 'jobs', 'features-random.json'), join(evil, 'jobs', 'x.json'));
    writeFileSync(join(dirB, 'comparison.json'), '{"untouched":true}\n');
    redis = await connectRedis(REDIS);
  }, 120_000);

  afterAll(async () => {
    worker?.killChildren('SIGKILL');
    await worker?.close(true);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    rmSync(base, { recursive: true, force: true });
  }, 60_000);

  it('refuses a job whose id was edited into a path, a compare job pointed at another experiment, an unplanned id and a tampered plan, writing nothing', async () => {
    const gridA = gridKey(dirA);
    const gridB = gridKey(dirB);
    const planOf = (dir: string): PlannedJob[] =>
      readdirSync(join(dir, 'jobs')).sort().map((f) => {
        const s = JSON.parse(readFileSync(join(dir, 'jobs', f), 'utf8'));
        return { id: s.id, kind: s.kind, dependsOn: s.dependsOn, outDir: s.outDir };
      });
    await redis.set(planKey(prefix, gridA), JSON.stringify(planOf(dirA)));
    // Grid B's plan gains a dependant whose id and output directory lead out of the experiment.
    await redis.set(planKey(prefix, gridB), JSON.stringify([...planOf(dirB), { id: '../../evil/jobs/x', kind: 'cell', dependsOn: ['features-random'], outDir: '../evil' }]));
    const before = { a: tree(dirA), b: tree(dirB), evil: tree(evil) };

    const queue = new Queue<GridJobData>(QUEUE_NAME, { connection: redis, prefix });
    const opts = { attempts: 1, removeOnComplete: false, removeOnFail: false };
    const tampered: [string, GridJobData][] = [
      [queueJobId(gridA, 'features-random'), { experimentDir: dirA, grid: gridA, id: '../../evil/jobs/x', kind: 'features' }],
      [queueJobId(gridA, 'compare'), { experimentDir: dirB, grid: gridB, id: 'compare', kind: 'compare' }],
      [queueJobId(gridA, 'features-moco'), { experimentDir: dirA, grid: gridA, id: 'features-moco', kind: 'features' }],
      [queueJobId(gridB, 'features-random'), { experimentDir: dirB, grid: gridB, id: 'features-random', kind: 'features' }],
      [queueJobId(gridA, 'report'), { experimentDir: evil, grid: gridKey(evil), id: 'report', kind: 'report' }],
    ];
    for (const [jobId, data] of tampered) await queue.add(data.id, data, { ...opts, jobId });

    const [execArgv, cliPath] = ((a) => [a.slice(0, -1), a.at(-1)!])(cliProcessArgs());
    worker = startWorker({ connection: redis, prefix, cliPath, execArgv, stallSeconds: 3, name: 'guard-test', log: (l) => logLines.push(l) });

    const results = [];
    for (const [jobId] of tampered) results.push(await settledState(queue, jobId));
    await queue.close();
    const why = ', a worker runs only the jobs of a grid\'s own plan, inside its experiment directory'.replace(',', ';');
    expect(results).toEqual([
      { state: 'failed', reason: `queue job "${gridA}.features-random" refused: its id "../../evil/jobs/x" is not a plain job name${why}` },
      { state: 'failed', reason: `queue job "${gridA}.compare" refused: its queue id "${gridA}.compare" is not ${gridB}.compare, the id of job compare of the grid of ${dirB}${why}` },
      { state: 'failed', reason: `queue job "${gridA}.features-moco" refused: features-moco is not a job of the grid's plan${why}` },
      { state: 'failed', reason: `queue job "${gridB}.features-random" refused: the plan lists a job id "../../evil/jobs/x" that is not a plain name${why}` },
      { state: 'failed', reason: `queue job "${gridA}.report" refused: its queue id "${gridA}.report" is not ${gridKey(evil)}.report, the id of job report of the grid of ${evil}${why}` },
    ]);
    // `status` lists no grid from edited job data.
    expect(await gridsInQueue(redis, prefix)).toEqual([]);
    // Nothing ran: no file appeared or changed in either experiment or outside them.
    expect({ a: tree(dirA), b: tree(dirB), evil: tree(evil) }).toEqual(before);
    expect(readFileSync(join(dirB, 'comparison.json'), 'utf8')).toBe('{"untouched":true}\n');
    // The terminal names each refused job by its queue id, one line each.
    expect(logLines.filter((l) => / refused: /.test(l))).toHaveLength(5);
    expect(logLines.find((l) => l.includes('../../evil'))).toMatch(new RegExp(`^"${gridA}\\.features-random" failed: queue job`));
  }, 240_000);

  it('the checks one by one: a job of the grid\'s plan passes; paths, other grids and other kinds do not', () => {
    const grid = gridKey(dirA);
    const plan: PlannedJob[] = [{ id: 'features-random', kind: 'features', dependsOn: [], outDir: 'features/random' }];
    const ok: GridJobData = { experimentDir: dirA, grid, id: 'features-random', kind: 'features' };
    expect(queueJobProblem(queueJobId(grid, 'features-random'), ok, plan)).toBeUndefined();
    expect(queueJobProblem(queueJobId(grid, 'report'), { ...ok, id: 'report', kind: 'report' }, plan)).toBeUndefined();
    expect(queueJobProblem(queueJobId(grid, 'compare'), { ...ok, id: 'compare', kind: 'report' }, plan)).toBe('a report job must have the id report, not compare');
    expect(queueJobProblem(queueJobId(grid, 'features-random'), { ...ok, kind: 'cell' }, plan)).toBe('it has kind "cell" but the plan\'s features-random is a features job');
    expect(queueJobProblem(queueJobId(grid, 'features-random'), { ...ok, experimentDir: `${dirA}/../b` }, plan)).toMatch(/is not an absolute, normalised path/);
    expect(queueJobProblem(queueJobId(grid, 'features-random'), { ...ok, grid: gridKey(dirB) }, plan)).toMatch(/^it names grid "b-[0-9a-f]{8}" but its directory .* is grid a-/);
    expect(queueJobProblem(queueJobId(grid, 'features-random'), { ...ok, id: 'features-random/../../x' }, plan)).toMatch(/is not a plain job name/);
    expect(planProblem([{ ...plan[0], outDir: '/tmp/x' }])).toBe('the plan puts job features-random\'s output at "/tmp/x", outside the experiment directory');
    expect(planProblem([{ ...plan[0], outDir: 'cells/../../x' }])).toMatch(/outside the experiment directory/);
    expect(planProblem([{ ...plan[0], dependsOn: ['../x'] }])).toBe('the plan gives job features-random dependencies that are not plain job ids');
    expect(planProblem(plan)).toBeUndefined();
  });
});
