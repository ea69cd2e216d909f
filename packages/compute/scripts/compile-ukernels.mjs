// Builds a program around the GEMM microkernels (the test or the benchmark in native/ukernels)
// with g++ and the addon's own flags from binding.gyp, so what is tested and timed is what ships:
// the microkernel sources binding.gyp lists and cpu.cc (dispatch's CPU tests), each compiled as
// node-gyp compiles it; every instruction set's code is selected by its file (isa.h), not by flags.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The addon's compile flags and the sources a microkernel program links: cpu.cc and native/ukernels/*.cc. */
export function ukernelBuild() {
  const gyp = JSON.parse(readFileSync(path.join(packageRoot, 'binding.gyp'), 'utf8'));
  const target = gyp.targets.find((t) => t.target_name === 'moco_cxr_native');
  if (!target) throw new Error('binding.gyp has no moco_cxr_native target');
  const flags = [...target.cflags_cc, ...(target.defines ?? []).map((d) => `-D${d}`)];
  const sources = target.sources.filter((s) => s === 'native/cpu.cc' || s.startsWith('native/ukernels/'));
  if (!sources.includes('native/cpu.cc')) throw new Error('binding.gyp no longer builds native/cpu.cc');
  return { flags, sources };
}

function run(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`${cmd} could not start (${e.message}); the microkernel programs need a C++ compiler (set CXX)`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${err.slice(-4000)}`))));
  });
}

/**
 * Compiles `main` (relative to the package) with the microkernels into `outDir` and returns the
 * program's path. `objects` maps a source to an object already built (a test links a broken copy
 * of one microkernel with the others as built); `sources` replaces binding.gyp's microkernel list;
 * `mainFlags` are added to main's flags only.
 */
export async function compileUkernelProgram({ main, outDir, name = path.basename(main, '.cc'), mainFlags = [], sources, objects = {} }) {
  const cxx = process.env.CXX ?? 'g++';
  const build = ukernelBuild();
  const units = [...(sources ?? build.sources)];
  const objectsOut = {};
  await Promise.all(
    units.map(async (src) => {
      const obj = path.join(outDir, `${path.basename(src, '.cc')}.o`);
      objectsOut[src] = objects[src] ?? obj;
      if (!objects[src]) await run(cxx, [...build.flags, '-c', path.resolve(packageRoot, src), '-o', obj], packageRoot);
    }),
  );
  const mainObj = path.join(outDir, `${name}.o`);
  await run(cxx, [...build.flags, ...mainFlags, '-c', path.resolve(packageRoot, main), '-o', mainObj], packageRoot);
  const exe = path.join(outDir, name);
  await run(cxx, [mainObj, ...Object.values(objectsOut), '-o', exe, '-pthread'], packageRoot);
  return { exe, objects: objectsOut };
}
