// GFLOP/s of each GEMM microkernel (native/ukernels) on one core, against the core's peak:
//   node bench/ukernels.mjs [--ukernel gemm_f32_12x32__avx512] [--kc 256] [--seconds 1] [--ghz 3.1] [--fma-units 2]
// One JSON line per microkernel this CPU runs (or the one named): full-tile calls at depth kc,
// accumulating into one C tile, as the drivers call it for every KC block after the first.
// The peak is ghz x vector FMA units x lanes x 2 flops (fused; unfused steps use the same units
// for the product and the sum, so half that). --ghz defaults to the highest "cpu MHz" in
// /proc/cpuinfo, which is not the clock a turbo or power-saving core ran at: quote it with the
// fraction. --fma-units defaults to 2 (one on some AVX-512 parts).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = args[i + 1];
  if (v === undefined) throw new Error(`--${name} needs a value`);
  return v;
}

function cpuGhz() {
  try {
    const mhz = [...readFileSync('/proc/cpuinfo', 'utf8').matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
    return mhz.length > 0 ? Math.max(...mhz) / 1000 : null;
  } catch {
    return null;
  }
}

const file = process.env.MOCO_CXR_NATIVE_ADDON ?? fileURLToPath(new URL('../build/Release/moco_cxr_native.node', import.meta.url));
const addon = createRequire(import.meta.url)(file);
const kc = Number(opt('kc', '256'));
const seconds = Number(opt('seconds', '1'));
const ghzArg = opt('ghz', null);
const ghz = ghzArg === null ? cpuGhz() : Number(ghzArg);
const fmaUnits = Number(opt('fma-units', '2'));
const only = opt('ukernel', null);
if (!(kc >= 1) || !(seconds > 0) || !(fmaUnits >= 1)) throw new Error('--kc, --seconds and --fma-units must be positive');

const all = addon.gemmUkernels();
const chosen = all.filter((u) => (only ? u.name === only : u.runs));
if (only && chosen.length === 0) throw new Error(`no microkernel named ${only} (built: ${all.map((u) => u.name).join(', ')})`);

for (const uk of chosen) {
  if (!uk.runs) throw new Error(`this CPU cannot run ${uk.name}`);
  const flopsPerCall = 2 * uk.mr * uk.nr * kc;
  // Calibrate on a short run, then time enough calls for `seconds`; the best of three runs.
  let calls = 16;
  while (addon.timeGemmUkernel(uk.name, kc, calls) < seconds / 20 && calls < 2 ** 30) calls *= 2;
  const t = addon.timeGemmUkernel(uk.name, kc, calls);
  calls = Math.max(1, Math.round((calls * seconds) / 3 / Math.max(t, 1e-9)));
  let best = Infinity;
  for (let r = 0; r < 3; r++) best = Math.min(best, addon.timeGemmUkernel(uk.name, kc, calls));
  const gflops = (flopsPerCall * calls) / best / 1e9;
  const lanes = uk.nr / 2;
  const peak = ghz ? ghz * fmaUnits * lanes * (uk.fused ? 2 : 1) : null;
  console.log(
    JSON.stringify({
      ukernel: uk.name,
      isa: uk.isa,
      tile: `${uk.mr}x${uk.nr}`,
      kc,
      calls,
      gflops: +gflops.toFixed(2),
      peakGflops: peak === null ? null : +peak.toFixed(1),
      fractionOfPeak: peak === null ? null : +(gflops / peak).toFixed(3),
      ghz: ghz === null ? null : +ghz.toFixed(2),
      fmaUnits,
    }),
  );
}
