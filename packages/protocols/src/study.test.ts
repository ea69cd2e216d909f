import { auroc } from '@moco-cxr/eval-metrics';
import { describe, expect, it } from 'vitest';
import { evaluateScores, studyMax } from './study';

describe('studyMax', () => {
  it('takes the exact max over each study, studies in first-appearance order', () => {
    const r = studyMax([0.1, 0.7, 0.3, 0.9, 0.2, 0.25], ['b', 'a', 'b', 'c', 'a', 'b']);
    expect(r.studyIds).toEqual(['b', 'a', 'c']);
    expect(Array.from(r.scores)).toEqual([0.3, 0.7, 0.9]);
    expect(Array.from(r.studyOfImage)).toEqual([0, 1, 0, 2, 1, 0]);
  });

  it('works per task on an images x tasks matrix', () => {
    const r = studyMax([1, -5, 2, -7, 0, 3], [7, 7, 8], 2);
    expect(Array.from(r.scores)).toEqual([2, -5, 0, 3]);
  });

  it('rejects mismatched lengths and non-finite scores', () => {
    expect(() => studyMax([1, 2, 3], ['a', 'b'])).toThrow(/needs 2 scores, got 3/);
    expect(() => studyMax([1, Number.NaN], ['a', 'b'])).toThrow(/image 1, task 0 is NaN/);
  });
});

describe('evaluateScores', () => {
  it('gives image-level AUROC equal to auroc() and study-level AUROC on the max scores', () => {
    const labels = [0, 0, 1, 1, 0, 1, Number.NaN];
    const scores = [0.2, 0.6, 0.5, 0.9, 0.1, 0.3, 0.95];
    const ids = ['s1', 's1', 's2', 's2', 's3', 's4', 's3'];
    const r = evaluateScores(labels, scores, { studyIds: ids });
    expect(r.auroc).toBe(auroc([0, 0, 1, 1, 0, 1], [0.2, 0.6, 0.5, 0.9, 0.1, 0.3]));
    // studies: s1 label 0 max 0.6; s2 label 1 max 0.9; s3 label 0 (NaN image does not vote) max 0.95; s4 label 1 max 0.3
    expect(Array.from(r.study!.labels)).toEqual([0, 1, 0, 1]);
    expect(r.study!.auroc).toBe(auroc([0, 1, 0, 1], [0.6, 0.9, 0.95, 0.3]));
    expect(r.study!.auroc).toBe(0.25);
  });

  it('names a study whose images disagree on the label', () => {
    expect(() => evaluateScores([0, 1], [0.1, 0.2], { studyIds: ['x', 'x'] })).toThrow(/study x has images labelled both 0 and 1/);
  });
});

describe('evaluateScores on cxr-data layout', () => {
  it('reads a flat N x K label array with options.tasks and masks NaN per task', () => {
    const labels = new Float32Array([0, 1, 1, Number.NaN, 0, 0, 1, 1]);
    const scores = [0.1, 0.9, 0.8, 0.5, 0.2, 0.3, 0.7, 0.6];
    const r = evaluateScores(labels, scores, { tasks: 2 });
    expect(r.count).toBe(4);
    expect(r.aurocPerTask[0]).toBe(auroc([0, 1, 0, 1], [0.1, 0.8, 0.2, 0.7]));
    expect(r.aurocPerTask[1]).toBe(auroc([1, 0, 1], [0.9, 0.3, 0.6]));
    expect(r.auroc).toBe((r.aurocPerTask[0] + r.aurocPerTask[1]) / 2);
  });
});
