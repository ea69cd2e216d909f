// `npm run bench -w @moco-cxr/backbones [-- script.ts args...]`: runs a bench script from TypeScript
// source (default: train-step.ts) under flock /tmp/bench.lock, so benchmarks never overlap.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const script = args[0]?.endsWith('.ts') ? args.shift() : 'train-step.ts';
const node = [
  process.execPath,
  '--conditions=@moco-cxr/source',
  '--max-old-space-size=8192',
  '--import',
  new URL('./register.mjs', import.meta.url).href,
  `${here}${script}`,
  ...args,
];
const run = process.env.MOCO_CXR_BENCH_LOCKED ? spawnSync(node[0], node.slice(1), { stdio: 'inherit' }) : spawnSync('flock', ['/tmp/bench.lock', ...node], { stdio: 'inherit', env: { ...process.env, MOCO_CXR_BENCH_LOCKED: '1' } });
process.exit(run.status ?? 1);
