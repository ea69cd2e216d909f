// Pixel parity with pydicom on DICOM radiographs built in the test run from Kermany images (src/test-support/dicom/make-fixtures.py).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dicomParserNs from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../test-support/fixtures';
import { buildDicomFixtures, type DicomFixtures } from '../test-support/dicom/fixtures';
import { CxrDataError } from '../errors';
import { decodeImageBytes } from '../decode';
import { decodeWithCodec } from './codecs';
import { parseDicomBytes } from './header';
import { decodeJpegSequential } from './jpeg12';
import { decodeDicomBytes } from './pixels';

const dicomParser = ((dicomParserNs as unknown as { default?: typeof dicomParserNs }).default ?? dicomParserNs) as typeof dicomParserNs;

const { dir, cleanup } = tempDir('cxr-data-dicom-');
let fx: DicomFixtures;
beforeAll(() => {
  fx = buildDicomFixtures(dir);
});
afterAll(cleanup);

/** Largest absolute difference between two grey images. */
function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Decoding `bytes` fails with a CxrDataError naming `name` and matching `pattern`. */
const fail = async (bytes: Uint8Array, name: string, pattern: RegExp) => {
  const err = await decodeDicomBytes(bytes, name).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CxrDataError);
  expect((err as Error).message).toContain(name);
  expect((err as Error).message).toMatch(pattern);
};

const SYNTAXES = [
  ['explicit VR little endian', '1.2.840.10008.1.2.1'],
  ['implicit VR little endian', '1.2.840.10008.1.2'],
  ['deflated', '1.2.840.10008.1.2.1.99'],
  ['explicit VR big endian', '1.2.840.10008.1.2.2'],
  ['RLE', '1.2.840.10008.1.2.5'],
  ['JPEG baseline', '1.2.840.10008.1.2.4.50'],
  ['JPEG extended', '1.2.840.10008.1.2.4.51'],
  ['JPEG lossless', '1.2.840.10008.1.2.4.57'],
  ['JPEG lossless SV1', '1.2.840.10008.1.2.4.70'],
  ['JPEG-LS lossless', '1.2.840.10008.1.2.4.80'],
  ['JPEG-LS near-lossless', '1.2.840.10008.1.2.4.81'],
  ['JPEG 2000 lossless', '1.2.840.10008.1.2.4.90'],
  ['JPEG 2000', '1.2.840.10008.1.2.4.91'],
] as const;

describe('decodeDicomBytes matches pydicom (modality LUT, apply_voi_lut, min-max to 0-255, MONOCHROME1 inverted) within 1 grey level', () => {
  it.each(SYNTAXES)('%s (%s): every fixture of that syntax', async (_, uid) => {
    const files = fx.files.filter((f) => f.transferSyntax === uid);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const path = join(fx.dir, `${f.name}.dcm`);
      const got = await decodeDicomBytes(readFileSync(path), path);
      const want = fx.reference(f.name);
      expect([got.width, got.height, got.bitsStored, got.photometricInterpretation]).toEqual([f.width, f.height, f.bitsStored, f.photometric]);
      expect({ name: f.name, maxDiff: maxDiff(got.data, want) }).toEqual({ name: f.name, maxDiff: expect.toSatisfy((d: number) => d <= 1) });
      // Not a flat image: the parity means something.
      expect(Math.max(...got.data) - Math.min(...got.data)).toBeGreaterThan(200);
    }
  });

  it('covers 8 to 16 bits stored, signed and unsigned, both photometric interpretations, rescale, windows and a VOI LUT', () => {
    expect(new Set(fx.files.map((f) => f.bitsStored))).toEqual(new Set([8, 10, 12, 16]));
    expect(new Set(fx.files.map((f) => f.signed))).toEqual(new Set([true, false]));
    expect(new Set(fx.files.map((f) => f.photometric))).toEqual(new Set(['MONOCHROME1', 'MONOCHROME2']));
  });

  it('JPEG extended at 12 bits is there, and the sequential decoder it takes is bit-exact with libjpeg-turbo at 8 bits', async () => {
    expect(fx.files.find((f) => f.name === 'u12-window.jpeg-extended')).toMatchObject({ transferSyntax: '1.2.840.10008.1.2.4.51', bitsStored: 12 });
    for (const name of ['u8.jpeg-baseline', 'u8.jpeg-extended', 'u8-mono1-window.jpeg-baseline', 'img2dcm']) {
      const path = join(fx.dir, `${name}.dcm`);
      const { dataSet } = parseDicomBytes(readFileSync(path), path);
      const el = dataSet.elements.x7fe00010;
      const stream = dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, el, 0, el.fragments!.length) as Uint8Array;
      const ours = decodeJpegSequential(stream, path);
      const turbo = await decodeWithCodec('jpeg', stream, path);
      expect({ name, equal: ours.values.every((v, i) => v === turbo.values[i]) }).toEqual({ name, equal: true });
    }
    const b = readFileSync(join(fx.dir, 'u12-window.jpeg-extended.dcm'));
    await fail(b.subarray(0, b.length - 1500), 'cut-extended.dcm', /cut-extended\.dcm: .*(truncated|corrupt|past the end)/);
  });

  it('decodeImageBytes (what the image cache calls) reads DICOM too', async () => {
    const path = join(fx.dir, 'u16-mono1.rle.dcm');
    const got = await decodeImageBytes(readFileSync(path), path);
    expect(maxDiff(got.data, fx.reference('u16-mono1.rle'))).toBeLessThanOrEqual(1);
  });

  it('MONOCHROME1 is inverted: the same anatomy reads the same way up in both', async () => {
    const m1 = await decodeDicomBytes(readFileSync(join(fx.dir, 'u16-mono1.dcm')), 'u16-mono1');
    const m2 = await decodeDicomBytes(readFileSync(join(fx.dir, 'u8.dcm')), 'u8');
    // u16-mono1 holds 65535 - 257 x (a Kermany image); its grey is that image's, not its negative.
    const pearson = (a: Uint8Array, b: Uint8Array) => {
      const n = a.length;
      const ma = a.reduce((s, v) => s + v, 0) / n;
      const mb = b.reduce((s, v) => s + v, 0) / n;
      let ab = 0, aa = 0, bb = 0;
      for (let i = 0; i < n; i++) { ab += (a[i] - ma) * (b[i] - mb); aa += (a[i] - ma) ** 2; bb += (b[i] - mb) ** 2; }
      return ab / Math.sqrt(aa * bb);
    };
    const src = new Uint8Array(readFileSync(join(fx.dir, 'u16-mono1.ref')));
    expect(pearson(m1.data, src)).toBeGreaterThan(0.99);
    expect(m2.photometricInterpretation).toBe('MONOCHROME2');
  });
});

describe('hostile and unreadable DICOM files: a clear error naming the file, memory bounded', () => {
  /** Offset of an element's tag in an explicit little endian file. */
  const tagAt = (b: Uint8Array, group: number, element: number) => {
    for (let i = 132; i + 4 < b.length; i++) if (b[i] === (group & 0xff) && b[i + 1] === group >> 8 && b[i + 2] === (element & 0xff) && b[i + 3] === element >> 8) return i;
    throw new Error('tag not found');
  };

  it('a truncated file', async () => {
    const b = readFileSync(join(fx.dir, 'u12-window.dcm'));
    await fail(b.subarray(0, b.length - 1000), 'cut.dcm', /past the end|truncated/);
    await fail(b.subarray(0, 300), 'cut-header.dcm', /truncated|past the end|parse/);
    const j = readFileSync(join(fx.dir, 'u12-window.jpeg-ls.dcm'));
    await fail(j.subarray(0, j.length - 600), 'cut-jls.dcm', /truncated|past the end|decode|parse/);
  });

  it('an element length past the end of the file', async () => {
    const b = new Uint8Array(readFileSync(join(fx.dir, 'u8.dcm')));
    const at = tagAt(b, 0x0010, 0x0010); // PatientName, PN: 2-byte length after the VR
    b[at + 6] = 0xff;
    b[at + 7] = 0x7f;
    await fail(b, 'long-element.dcm', /past the end|truncated|parse/);
  });

  it('a 65535 x 65535 image is refused before any allocation', async () => {
    for (const name of ['u8.dcm', 'u8.jpeg-ls.dcm', 'u8.j2k.dcm']) {
      const b = new Uint8Array(readFileSync(join(fx.dir, name)));
      for (const el of [0x0010, 0x0011]) {
        const at = tagAt(b, 0x0028, el);
        b[at + 8] = 0xff;
        b[at + 9] = 0xff;
      }
      await fail(b, `huge-${name}`, /65535 x 65535 pixels is more than the limit/);
    }
  });

  it('a compressed stream larger than its DICOM header says is refused before the codec runs', async () => {
    const b = new Uint8Array(readFileSync(join(fx.dir, 'u8.jpeg-ls.dcm')));
    // The JPEG-LS SOF55 marker's height and width.
    let at = -1;
    for (let i = 132; i < b.length - 1; i++) if (b[i] === 0xff && b[i + 1] === 0xf7) { at = i; break; }
    b[at + 5] = 0xff; b[at + 6] = 0xff; b[at + 7] = 0xff; b[at + 8] = 0xff;
    await fail(b, 'jls-bomb.dcm', /65535 x 65535 pixels, the DICOM header says 64 x 64/);
  });

  it('a deflate bomb', async () => {
    const b = readFileSync(join(fx.dir, 's16-rescale.deflated.dcm'));
    const err = await decodeDicomBytes(b, 'bomb.dcm', { maxInflatedBytes: 1000 }).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toMatch(/bomb\.dcm.*inflates past 1000 bytes/);
    // A real bomb: 64 MiB of zeros deflated to a few kB, behind a deflated file's header.
    const { deflateRawSync } = await import('node:zlib');
    const metaEnd = 132 + 12 + new DataView(b.buffer, b.byteOffset).getUint32(140, true);
    const bomb = Buffer.concat([b.subarray(0, metaEnd), deflateRawSync(Buffer.alloc(64 * 2 ** 20))]);
    expect(bomb.length).toBeLessThan(200_000);
    const err2 = await decodeDicomBytes(bomb, 'bomb2.dcm', { maxInflatedBytes: 8 * 2 ** 20 }).then(() => undefined, (e: unknown) => e);
    expect((err2 as Error).message).toMatch(/bomb2\.dcm.*inflates past/);
  });

  it('missing pixel data', async () => {
    const b = new Uint8Array(readFileSync(join(fx.dir, 'u8.dcm')));
    const at = tagAt(b, 0x7fe0, 0x0010);
    await fail(b.subarray(0, at), 'no-pixels.dcm', /no pixel data/);
  });

  it('an unknown transfer syntax, a multi-frame object, colour pixels', async () => {
    const b = Buffer.from(readFileSync(join(fx.dir, 'u8.dcm')));
    const at = tagAt(b, 0x0002, 0x0010);
    const len = b.readUInt16LE(at + 6);
    const uid = '1.2.840.10008.1.2.1'.padEnd(len, '\0');
    b.write('9.9.999.9999.1.2.3'.padEnd(len, '\0').slice(0, len), at + 8, 'latin1');
    await fail(b, 'unknown-ts.dcm', /unknown transfer syntax 9\.9\.999/);
    b.write(uid, at + 8, 'latin1');
    await expect(decodeDicomBytes(b, 'restored.dcm')).resolves.toBeTruthy();
    const mf = join(dir, 'multi.dcm');
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('/usr/bin/python3', ['-c', `import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); d.NumberOfFrames=2; d.PixelData=d.PixelData*2; d.save_as(sys.argv[2])`, join(fx.dir, 'u8.dcm'), mf]);
    expect(r.status).toBe(0);
    await fail(readFileSync(mf), 'multi.dcm', /multi-frame object \(2 frames\)/);
  });

  it('a file that is not DICOM', async () => {
    const p = join(dir, 'notes.txt');
    writeFileSync(p, 'not an image'.repeat(20));
    await fail(readFileSync(p), 'notes.txt', /not a DICOM file/);
  });
});
