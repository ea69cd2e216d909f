import { auroc } from '@moco-cxr/eval-metrics';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { pairedBootstrap, pairedBootstrapTasks, pairedSeedBootstrap } from './index';

/**
 * Test labels (N x K, some NaN when K > 1) and, per training seed, draws of A (stronger) and B:
 * each seed adds its own offset to the signal, so seeds disagree by `spread`.
 */
function seeded(n: number, K: number, seeds: number, spread: number, seed = 1) {
  const rng = new Rng(seed);
  const labels = new Float64Array(n * K);
  for (let i = 0; i < n * K; i++) labels[i] = K > 1 && rng.next() < 0.15 ? NaN : rng.next() < 0.35 ? 1 : 0;
  const offsets = Array.from({ length: seeds }, () => spread * rng.normal());
  const draws = (shift: number, count: number) =>
    offsets.map((o) => Array.from({ length: count }, () => Float64Array.from(labels, (y) => Math.round((rng.normal() + (shift + o) * (y === 1 ? 1 : 0)) * 20) / 20)));
  return { labels, a: draws(1.2, 2), b: draws(0.8, 3) };
}

/** numpy.percentile(values, 100 q), method 'linear'. */
function npPercentile(values: ArrayLike<number>, q: number): number {
  const s = Array.from(values).sort((x, y) => x - y);
  const h = (s.length - 1) * q;
  return s[Math.floor(h)] + (h - Math.floor(h)) * (s[Math.ceil(h)] - s[Math.floor(h)]);
}

/**
 * The hierarchical paired bootstrap written the plain way: per replicate draw n row indices with
 * replacement (redrawn while a task's labelled rows hold one class), then S seed indices with
 * replacement from the same generator; build the resampled arrays, score every draw of every drawn
 * seed with `auroc`, average over draws, then over the drawn seeds, then over tasks.
 */
function bruteForce(labels: ArrayLike<number>, K: number, a: Float64Array[][], b: Float64Array[][], seed: number, replicates: number) {
  const rng = new Rng(seed);
  const n = labels.length / K;
  const S = a.length;
  const out = { a: [] as number[], b: [] as number[] };
  while (out.a.length < replicates) {
    const rows = Array.from({ length: n }, () => rng.int(n));
    const perTask = Array.from({ length: K }, (_, k) => {
      const kept = rows.filter((r) => !Number.isNaN(labels[r * K + k]));
      return { y: kept.map((r) => labels[r * K + k]), kept };
    });
    if (perTask.some(({ y }) => !y.includes(0) || !y.includes(1))) continue;
    const picks = S > 1 ? Array.from({ length: S }, () => rng.int(S)) : [0];
    const side = (scores: Float64Array[][]) => {
      let overTasks = 0;
      for (let k = 0; k < K; k++) {
        const { y, kept } = perTask[k];
        let overSeeds = 0;
        for (const s of picks) overSeeds += scores[s].reduce((t, d) => t + auroc(y, kept.map((r) => d[r * K + k])), 0) / scores[s].length;
        overTasks += overSeeds / S;
      }
      return overTasks / K;
    };
    out.a.push(side(a));
    out.b.push(side(b));
  }
  return out;
}

const width = (i: { lower: number; upper: number }) => i.upper - i.lower;

describe('pairedSeedBootstrap', () => {
  it('equals the plain resample-seeds-then-rows computation, replicate by replicate (one task and three)', () => {
    for (const K of [1, 3]) {
      const { labels, a, b } = seeded(120, K, 3, 0.4, 10 + K);
      const r = pairedSeedBootstrap(labels, a, b, { seed: 4, replicates: 60, tasks: K });
      const ref = bruteForce(labels, K, a, b, 4, 60);
      for (let i = 0; i < 60; i++) {
        expect(r.samples.a[i], `K ${K} replicate ${i}`).toBeCloseTo(ref.a[i], 12);
        expect(r.samples.b[i]).toBeCloseTo(ref.b[i], 12);
      }
      const diff = ref.a.map((v, i) => v - ref.b[i]);
      expect(r.mean.difference.lower).toBeCloseTo(npPercentile(diff, 0.025), 12);
      expect(r.mean.difference.upper).toBeCloseTo(npPercentile(diff, 0.975), 12);
      // Point estimates: each seed's mean over its draws, then the mean over seeds.
      const rows = Array.from({ length: 120 }, (_, i) => i).filter((i) => !Number.isNaN(labels[i * K]));
      const seed1 = a[1].map((d) => auroc(rows.map((i) => labels[i * K]), rows.map((i) => d[i * K])));
      expect(r.perTask[0].a.perDraw[1]).toEqual(seed1);
      expect(r.perTask[0].a.perSeed[1]).toBeCloseTo((seed1[0] + seed1[1]) / 2, 15);
      expect(r.perTask[0].a.estimate).toBeCloseTo(r.perTask[0].a.perSeed.reduce((s, v) => s + v, 0) / 3, 15);
      expect(r.mean.difference.perSeed[2]).toBeCloseTo(r.mean.a.perSeed[2] - r.mean.b.perSeed[2], 15);
    }
  });

  it('with one seed equals pairedBootstrap (one task) and pairedBootstrapTasks (several), bit for bit', () => {
    const one = seeded(200, 1, 1, 0, 3);
    const p = pairedBootstrap(one.labels, one.a[0], one.b[0], { seed: 5, replicates: 200 });
    const s = pairedSeedBootstrap(one.labels, one.a, one.b, { seed: 5, replicates: 200 });
    expect(s.seeds).toBe(1);
    for (const side of ['a', 'b', 'difference'] as const) expect([s.mean[side].estimate, s.mean[side].lower, s.mean[side].upper]).toEqual([p[side].estimate, p[side].lower, p[side].upper]);
    expect(s.mean.a.perDraw).toEqual([p.a.perDraw]);
    expect(s.mean.pValue).toBe(p.pValue);
    expect(s.samples).toEqual(p.samples);

    const three = seeded(300, 3, 1, 0, 8);
    const t = pairedBootstrapTasks(three.labels, 3, three.a[0], three.b[0], { seed: 2, replicates: 150 });
    const st = pairedSeedBootstrap(three.labels, three.a, three.b, { seed: 2, replicates: 150, tasks: 3 });
    const strip = (c: { a: object; b: object; difference: object; pValue: number }) => {
      const pick = ({ estimate, lower, upper }: { estimate: number; lower: number; upper: number }) => ({ estimate, lower, upper });
      return { a: pick(c.a as never), b: pick(c.b as never), difference: pick(c.difference as never), pValue: c.pValue };
    };
    expect(st.perTask.map(strip)).toEqual(t.perTask.map(strip));
    expect(strip(st.mean)).toEqual(strip(t.mean));
    expect(st.samples).toEqual(t.samples);
    expect(st.degenerate).toEqual(t.degenerate);
  });

  it('when seeds disagree, resampling them widens the interval beyond the test-rows-only one; when they agree it barely does', () => {
    const disagree = seeded(300, 1, 3, 0.5, 21);
    const both = pairedSeedBootstrap(disagree.labels, disagree.a, disagree.b, { seed: 1, replicates: 300 });
    const rowsOnly = pairedSeedBootstrap(disagree.labels, disagree.a, disagree.b, { seed: 1, replicates: 300, resampleSeeds: false });
    expect(both.resampleSeeds).toBe(true);
    expect(rowsOnly.resampleSeeds).toBe(false);
    // The same point estimate; only the interval changes.
    expect(rowsOnly.mean.difference.estimate).toBe(both.mean.difference.estimate);
    // Seed effects here are shared by A and B (seed i of each has the same offset), so the difference widens less than A.
    expect(width(both.mean.a)).toBeGreaterThan(2 * width(rowsOnly.mean.a));
    expect(width(both.mean.difference)).toBeGreaterThan(1.2 * width(rowsOnly.mean.difference));

    // Control: three seeds with the same scores give the same interval up to Monte Carlo noise.
    const agree = seeded(300, 1, 1, 0, 21);
    const same = [agree.a[0], agree.a[0], agree.a[0]];
    const sameB = [agree.b[0], agree.b[0], agree.b[0]];
    const w1 = width(pairedSeedBootstrap(agree.labels, same, sameB, { seed: 1, replicates: 300 }).mean.a);
    const w0 = width(pairedSeedBootstrap(agree.labels, same, sameB, { seed: 1, replicates: 300, resampleSeeds: false }).mean.a);
    expect(w1 / w0).toBeGreaterThan(0.8);
    expect(w1 / w0).toBeLessThan(1.25);
  });

  it('pairs seed i of A with seed i of B: identical sides differ by exactly 0 in every replicate, however far apart the seeds are', () => {
    const { labels, a } = seeded(200, 1, 4, 1, 5);
    const r = pairedSeedBootstrap(labels, a, a, { seed: 3, replicates: 200 });
    expect(width(r.mean.a)).toBeGreaterThan(0.02);
    expect(r.samples.difference.every((d) => d === 0)).toBe(true);
    expect([r.mean.difference.lower, r.mean.difference.upper]).toEqual([0, 0]);
    expect(r.mean.pValue).toBe(1);
  });

  it('is seeded: the same seed gives the same result, another seed another', () => {
    const { labels, a, b } = seeded(150, 1, 3, 0.3, 2);
    const r1 = pairedSeedBootstrap(labels, a, b, { seed: 7, replicates: 80 });
    expect(pairedSeedBootstrap(labels, a, b, { seed: 7, replicates: 80 })).toEqual(r1);
    expect(pairedSeedBootstrap(labels, a, b, { seed: 8, replicates: 80 }).samples.difference).not.toEqual(r1.samples.difference);
  });

  it('names what is wrong with its input', () => {
    const { labels, a, b } = seeded(50, 1, 2, 0.3, 2);
    expect(() => pairedSeedBootstrap(labels, a, b.slice(0, 1), { seed: 1 })).toThrow('pairedSeedBootstrap: scoresA has 2 seeds but scoresB has 1; seed i of A is paired with seed i of B, so both need the same seeds');
    expect(() => pairedSeedBootstrap(labels, [a[0], [a[1][0].subarray(1)]], b, { seed: 1 })).toThrow('pairedSeedBootstrap: scoresA[1][0] has 49 scores, expected 50 (rows x tasks)');
    expect(() => pairedSeedBootstrap(labels, [], b, { seed: 1 })).toThrow('pairedSeedBootstrap: scoresA must list the scores of at least one seed');
    const bad = Float64Array.from(a[0][0]);
    bad[7] = NaN;
    expect(() => pairedSeedBootstrap(labels, [[bad], a[1]], b, { seed: 1 })).toThrow('pairedSeedBootstrap: scoresA[0][0] score at row 7, task 0 is NaN; scores must be finite');
    expect(() => pairedSeedBootstrap(labels, a, b, {} as never)).toThrow(/options\.seed is required/);
  });
});
