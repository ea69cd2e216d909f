// The demo tab's code in Node, on the seeds given: what a schedule gives on seeds other than the page's.
// cd packages/web && node --conditions=@moco-cxr/source --import ../runner/src/test-support/ts-register.mjs scripts/demo-seeds.ts 11 12 13
// SCHEDULE='{"epochs":8}' overrides fields of the full schedule.
import { initBackend } from '@moco-cxr/compute';
import { runDemo } from '../src/demo/run-demo';
import { DEMO_SCHEDULE } from '../src/demo/schedule';

const over = JSON.parse(process.env.SCHEDULE ?? '{}');
await initBackend({ prefer: 'wasm', threads: 1 });
for (const seed of process.argv.slice(2).map(Number)) {
  const r = await runDemo({ ...DEMO_SCHEDULE, ...over, seed });
  const last = r.epochs.at(-1)!;
  for (const c of r.comparisons) {
    process.stdout.write(`seed ${seed} fraction ${c.fraction}: MoCo ${c.moco.estimate.toFixed(3)} random ${c.random.estimate.toFixed(3)} diff ${c.difference.estimate.toFixed(3)} [${c.difference.lower.toFixed(3)}, ${c.difference.upper.toFixed(3)}]; probe kNN ${r.epochs[0].knnAuroc.toFixed(3)} -> ${last.knnAuroc.toFixed(3)}; ${r.seconds.toFixed(0)} s\n`);
  }
}
