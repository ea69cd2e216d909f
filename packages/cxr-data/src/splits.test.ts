import { describe, expect, it } from 'vitest';
import { Rng } from '@moco-cxr/rng';
import { CxrDataError, fractionDraws, sampleFraction, shenzhenSplit, splitByPatient, subset as subsetRows } from './index';
import type { CxrDataset } from './index';

/** Patients with 1-4 images each; a patient's images share its label; ~30% positive. */
function makeDataset(patients: number, seed: number, prevalence = 0.3): CxrDataset {
  const rng = new Rng(seed);
  const samples: CxrDataset['samples'] = [];
  const labels: number[] = [];
  for (let p = 0; p < patients; p++) {
    const y = rng.next() < prevalence ? 1 : 0;
    const n = 1 + rng.int(4);
    for (let j = 0; j < n; j++) {
      samples.push({ path: `p${p}/img${j}.png`, patientId: `p${p}` });
      labels.push(y);
    }
  }
  // Interleave patients so patient rows are not contiguous.
  const order = new Rng(seed + 1).shuffle(samples.map((_, i) => i));
  return { root: '/d', tasks: ['Finding'], labels: Float32Array.from(order.map((i) => labels[i])), samples: order.map((i) => samples[i]) };
}

const patientsOf = (ds: CxrDataset, idx: number[]) => new Set(idx.map((i) => ds.samples[i].patientId));
const positives = (ds: CxrDataset, idx: number[]) => idx.filter((i) => ds.labels[i] === 1).length;

describe('splitByPatient', () => {
  const ds = makeDataset(400, 1);
  const N = ds.samples.length;
  it('never splits a patient, covers every row once, keeps fractions and label ratio', () => {
    const s = splitByPatient(ds, { fractions: { train: 0.7, val: 0.1, test: 0.2 }, seed: 5 });
    const all = [...s.train, ...s.val, ...s.test].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: N }, (_, i) => i));
    const [a, b, c] = [patientsOf(ds, s.train), patientsOf(ds, s.val), patientsOf(ds, s.test)];
    for (const p of a) expect(b.has(p) || c.has(p)).toBe(false);
    for (const p of b) expect(c.has(p)).toBe(false);
    expect(Math.abs(s.train.length / N - 0.7)).toBeLessThan(0.03);
    expect(Math.abs(s.val.length / N - 0.1)).toBeLessThan(0.03);
    const rate = positives(ds, all) / N;
    for (const part of [s.train, s.val, s.test]) expect(Math.abs(positives(ds, part) / part.length - rate)).toBeLessThan(0.05);
  });
  it('sends patients of tiny strata to every split, in proportion', () => {
    // 20 datasets of one positive and one negative patient: every stratum holds a single patient.
    const tiny: CxrDataset = {
      root: '/t',
      tasks: ['A'],
      labels: Float32Array.from({ length: 40 }, (_, i) => i % 2),
      samples: Array.from({ length: 40 }, (_, i) => ({ path: `${i}.png`, patientId: `p${i}` })),
    };
    let val = 0;
    for (let seed = 0; seed < 20; seed++) {
      const one = subsetRows(tiny, [seed * 2, seed * 2 + 1]);
      val += splitByPatient(one, { fractions: { train: 0.5, val: 0.5 }, seed }).val.length;
    }
    // Each of the 40 single-patient strata goes to val with probability 1/2.
    expect(val).toBeGreaterThan(10);
    expect(val).toBeLessThan(30);
  });
  it('is seeded: same seed same split, another seed another split', () => {
    const a = splitByPatient(ds, { fractions: [0.8, 0.2], seed: 1 });
    expect(splitByPatient(ds, { fractions: [0.8, 0.2], seed: 1 })).toEqual(a);
    expect(splitByPatient(ds, { fractions: [0.8, 0.2], seed: 2 })[1]).not.toEqual(a[1]);
  });
  it('takes sizes and a restricting index set; rejects bad fractions', () => {
    const pool = Array.from({ length: 300 }, (_, i) => i);
    const s = splitByPatient(ds, { sizes: { val: 50 }, seed: 3, indices: pool });
    expect(Math.abs(s.val.length - 50)).toBeLessThanOrEqual(6);
    for (const i of s.val) expect(i).toBeLessThan(300);
    expect(() => splitByPatient(ds, { fractions: [0.5, 0.6], seed: 1 })).toThrow(/fractions sum to 1\.1, expected 1/);
    expect(() => splitByPatient(ds, { fractions: [1], seed: 1, stratify: 'Nope' })).toThrow(/task "Nope" is not in the dataset/);
  });
});

describe('shenzhenSplit', () => {
  it('gives 65/15/20 with every normal:TB ratio in (0.9, 1.2)', () => {
    // 662 images like Shenzhen: 326 normal, 336 TB, one patient each.
    const labels = Float32Array.from({ length: 662 }, (_, i) => (i < 326 ? 0 : 1));
    const ds: CxrDataset = { root: '/s', tasks: ['Tuberculosis'], labels, samples: Array.from({ length: 662 }, (_, i) => ({ path: `CHNCXR_${i}.png`, patientId: `CHNCXR_${i}` })) };
    const s = shenzhenSplit(ds, { seed: 7 });
    expect([s.train.length, s.val.length, s.test.length].map((n) => Math.round((n / 662) * 100))).toEqual([65, 15, 20]);
    for (const part of [s.train, s.val, s.test]) {
      const tb = positives(ds, part);
      const r = (part.length - tb) / tb;
      expect(r).toBeGreaterThan(0.9);
      expect(r).toBeLessThan(1.2);
    }
    expect(s.ratios.every((r) => r > 0.9 && r < 1.2)).toBe(true);
    expect(shenzhenSplit(ds, { seed: 7 })).toEqual(s);
    expect(() => shenzhenSplit(ds, { seed: 7, ratioBounds: [1.5, 2], maxAttempts: 20 })).toThrow(/no split with every normal:TB ratio in \(1\.5, 2\) after 20 attempts/);
  });
});

describe('sampleFraction', () => {
  const ds = makeDataset(500, 2, 0.1);
  it('draws whole patients, about the fraction, each with a positive and a negative', () => {
    const draws = sampleFraction(ds, 0.01, { draws: 20, seed: 1 });
    expect(draws).toHaveLength(20);
    const allPatients = new Set(ds.samples.map((s) => s.patientId)).size;
    for (const d of draws) {
      const ps = patientsOf(ds, d);
      expect(ps.size).toBe(Math.round(0.01 * allPatients));
      // Whole patients: every image of a drawn patient is in the draw.
      expect(d.length).toBe(ds.samples.filter((s) => ps.has(s.patientId)).length);
      expect(positives(ds, d)).toBeGreaterThan(0);
      expect(positives(ds, d)).toBeLessThan(d.length);
    }
    expect(new Set(draws.map((d) => d.join())).size).toBeGreaterThan(15);
    expect(sampleFraction(ds, 0.01, { draws: 20, seed: 1 })).toEqual(draws);
  });
  it('by image draws images; the smallest draw still has both classes', () => {
    const draws = sampleFraction(ds, 0.001, { draws: 10, seed: 4, by: 'image' });
    for (const d of draws) {
      expect(d).toHaveLength(2);
      expect(positives(ds, d)).toBe(1);
    }
  });
  it('nested draws: each smaller fraction is a subset of the larger one, per draw', () => {
    const [small, mid, full] = sampleFraction(ds, [0.02, 0.2, 1], { draws: 5, seed: 9, nested: true });
    for (let d = 0; d < 5; d++) {
      const m = new Set(mid[d]);
      for (const i of small[d]) expect(m.has(i)).toBe(true);
      expect(full[d]).toHaveLength(ds.samples.length);
      expect(positives(ds, small[d])).toBeGreaterThan(0);
      expect(positives(ds, small[d])).toBeLessThan(small[d].length);
    }
    // Without nesting the small draws are not subsets in general.
    const [s2, m2] = sampleFraction(ds, [0.02, 0.2], { draws: 5, seed: 9 });
    expect(s2.some((d, j) => d.some((i) => !m2[j].includes(i)))).toBe(true);
  });
  it('samples within a restricting set, and names impossible requests', () => {
    const pool = Array.from({ length: 200 }, (_, i) => i + 100);
    for (const d of sampleFraction(ds, 0.1, { draws: 3, seed: 1, indices: pool, by: 'image' })) for (const i of d) expect(i).toBeGreaterThanOrEqual(100);
    const negOnly = Array.from({ length: ds.samples.length }, (_, i) => i).filter((i) => ds.labels[i] === 0);
    expect(() => sampleFraction(ds, 0.5, { draws: 1, seed: 1, indices: negOnly })).toThrow(/has no positive for task "Finding"/);
    expect(() => sampleFraction(ds, 0, { draws: 1, seed: 1 })).toThrow(/fraction 0 is not in \(0, 1\]/);
  });
  it('several tasks: every draw holds a positive and a negative of each; rare tasks are repaired in; impossible draws are errors', () => {
    // Task A is common, task B has 3 positive images among 2000: rejection alone almost never covers B at 0.1%.
    const N = 2000;
    const labels = new Float32Array(N * 2);
    for (let i = 0; i < N; i++) {
      labels[i * 2] = i % 3 === 0 ? 1 : 0;
      labels[i * 2 + 1] = i === 10 || i === 900 || i === 1500 ? 1 : i % 7 === 0 ? NaN : 0;
    }
    const two = { root: '/x', tasks: ['A', 'B'], labels, samples: Array.from({ length: N }, (_, i) => ({ path: `${i}.png`, patientId: `p${i}` })) };
    const draws = sampleFraction(two, 0.001, { draws: 20, seed: 3, tasks: ['A', 'B'] });
    for (const d of draws) {
      expect(d).toHaveLength(2);
      for (const k of [0, 1]) {
        expect(d.some((i) => labels[i * 2 + k] === 1)).toBe(true);
        expect(d.some((i) => labels[i * 2 + k] === 0)).toBe(true);
      }
    }
    expect(new Set(draws.map((d) => d.join())).size).toBeGreaterThan(10);
    // No image holds more than two of the four needs (A+, A-, B+, B-), and A+ only comes alone: 3 images are needed.
    const hard = new Float32Array([1, NaN, 1, NaN, 0, 1, 0, 1, NaN, 0, NaN, 0]);
    const tiny = { root: '/x', tasks: ['A', 'B'], labels: hard, samples: Array.from({ length: 6 }, (_, i) => ({ path: `${i}.png`, patientId: `p${i}` })) };
    expect(() => sampleFraction(tiny, 0.001, { draws: 1, seed: 1, tasks: ['A', 'B'] })).toThrow(
      /no draw of 2 patients \(fraction 0\.001 of 6\) found holding a positive and a negative of every task \(A, B\) after 1000 random draws and a repair; raise the fraction/,
    );
    expect(sampleFraction(tiny, 0.5, { draws: 1, seed: 1, tasks: ['A', 'B'] })[0]).toHaveLength(3);
  });
});

describe('fractionDraws: positions in the split, drawn once', () => {
  const ds = makeDataset(60, 11);
  const { train } = splitByPatient(ds, { fractions: { train: 0.7, test: 0.3 }, seed: 2 });

  it('the same draws as before the move (sampleFraction by patient, mapped to positions): pinned', () => {
    const draws = fractionDraws(ds, train, 0.1, { draws: 3, seed: 4 });
    // Drawn by the runner's own code before it moved here; a change would change every experiment's cells.
    expect(draws).toEqual([
      [6, 8, 22, 31, 40, 47, 66, 77, 86, 94, 96, 101, 107],
      [15, 25, 26, 38, 46, 53, 54, 56, 59, 74, 99, 108],
      [0, 2, 13, 15, 25, 26, 27, 45, 56, 81],
    ]);
    const rows = sampleFraction(ds, 0.1, { draws: 3, seed: 4, by: 'patient', indices: train, tasks: ds.tasks });
    expect(draws.map((d) => d.map((j) => train[j]))).toEqual(rows);
    // Each draw holds whole patients, a positive and a negative.
    for (const d of draws) {
      const labels = d.map((j) => ds.labels[train[j]]);
      expect(labels).toContain(0);
      expect(labels).toContain(1);
    }
  });

  it('fraction 1 is every position of the split, for every draw', () => {
    expect(fractionDraws(ds, train, 1, { draws: 2, seed: 4 })).toEqual([train.map((_, j) => j), train.map((_, j) => j)]);
  });

  it('a fraction under two patients names the smallest one the split allows; one no draw covers names what to change', () => {
    const units = new Set(train.map((i) => ds.samples[i].patientId)).size;
    expect(() => fractionDraws(ds, train, 0.001, { draws: 1, seed: 0, optionName: 'fractions' })).toThrow(
      new RegExp(`^fractions: 0\\.001 of the ${units} train patients is [\\d.]+ patients; a draw needs at least 2 \\(a positive and a negative\\), so the smallest fraction this train split allows is 0\\.\\d+: raise or remove this fraction in fractions$`),
    );
    const smallest = Number(/allows is ([\d.]+)/.exec(String((() => { try { fractionDraws(ds, train, 0.001, { draws: 1, seed: 0 }); } catch (e) { return (e as Error).message; } })()))![1]);
    expect(fractionDraws(ds, train, smallest, { draws: 1, seed: 0 })[0].length).toBeGreaterThan(0);
    // Two tasks that no two patients cover together: A on p0 / p1 only, B on p2 / p3 only.
    const tiny: CxrDataset = {
      root: '/d',
      tasks: ['A', 'B'],
      labels: Float32Array.from([1, NaN, 0, NaN, NaN, 1, NaN, 0]),
      samples: [0, 1, 2, 3].map((p) => ({ path: `p${p}.png`, patientId: `p${p}` })),
    };
    expect(() => fractionDraws(tiny, [0, 1, 2, 3], 0.5, { draws: 2, seed: 1, optionName: 'fractions', fix: { tasks: 'drop tasks from data.tasks', patients: 'give the train split more patients (data.limit.train)' } })).toThrow(
      'fractions: 0.5 (2 draws) cannot be drawn: no draw of 2 of the 4 train patients holds a positive and a negative image of every task together ("A", "B"); raise or remove this fraction in fractions, drop tasks from data.tasks or give the train split more patients (data.limit.train)',
    );
    expect(() => fractionDraws(tiny, [], 0.5, { draws: 1, seed: 1 })).toThrow(CxrDataError);
    expect(() => fractionDraws(tiny, [0, 1, 2, 3], 0, { draws: 1, seed: 1 })).toThrow(/fractionDraws: fraction 0 is not in \(0, 1\]/);
  });
});
