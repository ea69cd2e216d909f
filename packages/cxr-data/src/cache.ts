import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { replaceFileAtomic, writeFileAtomic } from '@moco-cxr/atomic-write';
import { CxrDataError } from './errors';
import { type DecoderName, decodeImageBytes, resizeShortSideAndCrop, resolveDecoder } from './decode';
import { subset } from './dataset';
import { realPathInsideRoot } from './paths';
import type { CxrDataset, ImageSet } from './types';

// 3: entries carry a CRC-32 of their pixels.
const CACHE_VERSION = 3;

export interface ImageCacheOptions {
  /** Images are stored as size x size grey uint8 (short side resized to size, centre crop). */
  size: number;
  /**
   * Directory that holds caches; each root + preprocessing gets its own subdirectory, shared by every
   * dataset drawn from that root (train and test subsets reuse each other's images).
   */
  cacheDir: string;
  decoder?: DecoderName | 'auto';
  /** 'throw' (default): the first bad image stops the build. 'skip': bad images are left out, counted and reported. */
  onBadImage?: 'throw' | 'skip';
  /** Images decoded at once (default 4; sharp decodes off the main thread, jimp does not). */
  concurrency?: number;
  onProgress?: (progress: CacheProgress) => void;
  /** How a source is recognised as unchanged: file size + mtime (default) or a SHA-1 of its bytes. */
  checksum?: 'stat' | 'content';
  /** Caches up to this size are read into memory; larger ones are read from disk per batch. Default 1 GiB. */
  memoryLimitBytes?: number;
}

export interface CacheProgress {
  done: number;
  total: number;
  decoded: number;
  reused: number;
  skipped: number;
}

export interface SkippedImage {
  /** Row of the dataset given to buildImageCache. */
  index: number;
  path: string;
  reason: string;
}

/** The on-disk cache as an ImageSet of the images that decoded (skipped rows are left out). */
export interface ImageCache extends ImageSet {
  readonly skipped: SkippedImage[];
  /** For each image of the set, its row in the dataset given to buildImageCache. */
  readonly datasetIndices: Int32Array;
  /** That dataset restricted to the images held, row j = image j. */
  readonly dataset: CxrDataset;
  /** Images decoded by this call, and images taken from an earlier run's cache. */
  readonly decoded: number;
  readonly reused: number;
  /** Directory holding index.json and the pixel file. */
  readonly dir: string;
  /** The preprocessing this cache was built with (also in index.json). */
  readonly params: CacheParams;
  /** Asynchronous read (off the main thread when the cache is on disk). */
  readAsync(indices: ArrayLike<number>): Promise<Uint8Array>;
  close(): void;
}

export interface CacheParams {
  version: number;
  root: string;
  size: number;
  crop: 'center';
  resize: 'short-side-bilinear-antialias';
  grey: 'bt601';
  decoder: DecoderName;
  checksum: 'stat' | 'content';
}

interface Entry {
  bytes: number;
  mtimeMs: number;
  sha1?: string;
  /** Segment file and slot of the pixels; absent for a bad image. */
  segment?: string;
  slot?: number;
  /** CRC-32 of the slot's pixels: flipped bytes in a pixel file are caught, not reused. */
  crc?: number;
  reason?: string;
}

interface IndexFile {
  params: CacheParams;
  height: number;
  width: number;
  /** Pixel files (immutable once written) and how many images each holds. */
  segments: Record<string, number>;
  /** By path relative to the root. */
  entries: Record<string, Entry>;
}

/** The index of `dir` if it was built with `params`; entries whose segment is missing or damaged are dropped. */
async function readIndex(dir: string, params: CacheParams): Promise<IndexFile | undefined> {
  const file = join(dir, 'index.json');
  if (!existsSync(file)) return undefined;
  let index: IndexFile;
  try {
    index = JSON.parse(await readFile(file, 'utf8')) as IndexFile;
  } catch {
    return undefined;
  }
  // A different preprocessing (or a hash collision) invalidates the whole cache.
  if (JSON.stringify(index.params) !== JSON.stringify(params) || typeof index.segments !== 'object' || typeof index.entries !== 'object') return undefined;
  const pixels = index.height * index.width;
  for (const [name, count] of Object.entries(index.segments)) {
    const path = join(dir, name);
    // A pixel file of the wrong length (truncated by hand, disk full) is not trusted.
    if (!existsSync(path) || statSync(path).size !== count * pixels) {
      delete index.segments[name];
      await rm(path, { force: true });
    }
  }
  for (const [path, e] of Object.entries(index.entries)) {
    if (e.segment === undefined) continue;
    const count = index.segments[e.segment];
    // An entry pointing past its pixel file, or without a checksum, is decoded again.
    if (count === undefined || !Number.isInteger(e.slot) || e.slot! < 0 || e.slot! >= count || !Number.isInteger(e.crc)) delete index.entries[path];
  }
  return index;
}

/**
 * Decodes every image of `dataset` once into a compact cache (grey uint8, size x size) under `cacheDir`,
 * reused by later calls and by other datasets from the same root; an image is decoded again when its file
 * changed (size + mtime, or content hash), and everything when the preprocessing changed. Pixel files are
 * written once, whole, and never modified; the index is replaced the same way (@moco-cxr/atomic-write:
 * temp sibling, fsync, rename, fsync of the directory).
 */
export async function buildImageCache(dataset: CxrDataset, options: ImageCacheOptions): Promise<ImageCache> {
  const { size } = options;
  if (!(Number.isInteger(size) && size > 0)) throw new CxrDataError(`buildImageCache: size must be a positive integer, got ${size}`);
  if (!options.cacheDir) throw new CxrDataError('buildImageCache: cacheDir is required');
  const onBad = options.onBadImage ?? 'throw';
  if (onBad !== 'throw' && onBad !== 'skip') throw new CxrDataError(`buildImageCache: onBadImage must be 'throw' or 'skip', got ${JSON.stringify(onBad)}`);
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
  const decoder = resolveDecoder(options.decoder ?? 'auto');
  const root = resolve(dataset.root);
  const N = dataset.samples.length;
  if (N === 0) throw new CxrDataError('buildImageCache: the dataset has no samples');
  if (!existsSync(root)) throw new CxrDataError(`buildImageCache: the data root ${root} does not exist (a synthetic dataset already is an ImageSet and needs no cache)`, root);
  const params: CacheParams = {
    version: CACHE_VERSION,
    root,
    size,
    crop: 'center',
    resize: 'short-side-bilinear-antialias',
    grey: 'bt601',
    decoder,
    checksum: options.checksum ?? 'stat',
  };
  const key = createHash('sha1').update(JSON.stringify(params)).digest('hex').slice(0, 16);
  const dir = join(resolve(options.cacheDir), `${size}px-${key}`);
  await mkdir(dir, { recursive: true });
  // Temp files (`.<name>.<pid>.*.tmp`, and the `.tmp-` of older builds) of builds that crashed more than an hour ago.
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const temp = f.includes('.tmp-') || (f.startsWith('.') && f.endsWith('.tmp'));
    if (temp && Date.now() - statSync(p).mtimeMs > 3_600_000) await rm(p, { force: true });
  }
  const index: IndexFile = (await readIndex(dir, params)) ?? { params, height: size, width: size, segments: {}, entries: {} };
  const pixels = size * size;
  const memoryLimitBytes = options.memoryLimitBytes ?? 2 ** 30;

  // Every path is checked before anything is read: nothing outside the root is ever opened.
  const absPaths = dataset.samples.map((s, i) => {
    try {
      return realPathInsideRoot(root, s.path, `sample ${i}`);
    } catch (err) {
      if (err instanceof CxrDataError && /escapes|absolute|outside the data root|NUL/.test(err.message)) throw err;
      return undefined;
    }
  });
  const skipped: SkippedImage[] = [];
  const fail = (i: number, reason: string) => {
    if (onBad === 'throw') throw new CxrDataError(`buildImageCache: bad image ${dataset.samples[i].path} (sample ${i}): ${reason}`, dataset.samples[i].path, i);
    skipped.push({ index: i, path: dataset.samples[i].path, reason });
  };
  // Which rows can be served from the index as it is (same size + mtime, or same content hash).
  const stats: ({ bytes: number; mtimeMs: number; sha1?: string; content?: Buffer } | string)[] = dataset.samples.map((s, i) => {
    const abs = absPaths[i];
    try {
      if (abs === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      const st = statSync(abs);
      if (params.checksum !== 'content') return { bytes: st.size, mtimeMs: st.mtimeMs };
      const content = readFileSync(abs);
      return { bytes: st.size, mtimeMs: st.mtimeMs, sha1: createHash('sha1').update(content).digest('hex'), content };
    } catch (err) {
      return `cannot read image ${resolve(root, s.path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  });
  const damaged = verifyReusable(dir, index, dataset, stats, memoryLimitBytes);
  const todo: number[] = [];
  const seen = new Set<string>();
  let reused = 0;
  let done = 0;
  const progress = (decoded: number) => options.onProgress?.({ done, total: N, decoded, reused, skipped: skipped.length });
  for (let i = 0; i < N; i++) {
    const st = stats[i];
    const path = dataset.samples[i].path;
    if (typeof st === 'string') {
      fail(i, st);
      done++;
      continue;
    }
    const e = index.entries[path];
    if (e && !damaged.has(path) && e.bytes === st.bytes && e.mtimeMs === st.mtimeMs && e.sha1 === st.sha1) {
      if (e.segment === undefined) fail(i, e.reason ?? 'bad image');
      else reused++;
      done++;
    } else if (!seen.has(path)) {
      // A path listed twice is decoded once.
      todo.push(i);
      seen.add(path);
    }
  }
  let decoded = 0;
  if (todo.length > 0) {
    const segment = `seg-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}.u8`;
    // Small synchronous writes: cheaper than thread-pool round trips, which sharp's decodes need.
    let out = -1;
    const fresh: Record<string, Entry> = {};
    let slots = 0;
    let failure: unknown;
    let next = 0;
    const worker = async () => {
      while (next < todo.length && failure === undefined) {
        const i = todo[next++];
        const path = dataset.samples[i].path;
        const st = stats[i] as { bytes: number; mtimeMs: number; sha1?: string; content?: Buffer };
        try {
          try {
            const bytes = st.content ?? readFileSync(absPaths[i]!);
            const grey = resizeShortSideAndCrop(await decodeImageBytes(bytes, resolve(root, path), { decoder }), { size });
            const slot = slots++;
            writeSync(out, grey.data, 0, pixels, slot * pixels);
            fresh[path] = { bytes: st.bytes, mtimeMs: st.mtimeMs, sha1: st.sha1, segment, slot, crc: crc32(grey.data.subarray(0, pixels)) };
            decoded++;
          } catch (err) {
            if (err instanceof CxrDataError && err.message.startsWith('buildImageCache:')) throw err;
            const reason = (err as Error).message;
            fresh[path] = { bytes: st.bytes, mtimeMs: st.mtimeMs, sha1: st.sha1, reason };
            fail(i, reason);
          }
        } catch (err) {
          failure ??= err;
          return;
        }
        done++;
        progress(decoded);
      }
    };
    // The segment appears whole under its name, synced with its directory, or not at all.
    const published = await replaceFileAtomic(join(dir, segment), async (tmp) => {
      out = openSync(tmp, 'wx');
      try {
        await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
      } finally {
        closeSync(out);
      }
      if (failure !== undefined) throw failure;
      return slots > 0;
    });
    if (published) index.segments[segment] = slots;
    // Rows whose path appeared twice take the first copy's result.
    const decodedRows = new Set(todo);
    for (let i = 0; i < N; i++) {
      const path = dataset.samples[i].path;
      if (typeof stats[i] === 'string' || !(path in fresh) || decodedRows.has(i)) continue;
      if (fresh[path].segment === undefined) fail(i, fresh[path].reason ?? 'bad image');
      done++;
    }
    // Re-read the index so entries another process added meanwhile are kept; ours win on conflict.
    const latest = (await readIndex(dir, params)) ?? index;
    for (const [name, count] of Object.entries(index.segments)) latest.segments[name] ??= count;
    Object.assign(latest.entries, fresh);
    const used = new Set(Object.values(latest.entries).flatMap((e) => (e.segment ? [e.segment] : [])));
    const unused = Object.keys(latest.segments).filter((name) => !used.has(name));
    for (const name of unused) delete latest.segments[name];
    writeFileAtomic(join(dir, 'index.json'), JSON.stringify(latest));
    // Segments no entry points to any more (all their images changed) are removed.
    for (const name of unused) await rm(join(dir, name), { force: true });
    Object.assign(index, latest);
  }
  // Reported per decoded image above; a build that decoded nothing reports once.
  if (todo.length === 0) progress(decoded);
  skipped.sort((a, b) => a.index - b.index);
  return openCache(dir, dataset, index, { skipped, decoded, reused, memoryLimitBytes });
}

/**
 * Paths whose cached pixels no longer match their CRC-32 (flipped bytes on disk): they are decoded again.
 * Checked at build time when the reused pixels fit the memory limit (they are about to be read anyway);
 * larger caches are checked per image on every read instead.
 */
function verifyReusable(dir: string, index: IndexFile, dataset: CxrDataset, stats: unknown[], memoryLimitBytes: number): Set<string> {
  const damaged = new Set<string>();
  const pixels = index.height * index.width;
  const paths = [...new Set(dataset.samples.filter((_, i) => typeof stats[i] !== 'string').map((s) => s.path))].filter((p) => index.entries[p]?.segment !== undefined);
  if (paths.length * pixels > memoryLimitBytes) return damaged;
  const fds = new Map<string, number>();
  const buf = new Uint8Array(pixels);
  try {
    for (const path of paths) {
      const e = index.entries[path];
      let fd = fds.get(e.segment!);
      if (fd === undefined) fds.set(e.segment!, (fd = openSync(join(dir, e.segment!), 'r')));
      readSync(fd, buf, 0, pixels, e.slot! * pixels);
      if (crc32(buf) !== e.crc) damaged.add(path);
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  return damaged;
}

function openCache(
  dir: string,
  dataset: CxrDataset,
  index: IndexFile,
  extra: { skipped: SkippedImage[]; decoded: number; reused: number; memoryLimitBytes: number },
): ImageCache {
  const bad = new Set(extra.skipped.map((s) => s.index));
  const keep: number[] = [];
  for (let i = 0; i < dataset.samples.length; i++) if (!bad.has(i)) keep.push(i);
  if (keep.length === 0) throw new CxrDataError(`buildImageCache: every one of the ${dataset.samples.length} images was bad (first: ${extra.skipped[0]?.path}: ${extra.skipped[0]?.reason})`);
  const pixels = index.height * index.width;
  const segmentNames = Object.keys(index.segments);
  const segOf = new Int32Array(keep.length);
  const slotOf = new Float64Array(keep.length);
  const crcOf = new Float64Array(keep.length);
  keep.forEach((i, j) => {
    const e = index.entries[dataset.samples[i].path];
    segOf[j] = segmentNames.indexOf(e.segment!);
    slotOf[j] = e.slot!;
    crcOf[j] = e.crc!;
  });
  // Pixels read from disk per batch are checked against their CRC-32: damage is an error, never silent.
  const verify = (out: Uint8Array, j: number, i: number) => {
    if (crc32(out.subarray(j * pixels, (j + 1) * pixels)) !== crcOf[i]) {
      const path = dataset.samples[keep[i]].path;
      throw new CxrDataError(`ImageCache: the cached pixels of ${path} in ${join(dir, segmentNames[segOf[i]])} are damaged (checksum mismatch); delete that file and build the cache again to re-decode them`, path);
    }
  };
  const count = keep.length;
  let fds: number[] = segmentNames.map((name) => openSync(join(dir, name), 'r'));
  let memory: Uint8Array | undefined;
  if (count * pixels <= extra.memoryLimitBytes) {
    // Gather this dataset's images into one buffer, in its row order.
    memory = new Uint8Array(count * pixels);
    for (let j = 0; j < count; j++) readSync(fds[segOf[j]], memory, j * pixels, pixels, slotOf[j] * pixels);
    for (const fd of fds) closeSync(fd);
    fds = [];
  }
  let closed = false;
  const check = (indices: ArrayLike<number>, what: string) => {
    if (closed) throw new CxrDataError(`ImageCache.${what}: the cache in ${dir} was closed`);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= count) throw new CxrDataError(`ImageCache.${what}: index ${i} is out of range for ${count} images`);
    }
  };
  const cache: ImageCache = {
    count,
    height: index.height,
    width: index.width,
    skipped: extra.skipped,
    datasetIndices: Int32Array.from(keep),
    dataset: subset(dataset, keep),
    decoded: extra.decoded,
    reused: extra.reused,
    dir,
    params: index.params,
    read(indices) {
      check(indices, 'read');
      const out = new Uint8Array(indices.length * pixels);
      for (let j = 0; j < indices.length; j++) {
        const i = indices[j];
        if (memory) out.set(memory.subarray(i * pixels, (i + 1) * pixels), j * pixels);
        else {
          readSync(fds[segOf[i]], out, j * pixels, pixels, slotOf[i] * pixels);
          verify(out, j, i);
        }
      }
      return out;
    },
    async readAsync(indices) {
      if (memory) return cache.read(indices);
      check(indices, 'readAsync');
      const out = new Uint8Array(indices.length * pixels);
      const handles = new Map<number, Awaited<ReturnType<typeof open>>>();
      try {
        for (const i of Array.from(indices)) if (!handles.has(segOf[i])) handles.set(segOf[i], await open(join(dir, segmentNames[segOf[i]]), 'r'));
        await Promise.all(Array.from(indices, (i, j) => handles.get(segOf[i])!.read(out, j * pixels, pixels, slotOf[i] * pixels)));
        Array.from(indices, (i, j) => verify(out, j, i));
        return out;
      } finally {
        for (const h of handles.values()) await h.close();
      }
    },
    close() {
      closed = true;
      memory = undefined;
      for (const fd of fds) closeSync(fd);
      fds = [];
    },
  };
  return cache;
}
