import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const encoder = new TextEncoder();

/**
 * Writes `data` (text, bytes, or byte chunks written in order without joining them) to `path` so
 * that a crash or a failed write leaves either the old file or the whole new one under that name:
 * a temporary sibling `.<name>.<pid>.<time>.<random>.tmp` is written and fsynced, renamed over
 * `path`, and the directory fsynced so the rename itself survives a power cut. On failure the
 * temporary file is removed and the error rethrown. Creates the parent directory if needed.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.${randomBytes(4).toString('hex')}.tmp`);
  const chunks = typeof data === 'string' ? [encoder.encode(data)] : data instanceof Uint8Array ? [data] : data;
  let fd: number | undefined = openSync(tmp, 'wx');
  try {
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.byteLength; ) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(dir);
}

/** Flushes a directory's entries (a rename or link into it) to disk; a no-op where the filesystem refuses. */
export function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    closeSync(fd);
  }
}
