// Times auroc() against scikit-learn's roc_auc_score on the same seeded data, same machine, same run.
// Run: flock /tmp/bench.lock npm run bench -w @moco-cxr/eval-metrics   (builds first; needs /usr/bin/python3 + sklearn)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { auroc } from '@moco-cxr/eval-metrics';

const dir = mkdtempSync(join(tmpdir(), 'auroc-bench-'));
const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
// The machine-wide OpenBLAS overrides are for other tools; numpy gets its defaults here.
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;
const py = spawnSync('/usr/bin/python3', [new URL('./auroc_sklearn.py', import.meta.url).pathname, join(dir, 'data')], {
  env,
  encoding: 'utf8',
  maxBuffer: 1 << 24,
});
if (py.status !== 0) throw new Error(`auroc_sklearn.py failed (exit ${py.status}):\n${py.stderr}`);
const ref = JSON.parse(py.stdout);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}, scikit-learn ${ref.sklearn}, numpy ${ref.numpy}, python ${ref.python}`);
console.log('| n | scores | auroc() ms (CPU ms) | roc_auc_score ms (CPU ms) | sklearn / ours, wall | CPU | abs. difference |');
console.log('|---|---|---|---|---|---|---|');
for (const r of ref.results) {
  const buf = readFileSync(r.path);
  const all = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
  const labels = all.subarray(0, r.n);
  const scores = all.subarray(r.n);
  auroc(labels, scores);
  const times = [];
  const cpu = [];
  let value = 0;
  for (let i = 0; i < r.reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    value = auroc(labels, scores);
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const ours = median(times);
  const oursCpu = median(cpu);
  console.log(
    `| ${r.n.toLocaleString('en')} | ${r.kind} | ${ours.toFixed(1)} (${oursCpu.toFixed(1)}) | ${r.medianMs.toFixed(1)} (${r.medianCpuMs.toFixed(1)}) | ` +
      `${(r.medianMs / ours).toFixed(2)}x | ${(r.medianCpuMs / oursCpu).toFixed(2)}x | ${Math.abs(value - r.auroc).toExponential(1)} |`,
  );
}
console.log(`load average at the end (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')} on 2 vCPU`);
rmSync(dir, { recursive: true, force: true });
