import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runner = fileURLToPath(new URL('../..', import.meta.url));
const packages = join(runner, '..');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Node arguments that start `moco-cxr` in a separate process: the built CLI when it is newer than
 * every package's sources (CI builds first), else the sources through esbuild (ts-hooks.mjs beside this file).
 */
export function cliProcessArgs(): string[] {
  const built = join(runner, 'dist', 'cli.js');
  let builtAt = 0;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    // not built
  }
  const sources = Math.max(0, ...readdirSync(packages).filter((p) => existsSync(join(packages, p, 'src'))).map((p) => newestSource(join(packages, p, 'src'))));
  if (builtAt > sources) return [built];
  return ['--conditions=@moco-cxr/source', '--import', join(runner, 'src', 'test-support', 'ts-register.mjs'), join(runner, 'src', 'cli', 'cli.ts')];
}
