// The native kernels' failure paths and their determinism: a C++ exception on any thread becomes a
// JS error (never the end of the process), dispatch never picks a build the CPU cannot run, and
// BatchNorm's reductions give the same bits however the threads split the rows.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeAddonPath, type NativeAddon } from './native';

const addon = loadNative() as NativeAddon;
const isas = addon ? addon.isas() : [];
const pkgRoot = fileURLToPath(new URL('..', import.meta.url));

/** Runs `code` in a fresh Node process with the addon as `a`: a C++ exception that escapes aborts that process, not the test run. */
function inChild(code: string) {
  const script = `const a = require(${JSON.stringify(nativeAddonPath())});\n${code}`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

describe('native kernels: exceptions never leave C++', () => {
  it('the addon loads', () => {
    expect(addon).not.toBeNull();
  });

  it('a throw on a pool worker, or on the caller, is rethrown by the caller after the worker finished', () => {
    const r = inChild(`console.log(JSON.stringify({ worker: a.testPool('worker'), caller: a.testPool('caller') }));`);
    expect({ status: r.status, signal: r.signal }, r.err).toEqual({ status: 0, signal: null });
    expect(JSON.parse(r.out)).toEqual({ worker: { threw: 'a worker threw', workerFinished: true }, caller: { threw: 'the caller threw', workerFinished: true } });
  });

  it('an exception inside BatchNorm, optimiser (per variable and in place), max-pool, conv and matmul kernels is a JS error naming the kernel; the next call works', () => {
    const r = inChild(`
      const f = (n) => new Float32Array(n).fill(0.5);
      const rows = 40000, c = 3;
      const shape = Int32Array.from([1, 8, 8, 2, 2, 2, 2, 4, 4, 2, 2, 0, 0]);
      const calls = {
        batchNormTrain: (t) => a.batchNormTrain(f(rows * c), f(c), f(c), f(rows * c), f(c), f(c), f(c), rows, c, 1e-5, true, t),
        batchNormTrainGrad: (t) => a.batchNormTrainGrad(f(rows * c), f(rows * c), f(c), f(c), f(c), null, f(rows * c), f(c), f(c), rows, c, t),
        optimizerStep: (t) => a.optimizerStep(1, f(50000), f(50000), f(50000), f(50000), f(50000), f(50000), f(50000), Float64Array.from([0.9, 0.999, 1e-8, 0.01, 0.5, 0]), t),
        optimizerStepInPlace: (t) => a.optimizerStepInPlace(0, [f(50000), f(3)], [f(50000), f(3)], [f(50000), f(3)], [f(50000), f(3)], Float64Array.from([0.9, 0.999, 1e-7, 0.01, 0.5, 0.5]), t),
        maxPoolGrad: (t) => a.maxPoolGrad(f(128), f(32), f(128), shape, t),
        conv2d: (t) => a.conv2d(f(128), f(16), f(32), Int32Array.from([1, 8, 8, 2, 2, 2, 2, 4, 4, 2, 2, 0, 0]), t),
        matmul: (t) => a.matmul(f(64 * 32), f(32 * 48), f(64 * 48), Float64Array.from([1, 64, 32, 48, 0, 0, 0, 0]), t),
      };
      const out = {};
      for (const [name, call] of Object.entries(calls)) {
        for (const t of [1, 2]) {
          a.testInjectFault();
          let message = 'no error';
          try { call(t); } catch (e) { message = e.message; }
          call(t);
          out[name + '/' + t] = message;
        }
      }
      console.log(JSON.stringify(out));`);
    expect({ status: r.status, signal: r.signal }, r.err).toEqual({ status: 0, signal: null });
    const out = JSON.parse(r.out) as Record<string, string>;
    expect(Object.keys(out)).toHaveLength(14);
    for (const [call, message] of Object.entries(out)) expect(message, call).toBe(`@moco-cxr/compute native: ${call.split('/')[0]}: injected fault`);
  });

  it('a scratch buffer whose growth failed allocates again instead of handing out null', () => {
    expect(addon.testScratchAfterFailure()).toBe(true);
  });

  it('dispatch requires every CPU feature each build is compiled for', () => {
    const features = addon.isaFeatures();
    // native/isa.h names each set's features once; its `#pragma GCC target` is built from that list.
    const isaH = readFileSync(`${pkgRoot}native/isa.h`, 'utf8');
    const ukernelFiles = readdirSync(`${pkgRoot}native/ukernels`);
    for (const isa of ['avx512', 'avx2'] as const) {
      const list = `MOCO_${isa.toUpperCase()}_FEATURES`;
      const listed = isaH.match(new RegExp(`#define ${list}\\(X\\) (.*)`))?.[1];
      expect(listed, isa).toBeDefined();
      const names = [...listed!.matchAll(/X\("([^"]+)"\)/g)].map((m) => m[1]);
      if (process.arch === 'x64') expect(features[isa], isa).toEqual(names);
      const macro = `MOCO_COMPILE_${isa.toUpperCase()}`;
      expect(isaH, isa).toContain(`defined(${macro})\nMOCO_PRAGMA(GCC target(${list}(MOCO_TARGET_ITEM)))`);
      const files = ukernelFiles.filter((f) => f.endsWith(`__${isa}.cc`));
      expect(files, isa).toHaveLength(1);
      expect(readFileSync(`${pkgRoot}native/ukernels/${files[0]}`, 'utf8'), files[0]).toMatch(new RegExp(`#define ${macro}\\n#include "\\.\\./isa\\.h"`));
    }
    expect(features.generic).toEqual([]);
    // Only the microkernels are compiled per instruction set: no other source selects a target or tests a feature.
    const others = readdirSync(`${pkgRoot}native`).filter((f) => /\.(cc|h|inl)$/.test(f) && f !== 'isa.h');
    for (const f of others) expect(readFileSync(`${pkgRoot}native/${f}`, 'utf8'), f).not.toMatch(/#pragma GCC target|MOCO_COMPILE_|__attribute__\(\(target/);
    const testing = [...others, ...ukernelFiles.map((f) => `ukernels/${f}`)].filter((f) => /\.(cc|h|inl)$/.test(f) && /__builtin_cpu_supports|cpuid/.test(readFileSync(`${pkgRoot}native/${f}`, 'utf8')));
    expect(testing).toEqual(['cpu.cc']);
  });
});

// Per channel: large values (up to 1e12) in the first half of the rows, each negated in the second
// half, between values near 1 that do not cancel. The exact sums are small and the running sums
// huge, so every change in how the sums are grouped shows in the float results.
function adversarial(rng: Rng, rows: number, c: number): Float32Array {
  const v = new Float32Array(rows * c);
  const half = Math.floor(rows / 2);
  for (let r = 0; r < half; r++) {
    for (let j = 0; j < c; j++) {
      const big = r % 2 === 0;
      v[r * c + j] = big ? Math.sign(rng.normal()) * 10 ** rng.uniform(6, 12) : rng.normal();
      v[(r + half) * c + j] = big ? -v[r * c + j] : rng.normal();
    }
  }
  return v;
}

for (const isa of isas) {
  describe(`native ${isa}: BatchNorm reductions are bit-identical at any thread count and schedule`, () => {
    it('forward statistics and backward sums: 1 thread, then 60 runs on 2 threads, over rows that split into chunks', () => {
      addon.setIsa(isa);
      const rng = new Rng(15);
      const rows = 40000;
      const c = 3;
      const x = adversarial(rng, rows, c);
      const dy = adversarial(rng, rows, c);
      const gamma = Float32Array.from({ length: c }, () => rng.normal());
      const beta = Float32Array.from({ length: c }, () => rng.normal());
      const run = (threads: number) => {
        const o = { y: new Float32Array(rows * c), mean: new Float32Array(c), variance: new Float32Array(c), rstd: new Float32Array(c), dx: new Float32Array(rows * c), dgamma: new Float32Array(c), dbeta: new Float32Array(c) };
        addon.batchNormTrain(x, gamma, beta, o.y, o.mean, o.variance, o.rstd, rows, c, 1e-5, false, threads);
        addon.batchNormTrainGrad(dy, x, o.mean, o.rstd, gamma, null, o.dx, o.dgamma, o.dbeta, rows, c, threads);
        return o;
      };
      const bits = (o: ReturnType<typeof run>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.from(v.buffer).toString('base64')]));
      const one = bits(run(1));
      const differing = new Set<string>();
      for (let i = 0; i < 60; i++) {
        const two = bits(run(2));
        for (const k of Object.keys(one)) if (two[k] !== one[k]) differing.add(k);
      }
      expect([...differing]).toEqual([]);
    });
  });
}
