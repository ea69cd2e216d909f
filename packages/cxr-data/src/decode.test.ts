import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '@moco-cxr/rng';
import { jpegBytes, png16, pngBytes, tempDir } from './test-support/fixtures';
import { cropGrey, decodeImage, decodeImageBytes, resizeGrey, resizeShortSideAndCrop, sharpAvailable } from './index';

const { dir, cleanup } = tempDir();
afterAll(cleanup);
const decoders = sharpAvailable() ? (['jimp', 'sharp'] as const) : (['jimp'] as const);

describe('decodeImage', () => {
  it.each(decoders)('decodes 8-bit grey and colour PNG exactly to BT.601 grey (%s)', async (decoder) => {
    const grey = await pngBytes(5, 3, (x, y) => [x * 50 + y, x * 50 + y, x * 50 + y]);
    const g = await decodeImageBytes(grey, 'grey.png', { decoder });
    expect([g.width, g.height]).toEqual([5, 3]);
    expect(Array.from(g.data)).toEqual([0, 50, 100, 150, 200, 1, 51, 101, 151, 201, 2, 52, 102, 152, 202]);
    const colour = await pngBytes(3, 1, (x) => [[255, 0, 0], [0, 255, 0], [10, 20, 200]][x] as [number, number, number]);
    const c = await decodeImageBytes(colour, 'colour.png', { decoder });
    // PIL's convert('L'): (19595 R + 38470 G + 7471 B + 2^15) >> 16.
    expect(Array.from(c.data)).toEqual([76, 150, 38]);
  });
  it.each(decoders)('decodes 16-bit grey PNG, scaling to 8 bit (%s)', async (decoder) => {
    const values = [0, 257, 5000, 32768, 65535, 1000, 60000, 20000];
    const file = join(dir, `g16-${decoder}.png`);
    writeFileSync(file, png16(4, 2, values));
    const img = await decodeImage(file, { decoder });
    expect([img.width, img.height]).toEqual([4, 2]);
    const expected = values.map((v) => Math.round(v / 257));
    for (let i = 0; i < values.length; i++) expect(Math.abs(img.data[i] - expected[i])).toBeLessThanOrEqual(1);
  });
  it.each(decoders)('decodes JPEG within JPEG error of the source (%s)', async (decoder) => {
    const src = (x: number, y: number) => Math.round(128 + 60 * Math.sin(x / 5) * Math.cos(y / 7));
    const jpg = await jpegBytes(32, 24, (x, y) => [src(x, y), src(x, y), src(x, y)], 95);
    const img = await decodeImageBytes(jpg, 'smooth.jpg', { decoder });
    expect([img.width, img.height]).toEqual([32, 24]);
    let err = 0;
    for (let y = 0; y < 24; y++) for (let x = 0; x < 32; x++) err += Math.abs(img.data[y * 32 + x] - src(x, y));
    expect(err / (32 * 24)).toBeLessThan(2);
  });
  it('jimp and sharp agree on a JPEG to within a grey level on average', async ({ skip }) => {
    skip(!sharpAvailable(), 'sharp is not installed (optional dependency), so there is nothing to compare jimp with');
    const jpg = await jpegBytes(40, 40, (x, y) => [(x * 7 + y * 3) % 256, (x * 5) % 256, (y * 6) % 256], 90);
    const a = await decodeImageBytes(jpg, 'c.jpg', { decoder: 'jimp' });
    const b = await decodeImageBytes(jpg, 'c.jpg', { decoder: 'sharp' });
    let err = 0;
    for (let i = 0; i < a.data.length; i++) err += Math.abs(a.data[i] - b.data[i]);
    expect(err / a.data.length).toBeLessThan(1);
  });
  it.each(decoders)('names missing, truncated and non-image files (%s)', async (decoder) => {
    await expect(decodeImage(join(dir, 'missing.png'), { decoder })).rejects.toThrow(/cannot read image .*missing\.png: ENOENT/);
    const jpg = await jpegBytes(16, 16, (x) => [x * 8, x * 8, x * 8]);
    const cut = join(dir, 'cut.jpg');
    writeFileSync(cut, jpg.subarray(0, jpg.length >> 1));
    await expect(decodeImage(cut, { decoder })).rejects.toThrow(/corrupt or truncated JPEG .*cut\.jpg/);
    const png = await pngBytes(16, 16, (x) => [x, x, x]);
    const cutPng = join(dir, 'cut.png');
    writeFileSync(cutPng, png.subarray(0, png.length - 20));
    await expect(decodeImage(cutPng, { decoder })).rejects.toThrow(/corrupt or truncated PNG .*cut\.png/);
    const text = join(dir, 'text.png');
    writeFileSync(text, 'hello, not an image');
    await expect(decodeImage(text, { decoder })).rejects.toThrow(/text\.png is not a PNG or JPEG image/);
    // Complete structure, garbage inside: the decoder's own error, naming the file.
    const garbage = Buffer.concat([png.subarray(0, 33), Buffer.from('IDATgarbagegarbage'), png.subarray(png.length - 12)]);
    await expect(decodeImageBytes(garbage, 'garbage.png', { decoder })).rejects.toThrow(/garbage\.png/);
  });
});

describe('resize and crop', () => {
  const grey = (w: number, h: number, f: (x: number, y: number) => number) => ({ width: w, height: h, data: Uint8Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))) });
  it('keeps a constant image constant and averages pairs on an exact 2x downscale', () => {
    expect(Array.from(resizeGrey(grey(7, 5, () => 77), 3, 2).data)).toEqual([77, 77, 77, 77, 77, 77]);
    // Triangle filter at scale 2: weights 1/4, 3/4, 3/4, 1/4 over 4 pixels (PIL's bilinear with antialias).
    const r = resizeGrey(grey(4, 1, (x) => [0, 100, 200, 40][x]), 2, 1);
    expect(Array.from(r.data)).toEqual([Math.round((0 * 3 + 100 * 3 + 200 * 1) / 7), Math.round((100 * 1 + 200 * 3 + 40 * 3) / 7)]);
  });
  it('upscales a step with values between the two sides', () => {
    const r = resizeGrey(grey(2, 1, (x) => (x ? 200 : 0)), 4, 1);
    expect(Array.from(r.data)).toEqual([0, 50, 150, 200]);
  });
  it('resizes the short side then centre-crops; random crops stay inside and are seeded', () => {
    // 40 x 20 with a bright column band at x in [10, 30): short side 20 -> 10, so 20 x 10, centre crop x in [5, 15).
    const img = grey(40, 20, (x) => (x >= 10 && x < 30 ? 200 : 0));
    const c = resizeShortSideAndCrop(img, { size: 10 });
    expect([c.width, c.height]).toEqual([10, 10]);
    // Edge columns mix 1/8 of the dark side: 200 * 7/8 = 175 (triangle weights 1/8, 3/8, 3/8, 1/8).
    expect(Array.from(c.data.subarray(0, 10))).toEqual([175, 200, 200, 200, 200, 200, 200, 200, 200, 175]);
    const r1 = resizeShortSideAndCrop(img, { size: 10, crop: 'random', rng: new Rng(3) });
    const r2 = resizeShortSideAndCrop(img, { size: 10, crop: 'random', rng: new Rng(3) });
    expect(r1.data).toEqual(r2.data);
    const lefts = new Set<number>();
    const rng = new Rng(1);
    for (let k = 0; k < 40; k++) {
      const r = resizeShortSideAndCrop(img, { size: 10, crop: 'random', rng });
      // The first bright column tells where the crop started (the band spans resized x in [5, 15)).
      lefts.add(r.data.findIndex((v) => v >= 100));
    }
    expect(lefts.size).toBeGreaterThan(4);
    expect(() => cropGrey(img, 35, 0, 10, 10)).toThrow(/window 10x10 at \(35, 0\) is outside the 40x20 image/);
  });
});
