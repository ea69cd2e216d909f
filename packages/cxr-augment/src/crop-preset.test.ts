import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './test-support/backend';
import { Rng } from '@moco-cxr/rng';
import { MOCO_CXR_CROP_ZOOM, mocoCxrAugment, mocoCxrCropAugment, sampleAugmentParams, twoViews } from './index';

beforeAll(async () => {
  await useBackend();
});

describe('mocoCxrCropAugment: the PyTorch reference views (resize by 9/8, random crop back)', () => {
  test('the paper views plus resize to 9/8 of the input and a crop back to it', () => {
    expect(MOCO_CXR_CROP_ZOOM).toBe(9 / 8);
    expect(mocoCxrCropAugment(64)).toEqual({ ...mocoCxrAugment, resize: 72, size: 64 });
    expect(mocoCxrCropAugment(320)).toEqual({ ...mocoCxrAugment, resize: 360, size: 320 });
    expect(mocoCxrCropAugment([64, 48])).toEqual({ ...mocoCxrAugment, resize: 54, size: [64, 48] });
    expect(() => mocoCxrCropAugment(0)).toThrow(/positive integers/);
  });

  test('crop offsets cover the 8 spare pixels of a 64 px input, and the views keep its size', () => {
    const options = mocoCxrCropAugment(64);
    const params = sampleAugmentParams(400, 64, 64, options, new Rng(3));
    const xs = params.map((p) => p.cropX);
    const ys = params.map((p) => p.cropY);
    expect(Math.min(...xs)).toBe(0);
    expect(Math.max(...xs)).toBe(8);
    expect(new Set(ys).size).toBe(9);
    const pixels = new Uint8Array(4 * 64 * 64).map((_, i) => (i * 7) % 251);
    const before = tf.memory().numTensors;
    const [q, k] = twoViews({ pixels, count: 4, height: 64, width: 64 }, options, new Rng(5));
    expect(q.shape).toEqual([4, 64, 64, 3]);
    expect(k.shape).toEqual([4, 64, 64, 3]);
    // Query and key of one image differ (different crops), so the pretext task cannot match pixels.
    const diff = tf.tidy(() => tf.sum(tf.abs(tf.sub(q, k))));
    expect(diff.dataSync()[0]).toBeGreaterThan(0);
    diff.dispose();
    q.dispose();
    k.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
