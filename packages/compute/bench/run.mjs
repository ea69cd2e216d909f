// Benchmarks for @moco-cxr/compute. Run from the repo root:
//   flock /tmp/bench.lock npm run bench -w @moco-cxr/compute
// 0. microkernels: each GEMM microkernel on one core, GFLOP/s against the core's peak (bench/ukernels.mjs
//    builds and runs the C++ benchmark native/ukernels/gemm_f32_bench.cc);
// 1. kernels: conv forward / filter-grad / input-grad GFLOP/s and a 2048^2 matMul, 1 vs 2 threads
//    (each in a fresh child process, because the thread count is fixed when wasm starts);
// 2. a ResNet18 training step (bench/train-step.mjs, plain tfjs ops) at batch 16 for 64/128/224 px.
//    Ratios against PyTorch come from the interleaved benches (backbones' train-step.ts, moco's
//    moco-step.ts: tools/bench/interleave.mjs), not from one pair of runs here.
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const sizes = (process.env.SIZES ?? '64,128,224').split(',').map(Number);
const run = (args, opts = {}) => {
  const r = spawnSync(args[0], args.slice(1), { cwd: here, encoding: 'utf8', timeout: 3_600_000, ...opts });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
};

const out = { ukernels: [], kernels: {}, trainStep: [] };
if (!process.env.SKIP_UKERNELS) out.ukernels = run([process.execPath, 'ukernels.mjs']);
if (!process.env.SKIP_KERNELS) {
  for (const threads of [1, 2]) out.kernels[`threads${threads}`] = run([process.execPath, 'kernels.mjs', String(threads)])[0];
}
if (!process.env.SKIP_STEP) {
  for (const threads of (process.env.THREADS ?? '2,1').split(',').map(Number)) {
    for (const size of sizes) {
      const [w] = run([process.execPath, 'train-step.mjs', String(size), String(threads)]);
      out.trainStep.push({ size, batch: 16, wasmThreads: w.threads, wasmImgPerSec: +w.imgPerSec.toFixed(2), wasmRssMiB: w.rssMiB });
      console.log(JSON.stringify(out.trainStep.at(-1)));
    }
  }
}
console.log(JSON.stringify(out, null, 2));

// Append this run to the package's benchmark notes, with the machine load it saw.
const docs = fileURLToPath(new URL('../../../docs/benchmarks/compute.md', import.meta.url));
const lines = [`\n## npm run bench, ${new Date().toISOString()} (load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')})\n`];
for (const u of out.ukernels) {
  if (u.notRun) lines.push(`- microkernel ${u.ukernel}: not run (${u.notRun})`);
  else lines.push(`- microkernel ${u.ukernel}: ${u.gflops} GFLOP/s at kc ${u.kc}, ${u.fractionOfPeak} of a ${u.peakGflops} GFLOP/s peak (${u.ghz} GHz ${u.clock}, ${u.fmaUnits} FMA units x ${u.lanes} lanes)`);
}
for (const [k, v] of Object.entries(out.kernels)) lines.push(`- kernels ${k}: ${JSON.stringify(v)}`);
if (out.trainStep.length > 0) {
  lines.push('', '| px | wasm threads | img/s | RSS MiB |', '|---|---|---|---|');
  for (const r of out.trainStep) lines.push(`| ${r.size} | ${r.wasmThreads} | ${r.wasmImgPerSec} | ${r.wasmRssMiB} |`);
}
appendFileSync(docs, lines.join('\n') + '\n');
