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

// The bf16 microkernel (precision 'bf16') rounds its inputs, so it has a test of its own:
// gemm_bf16_test.cc checks its pack bit for bit against round-to-nearest-even and its products
// within fp32 accumulation of the bf16-rounded inputs' exact sums, and within bf16 rounding of the
// fp32 inputs'. Where the CPU lacks avx512bf16 it says so and which features are missing.
const BF16_MAIN = 'native/ukernels/gemm_bf16_test.cc';
const BF16_FILE = 'native/ukernels/gemm_bf16_12x32__avx512bf16.cc';
const bf16Built = await compileUkernelProgram({ main: BF16_MAIN, outDir: work, mainFlags: MAIN_FLAGS, objects: built.objects });
const bf16 = await runTest(bf16Built.exe);
const bf16Line = bf16.out.split('\n').find((l) => /^(ok|FAIL|not run|none)\b/.test(l)) ?? bf16.out;
const bf16NotRun = bf16Line.match(/^not run gemm_bf16_12x32__avx512bf16: this CPU lacks (.+)$/);
const bf16None = bf16Line.match(/^none: no bf16 microkernel is built \((x86-64|not x86-64), (gcc|clang) (\d+)\)$/);

describe('bf16 GEMM microkernel against bf16-rounded and fp32 references (native/ukernels/gemm_bf16_test.cc)', () => {
  it('is built into the addon and reported by its test', () => {
    expect(ukernelBuild().sources).toContain(BF16_FILE);
    if (!bf16None) expect(bf16Line).toMatch(/^(ok|not run) gemm_bf16_12x32__avx512bf16: /);
    expect(bf16.code, bf16.out).toBe(0);
  });

  if (bf16None) {
    // Only off x86-64 or with a compiler older than AVX512_BF16 support (gemm.h's MOCO_HAVE_BF16).
    it(`not built: ${bf16None[1]}, ${bf16None[2]} ${bf16None[3]}`, () => {
      expect(bf16None[1] !== 'x86-64' || Number(bf16None[3]) < (bf16None[2] === 'gcc' ? 10 : 14), bf16Line).toBe(true);
    });
  } else if (bf16NotRun) {
    it(`not run on this CPU, which lacks ${bf16NotRun[1]}`, () => {
      // GCC's feature names; /proc/cpuinfo writes avx512_bf16.
      const flags = cpuFlags();
      if (flags) for (const f of bf16NotRun[1].split(' ')) expect(flags.has(f === 'avx512bf16' ? 'avx512_bf16' : f), f).toBe(false);
    });
  } else if (process.arch === 'x64') {
    it('packs bit for bit and multiplies within the fp32 and bf16 bounds on edge shapes', () => {
      expect(bf16Line, bf16.out).toMatch(/^ok gemm_bf16_12x32__avx512bf16: pack bit for bit .* 560 GEMMs/);
    });

    it('a broken copy of the bf16 microkernel fails the test', async () => {
      // Each mutation is one plausible slip in the packing or the tile.
      const mutants: [string, string, string][] = [
        ['truncates even steps instead of rounding to nearest', 'const __m512 a = _mm512_maskz_loadu_ps(m, r0 + j);', 'const __m512 a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, r0 + j)), _mm512_set1_epi32(int(0xffff0000u))));'],
        ['pairs interleaved the wrong way round', '_mm512_cvtne2ps_pbh(b, a)', '_mm512_cvtne2ps_pbh(a, b)'],
        ['the last pair of k is dropped', 'for (long q = 0; q < pairs; q++) {', 'for (long q = 0; q + 1 < pairs || q == 0; q++) {'],
        ['a partial tile writes one column past nr', '(1u << (nr - 16)) - 1', '(1u << (nr - 15)) - 1'],
        ['accumulating ignores C', '_mm512_add_ps(_mm512_maskz_loadu_ps(m0, r), c0[i])', 'c0[i]'],
      ];
      const outcomes = await Promise.all(
        mutants.map(async ([what, from, to], i) => {
          const dir = path.join(work, `bf16-mutant${i}`);
          cpSync(path.join(packageRoot, 'native'), path.join(dir, 'native'), { recursive: true });
          const file = path.join(dir, BF16_FILE);
          const body = readFileSync(file, 'utf8');
          expect(body.includes(from), `${what}: "${from}" is no longer in ${BF16_FILE}`).toBe(true);
          writeFileSync(file, body.replace(from, to));
          const sources = ukernelBuild().sources.map((s) => (s === BF16_FILE ? file : s));
          const exe = await compileUkernelProgram({ main: BF16_MAIN, outDir: dir, mainFlags: MAIN_FLAGS, sources, objects: built.objects });
          const r = await runTest(exe.exe);
          return { what, code: r.code, out: r.out };
        }),
      );
      for (const o of outcomes) {
        expect(o.code, `${o.what}: ${o.out}`).toBe(1);
        expect(o.out, o.what).toMatch(/^FAIL gemm_bf16_12x32__avx512bf16: \d+ failures/m);
      }
    });
  }
});
