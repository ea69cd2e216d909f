// The Score tab in Debian's chromium: a Kermany radiograph dropped on the page gets the probability Node
// gives for the same bundle, a Grad-CAM heatmap that is not uniform with its peak inside the image, and
// an image unlike the training data gets the warning.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { initBackend } from '@moco-cxr/compute';
import { decodeImage } from '@moco-cxr/cxr-data';
import { scoreImages, type ModelBundle } from '@moco-cxr/model-bundle';
import { readBundle } from '@moco-cxr/model-bundle/node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type Chromium, type StaticServer } from './testing/chromium';
import { kermanyFiles, writeKermanyBundle } from './testing/kermany-bundle';
import { dropFiles, servePage } from './testing/page';
import type { HeatmapStats } from './score/heatmap';

const bundleDir = mkdtempSync(join(tmpdir(), 'moco-cxr-web-bundle-'));
let bundle: ModelBundle;
let browser: Chromium;
let server: StaticServer;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
  await writeKermanyBundle(bundleDir);
  bundle = await readBundle(bundleDir);
  server = await servePage(inject('pageDir'), { kermany: bundleDir });
  browser = await launchChromium();
});
afterAll(async () => {
  bundle?.dispose();
  await browser?.close();
  await server?.close();
  rmSync(bundleDir, { recursive: true, force: true });
});

const jpeg = (path: string) => ({ name: basename(path), type: 'image/jpeg', bytes: new Uint8Array(readFileSync(path)) });

describe('the Score tab', () => {
  it('scores dropped Kermany radiographs as Node does (1e-4), with a non-uniform Grad-CAM peaking inside the image', async () => {
    const files = [kermanyFiles('test', 'PNEUMONIA', 1)[0], kermanyFiles('test', 'NORMAL', 1)[0]];
    const node = await scoreImages(bundle, await Promise.all(files.map((f) => decodeImage(f))));
    const page = await browser.newPage();
    await page.goto(`${server.origin}/?bundle=/bundles/kermany/`);
    await page.waitForSelector('#panel-score[data-bundle="ready"]');
    expect(await page.textContent('#bundle-status')).toContain('resnet18 at 64 px, tasks PNEUMONIA');
    await dropFiles(page, '#drop', files.map(jpeg));
    await page.waitForSelector('.card[data-state="done"] >> nth=1', { timeout: 120_000 });
    for (let i = 0; i < files.length; i++) {
      const card = page.locator(`.card[data-file="${basename(files[i])}"]`);
      const shown = JSON.parse((await card.getAttribute('data-probabilities'))!) as Record<string, number>;
      expect(Math.abs(shown.PNEUMONIA - node[i].PNEUMONIA)).toBeLessThan(1e-4);
      // The table shows the same number to 4 places.
      expect(await card.locator('tr[data-task="PNEUMONIA"] td').nth(1).textContent()).toContain(node[i].PNEUMONIA.toFixed(4));
      const heat = JSON.parse((await card.getAttribute('data-heatmap'))!) as HeatmapStats;
      // Grad-CAM of the pneumonia radiograph; the normal one may have nothing speaking for PNEUMONIA (an all-zero map, said on the card).
      if (i > 0) continue;
      expect(heat.max).toBeCloseTo(1, 6);
      expect(heat.std).toBeGreaterThan(0.05);
      expect(heat.max - heat.min).toBeGreaterThan(0.5);
      expect(heat.peak.x).toBeGreaterThan(0);
      expect(heat.peak.x).toBeLessThan(heat.image.width);
      expect(heat.peak.y).toBeGreaterThan(0);
      expect(heat.peak.y).toBeLessThan(heat.image.height);
      expect(heat.image).toEqual({ width: 224, height: 224 });
      // The overlay is drawn: the canvas holds coloured (not grey) pixels.
      const coloured = await card.locator('canvas').evaluate((c: HTMLCanvasElement) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let j = 0; j < d.length; j += 4) if (Math.abs(d[j] - d[j + 2]) > 30) n++;
        return n / (d.length / 4);
      });
      expect(coloured).toBeGreaterThan(0.05);
    }
    expect(browser.errors).toEqual([]);
    await page.close();
  });

  it('warns on an image unlike the training data, and not on a radiograph like them', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/?bundle=/bundles/kermany/`);
    await page.waitForSelector('#panel-score[data-bundle="ready"]');
    // A colour test card, made in the page as a PNG: nothing like a chest radiograph.
    const card = await page.evaluate(async () => {
      const c = new OffscreenCanvas(200, 160);
      const ctx = c.getContext('2d')!;
      for (let x = 0; x < 200; x += 25) {
        ctx.fillStyle = `hsl(${x * 1.8}, 90%, ${x % 50 ? 85 : 15}%)`;
        ctx.fillRect(x, 0, 25, 160);
      }
      return Array.from(new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer()));
    });
    await dropFiles(page, '#drop', [{ name: 'test-card.png', type: 'image/png', bytes: Uint8Array.from(card) }, jpeg(kermanyFiles('train', 'NORMAL', 1)[0])]);
    await page.waitForSelector('.card[data-state="done"] >> nth=1', { timeout: 120_000 });
    expect(await page.getAttribute('.card[data-file="test-card.png"]', 'data-unlike')).toBe('true');
    expect(await page.textContent('.card[data-file="test-card.png"] .warning')).toContain('looks unlike the images the model was trained on');
    // Scoring holds nothing beyond the bundle: the second image leaves as many tensors as the first.
    expect(await page.locator('.card >> nth=1').getAttribute('data-tensors')).toBe(await page.locator('.card >> nth=0').getAttribute('data-tensors'));
    // A training image sits inside the statistics it helped fit.
    expect(await page.locator('.card >> nth=1').getAttribute('data-unlike')).toBe('false');
    expect(await page.locator('.card >> nth=1').locator('.warning').count()).toBe(0);
    expect(browser.errors).toEqual([]);
    await page.close();
  });
});
