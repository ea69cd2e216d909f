import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const encoder = new TextEncoder();

/**
 * A fresh temporary sibling of `path`, `.<name>.<pid>.<time>.<random>.tmp`: hidden, in the same
 * directory (so the rename stays on one filesystem), and naming the process that writes it, so a
 * cleaner can tell a live writer's file from a crashed one's.
 */
export function tempSiblingPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${randomBytes(4).toString('hex')}.tmp`);
}

/** fsyncs the file `tmp`, renames it over `path`, fsyncs the directory; on failure removes `tmp` and rethrows. */
function publish(tmp: string, path: string): void {
  try {
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(dirname(path));
}

/**
 * Writes `data` (text, bytes, or byte chunks written in order without joining them) to `path` so
 * that a crash or a failed write leaves either the old file or the whole new one under that name:
 * a temporary sibling (`tempSiblingPath`) is written and fsynced, renamed over `path`, and the
 * directory fsynced so the rename itself survives a power cut. On failure the temporary file is
 * removed and the error rethrown. Creates the parent directory if needed.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tempSiblingPath(path);
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

/**
 * The same guarantee for a file the caller makes itself (streamed from several workers, a hard
 * link, a copy): `fill(tmp)` creates and writes the temporary sibling `tmp` and closes what it
 * opened; then it is fsynced, renamed over `path` and the directory fsynced. Returns true once
 * `path` is replaced. When `fill` returns false (nothing to publish) or throws, or the rename
 * fails, the temporary file is removed and `path` is left as it was (the error rethrown).
 * Creates the parent directory if needed.
 */
export async function replaceFileAtomic(path: string, fill: (tmp: string) => void | boolean | Promise<void | boolean>): Promise<boolean> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempSiblingPath(path);
  let keep: void | boolean;
  try {
    keep = await fill(tmp);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (keep === false) {
    rmSync(tmp, { force: true });
    return false;
  }
  publish(tmp, path);
  return true;
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
