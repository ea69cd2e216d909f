import { type Dirent, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CxrDataError } from './errors';

/**
 * Checks that a dataset path is relative and stays inside `root`; returns the absolute path.
 * `where` names the CSV row or file the path came from, for the error message.
 */
export function resolveInsideRoot(root: string, path: string, where?: string): string {
  const at = where ? `${where}: ` : '';
  if (path.length === 0) throw new CxrDataError(`${at}empty image path`);
  if (path.includes('\0')) throw new CxrDataError(`${at}image path ${JSON.stringify(path)} contains a NUL byte`);
  if (isAbsolute(path) || /^[a-zA-Z]:[\\/]/.test(path) || path.startsWith('\\')) {
    throw new CxrDataError(`${at}image path ${JSON.stringify(path)} is absolute; paths must be relative to the data root ${root}`);
  }
  const absRoot = resolve(root);
  const abs = resolve(absRoot, path);
  const rel = relative(absRoot, abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new CxrDataError(`${at}image path ${JSON.stringify(path)} escapes the data root ${absRoot}`);
  }
  return abs;
}

let lastRoot = '';
let lastRealRoot = '';
/** realpath of the root, remembered for the common case of many paths under one root. */
function realRootOf(root: string): string {
  if (root !== lastRoot) {
    lastRealRoot = realpathSync(root);
    lastRoot = root;
  }
  return lastRealRoot;
}

/** Like resolveInsideRoot, and also follows symlinks so a link cannot point outside the root. */
export function realPathInsideRoot(root: string, path: string, where?: string): string {
  const abs = resolveInsideRoot(root, path, where);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (err) {
    throw new CxrDataError(`cannot read image ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${where ? ` (${where})` : ''}`, abs);
  }
  const realRoot = realRootOf(resolve(root));
  const rel = relative(realRoot, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new CxrDataError(`image path ${JSON.stringify(path)} resolves (through a symlink) to ${real}, outside the data root ${realRoot}`, abs);
  }
  return real;
}

/**
 * What a directory entry is once symlinks are followed: 'file', 'dir' or 'other'. A link that dangles
 * or resolves outside `root` is refused by name, so a linked dataset is never dropped silently.
 */
export function entryKind(root: string, dir: string, entry: Dirent): 'file' | 'dir' | 'other' {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return 'other';
  const full = join(dir, entry.name);
  let real: string;
  try {
    real = realpathSync(full);
  } catch (err) {
    throw new CxrDataError(`symlink ${full} cannot be followed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, full);
  }
  const realRoot = realRootOf(resolve(root));
  const rel = relative(realRoot, real);
  if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new CxrDataError(`symlink ${full} resolves to ${real}, outside the data root ${realRoot}`, full);
  }
  const st = statSync(real);
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
}

/** Real path of a directory, to stop a walk that a symlink loop would send round forever. */
export function realDir(dir: string): string {
  return realpathSync(dir);
}
