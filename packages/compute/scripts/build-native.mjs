// `npm install` hook: builds the native kernels with node-gyp. Nothing here may fail the install
// (npm ci of the whole workspace would fail with it): every outcome exits 0, and a build that did
// not happen leaves build/native-build.json with the reason, which initBackend() reports.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, 'build');
const log = path.join(buildDir, 'native-build.log');
const status = path.join(buildDir, 'native-build.json');

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

/** Writes the log and the outcome; node-gyp's clean step may have removed build/, so it is made again. */
function record(ok, reason, logText) {
  try {
    mkdirSync(buildDir, { recursive: true });
    writeFileSync(log, logText);
    writeFileSync(status, `${JSON.stringify({ ok, reason, log, time: new Date().toISOString() })}\n`);
    return log;
  } catch (e) {
    return `not written (${e instanceof Error ? e.message : String(e)})`;
  }
}

function build() {
  if (process.env.MOCO_CXR_SKIP_NATIVE_BUILD) {
    const reason = 'MOCO_CXR_SKIP_NATIVE_BUILD was set at install';
    record(false, reason, `${reason}\n`);
    console.log(`@moco-cxr/compute: ${reason}; native kernels not built (training uses the wasm kernels)`);
    return;
  }
  const gyp = nodeGyp();
  if (!gyp) {
    const at = record(false, 'node-gyp was not found at install', 'node-gyp not found\n');
    console.warn(`@moco-cxr/compute: node-gyp not found; native kernels not built (training uses the wasm kernels). Log: ${at}`);
    return;
  }
  const t0 = Date.now();
  const run = spawnSync(process.execPath, [gyp, 'rebuild', '--jobs', 'max'], { cwd: root, encoding: 'utf8', env: process.env });
  const text = `${run.stdout ?? ''}\n${run.stderr ?? ''}\n${run.error ? String(run.error) : ''}`;
  if (run.status === 0) {
    record(true, '', text);
    console.log(`@moco-cxr/compute: native kernels built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return;
  }
  // The first error line node-gyp printed after its own banner says most (a missing header, compiler, python).
  const lines = (run.stderr || '').split('\n').map((l) => l.trim());
  const why = lines.find((l) => /gyp ERR! (stack )?Error:|error:/i.test(l)) ?? lines.find((l) => /error/i.test(l)) ?? (run.error ? String(run.error) : `node-gyp exited with ${run.signal ?? run.status}`);
  const reason = `the native build failed at install: ${why}`;
  const at = record(false, reason, text);
  console.warn(`@moco-cxr/compute: ${reason}; training uses the wasm kernels. Log: ${at}`);
}

try {
  build();
} catch (e) {
  // Even a bug here must not fail the install: say it, and leave the wasm kernels in charge.
  const reason = `the native build script failed at install: ${e instanceof Error ? e.message : String(e)}`;
  record(false, reason, `${e instanceof Error ? e.stack : String(e)}\n`);
  console.warn(`@moco-cxr/compute: ${reason}; training uses the wasm kernels`);
}
process.exit(0);
