// The Kermany config's MoCo pretraining (examples/kermany.yaml, ResNet18 64 px, batch 32, K 4096,
// per-epoch monitor included) against the PyTorch reference script of the same protocol
// (../shared/reference/pytorch-reference/moco_cxr_ref.py pretrain, 2 threads, no monitor), both
// whole processes timed by wall clock, interleaved round by round (tools/bench/interleave.mjs).
// Each side's image cache is built once in an untimed warm-up run, so the rounds time pretraining.
// Figures are epochs per hour of wall time, so ours / PyTorch >= 1.25 is a wall time at most 0.8x the
// reference's. Each side trains on its own train split as it stands: ours the config's (patients
// shared with test dropped, 10% held out for validation), the reference's its own.
//
//   npm run build && node packages/runner/bench/pretrain-vs-reference.mjs [--epochs 10] [--rounds 5] [--work DIR] [--allow-load]
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchSettings, interleave, interleavedTable } from '../../../tools/bench/interleave.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const root = fileURLToPath(new URL('../../..', import.meta.url));
const epochs = Number(arg('epochs', '10'));
const work = resolve(arg('work', join(tmpdir(), 'moco-cxr-pretrain-bench')));
const cli = join(root, 'packages/runner/dist/cli.js');
const reference = resolve(root, '../shared/reference/pytorch-reference/moco_cxr_ref.py');
const data = resolve(root, '../shared/data/kermany-pediatric-cxr-224');
const settings = benchSettings();

mkdirSync(work, { recursive: true });
// The study's config with two threads (as the reference) and one image cache for every round.
const config = join(work, 'kermany-bench.yaml');
writeFileSync(config, `extends: ${JSON.stringify(join(root, 'packages/runner/examples/kermany.yaml'))}\nthreads: 2\ndata:\n  root: ${JSON.stringify(data)}\n  cacheDir: ${JSON.stringify(join(work, 'cache'))}\n`);

const wall = (file, args, env = {}) => {
  const t = performance.now();
  execFileSync(file, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  return (performance.now() - t) / 1000;
};
const ours = (out, n) => wall(process.execPath, [cli, 'pretrain', '-c', config, '-o', out, '--epochs', String(n)]);
const theirs = (out, n) => wall('/usr/bin/python3', [reference, 'pretrain', '--out', out, '--max-epochs', String(n), '--budget-s', '1000000'], { KERMANY: data });

// Untimed warm-up: builds our cache and the reference's npz (linked into every later round's folder).
rmSync(join(work, 'warm-ours'), { recursive: true, force: true });
ours(join(work, 'warm-ours'), 1);
mkdirSync(join(work, 'warm-ref'), { recursive: true });
theirs(join(work, 'warm-ref'), 1);
let runs = 0;
const fresh = (side) => {
  const dir = join(work, `${side}-${runs++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (side === 'ref') symlinkSync(join(work, 'warm-ref', 'kermany64.npz'), join(dir, 'kermany64.npz'));
  return dir;
};
console.log(`Kermany pretraining, ${epochs} epochs each side, figures in epochs per hour of wall time`);
const perHour = (s) => (epochs * 3600) / s;
const results = interleave(
  [
    {
      label: `Kermany config, ${epochs} MoCo epochs (ours with its monitor)`,
      ours: () => perHour(ours(fresh('ours'), epochs)),
      torch: () => perHour(theirs(fresh('ref'), epochs)),
    },
  ],
  { rounds: settings.rounds, onRun: (r) => console.log(`  round ${r.round + 1}, ${r.side === 'torch' ? 'reference' : 'ours'}: ${r.value.toFixed(2)} epochs/h (load ${r.load})`) },
);
console.log(`\n${interleavedTable(results, settings, { unit: 'epochs/h', title: '### Pretraining wall time against the PyTorch reference' })}`);
