import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { captureIo } from '../test-support/io';
import { cliProcessArgs } from '../test-support/cli-process';
import { runCli } from '../cli/main';

// The real Redis of the project (16 databases, 0-15); this file's own key prefix, removed at the end.
const REDIS = process.env.MOCO_CXR_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `moco-cxr-conn-${process.pid}-${Date.now().toString(36)}`;
const base = mkdtempSync(join(tmpdir(), 'runner-queue-conn-'));

afterAll(async () => {
  const redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(base, { recursive: true, force: true });
});

/** A TCP relay to the real Redis that can be cut and restored on the same port: an outage without stopping Redis. */
function relay(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<number>((resolveP) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port || 6379), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => s.destroy());
          s.on('close', () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.listen(port, '127.0.0.1', () => resolveP((port = (server!.address() as { port: number }).port)));
    });
  const cut = () =>
    new Promise<void>((resolveP) => {
      server!.close(() => resolveP());
      for (const s of sockets) s.destroy();
    });
  return { open, cut };
}

describe('the --queue URL and Redis outages', () => {
  it('a database Redis refuses (redis://…/99) is a usage error for experiment, worker and status; nothing is written or queued', async () => {
    writeFileSync(join(base, 'grid.yaml'), 'seed: 7\ndata: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 } }\ninitialisations: [random]\nprotocols: [linear]\nfractions: [1]\n');
    const url = `${REDIS}/99`;
    const out = join(base, 'db99');
    for (const argv of [
      ['experiment', '-c', join(base, 'grid.yaml'), '-o', out, '--queue', url, '--queue-prefix', prefix],
      ['worker', '--queue', url, '--queue-prefix', prefix],
      ['status', '--queue', url, '--queue-prefix', prefix],
    ]) {
      const io = captureIo();
      const r = await runCli(argv, io, join(base, 'moco-cxr'));
      expect(io.text()).toBe(`moco-cxr ${argv[0]}: --queue: Redis at ${url} has no database 99 (DB index is out of range); give a database it has, e.g. redis://host:port/0\n`);
      expect(r.exitCode).toBe(2);
    }
    expect(existsSync(out)).toBe(false);
    const redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
    redis.disconnect();
    // A database Redis has is taken as before.
    const io = captureIo();
    expect((await runCli(['status', '--queue', `${REDIS}/15`, '--queue-prefix', prefix], io)).exitCode).toBe(0);
    expect(io.stdout()).toBe(`no grids in the queue at ${REDIS}/15 (prefix ${prefix})\n`);
  }, 60_000);

  it('a worker says once that Redis is gone and once that it is back, without error dumps', async () => {
    const link = relay(new URL(REDIS));
    const port = await link.open();
    const child = spawn(process.execPath, [...cliProcessArgs(), 'worker', '--queue', `redis://127.0.0.1:${port}`, '--queue-prefix', prefix], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (b: Buffer) => void (log += b.toString()));
    const waitFor = async (re: RegExp, what: string) => {
      const end = Date.now() + 60_000;
      while (!re.test(log)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${what} from the worker; its stderr:\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await waitFor(/taking jobs/, 'start');
      await link.cut();
      // Several seconds of retries (ioredis tries again every 250 ms to 5 s).
      await new Promise((r) => setTimeout(r, 4000));
      await link.open();
      await waitFor(/Redis is back/, 'reconnection line');
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const name = /worker (\S+): taking jobs/.exec(log)![1];
    const lines = log.split('\n').filter(Boolean);
    // Which client notices first (a closed socket or a refused reconnection) varies from run to run.
    expect(lines[1]).toMatch(new RegExp(`^worker ${name}: lost Redis at 127\\.0\\.0\\.1:${port} \\((ECONNREFUSED|ECONNRESET|Connection is closed)\\); retrying until it is back$`));
    expect(lines).toEqual([
      `worker ${name}: taking jobs from redis://127.0.0.1:${port} (prefix ${prefix}), 1 at a time; Ctrl-C to stop`,
      lines[1],
      `worker ${name}: Redis is back; taking jobs again`,
      `worker ${name}: SIGTERM, stopping; other workers take its running jobs over after the stall interval`,
    ]);
  }, 90_000);
});
