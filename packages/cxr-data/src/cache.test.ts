import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jpegBytes, png16, pngBytes, tempDir } from './test-support/fixtures';
import { buildImageCache, decodeImage, resizeShortSideAndCrop } from './index';
import type { CxrDataset } from './index';

const { dir, cleanup } = tempDir();
afterAll(cleanup);
const root = join(dir, 'data');
mkdirSync(join(root, 'imgs'), { recursive: true });

async function setup(): Promise<CxrDataset> {
  writeFileSync(join(root, 'imgs', 'a.png'), await pngBytes(24, 16, (x, y) => [x * 10, x * 10, y * 10]));
  writeFileSync(join(root, 'imgs', 'b.jpg'), await jpegBytes(16, 32, (x, y) => [y * 8, y * 8, y * 8]));
  writeFileSync(join(root, 'imgs', 'c.png'), png16(8, 8, Array.from({ length: 64 }, (_, i) => i * 1000)));
  writeFileSync(join(root, 'imgs', 'd.png'), await pngBytes(8, 8, () => [90, 90, 90]));
  const paths = ['imgs/a.png', 'imgs/b.jpg', 'imgs/c.png', 'imgs/d.png'];
  return { root, tasks: ['T'], labels: Float32Array.from([1, 0, 1, 0]), samples: paths.map((path, i) => ({ path, patientId: `p${i}` })) };
}

describe('buildImageCache', () => {
  it('decodes once, then reuses; re-decodes a changed file; rebuilds on new preprocessing', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache1');
    const progress: number[] = [];
    const first = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp', onProgress: (p) => progress.push(p.done) });
    expect([first.count, first.height, first.width, first.decoded, first.reused]).toEqual([4, 8, 8, 4, 0]);
    expect(progress.sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    // The cache holds exactly decode + resize + centre crop of each file.
    for (let i = 0; i < 4; i++) {
      const want = resizeShortSideAndCrop(await decodeImage(join(root, ds.samples[i].path), { decoder: 'jimp' }), { size: 8 });
      expect(first.read([i])).toEqual(want.data);
    }
    expect(first.read([3, 0]).subarray(0, 64).every((v) => v === 90)).toBe(true);
    const index = JSON.parse(readFileSync(join(first.dir, 'index.json'), 'utf8'));
    expect(index.params).toMatchObject({ size: 8, crop: 'center', decoder: 'jimp', checksum: 'stat' });
    expect(Object.keys(index.entries).sort()).toEqual(['imgs/a.png', 'imgs/b.jpg', 'imgs/c.png', 'imgs/d.png']);
    expect(index.entries['imgs/a.png'].bytes).toBeGreaterThan(0);
    expect(Object.values(index.segments)).toEqual([4]);
    const pixelsBefore = first.read([0, 1, 2, 3]);
    first.close();

    const second = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    expect([second.decoded, second.reused]).toEqual([0, 4]);
    // Nothing changed: nothing is written.
    expect(JSON.parse(readFileSync(join(first.dir, 'index.json'), 'utf8'))).toEqual(index);
    expect(second.read([0, 1, 2, 3])).toEqual(pixelsBefore);

    // Rewrite d.png with other pixels and a new mtime: only it is decoded again.
    writeFileSync(join(root, 'imgs', 'd.png'), await pngBytes(8, 8, () => [10, 10, 10]));
    utimesSync(join(root, 'imgs', 'd.png'), new Date(), new Date(Date.now() + 5000));
    const third = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    expect([third.decoded, third.reused]).toEqual([1, 3]);
    expect(third.read([3]).every((v) => v === 10)).toBe(true);
    expect(third.read([0, 1, 2])).toEqual(pixelsBefore.subarray(0, 192));
    // Two segments now; reading from disk gives the same bytes as from memory.
    const disk = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp', memoryLimitBytes: 10 });
    expect(disk.read([0, 1, 2, 3])).toEqual(third.read([0, 1, 2, 3]));
    expect(await disk.readAsync([3, 0])).toEqual(third.read([3, 0]));
    disk.close();

    const other = await buildImageCache(ds, { size: 4, cacheDir, decoder: 'jimp' });
    expect([other.decoded, other.height]).toEqual([4, 4]);
    // No temp files are left behind; d.png's new pixels went to a second segment.
    const files = readdirSync(first.dir);
    expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.u8'))).toHaveLength(2);
    expect(readdirSync(other.dir).filter((f) => f.endsWith('.u8'))).toHaveLength(1);
  });
  it('datasets from one root share the cache: train and test subsets reuse each other', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache8');
    const a = { ...ds, samples: ds.samples.slice(0, 2), labels: ds.labels.slice(0, 2) };
    const b = { ...ds, samples: ds.samples.slice(2), labels: ds.labels.slice(2) };
    expect((await buildImageCache(a, { size: 8, cacheDir, decoder: 'jimp' })).decoded).toBe(2);
    expect((await buildImageCache(b, { size: 8, cacheDir, decoder: 'jimp' })).decoded).toBe(2);
    const again = await buildImageCache(a, { size: 8, cacheDir, decoder: 'jimp' });
    expect([again.decoded, again.reused]).toEqual([0, 2]);
    const all = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    expect([all.decoded, all.reused]).toEqual([0, 4]);
    const twice = await buildImageCache({ ...ds, samples: [ds.samples[1], ds.samples[1]], labels: ds.labels.slice(0, 2) }, { size: 8, cacheDir, decoder: 'jimp' });
    expect(twice.read([0])).toEqual(twice.read([1]));
    expect(twice.read([0])).toEqual(all.read([1]));
  });
  it('a build that fails part-way leaves the previous cache intact and no temp files', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache7');
    const first = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    const pixels = first.read([0, 1, 2, 3]);
    const broken: CxrDataset = { ...ds, labels: Float32Array.from([1, 0, 1, 0, 1]), samples: [...ds.samples, { path: 'imgs/gone.png', patientId: 'p9' }] };
    await expect(buildImageCache(broken, { size: 8, cacheDir, decoder: 'jimp' })).rejects.toThrow(/bad image imgs\/gone\.png \(sample 4\)/);
    expect(readdirSync(first.dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const after = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    expect([after.decoded, after.reused]).toEqual([0, 4]);
    expect(after.read([0, 1, 2, 3])).toEqual(pixels);
  });
  it('content checksums catch a change that keeps size and mtime', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache2');
    await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp', checksum: 'content' });
    const file = join(root, 'imgs', 'd.png');
    const st = readFileSync(file);
    const same = await pngBytes(8, 8, () => [91, 91, 91]);
    expect(same.length).toBe(st.length);
    writeFileSync(file, same);
    utimesSync(file, new Date(), new Date(0));
    const again = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp', checksum: 'content' });
    expect([again.decoded, again.reused]).toEqual([1, 3]);
    expect(again.read([3])[0]).toBe(91);
  });
  it('skip mode leaves out missing and corrupt images, counts and names them; throw mode stops', async () => {
    const ds = await setup();
    writeFileSync(join(root, 'imgs', 'broken.jpg'), (await jpegBytes(16, 16, () => [1, 2, 3])).subarray(0, 100));
    const bad: CxrDataset = {
      ...ds,
      labels: Float32Array.from([1, 0, 1, 0, 1, 0]),
      samples: [...ds.samples, { path: 'imgs/missing.png', patientId: 'p4' }, { path: 'imgs/broken.jpg', patientId: 'p5' }],
    };
    const cacheDir = join(dir, 'cache3');
    await expect(buildImageCache(bad, { size: 8, cacheDir, decoder: 'jimp', concurrency: 1 })).rejects.toThrow(/bad image imgs\/missing\.png \(sample 4\): cannot read image .*missing\.png: ENOENT/);
    const c = await buildImageCache(bad, { size: 8, cacheDir, decoder: 'jimp', onBadImage: 'skip' });
    expect(c.count).toBe(4);
    expect(c.skipped.map((s) => [s.index, s.path])).toEqual([[4, 'imgs/missing.png'], [5, 'imgs/broken.jpg']]);
    expect(c.skipped[1].reason).toMatch(/corrupt or truncated JPEG .*broken\.jpg/);
    expect(Array.from(c.datasetIndices)).toEqual([0, 1, 2, 3]);
    expect(c.dataset.samples.map((s) => s.path)).toEqual(ds.samples.map((s) => s.path));
    // A rerun remembers the bad file without decoding it again.
    const again = await buildImageCache(bad, { size: 8, cacheDir, decoder: 'jimp', onBadImage: 'skip' });
    expect([again.decoded, again.reused, again.skipped.length]).toEqual([0, 4, 2]);
    expect(() => c.read([4])).toThrow(/index 4 is out of range for 4 images/);
  });
  it('refuses paths that escape the root, including through a symlink, before reading anything', async () => {
    const ds = await setup();
    writeFileSync(join(dir, 'outside.png'), await pngBytes(4, 4, () => [1, 1, 1]));
    const esc: CxrDataset = { ...ds, samples: [...ds.samples.slice(0, 3), { path: '../outside.png', patientId: 'x' }] };
    await expect(buildImageCache(esc, { size: 4, cacheDir: join(dir, 'cache4'), decoder: 'jimp', onBadImage: 'skip' })).rejects.toThrow(/image path "\.\.\/outside\.png" escapes the data root/);
    symlinkSync(join(dir, 'outside.png'), join(root, 'imgs', 'link.png'));
    const link: CxrDataset = { ...ds, samples: [...ds.samples.slice(0, 3), { path: 'imgs/link.png', patientId: 'x' }] };
    await expect(buildImageCache(link, { size: 4, cacheDir: join(dir, 'cache4'), decoder: 'jimp', onBadImage: 'skip' })).rejects.toThrow(/resolves \(through a symlink\) to .*outside\.png, outside the data root/);
  });
  it('rebuilds when the pixel file was damaged, and names a missing data root', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache6');
    const first = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    const pixels = first.read([0, 1, 2, 3]);
    const index = JSON.parse(readFileSync(join(first.dir, 'index.json'), 'utf8'));
    truncateSync(join(first.dir, Object.keys(index.segments)[0]), 100);
    const again = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    expect([again.decoded, again.reused]).toEqual([4, 0]);
    expect(again.read([0, 1, 2, 3])).toEqual(pixels);
    expect(readdirSync(first.dir).filter((f) => f.endsWith('.u8'))).toHaveLength(1);
    await expect(buildImageCache({ ...ds, root: join(dir, 'nowhere') }, { size: 8, cacheDir, decoder: 'jimp' })).rejects.toThrow(/the data root .*nowhere does not exist/);
  });
  it('re-decodes an image whose cached pixels were flipped on disk; on the disk path a read names the damaged image', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache7');
    const first = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    const pixels = first.read([0, 1, 2, 3]);
    const index = JSON.parse(readFileSync(join(first.dir, 'index.json'), 'utf8'));
    const segment = join(first.dir, Object.keys(index.segments)[0]);
    // Flip one byte inside c.png's slot: same file size, so only the checksum can tell.
    const flip = () => {
      const bytes = readFileSync(segment);
      bytes[index.entries['imgs/c.png'].slot * 64 + 5] ^= 0xff;
      writeFileSync(segment, bytes);
    };
    flip();
    const onDisk = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp', memoryLimitBytes: 10 });
    expect(onDisk.read([0, 1])).toEqual(pixels.subarray(0, 128));
    expect(() => onDisk.read([2])).toThrow(/cached pixels of imgs\/c\.png in .*\.u8 are damaged \(checksum mismatch\)/);
    await expect(onDisk.readAsync([3, 2])).rejects.toThrow(/cached pixels of imgs\/c\.png/);
    onDisk.close();
    const again = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    expect([again.decoded, again.reused]).toEqual([1, 3]);
    expect(again.read([0, 1, 2, 3])).toEqual(pixels);
  });
  it('reads from disk when the cache exceeds the memory limit, with the same bytes', async () => {
    const ds = await setup();
    const cacheDir = join(dir, 'cache5');
    const mem = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp' });
    const disk = await buildImageCache(ds, { size: 8, cacheDir, decoder: 'jimp', memoryLimitBytes: 10 });
    expect(disk.read([2, 0])).toEqual(mem.read([2, 0]));
    expect(await disk.readAsync([1, 3])).toEqual(mem.read([1, 3]));
    disk.close();
    expect(() => disk.read([0])).toThrow(/was closed/);
  });
});
