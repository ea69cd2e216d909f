import { describe, expect, it } from 'vitest';
import { Rng } from './index';

describe('Rng', () => {
  it('gives a fixed stream for a seed (platform-independent golden values)', () => {
    const rng = new Rng(42);
    const first = Array.from({ length: 4 }, () => rng.nextUint32());
    // Computed by an independent Python transcription of xoshiro128** + splitmix32;
    // a change to the generator breaks every seeded result downstream.
    expect(first).toEqual([2837322924, 544945897, 479756282, 3500138142]);
  });
  it('resumes exactly from its state', () => {
    const a = new Rng(7);
    for (let i = 0; i < 10; i++) a.next();
    const b = Rng.fromState(a.state());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(Array.from({ length: 5 }, () => a.next()));
  });
  it('differs across seeds and stays in range', () => {
    const a = new Rng(1);
    const b = new Rng(2);
    expect(a.nextUint32()).not.toBe(b.nextUint32());
    for (let i = 0; i < 1000; i++) {
      const u = a.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      const k = a.int(7);
      expect(Number.isInteger(k) && k >= 0 && k < 7).toBe(true);
    }
  });
  it('ints(n, out) gives exactly the int(n) stream and leaves the same state', () => {
    for (const n of [1, 7, 10_000, 0x80000001, 0x100000000]) {
      const a = new Rng(99);
      const b = new Rng(99);
      const expected = Array.from({ length: 500 }, () => a.int(n));
      expect(Array.from(b.ints(n, new Uint32Array(500)))).toEqual(expected);
      expect(b.state()).toEqual(a.state());
    }
    expect(() => new Rng(1).ints(0, new Uint32Array(3))).toThrow(/Rng.ints: n must be an integer/);
  });
  it('int is unbiased enough that each of 10 bins gets about 10%', () => {
    const rng = new Rng(3);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[rng.int(10)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });
  it('normal has mean 0 and variance 1', () => {
    const rng = new Rng(4);
    let s = 0;
    let s2 = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.02);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.03);
  });
});
