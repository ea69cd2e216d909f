// `npm install` hook: builds the native kernels with node-gyp. A failed build never fails the
// install: training then runs on the wasm kernels, and initBackend()'s notes say why.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const log = path.join(root, 'build', 'native-build.log');

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const npmDir = path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  for (const base of [root, npmDir]) {
    try {
      return createRequire(path.join(base, 'noop.js')).resolve('node-gyp/bin/node-gyp.js');
    } catch {}
  }
  return null;
}

if (process.env.MOCO_CXR_SKIP_NATIVE_BUILD) {
  console.log('@moco-cxr/compute: MOCO_CXR_SKIP_NATIVE_BUILD is set; native kernels not built (training uses the wasm kernels)');
  process.exit(0);
}
const gyp = nodeGyp();
mkdirSync(path.dirname(log), { recursive: true });
if (!gyp) {
  writeFileSync(log, 'node-gyp not found\n');
  console.warn('@moco-cxr/compute: node-gyp not found; native kernels not built (training uses the wasm kernels)');
  process.exit(0);
}
const t0 = Date.now();
const run = spawnSync(process.execPath, [gyp, 'rebuild', '--jobs', 'max'], { cwd: root, encoding: 'utf8', env: process.env });
writeFileSync(log, `${run.stdout ?? ''}\n${run.stderr ?? ''}\n${run.error ? String(run.error) : ''}`);
if (run.status === 0) {
  console.log(`@moco-cxr/compute: native kernels built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} else {
  const why = (run.stderr || String(run.error ?? '')).split('\n').find((l) => /error/i.test(l)) ?? `exit ${run.status}`;
  console.warn(`@moco-cxr/compute: native kernel build failed (${why.trim()}); training uses the wasm kernels. Log: ${log}`);
}
process.exit(0);
