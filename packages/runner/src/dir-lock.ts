import { randomBytes, createHash } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { syncDirectory } from '@moco-cxr/atomic-write';

/**
 * Creates `path` holding `text` only if nothing is there: the text is written and synced under a
 * temporary name, then hard-linked into place (link(2) fails on an existing name), so a reader
 * sees the whole file or none, and of two writers exactly one wins. Returns false for the loser.
 */
export function createExclusive(path: string, text: string): boolean {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    // The link is the publication (results.json is the "finished" marker): make it durable.
    syncDirectory(dirname(path));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * An exclusive lock on a directory between processes, on this machine or others sharing it.
 * `.lock` holds `pid@host#nonce`. A lock left by a process of this host that is gone is taken
 * over without a race: the taker must first create a claim file named after that exact lock
 * (`.lock-claims/<hash>`, created exclusively and never removed), so only one process can ever
 * take over a given dead lock, however the takers interleave.
 */
export class DirLock {
  readonly file: string;
  readonly owner = `${process.pid}@${hostname()}#${randomBytes(6).toString('hex')}`;
  private held = false;

  constructor(readonly dir: string) {
    this.file = join(dir, '.lock');
  }

  /** Takes the lock, or throws naming the process that holds it. */
  acquire(): void {
    mkdirSync(this.dir, { recursive: true });
    for (let attempt = 0; attempt < 3; attempt++) {
      if (createExclusive(this.file, this.owner)) {
        this.held = true;
        return;
      }
      const current = readOwner(this.file);
      if (current === undefined) continue; // released meanwhile
      if (!ownerGone(current)) {
        const shown = current.split('#')[0];
        throw new Error(`${this.dir} is in use by process ${shown}; wait for it to finish, or delete ${this.file} if that process is gone`);
      }
      if (this.takeOver(current)) return;
    }
    throw new Error(`${this.dir}: could not take ${this.file} (other processes keep taking it)`);
  }

  /** Replaces the dead lock `stale` by this one, if no other process has claimed that lock before. */
  takeOver(stale: string): boolean {
    const claims = join(this.dir, '.lock-claims');
    mkdirSync(claims, { recursive: true });
    if (!createExclusive(join(claims, createHash('sha1').update(stale).digest('hex')), this.owner)) return false;
    // Only the claimant may touch `.lock` now: its dead owner cannot, and no new lock can be made while it exists.
    rmSync(this.file, { force: true });
    if (!createExclusive(this.file, this.owner)) return false;
    this.held = true;
    return true;
  }

  /** Releases the lock if this process holds it. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (readOwner(this.file) === this.owner) rmSync(this.file, { force: true });
  }
}

/** Who holds the lock on `dir` (`pid@host`), if a process that is not gone does; else undefined. */
export function lockHolder(dir: string): string | undefined {
  const owner = readOwner(join(dir, '.lock'));
  return owner === undefined || ownerGone(owner) ? undefined : owner.split('#')[0];
}

function readOwner(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** True when the owner ran on this host and its process is gone (other hosts' processes cannot be checked). */
function ownerGone(owner: string): boolean {
  const [pidHost] = owner.split('#');
  const at = pidHost.lastIndexOf('@');
  const pid = Number(pidHost.slice(0, at));
  if (pidHost.slice(at + 1) !== hostname()) return false;
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code !== 'EPERM';
  }
}
