// Starts the threaded wasm backend in N fresh processes (ESM and CJS builds alternately) and
// counts how many came up with >1 thread, fell back, hung or crashed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const n = Number(process.argv[2] ?? 30);
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const esm = `import * as tf from '@tensorflow/tfjs-core';
const { initBackend } = await import(${JSON.stringify(dist + 'index.js')});
const t = performance.now(); const info = await initBackend({ threads: 2 });
const y = tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])).dataSync()[0];
console.log(JSON.stringify({ threads: info.threads, ms: Math.round(performance.now() - t), y, notes: info.notes.filter((s) => s.startsWith('wasm')) }));`;
const cjs = `const tf = require('@tensorflow/tfjs-core');
const { initBackend } = require(${JSON.stringify(dist + 'index.cjs')});
(async () => { const t = performance.now(); const info = await initBackend({ threads: 2 });
const y = tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])).dataSync()[0];
console.log(JSON.stringify({ threads: info.threads, ms: Math.round(performance.now() - t), y, notes: info.notes.filter((s) => s.startsWith('wasm')) })); })();`;
const counts = { threaded: 0, fallback: 0, hung: 0, crashed: 0 };
const times = [];
for (let i = 0; i < n; i++) {
  const kind = i % 2 === 0 ? 'esm' : 'cjs';
  const args = kind === 'esm' ? ['--input-type=module', '-e', esm] : ['-e', cjs];
  const r = spawnSync(process.execPath, args, { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000, encoding: 'utf8' });
  let line = null;
  try { line = JSON.parse(r.stdout.trim().split('\n').pop()); } catch { line = null; }
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM') counts.hung++;
  else if (r.status !== 0 || !line || line.y !== 256) { counts.crashed++; console.log(kind, 'crash', r.status, r.stderr.slice(0, 400)); }
  else if (line.threads > 1) { counts.threaded++; times.push(line.ms); }
  else { counts.fallback++; console.log(kind, 'fallback', line.notes); }
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ launches: n, ...counts, initMsMedian: times[Math.floor(times.length / 2)], initMsMax: times[times.length - 1] }));
