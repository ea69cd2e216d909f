// Each GEMM microkernel (native/ukernels) on its own, on every instruction set this CPU runs,
// against a scalar reference of the arithmetic it declares: bit for bit, on edge shapes (partial
// tiles, k = 1, odd m and n, one vector's width and one past it), storing and accumulating.
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { loadNative, type GemmUkernelInfo, type NativeAddon } from './native';

const addon = loadNative() as NativeAddon;
const ukernels = addon ? addon.gemmUkernels() : [];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float next to the float x, away from zero when up is true for positive x (bit order). */
function nextBits(x: number, dir: 1 | -1): number {
  f32[0] = x;
  u32[0] += dir;
  return f32[0];
}

/** fmaf(a, b, c): a * b + c rounded once to float (ties to even), for floats a, b, c. */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b; // exact: two 24-bit significands fit in a double's 53
  const s = p + c;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb); // s + err is exactly p + c (TwoSum)
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  // Rounding s again to float errs only when s lies exactly halfway between two floats: then the
  // exact sum is on err's side of that midpoint.
  const other = nextBits(r, (r < s) === r > 0 ? 1 : -1);
  if (Math.abs(s - r) !== Math.abs(other - s)) return r;
  const up = err > 0;
  return (other > r) === up ? other : r;
}

/** What the microkernel must compute: c[i][j] (+)= sum over p in order of a[p][i] b[p][j], per step fused or not. */
function reference(uk: GemmUkernelInfo, fused: boolean, kc: number, a: Float32Array, b: Float32Array, c: Float32Array, ldc: number, mr: number, nr: number, acc: boolean): Float32Array {
  const out = Float32Array.from(c);
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      let s = 0;
      for (let p = 0; p < kc; p++) {
        const x = a[p * uk.mr + i];
        const y = b[p * uk.nr + j];
        s = fused ? fmaf(x, y, s) : Math.fround(s + Math.fround(x * y));
      }
      out[i * ldc + j] = Math.fround((acc ? out[i * ldc + j] : 0) + s);
    }
  }
  return out;
}

/** Values over six decades, so every rounding shows. */
function values(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.uniform(-3, 3));
}

const bits = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');

describe('GEMM microkernels', () => {
  it('one per instruction set, named by its tile and set, runnable exactly where dispatch runs its set', () => {
    expect(addon).not.toBeNull();
    expect(ukernels.map((u) => u.isa)).toEqual(Object.keys(addon.isaFeatures()));
    for (const u of ukernels) expect(u.name).toBe(`gemm_f32_${u.mr}x${u.nr}__${u.isa}`);
    expect(ukernels.filter((u) => u.runs).map((u) => u.isa)).toEqual(addon.isas());
  });

  it('the reference tells fused from unfused steps, and fmaf rounds once', () => {
    const e = 2 ** -23;
    // (1 + e)^2 - (1 + 2e) is e^2 exactly; rounding the product first loses it.
    expect(fmaf(1 + e, 1 + e, -(1 + 2 * e))).toBe(e * e);
    expect(Math.fround(Math.fround((1 + e) * (1 + e)) - (1 + 2 * e))).toBe(0);
    // 1 + 1.5e - 2^-70 rounds to the double 1 + 1.5e, halfway between the floats 1 + e and 1 + 2e:
    // rounding that double to float would go to the even 1 + 2e; once, it goes down.
    const a = (1 + e) * 2 ** -12;
    const b = (1 - e) * 2 ** -12;
    expect(Math.fround(a * b + (1 + e))).toBe(1 + 2 * e);
    expect(fmaf(a, b, 1 + e)).toBe(1 + e);
    expect(fmaf(-a, b, -(1 + e))).toBe(-(1 + e));
  });

  it('refuses calls outside its tile or views too short, naming the microkernel', () => {
    const uk = ukernels[0];
    const a = new Float32Array(uk.mr);
    const b = new Float32Array(uk.nr);
    expect(() => addon.runGemmUkernel(uk.name, 1, a, b, new Float32Array(uk.mr * uk.nr), uk.nr, uk.mr + 1, uk.nr, false)).toThrow(/runGemmUkernel: needs kc >= 1, 1 <= mr <= /);
    expect(() => addon.runGemmUkernel(uk.name, 1, a, b, new Float32Array(uk.nr), uk.nr, 2, uk.nr, false)).toThrow(/c is shorter/);
    expect(() => addon.runGemmUkernel('gemm_f32_1x1__none', 1, a, b, new Float32Array(1), 1, 1, 1, false)).toThrow(/no microkernel named 'gemm_f32_1x1__none'/);
  });
});

for (const uk of ukernels.filter((u) => u.runs)) {
  describe(`${uk.name} (${uk.fused ? 'fused' : 'unfused'} steps) against the scalar reference`, () => {
    const vl = uk.nr / 2;
    const tiles: [number, number][] = [
      [uk.mr, uk.nr], // full tile: the direct stores
      [1, 1],
      [uk.mr - 1, uk.nr - 1],
      [1, uk.nr],
      [uk.mr, 1],
      [uk.mr % 2 === 0 ? uk.mr - 1 : uk.mr, vl + 1], // odd rows, one column past the first vector
      [uk.mr, vl],
      [Math.max(1, uk.mr - 3), vl - 1],
    ];
    for (const kc of [1, 2, 3, 7, 64, 256, 257]) {
      it(`kc ${kc}: every tile shape, storing and accumulating, leaves the rest of C untouched`, () => {
        const rng = new Rng(1000 + kc);
        const failures: string[] = [];
        for (const [mr, nr] of tiles) {
          for (const acc of [false, true]) {
            const a = values(rng, kc * uk.mr);
            const b = values(rng, kc * uk.nr);
            // Rows past mr and columns past nr of the panels are never stored: NaN there must not show.
            for (let p = 0; p < kc; p++) {
              for (let i = mr; i < uk.mr; i++) a[p * uk.mr + i] = Number.NaN;
              for (let j = nr; j < uk.nr; j++) b[p * uk.nr + j] = Number.NaN;
            }
            const ldc = nr + 3;
            const c = values(rng, (mr + 1) * ldc); // a row and three columns beyond the tile
            const want = reference(uk, uk.fused, kc, a, b, c, ldc, mr, nr, acc);
            addon.runGemmUkernel(uk.name, kc, a, b, c, ldc, mr, nr, acc);
            if (bits(c) !== bits(want)) {
              const at = c.findIndex((v, i) => !Object.is(v, want[i]));
              failures.push(`${mr}x${nr} acc ${acc}: C[${Math.floor(at / ldc)}][${at % ldc}] = ${c[at]}, reference ${want[at]}`);
            }
          }
        }
        expect(failures).toEqual([]);
      });
    }

    it('the other rounding (fused vs unfused) would not match: the comparison above can fail', () => {
      const rng = new Rng(7);
      const kc = 256;
      const a = values(rng, kc * uk.mr);
      const b = values(rng, kc * uk.nr);
      const c = new Float32Array(uk.mr * uk.nr);
      addon.runGemmUkernel(uk.name, kc, a, b, c, uk.nr, uk.mr, uk.nr, false);
      expect(bits(c)).toBe(bits(reference(uk, uk.fused, kc, a, b, new Float32Array(c.length), uk.nr, uk.mr, uk.nr, false)));
      expect(bits(c)).not.toBe(bits(reference(uk, !uk.fused, kc, a, b, new Float32Array(c.length), uk.nr, uk.mr, uk.nr, false)));
    });
  });
}
