import { describe, expect, it } from 'vitest';
import { carveSplits, checkSplitLabels, countLabels, CxrDataError, splitData, summarizeSplits, syntheticCxr, type CxrDataset } from './index';

const N = Number.NaN;
/** Eight images of five patients over two tasks; row 6 has no known label. */
const ds: CxrDataset = {
  root: '/d',
  tasks: ['A', 'B'],
  labels: Float32Array.from([1, 0, 0, N, 1, 1, 0, 0, 1, N, 0, 1, N, N, 0, 0]),
  samples: ['p0', 'p0', 'p1', 'p2', 'p2', 'p3', 'p3', 'p4'].map((patientId, i) => ({ path: `${patientId}/${i}.png`, patientId, split: i < 7 ? 'train' : 'test', ...(i === 0 || i === 1 ? { studyId: 's0' } : {}) })),
};

describe('label counts and the both-classes check', () => {
  it('countLabels: positives, negatives and masked of every task, over some rows or all', () => {
    expect(countLabels(ds)).toEqual([
      { task: 'A', positive: 3, negative: 4, masked: 1 },
      { task: 'B', positive: 2, negative: 3, masked: 3 },
    ]);
    expect(countLabels(ds, [3, 4])).toEqual([
      { task: 'A', positive: 1, negative: 1, masked: 0 },
      { task: 'B', positive: 0, negative: 1, masked: 1 },
    ]);
  });

  it('checkSplitLabels names the split, the task, the counts and the fix', () => {
    expect(() => checkSplitLabels(ds, { train: [0, 1, 2], test: [3, 4] }, { optionName: 'data', fix: 'raise data.limit' })).toThrow(
      new CxrDataError('data: the test split has 0 positive and 1 negative images for task "B" (1 masked); AUROC needs both (raise data.limit)'),
    );
    expect(() => checkSplitLabels(ds, { train: [1, 3] })).toThrow('checkSplitLabels: the train split has 0 positive and 2 negative images for task "A"; AUROC needs both');
    expect(() => checkSplitLabels(ds, { train: [0, 1, 2, 3, 4, 5] })).not.toThrow();
  });
});

describe('carveSplits', () => {
  it('rows by split name, unlabelled train rows apart, validation given or carved by patient', () => {
    const given: CxrDataset = { ...ds, samples: ds.samples.map((s, i) => ({ ...s, split: i === 5 ? 'val' : s.split })) };
    expect(carveSplits(given, { seed: 0 })).toEqual({ train: [0, 1, 2, 3, 4], val: [5], test: [7], unlabelled: [6] });
    const carved = carveSplits(ds, { seed: 0, valFraction: 0.4 });
    expect(carved.test).toEqual([7]);
    expect(carved.unlabelled).toEqual([6]);
    expect([...carved.train, ...carved.val].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    // Whole patients: p0's two images and p2's two never straddle train and val.
    for (const p of ['p0', 'p2']) expect(new Set([0, 1, 2, 3, 4, 5].filter((i) => ds.samples[i].patientId === p).map((i) => carved.train.includes(i))).size).toBe(1);
    expect(carveSplits(ds, { seed: 0, valFraction: 0.4 })).toEqual(carved);
  });
});

describe('splitData and summarizeSplits', () => {
  it('a split as a protocol sees it: its images, its label rows, patients, studies', () => {
    const { dataset, images } = syntheticCxr({ count: 12, size: 16, seed: 1 });
    const s = splitData('test', dataset, images, [5, 2, 9]);
    expect(s.indices).toEqual([5, 2, 9]);
    expect(s.images.count).toBe(3);
    expect(Array.from(s.images.read([1]))).toEqual(Array.from(images.read([2])));
    const K = dataset.tasks.length;
    expect(Array.from(s.labels.subarray(K, 2 * K))).toEqual(Array.from(dataset.labels.subarray(2 * K, 3 * K)));
    expect(s.patients).toEqual([5, 2, 9].map((i) => dataset.samples[i].patientId));
    const two = splitData('train', ds, images, [0, 1, 2]);
    expect([two.studies, two.hasStudies]).toEqual([['s0', 's0', 'p1/2.png'], true]);
    expect(splitData('train', ds, images, [2, 3]).hasStudies).toBe(false);
  });

  it('counts per split, per task and per patient, and the patients in two splits', () => {
    const r = summarizeSplits(ds, { train: [0, 1, 2, 3], test: [4, 7] });
    expect(r.splits.train).toEqual({ images: 4, patients: 3, perTask: { A: { positive: 2, negative: 2, masked: 0 }, B: { positive: 1, negative: 2, masked: 1 } }, imagesPerPatient: { max: 2, mean: 4 / 3 } });
    expect(r.splits.test.patients).toBe(2);
    expect(r.patientsInTwoSplits).toBe(1);
  });
});
