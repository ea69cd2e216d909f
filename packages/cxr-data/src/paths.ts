import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
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
