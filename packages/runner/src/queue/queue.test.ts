import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from '../test-support/io';
import { cliProcessArgs } from '../test-support/cli-process';
import { runCli } from '../cli/main';
import { gridQueueStatus, QUEUE_NAME, type GridStatus } from './grid-queue';

// The real Redis every machine of the project runs; each test run has its own key prefix and removes it.
const REDIS = process.env.MOCO_CXR_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `moco-cxr-test-${process.pid}-${Date.now().toString(36)}`;
const queueArgs = ['--queue', REDIS, '--queue-prefix', prefix];

// A tiny grid: MoCo pretraining, frozen features, linear and end-to-end cells for MoCo and random init.
const config = `
seed: 7
threads: 1
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
pretrain: { epochs: 1, batchSize: 16, queueSize: 32, monitorEvery: 0 }
protocols: [linear, finetune]
fractions: [1]
draws: [1]
linear: { epochs: 2 }
finetune: { epochs: 40 }
compare: { replicates: 20 }
`;
const CELLS = ['linear-moco-100pct-d0', 'linear-random-100pct-d0', 'finetune-moco-100pct-d0', 'finetune-random-100pct-d0'];

const dir = mkdtempSync(join(tmpdir(), 'runner-queue-'));
writeFileSync(join(dir, 'grid.yaml'), config);
const workers = new Map<string, { child: ChildProcess; log: () => string }>();
let redis: Redis;

/** A `moco-cxr worker` in its own process; resolves once it takes jobs. */
async function startWorker(): Promise<string> {
  const child = spawn(process.execPath, [...cliProcessArgs(), 'worker', ...queueArgs, '--stall-seconds', '3'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => void (log += b.toString()));
  const name = await new Promise<string>((resolveP, reject) => {
    child.stderr!.on('data', () => {
      const m = /worker (\S+): taking jobs/.exec(log);
      if (m) resolveP(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`worker exited (${code}) before taking jobs:\n${log}`)));
  });
  workers.set(name, { child, log: () => log });
  return name;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; worker logs:\n${[...workers.values()].map((w) => w.log()).join('\n---\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const settled = (out: string) => waitFor(`grid ${out}`, async () => {
  const s = await gridQueueStatus(redis, prefix, out);
  return s.settled ? s : undefined;
});

/** What a cell's result is, without its timing. */
function cellResult(out: string, id: string) {
  const { seconds: _s, ...results } = JSON.parse(readFileSync(join(out, 'cells', id, 'results.json'), 'utf8'));
  return { results, scores: JSON.parse(readFileSync(join(out, 'cells', id, 'scores.json'), 'utf8')) };
}

/** How many times a cell ran to its end (one metrics line each). */
function cellRuns(out: string, id: string): number {
  return readFileSync(join(out, 'cells', id, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"event":"cell"')).length;
}

describe('experiment grids on BullMQ (real Redis)', () => {
  beforeAll(async () => {
    redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
    await Promise.all([startWorker(), startWorker()]);
  }, 60_000);

  afterAll(async () => {
    for (const { child } of workers.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all([...workers.values()].map(({ child }) => (child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : undefined)));
    // Leave nothing behind in Redis.
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
    redis.disconnect();
  }, 60_000);

  it('two workers in separate processes finish a grid, every cell run once; status lists it', async () => {
    const out = join(dir, 'straight');
    const io = captureIo();
    const r = await runCli(['experiment', '-c', join(dir, 'grid.yaml'), '-o', out, ...queueArgs, '--wait'], io);
    expect(r.error).toBeUndefined();
    expect(io.text()).toContain(`queued grid straight-`);
    const jobs = (r.result as { jobs: GridStatus['jobs'] }).jobs;
    expect(jobs.map((j) => `${j.id} ${j.state}`).sort()).toEqual(
      ['pretrain', 'features-moco', 'features-random', ...CELLS, 'compare', 'report'].map((id) => `${id} done`).sort(),
    );
    // Both workers took jobs (three are ready at once: pretraining, random features, random fine-tuning).
    expect(new Set(jobs.map((j) => j.worker))).toEqual(new Set(workers.keys()));
    for (const id of CELLS) expect(cellRuns(out, id)).toBe(1);
    expect(JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')).rows).toHaveLength(2);
    expect(existsSync(join(out, 'report', 'index.html'))).toBe(true);

    const statusIo = captureIo();
    const st = await runCli(['status', ...queueArgs, out], statusIo);
    expect(st.exitCode).toBe(0);
    expect(statusIo.stdout()).toMatch(/^grid straight-[0-9a-f]{8} \(.*straight\): 9 jobs: 9 done; settled\n/);
    expect(statusIo.stdout()).toMatch(/ {2}done {5}finetune-moco-100pct-d0 +on \S+:\d+/);
  }, 300_000);

  it('kill -9 on a worker mid-cell: another worker takes the cell over and the results equal the uninterrupted run', async () => {
    const out = join(dir, 'killed');
    const r = await runCli(['experiment', '-c', join(dir, 'grid.yaml'), '-o', out, ...queueArgs], captureIo());
    expect(r.result).toMatchObject({ queued: true, jobs: 7 });
    // Wait until a worker is training a fine-tuning cell (its run has started computing), then kill it.
    const victim = await waitFor('a fine-tuning cell in training', async () => {
      const s = await gridQueueStatus(redis, prefix, out);
      const cell = s.jobs.find((j) => j.state === 'active' && j.id.startsWith('finetune-') && j.worker);
      if (!cell) return undefined;
      const run = join(out, 'cells', cell.id, 'run.json');
      return existsSync(run) && JSON.parse(readFileSync(run, 'utf8')).backend ? cell : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(out, 'cells', victim.id, 'results.json'))).toBe(false);
    workers.get(victim.worker!)!.child.kill('SIGKILL');
    await startWorker();

    const final = await settled(out);
    expect(final.jobs.filter((j) => j.state !== 'done')).toEqual([]);
    const taken = final.jobs.find((j) => j.id === victim.id)!;
    expect(taken.stalls).toBeGreaterThanOrEqual(1);
    expect(taken.worker).not.toBe(victim.worker);
    for (const id of CELLS) {
      expect(cellRuns(out, id)).toBe(1);
      expect(cellResult(out, id)).toEqual(cellResult(join(dir, 'straight'), id));
    }
    expect(JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')).rows).toEqual(JSON.parse(readFileSync(join(dir, 'straight', 'comparison.json'), 'utf8')).rows);
  }, 300_000);

  it('a poisoned job fails once with its message, and the rest of the grid finishes', async () => {
    const out = join(dir, 'poisoned');
    const small = config.replace('protocols: [linear, finetune]', 'protocols: [linear]\ninitialisations: [random]').replace('fractions: [1]', 'fractions: [0.5, 1]').replace('draws: [1]', 'draws: [1, 1]');
    writeFileSync(join(dir, 'small.yaml'), small);
    const r = await runCli(['experiment', '-c', join(dir, 'small.yaml'), '-o', out, ...queueArgs], captureIo());
    expect(r.error).toBeUndefined();
    // Its spec is its input: break one cell's before its features job has finished.
    const spec = join(out, 'jobs', 'linear-random-50pct-d0.json');
    const intact = JSON.parse(readFileSync(spec, 'utf8')) as Record<string, unknown>;
    writeFileSync(spec, JSON.stringify({ ...intact, protocol: undefined, fraction: undefined }));
    const final = await settled(out);
    const byId = Object.fromEntries(final.jobs.map((j) => [j.id, j]));
    expect(byId['linear-random-50pct-d0']).toMatchObject({ state: 'failed', reason: `linear-random-50pct-d0: ${spec}: a cell needs protocol, init, fraction and draw` });
    for (const id of ['features-random', 'linear-random-100pct-d0', 'compare', 'report']) expect(byId[id].state).toBe('done');
    // Failed once: started once, not retried.
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
    const job = await queue.getJob(`${final.grid}.linear-random-50pct-d0`);
    await queue.close();
    expect(job).toMatchObject({ attemptsStarted: 1, attemptsMade: 1 });
    expect(existsSync(join(out, 'cells', 'linear-random-100pct-d0', 'results.json'))).toBe(true);
    expect(existsSync(join(out, 'report', 'index.html'))).toBe(true);
    // --wait on the settled grid reports the failure, naming the job and the reason.
    const io = captureIo();
    const again = await runCli(['status', ...queueArgs, out], io);
    expect(io.stdout()).toMatch(/failed +linear-random-50pct-d0 .*a cell needs protocol, init, fraction and draw/);
    expect(again.exitCode).toBe(0);
  }, 300_000);

  it('a grid with seeds: [0, 1] runs on the queue: every job once per seed, its name carrying the seed; compare pools the seeds', async () => {
    const out = join(dir, 'seeds');
    writeFileSync(join(dir, 'seeds.yaml'), `${config.replace('protocols: [linear, finetune]', 'protocols: [logistic]')}seeds: [0, 1]\n`);
    const r = await runCli(['experiment', '-c', join(dir, 'seeds.yaml'), '-o', out, ...queueArgs, '--wait'], captureIo());
    expect(r.error).toBeUndefined();
    const ids = ['pretrain', 'features-moco', 'features-random', 'logistic-moco-100pct-d0', 'logistic-random-100pct-d0'].flatMap((id) => [`${id}-s0`, `${id}-s1`]);
    const jobs = (r.result as { jobs: GridStatus['jobs'] }).jobs;
    expect(jobs.map((j) => `${j.id} ${j.state}`).sort()).toEqual([...ids, 'compare', 'report'].map((id) => `${id} done`).sort());
    // The BullMQ jobs themselves: one per planned job and seed, named by it.
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
    const inQueue = (await queue.getJobs(['completed'], 0, -1)).filter((j) => j.data.experimentDir === out);
    await queue.close();
    expect(inQueue.map((j) => j.name).sort()).toEqual([...ids, 'compare', 'report'].sort());
    for (const s of [0, 1]) expect(JSON.parse(readFileSync(join(out, `pretrain-s${s}`, 'run.json'), 'utf8'))).toMatchObject({ status: 'finished', seed: s });
    const rows = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')).rows as { seed?: number; seeds?: number[] }[];
    expect(rows.map((x) => x.seeds ?? x.seed)).toEqual([0, 1, [0, 1]]);
    expect(readFileSync(join(out, 'report', 'report.md'), 'utf8')).toContain('| moco | pooled (0, 1) |');
  }, 300_000);

  it('Redis unreachable: one clear error naming the URL', async () => {
    // A port nobody listens on.
    const server = createServer();
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
    await new Promise((r) => server.close(r));
    const url = `redis://127.0.0.1:${port}`;
    for (const argv of [
      ['experiment', '-c', join(dir, 'grid.yaml'), '-o', join(dir, 'down'), '--queue', url],
      ['status', '--queue', url],
    ]) {
      const io = captureIo();
      const r = await runCli(argv, io);
      expect(r.exitCode).toBe(1);
      expect(io.text()).toBe(`moco-cxr ${argv[0]}: cannot reach Redis at ${url} (ECONNREFUSED); start Redis there, or give --queue the URL of a running one\n`);
    }
    // A password in the URL is never printed.
    const secret = captureIo();
    expect((await runCli(['status', '--queue', `redis://:hunter2@127.0.0.1:${port}`], secret)).exitCode).toBe(1);
    expect(secret.text()).toBe(`moco-cxr status: cannot reach Redis at redis://:***@127.0.0.1:${port} (ECONNREFUSED); start Redis there, or give --queue the URL of a running one\n`);
    const io = captureIo();
    expect((await runCli(['worker', '--queue', 'http://127.0.0.1:6379'], io)).exitCode).toBe(2);
    expect(io.text()).toBe('moco-cxr worker: --queue: "http://127.0.0.1:6379" is not a Redis URL; expected redis://host:port[/db]\n');
  });
});
