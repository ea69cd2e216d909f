import { describe, expect, it } from 'vitest';
import { auroc, maskedAurocs, maskedRocCurves, rocCurve } from './index';

const N = Number.NaN;
const tasks = ['effusion', 'edema', 'fracture'];
const labels = [
  [1, 0, 0],
  [0, N, 0],
  [1, 1, N],
  [0, 0, 0],
  [N, 1, 0],
];
const scores = [
  [0.9, 0.2, 0.1],
  [0.3, 0.99, 0.4],
  [0.4, 0.7, 0.5],
  [0.5, 0.1, 0.2],
  [0.1, 0.6, 0.3],
];

describe('maskedAurocs', () => {
  it('masks NaN labels per task and names the task that cannot be scored', () => {
    const r = maskedAurocs(labels, scores, tasks);
    expect(r.scored).toEqual(['effusion', 'edema']);
    expect(r.aurocs.effusion).toBe(auroc([1, 0, 1, 0], [0.9, 0.3, 0.4, 0.5]));
    expect(r.aurocs.edema).toBe(auroc([0, 1, 0, 1], [0.2, 0.7, 0.1, 0.6]));
    expect(r.mean).toBe((r.aurocs.effusion + r.aurocs.edema) / 2);
    expect('fracture' in r.aurocs).toBe(false);
    expect(r.unscorable).toEqual([
      { task: 'fracture', positives: 0, negatives: 4, masked: 1, reason: 'no positive labels after masking (0 positives, 4 negatives, 1 masked)' },
    ]);
    expect(r.counts.edema).toEqual({ positives: 2, negatives: 2, masked: 1 });
  });
  it('throws, listing every task, when none can be scored', () => {
    expect(() => maskedAurocs([[1], [N]], [[0.1], [0.2]], ['only'])).toThrow(
      /no task can be scored: "only": no negative labels after masking \(1 positives, 0 negatives, 1 masked\)/,
    );
    const r = maskedAurocs([[1], [N]], [[0.1], [0.2]], ['only'], { whenNoneScorable: 'nan' });
    expect(r.mean).toBeNaN();
    expect(r.unscorable.map((u) => u.task)).toEqual(['only']);
  });
  it('names the row and task of bad input', () => {
    expect(() => maskedAurocs([[1, 0], [0]], [[0.1, 0.2], [0.3, 0.4]], ['a', 'b'])).toThrow(/labelMatrix row 1 has 1 columns, expected 2/);
    expect(() => maskedAurocs([[1, 0]], [[0.1, 0.2], [0.3, 0.4]], ['a', 'b'])).toThrow(/labelMatrix has 1 rows but scoreMatrix has 2/);
    expect(() => maskedAurocs([[1, 0.5]], [[0.1, 0.2]], ['a', 'b'])).toThrow(/label at row 0, task "b" is 0.5; expected 0, 1 or NaN/);
    expect(() => maskedAurocs([[1, N]], [[0.1, Infinity]], ['a', 'b'])).toThrow(/score at row 0, task "b" is Infinity/);
    expect(() => maskedAurocs([[1, 0]], [[0.1, 0.2]], ['a', 'a'])).toThrow(/taskNames has duplicates/);
  });
});

describe('maskedRocCurves', () => {
  it('draws each task over its labelled rows, as rocCurve does on them, and names the task with one class', () => {
    const r = maskedRocCurves(labels, scores, tasks);
    expect(r.curves.map((c) => c.task)).toEqual(['effusion', 'edema']);
    const effusion = rocCurve([1, 0, 1, 0], [0.9, 0.3, 0.4, 0.5]);
    expect(r.curves[0]).toEqual({ task: 'effusion', ...effusion, auroc: auroc([1, 0, 1, 0], [0.9, 0.3, 0.4, 0.5]) });
    // Edema's masked row holds the highest score (0.99); without it the positives rank first.
    expect(r.curves[1].tpr).toEqual(rocCurve([0, 1, 0, 1], [0.2, 0.7, 0.1, 0.6]).tpr);
    expect(r.curves[1].auroc).toBe(1);
    expect(r.unscorable).toEqual([
      { task: 'fracture', positives: 0, negatives: 4, masked: 1, reason: 'no positive labels after masking (0 positives, 4 negatives, 1 masked)' },
    ]);
  });
  it('no scorable task gives no curves, not an error; bad input names the row and task', () => {
    expect(maskedRocCurves([[1], [N]], [[0.1], [0.2]], ['only']).curves).toEqual([]);
    expect(() => maskedRocCurves([[1, N]], [[0.1, NaN]], ['a', 'b'])).toThrow(/maskedRocCurves: score at row 0, task "b" is NaN/);
    expect(() => maskedRocCurves([[1, 0], [0]], [[0.1, 0.2], [0.3, 0.4]], ['a', 'b'])).toThrow(/maskedRocCurves: labelMatrix row 1 has 1 columns, expected 2/);
  });
});
