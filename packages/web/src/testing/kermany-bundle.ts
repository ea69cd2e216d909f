// Test helper (not shipped): a model bundle made at test time from a few real Kermany radiographs
// (../shared/data relative to the repository root; the images are never copied into the repo).
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBackbone } from '@moco-cxr/backbones';
import { CXR_MEAN, CXR_STD } from '@moco-cxr/cxr-augment';
import { decodeImage, resizeShortSideAndCrop, type ImageSet } from '@moco-cxr/cxr-data';
import { auroc } from '@moco-cxr/eval-metrics';
import { fitOodStatistics, type BundleInput } from '@moco-cxr/model-bundle';
import { writeBundle } from '@moco-cxr/model-bundle/node';
import { embedImages, linearProtocol, scoreFeatures } from '@moco-cxr/protocols';

export const REPO_ROOT = resolve(new URL('../../../../', import.meta.url).pathname);
/** The Kermany copy beside the project: $MOCO_CXR_DATA/kermany-pediatric-cxr-224, else ../shared/data. */
export const KERMANY_DIR = join(process.env.MOCO_CXR_DATA ?? join(REPO_ROOT, '..', 'shared', 'data'), 'kermany-pediatric-cxr-224');

/** The first `n` file names of one split and class, sorted: the same images on every run. */
export function kermanyFiles(split: 'train' | 'test', label: 'NORMAL' | 'PNEUMONIA', n: number): string[] {
  const dir = join(KERMANY_DIR, split, label);
  if (!existsSync(dir)) throw new Error(`the Kermany radiographs are missing at ${dir}: this test needs ../shared/data/kermany-pediatric-cxr-224 beside the repository (or MOCO_CXR_DATA)`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jpeg'))
    .sort()
    .slice(0, n)
    .map((f) => join(dir, f));
}

const SIZE = 64;
const INPUT: BundleInput = {
  size: SIZE,
  channels: 3,
  normalize: { name: 'cxr', mean: [CXR_MEAN, CXR_MEAN, CXR_MEAN], std: [CXR_STD, CXR_STD, CXR_STD] },
  resize: 'short side to size, PIL-style antialiased bilinear, centre crop',
};

/**
 * Writes a bundle to `dir`: a quarter-width ResNet18 (random init, seed 3) at 64 px and a linear
 * head for PNEUMONIA fitted by the linear protocol on 32 train images, validated on 16 others; the
 * out-of-distribution statistics from the same images.
 */
export async function writeKermanyBundle(dir: string): Promise<void> {
  const files = [...kermanyFiles('train', 'NORMAL', 24), ...kermanyFiles('train', 'PNEUMONIA', 24), ...kermanyFiles('test', 'NORMAL', 8), ...kermanyFiles('test', 'PNEUMONIA', 8)];
  const labels = files.map((_, i) => (i < 24 || (i >= 48 && i < 56) ? 0 : 1));
  const grids = await Promise.all(files.map(async (f) => resizeShortSideAndCrop(await decodeImage(f), { size: SIZE })));
  const images: ImageSet = {
    count: grids.length,
    height: SIZE,
    width: SIZE,
    read: (rows) => {
      const out = new Uint8Array(rows.length * SIZE * SIZE);
      Array.from(rows).forEach((r, i) => out.set(grids[r].data, i * SIZE * SIZE));
      return out;
    },
  };
  // Train on 16 + 16, validate on the other 8 + 8; 8 + 8 from the test split for the recorded AUROC.
  const train = [...Array(16).keys(), ...Array.from({ length: 16 }, (_, i) => 24 + i)];
  const val = [...Array.from({ length: 8 }, (_, i) => 16 + i), ...Array.from({ length: 8 }, (_, i) => 40 + i)];
  const test = Array.from({ length: 16 }, (_, i) => 48 + i);
  const backbone = await createBackbone('resnet18', { widths: [16, 32, 64, 128], stemWidth: 16, inputShape: [SIZE, SIZE, 3], seed: 3 });
  try {
    const embed = (rows: number[]) => embedImages(backbone, images, rows, { normalize: 'cxr', channels: 3 });
    const [trainF, valF] = [await embed(train), await embed(val)];
    const fit = linearProtocol({ trainFeatures: trainF, trainLabels: train.map((i) => [labels[i]]), valFeatures: valF, valLabels: val.map((i) => [labels[i]]), featureDim: backbone.featureDim, epochs: 50, lr: 1e-3, seed: 3 });
    const testAuroc = auroc(test.map((i) => labels[i]), scoreFeatures(fit.head, await embed(test)));
    const ood = await fitOodStatistics({ backbone, fit: { images, rows: train, split: 'train' }, threshold: { images, rows: val, split: 'val' }, input: INPUT });
    await writeBundle(dir, {
      backbone,
      head: fit.head,
      tasks: ['PNEUMONIA'],
      input: INPUT,
      ood,
      provenance: {
        createdAt: new Date().toISOString(),
        source: { test: 'packages/web/src/testing/kermany-bundle.ts' },
        config: { backbone: 'resnet18', widths: [16, 32, 64, 128], stemWidth: 16, seed: 3 },
        data: `Kermany pediatric CXR at ${SIZE} px: 32 train and 16 validation images of its train split, 16 of its test split (half NORMAL, half PNEUMONIA each)`,
        testAuroc: { PNEUMONIA: testAuroc },
        testLevel: 'image',
        valAuroc: fit.bestValAuroc,
        packages: { '@moco-cxr/web': '0.0.0' },
      },
    });
  } finally {
    backbone.dispose();
  }
}
