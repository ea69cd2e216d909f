import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { embedImages } from '@moco-cxr/protocols';
import type { Initialisation, RunnerConfig } from '../config';
import { prepareData, type SplitName } from '../data';
import { Progress, type Io } from '../progress';
import { writeFileAtomic, type RunDir } from '../rundir';
import { makeBackbone, weightsFor } from './backbone';
import { range } from './scores';

const SPLITS: SplitName[] = ['train', 'val', 'test'];

/** Frozen features of every train / val / test image under one initialisation and training seed (embedded once, eval mode). */
export async function runFeaturesJob(cfg: RunnerConfig, init: Initialisation, seed: number, experimentDir: string, run: RunDir, io: Io, weightsOverride?: string) {
  const data = await prepareData(cfg, io, experimentDir);
  const weights = weightsFor(init, cfg, experimentDir, weightsOverride, seed);
  const backbone = await makeBackbone(cfg, weights, seed);
  try {
    const counts: Record<string, number> = {};
    const started = Date.now();
    for (const name of SPLITS) {
      const split = data[name];
      const bar = new Progress(io, `embed ${init} ${name}`, split.images.count, 'img');
      const features = await embedImages(backbone, split.images, range(split.images.count), { batchSize: 64, onProgress: (done) => bar.set(done) });
      writeFileAtomic(run.path(`${name}.f32`), new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
      counts[name] = split.images.count;
    }
    run.metric({ event: 'features', init, seconds: (Date.now() - started) / 1000, ...counts });
    return { init, featureDim: backbone.featureDim, counts, weights: weights ?? `random init, seed ${seed}` };
  } finally {
    backbone.dispose();
  }
}

export function readFeatures(dir: string, split: SplitName, featureDim: number, count: number): Float32Array {
  const bytes = readFileSync(join(dir, `${split}.f32`));
  const f = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (f.length !== featureDim * count) throw new Error(`${join(dir, `${split}.f32`)}: holds ${f.length} floats, expected ${count} x ${featureDim}; delete the features directory to recompute it`);
  return f;
}

export function rows(features: Float32Array, d: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * d);
  for (let i = 0; i < indices.length; i++) out.set(features.subarray(indices[i] * d, indices[i] * d + d), i * d);
  return out;
}
