// Times pairedBootstrap (500 replicates, 5 draws per side, 10,000 rows) against the same job in
// numpy + scikit-learn (roc_auc_score in a loop), same data, same machine, same run.
// Run: flock /tmp/bench.lock npm run bench -w @moco-cxr/bootstrap   (builds first; needs /usr/bin/python3 + sklearn)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pairedBootstrap } from '@moco-cxr/bootstrap';

const dir = mkdtempSync(join(tmpdir(), 'bootstrap-bench-'));
const dataPath = join(dir, 'data.f64');
const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
// The machine-wide OpenBLAS overrides are for other tools; numpy gets its defaults here.
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;
const py = spawnSync('/usr/bin/python3', [new URL('./bootstrap_sklearn.py', import.meta.url).pathname, dataPath], { env, encoding: 'utf8' });
if (py.status !== 0) throw new Error(`bootstrap_sklearn.py failed (exit ${py.status}):\n${py.stderr}`);
const ref = JSON.parse(py.stdout);

const buf = readFileSync(dataPath);
const all = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
const { n, draws, replicates } = ref;
const labels = all.subarray(0, n);
const side = (k) => Array.from({ length: draws }, (_, d) => all.subarray((1 + k * draws + d) * n, (2 + k * draws + d) * n));
const a = side(0);
const b = side(1);

const runs = [];
let result;
for (let i = 0; i < 5; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  result = pairedBootstrap(labels, a, b, { seed: 7, replicates });
  const cpu = process.cpuUsage(c0);
  runs.push({ wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
}
const first = runs[0];
// Median by wall time; on a shared machine CPU time is the steadier figure.
const median = [...runs].sort((x, y) => x.wall - y.wall)[2];
const fmt = (iv) => `${iv.estimate.toFixed(4)} [${iv.lower.toFixed(4)}, ${iv.upper.toFixed(4)}]`;
const fmtRef = (point, ci) => `${point.toFixed(4)} [${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}]`;

console.log(`node ${process.version}, scikit-learn ${ref.sklearn}, numpy ${ref.numpy}, python ${ref.python}`);
console.log(`job: ${replicates} replicates x ${draws} draws per side x ${n.toLocaleString('en')} rows, AUROC, one core`);
console.log(`load average at the end (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')} on 2 vCPU`);
console.log('| implementation | wall s | CPU s | ratio, wall (sklearn / ours) | ratio, CPU |');
console.log('|---|---|---|---|---|');
const row = (name, r) =>
  console.log(`| ${name} | ${r.wall.toFixed(3)} | ${r.cpu.toFixed(3)} | ${(ref.seconds / r.wall).toFixed(1)}x | ${(ref.cpuSeconds / r.cpu).toFixed(1)}x |`);
row('pairedBootstrap, first call', first);
row('pairedBootstrap, median of 5', median);
console.log(`| numpy + roc_auc_score loop | ${ref.seconds.toFixed(3)} | ${ref.cpuSeconds.toFixed(3)} | 1.0x | 1.0x |`);
console.log(`A    ours ${fmt(result.a)} | sklearn ${fmtRef(ref.a, ref.ciA)}`);
console.log(`B    ours ${fmt(result.b)} | sklearn ${fmtRef(ref.b, ref.ciB)}`);
console.log(`A-B  ours ${fmt(result.difference)} | sklearn ${fmtRef(ref.a - ref.b, ref.ciDiff)}`);
console.log(`point estimates |ours - sklearn|: A ${Math.abs(result.a.estimate - ref.a).toExponential(1)}, B ${Math.abs(result.b.estimate - ref.b).toExponential(1)}`);
console.log(`p-value ${result.pValue.toFixed(4)}, degenerate replicates: ours ${result.degenerate.count}, sklearn loop ${ref.redrawn}`);
rmSync(dir, { recursive: true, force: true });
