import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { readPretrainCheckpoint } from '@moco-cxr/moco';
import { runCli } from './cli/main';
import { resolveConfig } from './config';
import { RunDir } from './rundir';
import { cliProcessArgs } from './test-support/cli-process';
import { captureIo } from './test-support/io';

// precision (config field, --precision, $MOCO_CXR_PRECISION) reaches initBackend in every job; run.json
// records what ran, and bf16 asked for where it cannot run is said on stderr, not only there.
const config = `
seed: 7
threads: 1
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
pretrain: { epochs: 1, batchSize: 8, queueSize: 32, monitorEvery: 0 }
protocols: [linear]
fractions: [1]
`;
const dir = mkdtempSync(join(tmpdir(), 'runner-precision-'));
writeFileSync(join(dir, 'tiny.yaml'), config);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether bf16 runs here (compute's own test checks that against /proc/cpuinfo). */
const bf16Runs = (await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision: 'bf16' })).precision === 'bf16';
afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto', precision: 'fp32' });
});

function pretrainCli(out: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number | null; stderr: string }>((resolveP, reject) => {
    const child = spawn(process.execPath, [...cliProcessArgs(), 'pretrain', '--config', join(dir, 'tiny.yaml'), '--out', out, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MOCO_CXR_KERNELS: 'native', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveP({ code, stderr }));
  });
}

describe('precision', { timeout: 240_000 }, () => {
  it('--precision bf16 goes into every job spec of a grid; absent, the specs leave it to $MOCO_CXR_PRECISION', async () => {
    for (const [name, args, want] of [['bf16', ['--precision', 'bf16'], 'bf16'], ['default', [], undefined]] as const) {
      const out = join(dir, `plan-${name}`);
      const r = await runCli(['experiment', '--config', join(dir, 'tiny.yaml'), '--out', out, '--plan', ...args], captureIo());
      expect(r.error).toBeUndefined();
      const specs = readdirSync(join(out, 'jobs')).filter((f) => f.endsWith('.json'));
      expect(specs.length).toBeGreaterThan(1);
      for (const f of specs) expect(JSON.parse(readFileSync(join(out, 'jobs', f), 'utf8')).config.precision, f).toBe(want);
    }
  });

  it('a value other than fp32 or bf16 is refused naming where it came from', async () => {
    const flag = captureIo();
    expect((await runCli(['experiment', '--config', join(dir, 'tiny.yaml'), '--out', join(dir, 'bad'), '--plan', '--precision', 'fp16'], flag)).exitCode).toBe(2);
    expect(flag.text()).toMatch(/precision: expected one of "fp32", "bf16"/);
    writeFileSync(join(dir, 'bad.yaml'), `${config}precision: half\n`);
    const file = captureIo();
    expect((await runCli(['experiment', '--config', join(dir, 'bad.yaml'), '--out', join(dir, 'bad2'), '--plan'], file)).exitCode).toBe(2);
    expect(file.text()).toMatch(/bad\.yaml.*precision: expected one of "fp32", "bf16"/s);
    const saved = process.env.MOCO_CXR_PRECISION;
    process.env.MOCO_CXR_PRECISION = 'half';
    try {
      const env = captureIo();
      expect((await runCli(['experiment', '--config', join(dir, 'tiny.yaml'), '--out', join(dir, 'bad3'), '--plan'], env)).exitCode).toBe(2);
      expect(env.text()).toContain('MOCO_CXR_PRECISION="half": expected one of fp32, bf16');
    } finally {
      if (saved === undefined) delete process.env.MOCO_CXR_PRECISION;
      else process.env.MOCO_CXR_PRECISION = saved;
    }
  });

  it('pretrain --precision bf16: run.json and the checkpoint record what ran; where bf16 cannot run, stderr says fp32 ran', async () => {
    const out = join(dir, 'bf16');
    const r = await pretrainCli(out, ['--precision', 'bf16']);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).precision).toBe('bf16');
    expect(run.backend.precision).toBe(bf16Runs ? 'bf16' : 'fp32');
    const note = /^moco-cxr: note: bf16 was asked for; the products run in fp32 because .+$/m;
    if (bf16Runs) expect(r.stderr).not.toMatch(note);
    else expect(r.stderr).toMatch(note);
    const ckpt = await readPretrainCheckpoint(join(out, 'moco', 'checkpoint.safetensors'));
    ckpt.tensors.forEach((t) => t.dispose());
    expect(ckpt.metadata.kernels?.precision).toBe(run.backend.precision);

    // The avx2 set runs no bf16 on any CPU: fp32, said on stderr and in run.json's notes.
    const avx2 = join(dir, 'avx2');
    const forced = await pretrainCli(avx2, ['--precision', 'bf16'], { MOCO_CXR_NATIVE_ISA: process.arch === 'x64' ? 'avx2' : 'generic' });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(note);
    const forcedRun = JSON.parse(readFileSync(join(avx2, 'run.json'), 'utf8'));
    expect(forcedRun.backend.precision).toBe('fp32');
    expect(forcedRun.backend.notes.filter((n: string) => n.startsWith('precision:'))).toHaveLength(1);
  });

  it('run-job --precision overrides the spec, as --backend does; a bad value is refused before anything runs', async () => {
    const plan = join(dir, 'plan-job');
    expect((await runCli(['experiment', '--config', join(dir, 'tiny.yaml'), '--out', plan, '--plan'], captureIo())).error).toBeUndefined();
    const spec = join(plan, 'jobs', 'pretrain.json');
    const bad = captureIo();
    expect((await runCli(['run-job', spec, '--precision', 'fp16'], bad)).exitCode).toBe(2);
    expect(bad.text()).toContain('--precision: expected one of fp32, bf16, got "fp16"');
    const io = captureIo();
    const r = await runCli(['run-job', spec, '--precision', 'bf16', '--threads', '1'], io);
    expect(r.error, io.text()).toBeUndefined();
    const runDir = join(plan, JSON.parse(readFileSync(spec, 'utf8')).outDir);
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).precision).toBe('bf16');
    expect(JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')).backend.precision).toBe(bf16Runs ? 'bf16' : 'fp32');
  });

  it('a run resumed with another precision keeps its config: precision is how to compute, like backend and threads', () => {
    const run = new RunDir(join(dir, 'resume'), 'pretrain', 7);
    const cfg = resolveConfig({ seed: 7 }, 'test');
    run.writeConfig({ ...cfg, precision: 'fp32' });
    expect(() => run.writeConfig({ ...cfg, precision: 'bf16' })).not.toThrow();
    expect(() => run.writeConfig({ ...cfg, seed: 8, precision: 'bf16' })).toThrow(/holds a run made with a different config \(seed differ/);
  });
});
