import { describe, expect, it } from 'vitest';
import { sampleProbeRows } from './monitor';

describe('sampleProbeRows', () => {
  it('a seeded sample of the labelled rows, both classes of a class-sorted file order, the same for a seed', () => {
    // 40 negatives, then 40 positives, then 20 unknown: the order a folder sorted by class gives.
    const labels = [...new Array(40).fill(0), ...new Array(40).fill(1), ...new Array(20).fill(Number.NaN)];
    const rows = sampleProbeRows(labels, 16, 7);
    expect(rows).toHaveLength(16);
    expect(new Set(rows).size).toBe(16);
    expect(rows.every((i) => i < 80)).toBe(true);
    expect(rows.some((i) => labels[i] === 0) && rows.some((i) => labels[i] === 1)).toBe(true);
    expect(sampleProbeRows(labels, 16, 7)).toEqual(rows);
    expect(sampleProbeRows(labels, 16, 8)).not.toEqual(rows);
    // Fewer labelled rows than asked: all of them.
    expect(sampleProbeRows(labels, 500, 7).sort((a, b) => a - b)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    // Pinned: the runner's probe sample of an experiment must not change under it.
    expect(sampleProbeRows(labels, 4, 0)).toEqual(PINNED);
    expect(() => sampleProbeRows(labels, 0, 0)).toThrow(/sampleProbeRows: size must be a positive integer, got 0/);
  });
});
// The rows the runner drew before the sample moved here (new Rng(seed).shuffle, labelled rows, first `size`).
const PINNED = [59, 38, 55, 54];
