import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliProcessArgs } from './test-support/cli-process';

// What computes a run is said on stderr: the native kernels missing under `auto` (training falls
// back to tfjs' wasm kernels, several times slower), and a resume on other kernels than the
// checkpoint's (its result will not match an uninterrupted run's bits).
const config = `
seed: 7
threads: 1
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
pretrain: { epochs: 12, batchSize: 8, queueSize: 32, monitorEvery: 0 }
`;
const dir = mkdtempSync(join(tmpdir(), 'runner-kernels-cli-'));
writeFileSync(join(dir, 'tiny.yaml'), config);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `moco-cxr pretrain` in its own process; `stopAtProgress` sends Ctrl-C at the first progress line. */
function pretrainCli(out: string, env: NodeJS.ProcessEnv, stopAtProgress: boolean) {
  return new Promise<{ code: number | null; stderr: string }>((resolveP, reject) => {
    const child = spawn(process.execPath, [...cliProcessArgs(), 'pretrain', '--config', join(dir, 'tiny.yaml'), '--out', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MOCO_CXR_PROGRESS_SECONDS: '0.3', ...env },
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (stopAtProgress && !sent && /pretrain: \d+\/480 img/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolveP({ code, stderr }));
  });
}

describe('moco-cxr pretrain says which kernels compute', { timeout: 240_000 }, () => {
  it('a missing native addon under auto is a warning; resuming its checkpoint on the native kernels is another', async () => {
    const out = join(dir, 'run');
    const env = { MOCO_CXR_KERNELS: 'auto', MOCO_CXR_NATIVE_ISA: 'generic' };
    const first = await pretrainCli(out, { ...env, MOCO_CXR_NATIVE_ADDON: join(dir, 'missing', 'moco_cxr_native.node') }, true);
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toMatch(/^moco-cxr: warning: native: the addon was not built \(.*missing\/moco_cxr_native\.node is missing; .*\); training runs on the wasm kernels$/m);

    const second = await pretrainCli(out, env, false);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toMatch(/native: the addon was not built/);
    const checkpoint = join(out, 'moco', 'checkpoint.safetensors');
    expect(second.stderr).toContain(
      `moco-cxr: warning: pretrain: ${checkpoint} was computed on the wasm backend, tfjs' wasm kernels; this run resumes it on the wasm backend, native generic kernels, so it will not match an uninterrupted run bit for bit (resume with MOCO_CXR_KERNELS=wasm to keep them the same)\n`,
    );
  });
});
