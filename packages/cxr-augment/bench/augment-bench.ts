/**
 * Two-view augmentation throughput at 224 px, batch 16, from an in-memory uint8 array of real
 * Kermany radiographs. Bundled and run by bench/run.mjs; prints one JSON line.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { Rng } from '@moco-cxr/rng';
import { evalAugment, mocoCxrAugment, mocoV2Augment, twoViews, augment, type AugmentOptions } from '../src/index';
import { initBackend } from '@moco-cxr/compute';

const SIZE = 224;
const BATCH = 16;

async function loadImages(dataRoot: string, count: number): Promise<{ pixels: Uint8Array; files: string[] }> {
  const dir = path.join(dataRoot, 'train');
  const files: string[] = [];
  for (const cls of ['NORMAL', 'PNEUMONIA']) {
    const names = readdirSync(path.join(dir, cls)).filter((f) => f.endsWith('.jpeg')).sort();
    files.push(...names.slice(0, count / 2).map((f) => path.join(dir, cls, f)));
  }
  const pixels = new Uint8Array(files.length * SIZE * SIZE);
  for (let i = 0; i < files.length; i++) {
    const raw = await sharp(files[i]).greyscale().resize(SIZE, SIZE, { fit: 'fill' }).raw().toBuffer();
    if (raw.length !== SIZE * SIZE) throw new Error(`${files[i]}: decoded ${raw.length} bytes, expected ${SIZE * SIZE}`);
    pixels.set(raw, i * SIZE * SIZE);
  }
  return { pixels, files };
}

async function useBackend(name: 'wasm' | 'cpu'): Promise<string> {
  const info = await initBackend({ prefer: name });
  return `${info.backend} (@moco-cxr/compute initBackend, ${info.threads} thread${info.threads > 1 ? 's' : ''}${info.simd ? ', SIMD' : ''})`;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median seconds per batch of `run`, after warm-up. */
function time(run: (i: number) => void, warmup: number, reps: number): number {
  for (let i = 0; i < warmup; i++) run(i);
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run(warmup + i);
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

async function main(): Promise<void> {
  const dataRoot = process.env.MOCO_CXR_DATA ?? path.resolve(process.cwd(), '../../../shared/data/kermany-pediatric-cxr-224');
  const nImages = Number(process.env.BENCH_IMAGES ?? 64);
  const reps = Number(process.env.BENCH_REPS ?? 20);
  const { pixels, files } = await loadImages(dataRoot, nImages);
  const nBatches = files.length / BATCH;
  const batchAt = (i: number) => {
    const b = i % nBatches;
    return { pixels: pixels.subarray(b * BATCH * SIZE * SIZE, (b + 1) * BATCH * SIZE * SIZE), count: BATCH, height: SIZE, width: SIZE };
  };
  const results: Record<string, unknown>[] = [];
  for (const backendName of ['wasm', 'cpu'] as const) {
    const backend = await useBackend(backendName);
    const cases: [string, AugmentOptions, 'two' | 'one'][] = [
      ['mocoCxrAugment twoViews (flip, ±10° bilinear, CXR norm, 3 ch)', mocoCxrAugment, 'two'],
      ['mocoCxrAugment twoViews, nearest (torchvision RandomRotation default)', { ...mocoCxrAugment, interpolation: 'nearest' }, 'two'],
      ['mocoV2Augment twoViews (resized crop, jitter, blur, flip)', mocoV2Augment, 'two'],
      ['evalAugment, one view (normalise only)', evalAugment, 'one'],
    ];
    for (const [name, opts, views] of cases) {
      if (backendName === 'cpu' && name.includes('nearest')) continue;
      const rng = new Rng(0);
      const before = tf.memory().numTensors;
      const sec = time(
        (i) => {
          const out = views === 'two' ? twoViews(batchAt(i), opts, rng) : [augment(batchAt(i), opts, rng)];
          tf.dispose(out);
        },
        backendName === 'cpu' ? 1 : 3,
        backendName === 'cpu' ? Math.max(3, Math.round(reps / 4)) : reps,
      );
      if (tf.memory().numTensors !== before) throw new Error(`${name}: tensors leaked (${before} -> ${tf.memory().numTensors})`);
      results.push({ backend, case: name, batch: BATCH, size: SIZE, secondsPerBatch: sec, imagesPerSecond: BATCH / sec, viewsPerSecond: (views === 'two' ? 2 : 1) * BATCH / sec });
    }
  }
  process.stdout.write(JSON.stringify({ files, images: files.length, results }) + '\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
