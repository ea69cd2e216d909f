import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliProcessArgs } from './test-support/cli-process';

// Three independent fine-tuning cells (random init) on synthetic images, a few seconds each.
const config = `
seed: 11
threads: 1
data: { source: synthetic, imageSize: 24, synthetic: { train: 64, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
initialisations: [random]
protocols: [finetune]
fractions: [0.5, 1]
draws: [2, 1]
finetune: { epochs: 3 }
compare: { replicates: 20 }
`;
const CELLS = ['finetune-random-100pct-d0', 'finetune-random-50pct-d0', 'finetune-random-50pct-d1'];

function experiment(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...cliProcessArgs(), 'experiment', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('two experiment processes on one directory', () => {
  it('share the jobs, each job runs once, and each summary counts only the jobs that process ran', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-concurrent-'));
    writeFileSync(join(dir, 'c.yaml'), config);
    const out = join(dir, 'exp');
    // One runs its jobs in-process, the other in child processes (--jobs 2); started together.
    const [a, b] = await Promise.all([experiment(['-c', join(dir, 'c.yaml'), '-o', out]), experiment(['-c', join(dir, 'c.yaml'), '-o', out, '--jobs', '2'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    // Who ran each cell, from its run.json: in-process jobs record `experiment`, child jobs `run-job`.
    const ranBy = CELLS.map((id) => {
      const info = JSON.parse(readFileSync(join(out, 'cells', id, 'run.json'), 'utf8'));
      expect(info.status).toBe('finished');
      return info.argv[0] as string;
    });
    const ranA = ranBy.filter((c) => c === 'experiment').length;
    const ranB = ranBy.filter((c) => c === 'run-job').length;
    expect(ranA + ranB).toBe(3);
    expect(a.stderr).toMatch(new RegExp(`^experiment: ${ranA} jobs run, ${3 - ranA} reused\\b`, 'm'));
    expect(b.stderr).toMatch(new RegExp(`^experiment: ${ranB} jobs run, ${3 - ranB} reused\\b`, 'm'));
  }, 240_000);
});
