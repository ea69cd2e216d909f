import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { resizeShortSideAndCrop } from '@moco-cxr/cxr-data';
import { auroc } from '@moco-cxr/eval-metrics';
import { Rng } from '@moco-cxr/rng';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addLesion, LESION_RADIUS, lesionFixture, SIZE, type LesionFixture } from './test-support/lesion-bundle';
import { assessImages, gradCam, inputWindow, looksUnlike, scoreImages, type GreyImage, type ModelBundle } from './index';
import { readBundle, writeBundle } from './node';

const dir = mkdtempSync(join(tmpdir(), 'model-bundle-score-'));
let fx: LesionFixture;
let bundle: ModelBundle;

beforeAll(async () => {
  fx = await lesionFixture();
  await writeBundle(dir, fx.parts);
  bundle = await readBundle(dir);
}, 120_000);
afterAll(() => {
  bundle?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A larger, non-square version of a 64 px image: resized and centre-cropped back, it must score as the original's grid. */
function upscaled(image: GreyImage, width: number, height: number): GreyImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = image.data[Math.min(SIZE - 1, Math.floor((y * SIZE) / height)) * SIZE + Math.min(SIZE - 1, Math.floor((x * SIZE) / width))];
  return { width, height, data };
}

describe('scoreImages', () => {
  it('scores held-out lesions above lesion-free images, and leaves no tensor behind', async () => {
    const images = fx.test.map((i) => fx.images[i]);
    await scoreImages(bundle, images.slice(0, 2)); // backend warm-up allocations are not leaks
    const before = tf.memory().numTensors;
    const scores = await scoreImages(bundle, images, { batchSize: 5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(scores).toHaveLength(images.length);
    for (const s of scores) expect(s.Lesion).toBeGreaterThanOrEqual(0), expect(s.Lesion).toBeLessThanOrEqual(1);
    expect(auroc(fx.test.map((i) => fx.labels[i]), scores.map((s) => s.Lesion))).toBeGreaterThan(0.7);
    // The batch size does not change a score beyond float noise.
    const one = await scoreImages(bundle, images.slice(0, 3), { batchSize: 1 });
    for (let i = 0; i < 3; i++) expect(one[i].Lesion).toBeCloseTo(scores[i].Lesion, 6);
  });

  it('resizes any image as the image cache does (short side, antialiased bilinear, centre crop)', async () => {
    const big = upscaled(fx.images[fx.test[0]], 150, 200);
    const [direct] = await scoreImages(bundle, [big]);
    const [viaCache] = await scoreImages(bundle, [resizeShortSideAndCrop(big, { size: SIZE })]);
    expect(direct.Lesion).toBe(viaCache.Lesion);
    // 150 x 200 -> 64 x 85, crop rows 10..74 of 85: in the original, from 10 * 200 / 85 down 64 * 200 / 85.
    const w = inputWindow(big, bundle.manifest.input);
    expect(w.left).toBe(0);
    expect(w.width).toBe(150);
    expect(w.top).toBeCloseTo((10 * 200) / 85, 10);
    expect(w.height).toBeCloseTo((64 * 200) / 85, 10);
    await expect(scoreImages(bundle, [{ width: 3, height: 3, data: new Uint8Array(8) }])).rejects.toThrow('scoreImages: images[0]: data holds 8 bytes, expected width x height = 3 x 3 = 9');
  });
});

describe('gradCam', () => {
  it('gives a non-uniform heatmap in [0, 1] whose peak lies on the lesion, and leaves no tensor behind', async () => {
    const base = fx.images[fx.test[1]]; // a lesion-free test image
    expect(fx.labels[fx.test[1]]).toBe(0);
    const without = await gradCam(bundle, base, 'Lesion');
    const before = tf.memory().numTensors;
    const spots = [
      { x: 20, y: 22 },
      { x: 44, y: 24 },
      { x: 30, y: 44 },
      { x: 46, y: 46 },
    ];
    let near = 0;
    for (const at of spots) {
      const cam = await gradCam(bundle, addLesion(base, at.x, at.y, LESION_RADIUS), 'Lesion');
      expect(cam.width * cam.height).toBe(SIZE * SIZE);
      expect(cam.grid).toEqual({ width: 8, height: 8 });
      let peak = 0;
      let lo = Infinity;
      for (let i = 0; i < cam.heatmap.length; i++) {
        if (cam.heatmap[i] > cam.heatmap[peak]) peak = i;
        lo = Math.min(lo, cam.heatmap[i]);
      }
      expect(cam.heatmap[peak]).toBeCloseTo(1, 6);
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(lo).toBeLessThan(0.5); // not uniform
      const px = peak % SIZE;
      const py = Math.floor(peak / SIZE);
      // Inside the image, away from its border.
      expect(px).toBeGreaterThan(2), expect(px).toBeLessThan(SIZE - 3), expect(py).toBeGreaterThan(2), expect(py).toBeLessThan(SIZE - 3);
      // One cell of the 8 x 8 activation grid is 8 px: the peak within 1.5 cells of the lesion's centre.
      if (Math.hypot(px - at.x, py - at.y) <= 12) near++;
      // The lesion raises the task's probability.
      expect(cam.probability).toBeGreaterThan(without.probability);
    }
    expect(near, 'lesions the heatmap peak found').toBeGreaterThanOrEqual(3);
    expect(tf.memory().numTensors).toBe(before);
    await expect(gradCam(bundle, base, 'Effusion')).rejects.toThrow('gradCam: unknown task "Effusion"; the bundle\'s tasks are Lesion');
  });
});

describe('looksUnlike', () => {
  it('passes held-out chest X-rays and flags a uniform image, noise and a photo-like image', async () => {
    const flagged = [];
    for (const i of fx.test) if ((await looksUnlike(bundle, fx.images[i])).unlike) flagged.push(i);
    // Thresholds are the validation split's 99th percentile: one or two held-out radiographs may cross it, not more.
    expect(flagged.length).toBeLessThanOrEqual(2);

    const rng = new Rng(9);
    const uniform: GreyImage = { width: 100, height: 80, data: new Uint8Array(8000).fill(128) };
    const noise: GreyImage = { width: SIZE, height: SIZE, data: Uint8Array.from({ length: SIZE * SIZE }, () => rng.int(256)) };
    // A photo-like scene (sky gradient, a dark ground, a bright sun), as a colour photo's grey levels.
    const photo: GreyImage = { width: 120, height: 90, data: new Uint8Array(120 * 90) };
    for (let y = 0; y < 90; y++) for (let x = 0; x < 120; x++) photo.data[y * 120 + x] = y > 60 ? 40 + ((x * 7 + y * 3) % 30) : Math.hypot(x - 90, y - 20) < 10 ? 250 : 160 + y;
    const before = tf.memory().numTensors;
    for (const [name, image] of Object.entries({ uniform, noise, photo })) {
      const v = await looksUnlike(bundle, image);
      expect(v.unlike, `${name}: ${JSON.stringify(v)}`).toBe(true);
      expect(v.reasons.length).toBeGreaterThan(0);
      expect(v.reasons[0]).toMatch(/99th percentile of the val images/);
    }
    expect(tf.memory().numTensors).toBe(before);

    // One pass for both: the same probabilities and verdicts as scoreImages and looksUnlike.
    const some = [fx.images[fx.test[0]], uniform, photo];
    const assessed = await assessImages(bundle, some);
    expect(assessed.map((a) => a.probabilities)).toEqual(await scoreImages(bundle, some));
    for (let i = 0; i < some.length; i++) expect(assessed[i].ood).toEqual(await looksUnlike(bundle, some[i]));
  });
});
