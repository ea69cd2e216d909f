// Each GEMM microkernel (native/ukernels) on its own: the C++ test gemm_f32_test.cc, compiled here
// with the addon's flags, checks every microkernel this CPU runs bit for bit against a plain
// triple-loop GEMM on edge shapes, and names the ones it cannot run with the features the CPU
// lacks. Broken copies of a microkernel must fail it.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compileUkernelProgram, packageRoot, ukernelBuild } from '../scripts/compile-ukernels.mjs';

const run = promisify(execFile);
const work = mkdtempSync(path.join(tmpdir(), 'moco-ukernels-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MAIN = 'native/ukernels/gemm_f32_test.cc';
// The reference's unfused steps must stay unfused whatever the addon's flags say.
const MAIN_FLAGS = ['-ffp-contract=off'];

/** Runs the test program; its exit code and its lines by microkernel. */
async function runTest(exe: string, args: string[] = []): Promise<{ code: number; out: string; byName: Map<string, string> }> {
  let code = 0;
  let out = '';
  try {
    out = (await run(exe, args, { maxBuffer: 1 << 24 })).stdout;
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    code = typeof err.code === 'number' ? err.code : -1;
    out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  const byName = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = line.match(/^(ok|FAIL|not run) (gemm_f32_\w+)/);
    if (m) byName.set(m[2], line);
  }
  return { code, out, byName };
}

const built = await compileUkernelProgram({ main: MAIN, outDir: work, mainFlags: MAIN_FLAGS });
const result = await runTest(built.exe);

/** Every microkernel file, by name: gemm_f32_<MR>x<NR>__<isa>. */
const files = readdirSync(path.join(packageRoot, 'native/ukernels')).filter((f) => /^gemm_f32_\d+x\d+__\w+\.cc$/.test(f));
const names = files.map((f) => f.replace(/\.cc$/, ''));

/** The CPU's feature flags as Linux reports them, when it does. */
function cpuFlags(): Set<string> | null {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m);
    return line ? new Set(line[1].trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
}

describe('GEMM microkernels against the triple loop (native/ukernels/gemm_f32_test.cc)', () => {
  it('every microkernel file is built into the addon and reported by the test, on x86-64', () => {
    const listed = ukernelBuild().sources.filter((s) => s.startsWith('native/ukernels/gemm_f32_')).map((s) => path.basename(s, '.cc'));
    expect(listed.sort()).toEqual([...names].sort());
    if (process.arch === 'x64') expect([...result.byName.keys()].sort()).toEqual([...names].sort());
    expect(result.code, result.out).toBe(0);
  });

  for (const name of names) {
    const line = result.byName.get(name) ?? '';
    const notRun = line.match(/^not run \S+: this CPU lacks (.+)$/);
    if (notRun) {
      // Reported, not skipped: the name says what this CPU could not check, and /proc/cpuinfo agrees.
      it(`${name}: not run on this CPU, which lacks ${notRun[1]}`, () => {
        const flags = cpuFlags();
        if (flags) for (const f of notRun[1].split(' ')) expect(flags.has(f), f).toBe(false);
        expect(notRun[1].length).toBeGreaterThan(0);
      });
    } else if (name.endsWith('__generic') || process.arch === 'x64') {
      it(`${name}: bit for bit against the triple loop`, () => {
        expect(line, result.out).toMatch(new RegExp(`^ok ${name}: `));
      });
    }
  }

  it('a broken copy of a microkernel fails the test, naming it and the first mismatch', async () => {
    const generic = 'native/ukernels/gemm_f32_6x8__generic.cc';
    // Each mutation is one plausible slip in the shared body (gemm_f32.inl).
    const mutants: [string, string, string][] = [
      ['writes one column past a partial tile', 'for (int j = 0; j < nr; j++)', 'for (int j = 0; j <= nr; j++)'],
      ['a partial tile ignores acc', '(acc ? C[i * ldc + j] : 0.f)', '(0.f)'],
      ['the second vector reads the first vector of B', 'c1[i] += a * b1;', 'c1[i] += a * b0;'],
      ['the last step of k is dropped', 'for (long p = 0; p < kc; p++) {', 'for (long p = 0; p + 1 < kc || p == 0; p++) {'],
    ];
    const outcomes = await Promise.all(
      mutants.map(async ([what, from, to], i) => {
        const dir = path.join(work, `mutant${i}`);
        cpSync(path.join(packageRoot, 'native'), path.join(dir, 'native'), { recursive: true });
        const inl = path.join(dir, 'native/ukernels/gemm_f32.inl');
        const body = readFileSync(inl, 'utf8');
        expect(body.includes(from), `${what}: "${from}" is no longer in gemm_f32.inl`).toBe(true);
        writeFileSync(inl, body.replace(from, to));
        const sources = ukernelBuild().sources.map((s) => (s === generic ? path.join(dir, generic) : s));
        const exe = await compileUkernelProgram({ main: MAIN, outDir: dir, mainFlags: MAIN_FLAGS, sources, objects: built.objects });
        const r = await runTest(exe.exe, ['--ukernel', 'gemm_f32_6x8__generic']);
        return { what, code: r.code, line: r.byName.get('gemm_f32_6x8__generic') ?? r.out };
      }),
    );
    for (const o of outcomes) {
      expect(o.code, `${o.what}: ${o.line}`).toBe(1);
      expect(o.line, o.what).toMatch(/^FAIL gemm_f32_6x8__generic: \d+ of \d+ GEMMs differ/);
    }
  });
});
