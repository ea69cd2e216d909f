import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { readPretrainCheckpoint } from './checkpoint';
import { pretrain, type PretrainOptions } from './pretrain';
import { blobImages, tinyResnet } from './test-support/fixtures';

// Resuming on other kernels than the checkpoint's changes the result's last bits: the checkpoint
// records its kernels, and a resume on others is a warning, never silent.
const SIZE = 16;
const root = mkdtempSync(join(tmpdir(), 'moco-resume-kernels-'));
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto' });
});

const options = async (outDir: string, warnings: string[]): Promise<PretrainOptions> => ({
  backbone: await tinyResnet(SIZE, 3),
  data: blobImages(20, SIZE, 1),
  outDir,
  batchSize: 8,
  queueSize: 12,
  epochs: 2,
  learningRate: 1e-3,
  checkpointEvery: 1000,
  seed: 7,
  monitor: false,
  export: false,
  onWarning: (w) => warnings.push(w),
});

describe('resume on other kernels', () => {
  it("the checkpoint records its kernels; a resume on the same ones is silent, on other ones a warning naming both", async () => {
    // The best instruction set this CPU runs, and the baseline build every CPU runs.
    const best = (await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native' })).nativeIsa!;
    const isas = [best, ...(best === 'generic' ? [] : ['generic'])];
    const out = join(root, 'run');
    const warnings: string[] = [];
    expect(await pretrain({ ...(await options(out, warnings)), maxSteps: 1 })).toMatchObject({ status: 'stopped', step: 1 });
    const ckpt = await readPretrainCheckpoint(join(out, 'checkpoint.safetensors'));
    ckpt.tensors.forEach((t) => t.dispose());
    expect(ckpt.metadata.kernels).toEqual({ backend: 'wasm', kernels: 'native', nativeIsa: isas[0], precision: 'fp32' });

    // Same kernels: no warning.
    expect(await pretrain({ ...(await options(out, warnings)), maxSteps: 2 })).toMatchObject({ status: 'stopped', step: 2 });
    expect(warnings).toEqual([]);

    // tfjs' wasm kernels: told, with the way back.
    await initBackend({ prefer: 'wasm', threads: 1, kernels: 'wasm' });
    expect(await pretrain({ ...(await options(out, warnings)), maxSteps: 3 })).toMatchObject({ status: 'stopped', step: 3 });
    expect(warnings).toEqual([
      `pretrain: ${join(out, 'checkpoint.safetensors')} was computed on the wasm backend, native ${isas[0]} kernels; this run resumes it on the wasm backend, tfjs' wasm kernels, so it will not match an uninterrupted run bit for bit (resume with MOCO_CXR_KERNELS=native MOCO_CXR_NATIVE_ISA=${isas[0]} to keep them the same)`,
    ]);
    const after = await readPretrainCheckpoint(join(out, 'checkpoint.safetensors'));
    after.tensors.forEach((t) => t.dispose());
    expect(after.metadata.kernels).toEqual({ backend: 'wasm', kernels: 'wasm', nativeIsa: null, precision: 'fp32' });

    // Another native instruction set, where the CPU runs more than one.
    if (isas.length > 1) {
      warnings.length = 0;
      await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', nativeIsa: 'generic' });
      await pretrain({ ...(await options(out, warnings)), maxSteps: 4 });
      expect(warnings).toEqual([expect.stringContaining(`was computed on the wasm backend, tfjs' wasm kernels; this run resumes it on the wasm backend, native ${isas[isas.length - 1]} kernels`)]);
    }

    // bf16 products, where the CPU has them: recorded, and a resume from fp32 is told so.
    const bf16 = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision: 'bf16' });
    if (bf16.precision === 'bf16') {
      // A fresh run: the one above has finished its 4 steps.
      const out2 = join(root, 'run-bf16');
      await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision: 'fp32' });
      await pretrain({ ...(await options(out2, warnings)), maxSteps: 1 });
      await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision: 'bf16' });
      warnings.length = 0;
      expect(await pretrain({ ...(await options(out2, warnings)), maxSteps: 2 })).toMatchObject({ status: 'stopped', step: 2 });
      expect(warnings).toEqual([
        `pretrain: ${join(out2, 'checkpoint.safetensors')} was computed on the wasm backend, native ${best} kernels; this run resumes it on the wasm backend, native ${best} kernels with bf16 products, so it will not match an uninterrupted run bit for bit (resume with MOCO_CXR_KERNELS=native MOCO_CXR_NATIVE_ISA=${best} to keep them the same)`,
      ]);
      const last = await readPretrainCheckpoint(join(out2, 'checkpoint.safetensors'));
      last.tensors.forEach((t) => t.dispose());
      expect(last.metadata.kernels).toEqual({ backend: 'wasm', kernels: 'native', nativeIsa: best, precision: 'bf16' });
    }
    await initBackend({ prefer: 'wasm', threads: 1, kernels: 'native', precision: 'fp32' });
  });
});
