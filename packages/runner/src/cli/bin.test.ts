import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from './commands';

const pkgDir = join(__dirname, '..', '..');
const root = join(pkgDir, '..', '..');
const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs the `moco-cxr` that `npm ci` linked into the repository's node_modules/.bin (what `npx moco-cxr` runs). */
function mocoCxr(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'node_modules', '.bin', 'moco-cxr'), ...args], { cwd: root, encoding: 'utf8' });
}

// A fresh checkout has no dist/ yet: the first call builds it, hence the long timeout.
describe('npx moco-cxr', { timeout: 300_000 }, () => {
  it('is linked by npm ci to the always-present bin script', () => {
    expect(realpathSync(join(root, 'node_modules', '.bin', 'moco-cxr'))).toBe(realpathSync(join(pkgDir, 'bin', 'moco-cxr.js')));
  });

  it('--help lists every command on stdout and exits 0; --version prints the package version', () => {
    const help = mocoCxr('--help');
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: moco-cxr <command> [options]');
    for (const c of commands) expect(help.stdout).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const v = mocoCxr('--version');
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toBe(`${version}\n`);
    const bad = mocoCxr('pretrian');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('moco-cxr: unknown command "pretrian"');
  });
});
