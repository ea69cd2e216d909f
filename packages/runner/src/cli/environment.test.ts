import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { captureIo } from '../test-support/io';
import { cliProcessArgs } from '../test-support/cli-process';
import { runCli } from './main';

const config = `
seed: 7
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
initialisations: [random]
protocols: [linear]
fractions: [1]
pretrain: { epochs: 1, batchSize: 8, queueSize: 32, monitorEvery: 0 }
`;
const dir = mkdtempSync(join(tmpdir(), 'runner-environment-'));
writeFileSync(join(dir, 'tiny.yaml'), config);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const saved = { kernels: process.env.MOCO_CXR_KERNELS, isa: process.env.MOCO_CXR_NATIVE_ISA };
afterEach(() => {
  for (const [name, v] of [['MOCO_CXR_KERNELS', saved.kernels], ['MOCO_CXR_NATIVE_ISA', saved.isa]] as const) {
    if (v === undefined) delete process.env[name];
    else process.env[name] = v;
  }
});

describe('the environment and the thread count, said before and while a command runs', () => {
  it('MOCO_CXR_KERNELS / MOCO_CXR_NATIVE_ISA the backend would refuse are a usage error before anything is written', async () => {
    for (const [name, value, allowed] of [
      ['MOCO_CXR_KERNELS', 'bogus', 'auto, native, wasm'],
      ['MOCO_CXR_NATIVE_ISA', 'sse2', 'avx512, avx2, generic'],
    ] as const) {
      process.env[name] = value;
      for (const argv of [
        ['experiment', '-c', join(dir, 'tiny.yaml'), '-o', join(dir, `exp-${name}`)],
        ['pretrain', '-c', join(dir, 'tiny.yaml'), '-o', join(dir, `pre-${name}`)],
      ]) {
        const io = captureIo();
        const r = await runCli(argv, io);
        expect(io.text()).toBe(`moco-cxr ${argv[0]}: ${name}="${value}": expected one of ${allowed} (or leave it unset)\n`);
        expect(r.exitCode).toBe(2);
        expect(existsSync(argv[4])).toBe(false);
      }
      delete process.env[name];
    }
    // A value the backend takes passes.
    process.env.MOCO_CXR_KERNELS = 'wasm';
    expect((await runCli(['experiment', '-c', join(dir, 'tiny.yaml'), '-o', join(dir, 'planned'), '--plan'], captureIo())).exitCode).toBe(0);
  });

  it('--threads above what the wasm backend runs is capped with a note on stderr', async () => {
    const stderr = await new Promise<string>((resolveP, reject) => {
      const child = spawn(process.execPath, [...cliProcessArgs(), 'pretrain', '-c', join(dir, 'tiny.yaml'), '-o', join(dir, 'threads'), '--threads', '500', '--backend', 'wasm'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, MOCO_CXR_PROGRESS_SECONDS: '0.3' },
      });
      let err = '';
      let stopped = false;
      // The note comes once the backend has started, before the first progress line: stop at either.
      child.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        if (!stopped && /threads asked|img\/s/.test(err)) {
          stopped = true;
          child.kill('SIGTERM');
        }
      });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 || stopped ? resolveP(err) : reject(new Error(`exit ${code}:\n${err}`))));
    });
    expect(stderr).toMatch(/^moco-cxr: note: 500 threads asked, 8 used \(threads capped at 8 \(tfjs pre-creates 8 pthread workers\)\)$/m);
  }, 180_000);
});
