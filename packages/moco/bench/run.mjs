// `npm run bench -w @moco-cxr/moco [-- script.ts args...]`: runs a bench script from the TypeScript
// sources (default: moco-step.ts) under flock /tmp/bench.lock, so benchmarks never overlap.
//   moco-step.ts          MoCo step vs plain training step vs PyTorch, 64/128/224 px
//   kermany-pretrain.ts   real learning run on Kermany train at 64 px + linear-probe evaluation
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const script = args[0]?.endsWith('.ts') ? args.shift() : 'moco-step.ts';
const node = [
  process.execPath,
  '--conditions=@moco-cxr/source',
  '--max-old-space-size=8192',
  '--import',
  new URL('./register.mjs', import.meta.url).href,
  `${here}${script}`,
  ...args,
];
const locked = process.env.MOCO_CXR_BENCH_LOCKED || process.env.MOCO_CXR_NO_LOCK;
const run = locked ? spawnSync(node[0], node.slice(1), { stdio: 'inherit' }) : spawnSync('flock', ['/tmp/bench.lock', ...node], { stdio: 'inherit', env: { ...process.env, MOCO_CXR_BENCH_LOCKED: '1' } });
process.exit(run.status ?? 1);
