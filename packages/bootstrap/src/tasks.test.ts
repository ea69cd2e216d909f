import { auroc } from '@moco-cxr/eval-metrics';
import { Rng } from '@moco-cxr/rng';
import { describe, expect, it } from 'vitest';
import { pairedBootstrap, pairedBootstrapTasks } from './index';

/** N x K labels (some NaN) and two draws of scores for A (stronger) and B (weaker), flat row-major. */
function data(n: number, K: number, seed: number) {
  const rng = new Rng(seed);
  const labels = new Float64Array(n * K);
  for (let i = 0; i < n * K; i++) labels[i] = rng.next() < 0.15 ? NaN : rng.next() < 0.35 ? 1 : 0;
  const draw = (shift: number) => Float64Array.from(labels, (y) => Math.round((rng.normal() + shift * (y === 1 ? 1 : 0)) * 20) / 20);
  return { labels, a: [draw(1.4), draw(1.2)], b: [draw(0.6), draw(0.5)] };
}

describe('pairedBootstrapTasks', () => {
  it('with one task and no masked labels, equals pairedBootstrap draw for draw', () => {
    const rng = new Rng(3);
    const labels = Array.from({ length: 200 }, () => (rng.next() < 0.3 ? 1 : 0));
    const a = [labels.map((y) => rng.normal() + y), labels.map((y) => rng.normal() + 0.8 * y)];
    const b = [labels.map((y) => rng.normal() + 0.3 * y)];
    const one = pairedBootstrap(labels, a, b, { seed: 5, replicates: 200 });
    const multi = pairedBootstrapTasks(labels, 1, a, b, { seed: 5, replicates: 200, taskNames: ['Effusion'] });
    expect(multi.tasks).toEqual(['Effusion']);
    expect(multi.perTask[0]).toEqual({ a: one.a, b: one.b, difference: one.difference, pValue: one.pValue });
    expect(multi.mean.difference).toEqual(one.difference);
  });

  it('masks NaN labels per task: scores on masked entries cannot change anything', () => {
    const { labels, a, b } = data(300, 3, 1);
    const r1 = pairedBootstrapTasks(labels, 3, a, b, { seed: 2, replicates: 100 });
    const garbage = a.map((d) => Float64Array.from(d, (s, i) => (Number.isNaN(labels[i]) ? 1e6 * Math.sin(i) : s)));
    const r2 = pairedBootstrapTasks(labels, 3, garbage, b, { seed: 2, replicates: 100 });
    expect(r2).toEqual(r1);
    // Control: the same garbage on labelled entries does change the result.
    const bad = a.map((d) => Float64Array.from(d, (s, i) => (i % 3 === 0 ? 1e6 * Math.sin(i) : s)));
    expect(pairedBootstrapTasks(labels, 3, bad, b, { seed: 2, replicates: 100 }).perTask[0].a.estimate).not.toBe(r1.perTask[0].a.estimate);
  });

  it('per-task estimates are the masked AUROCs; the mean is the mean over tasks, replicate by replicate', () => {
    const K = 3;
    const { labels, a, b } = data(400, K, 4);
    const r = pairedBootstrapTasks(labels, K, a, b, { seed: 9, replicates: 150, taskNames: ['x', 'y', 'z'] });
    for (let k = 0; k < K; k++) {
      const rows = Array.from({ length: 400 }, (_, i) => i).filter((i) => !Number.isNaN(labels[i * K + k]));
      const want = a.map((d) => auroc(rows.map((i) => labels[i * K + k]), rows.map((i) => d[i * K + k])));
      expect(r.perTask[k].a.perDraw).toEqual(want);
      expect(r.perTask[k].a.lower).toBeLessThan(r.perTask[k].a.estimate);
      expect(r.perTask[k].difference.lower).toBeGreaterThan(0);
    }
    expect(r.mean.a.estimate).toBeCloseTo((r.perTask[0].a.estimate + r.perTask[1].a.estimate + r.perTask[2].a.estimate) / 3, 12);
    expect(r.samples.difference.every((d, i) => Math.abs(d - (r.samples.a[i] - r.samples.b[i])) < 1e-15)).toBe(true);
    expect(r.mean.pValue).toBe(2 / 151);
    // Reproducible for a seed.
    expect(pairedBootstrapTasks(labels, K, a, b, { seed: 9, replicates: 150, taskNames: ['x', 'y', 'z'] })).toEqual(r);
  });

  it('names the task that cannot be scored and the shape that is wrong', () => {
    const labels = [1, 0, 0, 0, 1, NaN, 0, 0];
    const s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
    expect(() => pairedBootstrapTasks(labels, 2, s, s, { seed: 1, taskNames: ['Effusion', 'Edema'] })).toThrow(/task Edema has 0 positives and 3 negatives/);
    expect(() => pairedBootstrapTasks(labels, 2, s.slice(1), s, { seed: 1 })).toThrow(/scoresA\[0\] has 7 scores, expected 8/);
    expect(() => pairedBootstrapTasks(labels, 3, s, s, { seed: 1 })).toThrow(/not a positive multiple of 3 tasks/);
  });
});
