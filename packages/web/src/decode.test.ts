// cxr-data's browser decoding in Debian's chromium against its Node decoders: PNG and JPEG (made by
// code, and a real Kermany radiograph read from ../shared/data at test time) within 1 grey level of
// jimp and sharp (a colour JPEG: of sharp, and of jimp as far as jimp is from sharp), every input kind (File, Blob, ImageBitmap, ImageData, bytes) alike, and cxr-data's
// DICOM fixtures (every transfer syntax) identical to decodeDicomBytes in Node; synthetic images and
// their batches as in Node.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchIterator, decodeDicomBytes, decodeImageBytes, sharpAvailable, syntheticCxr, type GreyImage } from '@moco-cxr/cxr-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDicomFixtures, type DicomFixtures } from '../../cxr-data/src/test-support/dicom/fixtures';
import { KERMANY_DIR, jpegBytes, png16, pngBytes } from '../../cxr-data/src/test-support/fixtures';
import { bundleForBrowser, REPO_ROOT } from './testing/bundle';
import type { Page } from 'playwright-core';
import { BLANK_PAGE, callInPage, launchChromium, serveStatic, type Chromium, type StaticServer } from './testing/chromium';

// The page's program: fetch a served file and decode it as each input kind a page meets.
const PAGE_PROGRAM = `
import { batchIterator, decodeImageInput, syntheticCxr } from '@moco-cxr/cxr-data';
export async function syntheticBatches(options) {
  const { images, dataset } = syntheticCxr({ count: 10, size: 16, seed: 3 });
  const out = [];
  for await (const b of batchIterator(images, { batchSize: 4, shuffle: true, seed: 1, epochs: 1, ...options })) out.push({ indices: Array.from(b.indices), pixels: Array.from(b.images) });
  return { tasks: dataset.tasks, out };
}
const plain = (g) => ({ width: g.width, height: g.height, data: Array.from(g.data) });
export async function decode(url, kinds) {
  const blob = await (await fetch(url)).blob();
  const out = {};
  for (const kind of kinds) {
    if (kind === 'blob') out[kind] = plain(await decodeImageInput(blob));
    if (kind === 'file') out[kind] = plain(await decodeImageInput(new File([blob], url.split('/').pop())));
    if (kind === 'bytes') out[kind] = plain(await decodeImageInput(new Uint8Array(await blob.arrayBuffer()), { name: url }));
    if (kind === 'bitmap') {
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none' });
      out[kind] = plain(await decodeImageInput(bitmap));
    }
    if (kind === 'imagedata') {
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none' });
      const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      out[kind] = plain(await decodeImageInput(ctx.getImageData(0, 0, bitmap.width, bitmap.height)));
    }
  }
  return out;
}
export async function decodeError(url) {
  const blob = await (await fetch(url)).blob();
  try {
    await decodeImageInput(new File([blob], url.split('/').pop()));
    return null;
  } catch (e) {
    return { name: e.name, message: e.message };
  }
}
`;

interface PlainGrey {
  width: number;
  height: number;
  data: number[];
}

let server: StaticServer;
let chromium: Chromium;
let dicomDir: string;

beforeAll(async () => {
  const bundle = await bundleForBrowser(PAGE_PROGRAM);
  server = await serveStatic();
  server.put('/index.html', BLANK_PAGE);
  server.put('/program.js', bundle.code);
  // The DICOM codecs (emscripten) fetch their .wasm beside the page.
  for (const [pkg, file] of [['codec-charls', 'charlswasm_decode.wasm'], ['codec-libjpeg-turbo-8bit', 'libjpegturbowasm_decode.wasm'], ['codec-openjpeg', 'openjpegwasm_decode.wasm']]) {
    server.put(`/${file}`, readFileSync(`${REPO_ROOT}node_modules/@cornerstonejs/${pkg}/dist/${file}`));
  }
  chromium = await launchChromium();
  dicomDir = mkdtempSync(join(tmpdir(), 'web-dicom-'));
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.close();
  if (dicomDir) rmSync(dicomDir, { recursive: true, force: true });
});

let page: Page | undefined;

/** Calls the program's export `name` in one page kept for the whole file (the bundle loads once). */
async function inPage<T>(name: string, ...args: unknown[]): Promise<T> {
  if (!page) {
    page = await chromium.newPage();
    await page.goto(`${server.origin}/index.html`);
  }
  return callInPage<T>(page, '/program.js', name, ...args);
}

/** The largest per-pixel difference, after checking the sizes agree. */
function maxDiff(a: PlainGrey, b: GreyImage): number {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let worst = 0;
  for (let i = 0; i < b.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  return worst;
}

const decoders = sharpAvailable() ? (['jimp', 'sharp'] as const) : (['jimp'] as const);

describe('PNG and JPEG decoded in chromium', () => {
  const colour = (x: number, y: number): [number, number, number] => [(x * 37 + y * 11) & 255, (x * 5 + y * 23) & 255, (x * y) & 255];
  const grey = (x: number, y: number): [number, number, number] => {
    const v = Math.round(127.5 + 127.5 * Math.sin(x / 5) * Math.cos(y / 7));
    return [v, v, v];
  };
  const fixtures: [string, () => Promise<Uint8Array>][] = [
    ['colour.png', () => pngBytes(48, 40, colour)],
    ['grey.png', () => pngBytes(40, 48, grey)],
    ['grey16.png', async () => png16(33, 21, Array.from({ length: 33 * 21 }, (_, i) => (i * 977) % 65536))],
    ['grey.jpeg', () => jpegBytes(64, 48, grey, 90)],
    ['colour.jpeg', () => jpegBytes(64, 48, colour, 95)],
  ];

  for (const [file, make] of fixtures) {
    it(`${file}: every input kind gives the Node decoders' grey levels within ${file === 'colour.jpeg' ? "1 (sharp) and 2 (jimp, 2 off sharp itself)" : '1'}`, async () => {
      const bytes = await make();
      server.put(`/fx/${file}`, bytes);
      const got = await inPage<Record<string, PlainGrey>>('decode', `/fx/${file}`, ['file', 'blob', 'bytes', 'bitmap', 'imagedata']);
      for (const decoder of decoders) {
        const node = await decodeImageBytes(bytes, file, { decoder });
        // jimp's JPEG decoder upsamples chroma its own way: on a colour JPEG it is 2 levels off sharp
        // (libjpeg-turbo, as chromium) itself, so there the bound is that gap, never more than 2.
        const bound = decoder === 'jimp' && file === 'colour.jpeg' ? 2 : 1;
        for (const [kind, image] of Object.entries(got)) expect(maxDiff(image, node), `${file} as ${kind} vs ${decoder}`).toBeLessThanOrEqual(bound);
      }
      expect(got.blob).toEqual(got.file);
      expect(got.bytes).toEqual(got.file);
    }, 60_000);
  }

  it('a real Kermany radiograph (read at test time) matches within 1 grey level', async () => {
    const dir = join(KERMANY_DIR, 'test', 'PNEUMONIA');
    const file = readdirSync(dir).filter((f) => f.endsWith('.jpeg')).sort()[0];
    const bytes = new Uint8Array(readFileSync(join(dir, file)));
    server.put(`/fx/${file}`, bytes);
    const got = await inPage<Record<string, PlainGrey>>('decode', `/fx/${file}`, ['file']);
    for (const decoder of decoders) expect(maxDiff(got.file, await decodeImageBytes(bytes, file, { decoder })), `${file} vs ${decoder}`).toBeLessThanOrEqual(1);
    expect(got.file.width).toBeGreaterThan(100);
  }, 60_000);

  it('a truncated JPEG and a non-image are refused by name', async () => {
    const jpeg = await jpegBytes(32, 32, grey);
    server.put('/fx/cut.jpeg', jpeg.subarray(0, jpeg.length - 40));
    server.put('/fx/notes.txt', new TextEncoder().encode('not an image at all'));
    expect(await inPage('decodeError', '/fx/cut.jpeg')).toEqual({ name: 'CxrDataError', message: expect.stringMatching(/^corrupt or truncated JPEG cut\.jpeg: no end-of-image marker/) });
    expect(await inPage('decodeError', '/fx/notes.txt')).toEqual({ name: 'CxrDataError', message: 'notes.txt is not a PNG or JPEG image (first bytes 6e6f7420)' });
  }, 60_000);
});

describe('DICOM decoded in chromium', () => {
  let fx: DicomFixtures;
  beforeAll(() => {
    fx = buildDicomFixtures(dicomDir);
  }, 120_000);

  it("every fixture (each transfer syntax) decodes to decodeDicomBytes' grey levels exactly", async () => {
    expect(fx.files.length).toBeGreaterThan(5);
    for (const f of fx.files) {
      const bytes = new Uint8Array(readFileSync(join(fx.dir, `${f.name}.dcm`)));
      server.put(`/dcm/${f.name}.dcm`, bytes);
      const got = await inPage<Record<string, PlainGrey>>('decode', `/dcm/${f.name}.dcm`, ['file']);
      const node = await decodeDicomBytes(bytes, f.name);
      expect(maxDiff(got.file, node), `${f.name} (${f.transferSyntax})`).toBe(0);
    }
    expect(chromium.errors).toEqual([]);
  }, 120_000);
});

describe('synthetic radiographs and batches in chromium', () => {
  it('syntheticCxr and batchIterator give the pixels and the order they give in Node', async () => {
    const { images, dataset } = syntheticCxr({ count: 10, size: 16, seed: 3 });
    const node: { indices: number[]; pixels: number[] }[] = [];
    for await (const b of batchIterator(images, { batchSize: 4, shuffle: true, seed: 1, epochs: 1 })) node.push({ indices: Array.from(b.indices), pixels: Array.from(b.images) });
    const got = await inPage<{ tasks: string[]; out: typeof node }>('syntheticBatches', {});
    expect(got.tasks).toEqual(dataset.tasks);
    expect(got.out.map((b) => b.indices)).toEqual(node.map((b) => b.indices));
    expect(got.out).toEqual(node);
  }, 60_000);
});
