// Runs a package's TypeScript bench script from source under flock /tmp/bench.lock, so benchmarks never overlap.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `benchDir`: the package's bench/ URL; `defaultScript`: run when argv names no .ts script. */
export function runTsBench(benchDir, defaultScript, argv = process.argv.slice(2)) {
  const args = [...argv];
  const script = args[0]?.endsWith('.ts') ? args.shift() : defaultScript;
  const node = [
    process.execPath,
    '--conditions=@moco-cxr/source',
    '--max-old-space-size=8192',
    '--import',
    new URL('./register.mjs', import.meta.url).href,
    fileURLToPath(new URL(script, benchDir)),
    ...args,
  ];
  const locked = process.env.MOCO_CXR_BENCH_LOCKED || process.env.MOCO_CXR_NO_LOCK;
  const run = locked
    ? spawnSync(node[0], node.slice(1), { stdio: 'inherit' })
    : spawnSync('flock', ['/tmp/bench.lock', ...node], { stdio: 'inherit', env: { ...process.env, MOCO_CXR_BENCH_LOCKED: '1' } });
  return run.status ?? 1;
}
