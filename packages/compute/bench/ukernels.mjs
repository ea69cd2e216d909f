// GFLOP/s of each GEMM microkernel (native/ukernels) on one core, against the core's peak: builds
// native/ukernels/gemm_f32_bench.cc with the addon's flags (scripts/compile-ukernels.mjs) and runs it.
//   node bench/ukernels.mjs [--ukernel gemm_f32_12x32__avx512] [--kc 256] [--seconds 1] [--fma-units 2] [--ghz 3.1]
// One JSON line per microkernel (see gemm_f32_bench.cc for the peak and how the clock is taken);
// a microkernel this CPU cannot run gets a line saying which features it lacks.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileUkernelProgram } from '../scripts/compile-ukernels.mjs';

const work = mkdtempSync(path.join(tmpdir(), 'moco-ukernels-bench-'));
try {
  const { exe } = await compileUkernelProgram({ main: 'native/ukernels/gemm_f32_bench.cc', outDir: work });
  const r = spawnSync(exe, process.argv.slice(2), { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`gemm_f32_bench exited with ${r.signal ?? r.status}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
