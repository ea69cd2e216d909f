// loadDicomFolder on a folder of DICOM radiographs built in the test run from Kermany images (src/test-support/dicom/make-fixtures.py).
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../test-support/fixtures';
import { buildDicomFixtures, type DicomFixtures } from '../test-support/dicom/fixtures';
import { buildImageCache } from '../cache';
import { CxrDataError } from '../errors';
import { loadDicomFolder } from './folder';

const { dir, cleanup } = tempDir('cxr-data-dicom-folder-');
let fx: DicomFixtures;
const root = join(dir, 'archive');
const SALT = 'test-salt-0123456789';

/** Where each fixture goes in the archive: any depth, any file names. */
const LAYOUT: Record<string, string> = {
  'studies/2024/IM0001': 'u8.jpeg-baseline',
  'studies/2024/IM0002': 'u12-window.jpeg-ls',
  'studies/2025/deep/x/y/IMG.DCM': 'u16-mono1.rle',
  's16.dcm': 's16-rescale.deflated',
  's12': 's12',
  'voi.dcm': 'u10-voilut.jpeg-lossless-sv1',
  'sig.dcm': 'u12-sigmoid.j2k-lossy',
  'mono1.dcm': 'u8-mono1-window',
};

beforeAll(() => {
  fx = buildDicomFixtures(join(dir, 'fixtures'));
  for (const [to, from] of Object.entries(LAYOUT)) {
    mkdirSync(dirname(join(root, to)), { recursive: true });
    copyFileSync(join(fx.dir, `${from}.dcm`), join(root, to));
  }
  mkdirSync(join(root, 'other'));
  for (const n of ['lateral', 'ct', 'report']) copyFileSync(join(fx.dir, 'extras', `${n}.dcm`), join(root, 'other', `${n}.dcm`));
  writeFileSync(join(root, 'README.txt'), 'exported from the PACS\n');
  // s12 has no row: unlabelled. Kermany: u8 / s12 are NORMAL (patient 0115), the rest PNEUMONIA.
  writeFileSync(join(root, 'labels.csv'), 'path,Pneumonia,split\nstudies/2024/IM0001,0,train\nstudies/2024/IM0002,1,train\nstudies/2025/deep/x/y/IMG.DCM,1,test\ns16.dcm,1,test\nvoi.dcm,1,train\nsig.dcm,1,train\nmono1.dcm,,test\nother/lateral.dcm,0,train\n');
});
afterAll(cleanup);

/** Every file under `d`, recursively. */
function allFiles(d: string): string[] {
  return readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? allFiles(join(d, n)) : [join(d, n)]));
}

describe('loadDicomFolder', () => {
  it('reads radiographs at any depth and under any name; names every file it skips and why', () => {
    const ds = loadDicomFolder(root, { patientSalt: SALT, labels: 'labels.csv', frontalOnly: true });
    expect(ds.samples.map((s) => s.path).sort()).toEqual(Object.keys(LAYOUT).sort());
    const reasons = Object.fromEntries(ds.skipped.map((s) => [s.path, s.reason]));
    expect(reasons['other/report.dcm']).toMatch(/not an image: structured report/);
    expect(reasons['other/ct.dcm']).toMatch(/modality CT is not a radiograph modality/);
    expect(reasons['other/lateral.dcm']).toMatch(/view LL is not frontal/);
    expect(reasons['README.txt']).toMatch(/not a DICOM file/);
    expect(ds.skipped).toHaveLength(4);
    // Without frontalOnly the lateral view is read.
    expect(loadDicomFolder(root, { patientSalt: SALT, labels: 'labels.csv' }).samples.map((s) => s.path)).toContain('other/lateral.dcm');
  });

  it('labels from the CSV by path (empty = unknown, no row = unlabelled, said in notes), split from its split column', () => {
    const ds = loadDicomFolder(root, { patientSalt: SALT, labels: 'labels.csv', frontalOnly: true });
    expect(ds.tasks).toEqual(['Pneumonia']);
    const label = (p: string) => ds.labels[ds.samples.findIndex((s) => s.path === p)];
    expect([label('studies/2024/IM0001'), label('s16.dcm'), label('mono1.dcm'), label('s12')]).toEqual([0, 1, NaN, NaN]);
    expect(ds.samples.find((s) => s.path === 's16.dcm')!.split).toBe('test');
    expect(ds.notes.join('\n')).toMatch(/1 of 8 images have no row/);
  });

  it('labels by SOPInstanceUID', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('/usr/bin/python3', ['-c', 'import pydicom,sys; print(pydicom.dcmread(sys.argv[1]).SOPInstanceUID)', join(root, 's16.dcm')], { encoding: 'utf8' });
    const uid = r.stdout.trim();
    writeFileSync(join(dir, 'by-uid.csv'), `SOPInstanceUID,Effusion\n${uid},1\n`);
    const ds = loadDicomFolder(root, { patientSalt: SALT, labels: join(dir, 'by-uid.csv') });
    expect(ds.labels[ds.samples.findIndex((s) => s.path === 's16.dcm')]).toBe(1);
    expect(Array.from(ds.labels).filter((v) => !Number.isNaN(v))).toEqual([1]);
    writeFileSync(join(dir, 'bad-uid.csv'), `SOPInstanceUID,Effusion\n1.2.3.4,1\n`);
    expect(() => loadDicomFolder(root, { patientSalt: SALT, labels: join(dir, 'bad-uid.csv') })).toThrow(/bad-uid\.csv: 1 rows name SOPInstanceUIDs not found .*line 2 "1\.2\.3\.4"/);
  });

  it('bad label CSVs are errors naming the file and line', () => {
    writeFileSync(join(dir, 'typo.csv'), 'path,Pneumonia\ns16.dcm,1\nstudies/2024/IM0003,0\n');
    expect(() => loadDicomFolder(root, { patientSalt: SALT, labels: join(dir, 'typo.csv') })).toThrow(/typo\.csv: 1 rows name files not found .*line 3 "studies\/2024\/IM0003"/);
    writeFileSync(join(dir, 'value.csv'), 'path,Pneumonia\ns16.dcm,yes\n');
    expect(() => loadDicomFolder(root, { patientSalt: SALT, labels: join(dir, 'value.csv') })).toThrow(/value\.csv: line 2, column "Pneumonia": label "yes"/);
  });

  it('patients and studies are salted keys: never the PatientID, stable for a salt, different across salts', () => {
    const a = loadDicomFolder(root, { patientSalt: SALT });
    const b = loadDicomFolder(root, { patientSalt: SALT });
    const c = loadDicomFolder(root, { patientSalt: 'another-salt-987654' });
    const text = JSON.stringify(a);
    for (const id of [...fx.patientIds, ...fx.patientNames]) expect(text).not.toContain(id);
    expect(text).not.toMatch(/SECRET|Fixture\^/);
    expect(a.samples.map((s) => s.patientId)).toEqual(b.samples.map((s) => s.patientId));
    expect(a.samples.map((s) => s.patientId)).not.toEqual(c.samples.map((s) => s.patientId));
    // Kermany's three patients (u16-mono1 and sig share person1000's ID, u8 and s12 the NORMAL patient's).
    expect(new Set(a.samples.map((s) => s.patientId)).size).toBe(3);
    const pid = (p: string) => a.samples.find((s) => s.path === p)!.patientId;
    expect(pid('s12')).toBe(pid('studies/2024/IM0001'));
    expect(pid('studies/2025/deep/x/y/IMG.DCM')).toBe(pid('sig.dcm'));
    expect(pid('s12')).toMatch(/^patient-[0-9a-f]{20}$/);
    expect(() => loadDicomFolder(root, { patientSalt: 'short' })).toThrow(/patientSalt must be a secret string of at least 8 characters/);
  });

  it('without a salt, one is derived from the files: the same folder gives the same keys in every call, other files other keys', () => {
    const a = loadDicomFolder(root);
    const b = loadDicomFolder(root);
    expect(a.samples.map((s) => [s.patientId, s.studyId])).toEqual(b.samples.map((s) => [s.patientId, s.studyId]));
    expect(new Set(a.samples.map((s) => s.patientId)).size).toBe(3);
    expect(JSON.stringify(a)).not.toMatch(/SECRET|Fixture\^/);
    // Not an unsalted hash: the keys differ from those of a given salt, and change when the files do.
    expect(a.samples[0].patientId).not.toBe(loadDicomFolder(root, { patientSalt: SALT }).samples[0].patientId);
    const fewer = loadDicomFolder(root, { frontalOnly: true, modalities: ['DX'] });
    const onlyDx = loadDicomFolder(root, { frontalOnly: true });
    expect(fewer.samples[0].patientId).toBe(onlyDx.samples[0].patientId);
    const withLateral = loadDicomFolder(root, { frontalOnly: false });
    expect(withLateral.samples.find((s) => s.path === 's12')!.patientId).not.toBe(onlyDx.samples.find((s) => s.path === 's12')!.patientId);
  });

  it('summarises views, modalities, bits stored, photometric interpretations and transfer syntaxes', () => {
    const { summary } = loadDicomFolder(root, { patientSalt: SALT });
    expect(summary.views).toEqual({ PA: 6, AP: 2, LL: 1 });
    expect(summary.modalities).toEqual({ DX: 9 });
    expect(summary.bitsStored).toEqual({ 8: 3, 10: 1, 12: 3, 16: 2 });
    expect(summary.photometricInterpretations).toEqual({ MONOCHROME1: 3, MONOCHROME2: 6 });
    expect(Object.keys(summary.transferSyntaxes).sort()).toEqual(['JPEG 2000', 'JPEG baseline (process 1)', 'JPEG lossless (process 14, selection value 1)', 'JPEG-LS lossless', 'RLE lossless', 'deflated explicit VR little endian', 'explicit VR little endian']);
  });

  it('builds the image cache from DICOM, and nothing in the cache holds a PatientID or name', async () => {
    const ds = loadDicomFolder(root, { patientSalt: SALT, labels: 'labels.csv' });
    const cacheDir = join(dir, 'cache');
    const cache = await buildImageCache(ds, { size: 32, cacheDir });
    expect(cache.count).toBe(ds.samples.length);
    expect(cache.skipped).toEqual([]);
    const px = cache.read([0]);
    expect(Math.max(...px) - Math.min(...px)).toBeGreaterThan(100);
    for (const f of allFiles(cacheDir)) {
      const text = readFileSync(f).toString('latin1');
      for (const id of [...fx.patientIds, ...fx.patientNames]) expect(text, f).not.toContain(id);
    }
    cache.close();
  });

  it('a hostile file is skipped by the cache with its reason (onBadImage skip), or stops it naming the file', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    copyFileSync(join(fx.dir, 'u8.dcm'), join(bad, 'good.dcm'));
    const b = readFileSync(join(fx.dir, 'u12-window.dcm'));
    writeFileSync(join(bad, 'cut.dcm'), b.subarray(0, b.length - 2000));
    const ds = loadDicomFolder(bad, { patientSalt: SALT });
    expect(ds.samples.map((s) => s.path)).toEqual(['cut.dcm', 'good.dcm']);
    const cache = await buildImageCache(ds, { size: 16, cacheDir: join(dir, 'bad-cache'), onBadImage: 'skip' });
    expect(cache.count).toBe(1);
    expect(cache.skipped.map((s) => [s.path, s.reason])).toEqual([['cut.dcm', expect.stringMatching(/cut\.dcm: buffer overrun \(truncated/)]]);
    cache.close();
    await expect(buildImageCache(ds, { size: 16, cacheDir: join(dir, 'bad-cache-2') })).rejects.toThrow(/bad image cut\.dcm .*truncated/);
  });

  it('an empty folder, or one without radiographs, is an error naming the root and what was found', () => {
    mkdirSync(join(dir, 'none'));
    writeFileSync(join(dir, 'none', 'a.txt'), 'x');
    const err = (() => {
      try {
        loadDicomFolder(join(dir, 'none'), { patientSalt: SALT });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(CxrDataError);
    expect(err!.message).toMatch(/no DICOM radiographs under .*none \(1 files; a\.txt: not a DICOM file/);
  });
});
