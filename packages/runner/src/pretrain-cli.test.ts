import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliProcessArgs } from './test-support/cli-process';

// `moco-cxr pretrain` as a user runs it, in its own process with stderr a pipe (a log file's case).
const config = `
seed: 7
threads: 1
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
pretrain: { epochs: 12, batchSize: 8, queueSize: 32, monitorEvery: 0 }
`;
const dir = mkdtempSync(join(tmpdir(), 'runner-pretrain-cli-'));
writeFileSync(join(dir, 'tiny.yaml'), config);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INTERVAL = 0.3;
const timeLine = /^pretrain: (\d+)\/480 img {2}[\d.]+ img\/s {2}ETA [\d.]+s {2}epoch \d+\/12 {2}step \d\/5 {2}loss [\d.]+ {2}acc [\d.]+$/;

interface Line {
  text: string;
  at: number;
}

/** Runs the CLI; `onLine` sees each stderr line as it arrives and may signal the process. */
function run(out: string, onLine: (line: string, kill: (s: NodeJS.Signals) => void) => void = () => {}, args = ['pretrain', '--config', join(dir, 'tiny.yaml'), '--out', out]) {
  return runArgs(args, onLine);
}

function runArgs(args: string[], onLine: (line: string, kill: (s: NodeJS.Signals) => void) => void = () => {}) {
  return new Promise<{ code: number | null; lines: Line[]; seconds: number }>((resolveP, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [...cliProcessArgs(), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MOCO_CXR_PROGRESS_SECONDS: String(INTERVAL) },
    });
    const lines: Line[] = [];
    let partial = '';
    child.stderr.on('data', (b: Buffer) => {
      const parts = (partial + b.toString()).split('\n');
      partial = parts.pop()!;
      for (const text of parts) {
        lines.push({ text, at: Date.now() });
        onLine(text, (s) => child.kill(s));
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolveP({ code, lines, seconds: (Date.now() - started) / 1000 }));
  });
}

const epochLosses = (out: string) =>
  readFileSync(join(out, 'moco', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((r) => r.event === 'epoch')
    .map((r): [number, number] => [r.epoch, r.loss]);

describe('moco-cxr pretrain in a log file', { timeout: 240_000 }, () => {
  let straight: [number, number][] = [];

  it('prints a plain progress line with rate and ETA each time the interval passes, and one per epoch', async () => {
    const out = join(dir, 'straight');
    const r = await run(out);
    expect(r.code, r.lines.map((l) => l.text).join('\n')).toBe(0);
    const text = r.lines.map((l) => l.text);
    expect(text[0]).toMatch(/^pretrain: starting: 12 epochs of 5 steps, batch 8, queue K = 32/);
    expect(text.join('\n')).not.toContain('\r');
    // Time-based lines while the run goes on (before its last line and its export), not one per step.
    const timed = r.lines.filter((l) => timeLine.test(l.text));
    expect(timed.length).toBeGreaterThanOrEqual(1);
    expect(timed.length).toBeLessThanOrEqual(r.seconds / INTERVAL + 1);
    expect(Number(timed[0].text.match(timeLine)![1])).toBeLessThan(480);
    const end = text.findIndex((t) => /^pretrain: 480\/480 img .* took /.test(t));
    expect(end).toBeGreaterThan(text.indexOf(timed[0].text));
    expect(text.findIndex((t) => t.startsWith('pretrain: exported'))).toBeGreaterThan(end);
    const epochLines = text.filter((t) => /^pretrain: epoch \d+\/12: loss \d\.\d{4}, top-1 .* img\/s, [\d.]+s/.test(t));
    expect(epochLines).toHaveLength(12);
    expect(epochLines[0]).toMatch(/, ETA [\d.]+s$/);
    straight = epochLosses(out);
  });

  it('Ctrl-C writes a checkpoint and exits 130; the same command resumes and ends where the straight run ended', async () => {
    const out = join(dir, 'interrupted');
    let sent = false;
    const first = await run(out, (line, kill) => {
      if (!sent && timeLine.test(line)) {
        sent = true;
        kill('SIGINT');
      }
    });
    const text = first.lines.map((l) => l.text).join('\n');
    expect(first.code, text).toBe(130);
    expect(text).toContain('Ctrl-C: writing a checkpoint after this step, then stopping');
    const step = Number(text.match(/moco-cxr pretrain: stopped at step (\d+), checkpoint written; run the same command again to resume/)![1]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(60);
    expect(existsSync(join(out, 'moco', 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'moco', 'backbone.safetensors'))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/^stopped at step \d+, checkpoint written/) });

    const second = await run(out);
    expect(second.code, second.lines.map((l) => l.text).join('\n')).toBe(0);
    expect(second.lines[0].text).toMatch(new RegExp(`^pretrain: resuming .*checkpoint\\.safetensors at epoch \\d+, batch \\d, step ${step}$`));
    const resumed = epochLosses(out);
    expect(resumed.map((e) => e[0])).toEqual(straight.map((e) => e[0]));
    for (let i = 0; i < straight.length; i++) expect(resumed[i][1], `epoch ${straight[i][0]}`).toBeCloseTo(straight[i][1], 6);
  });

  it('Ctrl-C during an experiment`s pretraining: checkpoint, exit 130, the experiment recorded as interrupted', async () => {
    writeFileSync(join(dir, 'grid.yaml'), `${config}initialisations: [moco, random]\nprotocols: [linear]\nfractions: [1]\ndraws: [1]\n`);
    const out = join(dir, 'experiment');
    let sent = false;
    const r = await runArgs(['experiment', '--config', join(dir, 'grid.yaml'), '--out', out], (line, kill) => {
      if (!sent && timeLine.test(line)) {
        sent = true;
        kill('SIGINT');
      }
    });
    const text = r.lines.map((l) => l.text).join('\n');
    expect(r.code, text).toBe(130);
    expect(text).toMatch(/moco-cxr experiment: stopped at step \d+, checkpoint written/);
    expect(existsSync(join(out, 'pretrain', 'moco', 'checkpoint.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toMatchObject({ status: 'interrupted', error: 'stopped by SIGINT; rerun the same command to resume' });
  });
});
