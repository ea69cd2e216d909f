import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { swiftShaderIcd } from '@moco-cxr/compute';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';

// The whole grid (MoCo pretraining with its monitor, features, linear and end-to-end cells, compare,
// report) on webgpu over SwiftShader, Chromium's CPU Vulkan driver: correctness only, tiny shapes.
const tiny = `
seed: 7
data: { source: synthetic, imageSize: 16, synthetic: { train: 24, test: 16 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
initialisations: [moco, random]
protocols: [linear, finetune]
fractions: [1]
draws: [1]
pretrain: { epochs: 1, batchSize: 8, queueSize: 16, probeSize: 8 }
linear: { lr: 0.003, epochs: 1 }
finetune: { lr: 0.003, epochs: 1, batchSize: 8 }
compare: { replicates: 20 }
`;

beforeAll(() => {
  const icd = swiftShaderIcd();
  // CI installs Debian's chromium (.ci/run); a missing driver is a failure, never a skip.
  if (!icd) throw new Error("SwiftShader's vk_swiftshader_icd.json was not found: install Debian's chromium package (apt-get install chromium) or set MOCO_CXR_SWIFTSHADER_ICD");
  process.env.VK_ICD_FILENAMES = icd;
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'runner-xdg-'));
});

const runInfo = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));

describe('moco-cxr experiment --backend webgpu', () => {
  it('runs a tiny grid end to end on the SwiftShader adapter, says so, and records the adapter in every job', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-webgpu-'));
    writeFileSync(join(dir, 'c.yaml'), tiny);
    const io = captureIo();
    const r = await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', join(dir, 'exp'), '--backend', 'webgpu'], io);
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    expect(io.text()).toMatch(/warning: webgpu: running on a software adapter \(google swiftshader/);
    const exp = join(dir, 'exp');
    for (const job of ['pretrain', 'features/random', 'cells/linear-moco-100pct-d0', 'cells/finetune-random-100pct-d0']) {
      const info = runInfo(join(exp, job));
      expect(info.status, job).toBe('finished');
      expect(info.backend, job).toMatchObject({ backend: 'webgpu', adapter: { vendor: 'google', architecture: 'swiftshader', software: true } });
    }
    // MoCo trained its three steps (the monitor ran too): a finite epoch loss and probe scores.
    const events = readFileSync(join(exp, 'pretrain', 'moco', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const epoch = events.find((e) => e.event === 'epoch');
    expect(epoch).toMatchObject({ step: 3, probe: { trainRows: 5, testRows: 3 } });
    expect(Number.isFinite(epoch.loss)).toBe(true);
    expect(runInfo(exp).status).toBe('finished');
  }, 600_000);
});
