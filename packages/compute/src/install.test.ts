// `npm ci` must never fail on the addon's account. Here the install script runs on a copy of the
// package the way a machine with no Node headers and no network runs it: node-gyp removes build/,
// then cannot fetch the headers. The install still succeeds, and initBackend says why the native
// kernels are off, as a warning.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';

const pkgRoot = fileURLToPath(new URL('..', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'compute-install-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A copy of what the published package holds for its install step (never the working tree's build/). */
function packageCopy(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  cpSync(join(pkgRoot, 'native'), join(dir, 'native'), { recursive: true });
  cpSync(join(pkgRoot, 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(join(pkgRoot, 'scripts', 'build-native.mjs'), join(dir, 'scripts', 'build-native.mjs'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `install-check-${name}`, version: '0.0.0', private: true, scripts: { install: 'node scripts/build-native.mjs' }, gypfile: true }));
  return dir;
}

/** No local headers (no nodedir, an empty header cache) and a header URL nothing answers. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_devdir: mkdtempSync(join(root, 'devdir-')), npm_config_dist_url: 'http://127.0.0.1:59999', npm_config_audit: 'false', npm_config_fund: 'false' };
  for (const k of ['npm_config_nodedir', 'npm_config_tarball', 'MOCO_CXR_SKIP_NATIVE_BUILD']) delete env[k];
  env.npm_config_nodedir = '';
  return env;
}

describe('install with no Node headers and no network', () => {
  let dir = '';

  it('the install script exits 0 after node-gyp removed build/, and records the reason', () => {
    dir = packageCopy('script');
    // A build folder from an earlier install: node-gyp's clean step removes it before failing.
    mkdirSync(join(dir, 'build'));
    writeFileSync(join(dir, 'build', 'stale.txt'), 'from an earlier build');
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: dir, env: offlineEnv(), encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(existsSync(join(dir, 'build', 'stale.txt'))).toBe(false);
    expect(existsSync(join(dir, 'build', 'Release', 'moco_cxr_native.node'))).toBe(false);
    expect(r.stderr).toMatch(/@moco-cxr\/compute: the native build failed at install: .*; training uses the wasm kernels\. Log: /);
    const status = JSON.parse(readFileSync(join(dir, 'build', 'native-build.json'), 'utf8')) as { ok: boolean; reason: string; log: string };
    expect(status).toMatchObject({ ok: false, reason: expect.stringMatching(/^the native build failed at install: gyp ERR!/) });
    expect(readFileSync(status.log, 'utf8')).toContain('gyp ERR!');
  });

  it('npm install runs that script and succeeds when the Node headers npm points node-gyp at are missing', () => {
    const npmDir = packageCopy('npm');
    // npm hands its own config (nodedir from the npmrc) to the script: an empty nodedir on its command line.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.toLowerCase().startsWith('npm_config_')) delete env[k];
    const noHeaders = mkdtempSync(join(root, 'nodedir-'));
    const r = spawnSync('npm', ['install', '--offline', '--foreground-scripts', '--no-audit', '--no-fund', `--nodedir=${noHeaders}`], { cwd: npmDir, env, encoding: 'utf8', timeout: 180_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/the native build failed at install/);
    expect(JSON.parse(readFileSync(join(npmDir, 'build', 'native-build.json'), 'utf8'))).toMatchObject({ ok: false });
  });

  it("initBackend (kernels 'auto') falls back to the wasm kernels with a warning that gives the install's reason", async () => {
    const saved = process.env.MOCO_CXR_NATIVE_ADDON;
    // This file's own module state: no other test here has loaded the addon.
    process.env.MOCO_CXR_NATIVE_ADDON = join(dir, 'build', 'Release', 'moco_cxr_native.node');
    const told: string[] = [];
    try {
      const info = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto', onWarning: (w) => told.push(w) });
      expect(info.kernels).toBe('wasm');
      expect(info.nativeIsa).toBeNull();
      expect(info.warnings).toEqual([expect.stringMatching(/^native: the addon was not built \(.*moco_cxr_native\.node is missing; the native build failed at install: gyp ERR!.*; log: .*native-build\.log; .*\); training runs on the wasm kernels$/)]);
      expect(told).toEqual(info.warnings);
      // A second call that the running backend satisfies does not tell it again.
      const again = await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto', onWarning: (w) => told.push(w) });
      expect(again.warnings).toEqual(info.warnings);
      expect(told).toHaveLength(1);
      await expect(initBackend({ prefer: 'wasm', threads: 1, kernels: 'native' })).rejects.toThrow(/native kernels were requested but the addon was not built .*the native build failed at install/);
    } finally {
      if (saved === undefined) delete process.env.MOCO_CXR_NATIVE_ADDON;
      else process.env.MOCO_CXR_NATIVE_ADDON = saved;
    }
  });
});
