/**
 * Full-size parity: torchvision resnet18 / densenet121 (random init, randomised BN statistics, saved
 * by torch as .pth and .safetensors) against our eval-mode forward at 224 px, from both files; then
 * our own export (saveBackbone, torch layout) loaded back into torchvision with strict=True.
 *
 *   npm run bench -w @moco-cxr/backbones -- parity-full.ts [--backend wasm|cpu] [--dir /tmp/...]
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '@moco-cxr/compute';
import { createBackbone, readSafetensors, saveBackbone, type BackboneName } from '../src/index';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const dir = arg('dir', '/tmp/moco-cxr-backbones-full');
const tool = fileURLToPath(new URL('../tools/torch-fixtures.py', import.meta.url));
const py = (args: string[]) => {
  const run = spawnSync('/usr/bin/python3', [tool, ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`torch-fixtures.py ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
};

const info = await initBackend({ prefer: arg('backend', 'wasm') as BackendName, threads: Number(arg('threads', '2')) });
console.log(`backend: ${info.backend}, threads ${info.threads}, simd ${info.simd}`);
process.stdout.write(py(['full', dir]));
console.log('\n| model | weights file | max abs diff vs torchvision (eval, 2x224x224) |');
console.log('|---|---|---|');
for (const name of ['resnet18', 'densenet121'] as BackboneName[]) {
  const io = (await readSafetensors(join(dir, `${name}-io.safetensors`))).tensors;
  for (const ext of ['pth', 'safetensors']) {
    const b = await createBackbone(name, { weights: join(dir, `${name}.${ext}`) });
    const out = b.embed(io.get('input_nhwc') as tf.Tensor4D);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(out, io.get('eval_features')!))).dataSync()[0]);
    console.log(`| ${name} | .${ext} | ${diff.toExponential(2)} |`);
    out.dispose();
    if (ext === 'pth') {
      const exported = join(dir, `${name}-ours.safetensors`);
      await saveBackbone(b, exported, { layout: 'torch' });
      const check = JSON.parse(py(['check-export', exported, name, join(dir, `${name}-io.safetensors`)]).trim());
      console.log(`| ${name} | our export loaded by torchvision (strict) | ${check.max_abs_diff.toExponential(2)} |`);
    }
    b.dispose();
  }
  for (const t of io.values()) t.dispose();
}
