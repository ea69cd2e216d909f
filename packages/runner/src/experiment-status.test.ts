import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliProcessArgs } from './test-support/cli-process';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';

// A grid of two jobs (random-init features, one linear cell) on synthetic images: seconds.
const tiny = `
seed: 7
data: { source: synthetic, imageSize: 24, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
initialisations: [random]
protocols: [linear]
fractions: [1]
draws: [1]
linear: { lr: 0.003, epochs: 2 }
compare: { replicates: 20 }
`;

const runInfo = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));

describe("an experiment's run.json says how it ended", () => {
  it('finished, with its end time, after a successful experiment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-status-'));
    writeFileSync(join(dir, 'c.yaml'), tiny);
    // --plan only writes the specs: nothing runs, and run.json says so.
    expect((await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', join(dir, 'exp'), '--plan'], captureIo())).exitCode).toBe(0);
    expect(runInfo(join(dir, 'exp')).status).toBe('planned');
    const before = Date.now();
    const r = await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', join(dir, 'exp')], captureIo());
    expect(r.error).toBeUndefined();
    const info = runInfo(join(dir, 'exp'));
    expect(info).toMatchObject({ command: 'experiment', status: 'finished' });
    expect(info.error).toBeUndefined();
    expect(Date.parse(info.finished)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(info.finished)).toBeLessThanOrEqual(Date.now());
    expect(info.ended).toBe(info.finished);
    expect(info.seconds).toBeGreaterThan(0);
  }, 120_000);

  it('failed, with the reason, when a job fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-status-'));
    // ImageNet weights that are not a safetensors file: the features-imagenet job fails.
    writeFileSync(join(dir, 'bad.safetensors'), 'not a safetensors file at all');
    writeFileSync(join(dir, 'c.yaml'), `${tiny.replace('initialisations: [random]', 'initialisations: [imagenet, random]')}\nimagenetWeights: ${JSON.stringify(join(dir, 'bad.safetensors'))}\n`);
    const io = captureIo();
    const r = await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', join(dir, 'exp')], io);
    expect(r.exitCode).toBe(1);
    const info = runInfo(join(dir, 'exp'));
    expect(info.status).toBe('failed');
    expect(info.error).toBe(r.error);
    expect(info.error).toContain('bad.safetensors');
    expect(Date.parse(info.ended)).toBeLessThanOrEqual(Date.now());
    expect(info.finished).toBeUndefined();
    // The jobs that could run still finished.
    expect(runInfo(join(dir, 'exp', 'cells', 'linear-random-100pct-d0')).status).toBe('finished');
  }, 120_000);

  it('interrupted when the process gets Ctrl-C (SIGINT), which ends it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-status-'));
    // Long enough that the signal arrives while the grid runs.
    writeFileSync(join(dir, 'c.yaml'), tiny.replace('epochs: 2', 'epochs: 500'));
    const out = join(dir, 'exp');
    const child = spawn(process.execPath, [...cliProcessArgs(), 'experiment', '-c', join(dir, 'c.yaml'), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        // The grid line comes after run.json says "running".
        if (stderr.includes('grid: ')) resolve();
      });
      child.on('close', () => reject(new Error(`the experiment ended before it was interrupted: ${stderr}`)));
    });
    expect(runInfo(out).status).toBe('running');
    child.kill('SIGINT');
    const end = await exited;
    // Ended by the signal itself while a job that cannot stop part-way ran here, or with the shell's 130 when nothing
    // ran that could not stop at once (the CLI then waits for the experiment to stop and record it).
    expect(end.signal === 'SIGINT' || end.code === 130, `${JSON.stringify(end)}: ${stderr}`).toBe(true);
    expect(runInfo(out)).toMatchObject({ status: 'interrupted', error: 'stopped by SIGINT; rerun the same command to resume' });
  }, 120_000);
});
