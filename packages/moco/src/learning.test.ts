import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { buildImageCache, loadImageFolder, subset, syntheticCxr, type ImageSet } from '@moco-cxr/cxr-data';
import { mocoCxrAugment, type AugmentOptions } from '@moco-cxr/cxr-augment';
import { pretrain, type EpochRecord } from './pretrain';
import { tinyResnet } from './test-support/fixtures';

const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const SIZE = 32;
const root = mkdtempSync(join(tmpdir(), 'moco-learning-test-'));

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Short pretraining of a tiny resnet; returns the per-epoch records. */
async function shortRun(data: ImageSet, name: string, augment?: AugmentOptions): Promise<{ history: EpochRecord[]; queueSize: number }> {
  const backbone = await tinyResnet(SIZE, 1);
  const queueSize = 64;
  const result = await pretrain({
    backbone,
    data,
    outDir: join(root, name),
    batchSize: 16,
    queueSize,
    epochs: 12,
    // 72 steps: the key encoder must follow the query faster than the paper's 0.999 allows.
    momentum: 0.9,
    learningRate: 1e-3,
    seed: 3,
    ...(augment ? { augment } : {}),
    export: false,
  });
  backbone.dispose();
  return { history: result.history, queueSize };
}

function expectLearning(history: EpochRecord[], queueSize: number) {
  // Epoch 1 starts against the random initial queue (easy negatives); from epoch 2 every
  // negative is a real key, and the loss is near log(K + 1) there.
  const start = history[1];
  const last = history.at(-1)!;
  const chance = 1 / (queueSize + 1);
  expect(start.loss).toBeGreaterThan(Math.log(queueSize + 1) - 0.6);
  expect(last.loss).toBeLessThan(start.loss - 0.3);
  // The positive key is found far above chance, and far more often than at the start.
  expect(last.top1).toBeGreaterThan(10 * chance);
  expect(last.top1).toBeGreaterThan(start.top1 + 0.1);
}

describe('MoCo learns on short runs', () => {
  it('synthetic chest radiographs: InfoNCE loss falls, positive top-1 far above 1/(K+1)', async () => {
    const { images } = syntheticCxr({ count: 96, size: SIZE, seed: 11 });
    // The paper's views: 96 procedural images under the default's random crop are too alike to tell apart in 72 steps.
    const { history, queueSize } = await shortRun(images, 'synthetic', mocoCxrAugment);
    expectLearning(history, queueSize);
  });

  const haveKermany = existsSync(join(KERMANY, 'train'));
  it('a slice of Kermany train (real radiographs), default views: loss falls, top-1 far above chance', async ({ skip }) => {
    skip(!haveKermany && process.env.CI !== 'true', `no Kermany data at ${KERMANY} outside CI (set MOCO_CXR_DATA)`);
    if (!haveKermany) throw new Error(`Kermany data not found at ${KERMANY} (set MOCO_CXR_DATA); real-data tests must run in CI`);
    const all = loadImageFolder(KERMANY, { splits: ['train'], positive: 'PNEUMONIA' });
    // Every 40th image: 131 images across both classes and many patients.
    const rows = all.samples.map((_, i) => i).filter((i) => i % 40 === 0);
    const cache = await buildImageCache(subset(all, rows), { size: SIZE, cacheDir: join(tmpdir(), 'moco-cxr-test-cache') });
    try {
      expect(cache.count).toBe(rows.length);
      const { history, queueSize } = await shortRun(cache, 'kermany');
      expectLearning(history, queueSize);
    } finally {
      cache.close();
    }
  });
});
