import { describe, expect, it } from 'vitest';
import { describeDataset, filter, groupStudies, maxOverStudies, relabel, selectTasks, subset } from './index';
import type { CxrDataset } from './index';

const ds: CxrDataset = {
  root: '/data',
  tasks: ['Effusion', 'Edema', 'Mass'],
  labels: Float32Array.from([1, 0, NaN, 0, NaN, NaN, NaN, 1, 0, 0, 0, 1]),
  samples: [
    { path: 'a.png', patientId: 'p1', studyId: 'p1/s1', view: 'Frontal' },
    { path: 'b.png', patientId: 'p1', studyId: 'p1/s1', view: 'Lateral' },
    { path: 'c.png', patientId: 'p2', studyId: 'p2/s1', view: 'Frontal' },
    { path: 'd.png', patientId: 'p3', view: 'Frontal' },
  ],
};

describe('dataset functions', () => {
  it('subset copies rows of labels and samples in the given order', () => {
    const s = subset(ds, [3, 0]);
    expect(s.samples.map((x) => x.path)).toEqual(['d.png', 'a.png']);
    expect(Array.from(s.labels)).toEqual([0, 0, 1, 1, 0, NaN]);
    expect(() => subset(ds, [4])).toThrow(/index 4 is out of range for a dataset of 4 samples/);
  });
  it('filter keeps matching rows and errors on an empty selection', () => {
    const frontal = filter(ds, (s) => s.view === 'Frontal');
    expect(frontal.samples.map((x) => x.path)).toEqual(['a.png', 'c.png', 'd.png']);
    const pos = filter(ds, (_, l) => l[0] === 1);
    expect(pos.samples.map((x) => x.path)).toEqual(['a.png']);
    expect(() => filter(ds, (s) => s.view === 'AP', { description: 'AP views' })).toThrow(/filter "AP views" selected none of the 4 samples/);
    expect(filter(ds, () => false, { allowEmpty: true }).samples).toHaveLength(0);
  });
  it('selectTasks reorders; relabel merges with 1 > 0 > NaN', () => {
    const s = selectTasks(ds, ['Mass', 'Effusion']);
    expect(s.tasks).toEqual(['Mass', 'Effusion']);
    expect(Array.from(s.labels)).toEqual([NaN, 1, NaN, 0, 0, NaN, 1, 0]);
    const r = relabel(ds, { Any: ['Effusion', 'Edema', 'Mass'], Fluid: ['Edema', 'Mass'] });
    expect(Array.from(r.labels)).toEqual([1, 0, 0, NaN, 1, 1, 1, 1]);
    expect(() => relabel(ds, { X: 'Nodule' })).toThrow(/source task "Nodule" \(for "X"\) is not in the dataset; tasks are Effusion, Edema, Mass/);
  });
  it('groups studies and takes the max over each study, ignoring NaN', () => {
    const g = groupStudies(ds);
    expect(g.studyIds).toEqual(['p1/s1', 'p2/s1', 'path:d.png']);
    expect(Array.from(g.studyOf)).toEqual([0, 0, 1, 2]);
    expect(Array.from(g.labels)).toEqual([1, 0, NaN, NaN, 1, 0, 0, 0, 1]);
    expect(Array.from(maxOverStudies(g, [0.2, 0.7, NaN, 0.1]))).toEqual([Math.fround(0.7), NaN, Math.fround(0.1)]);
    expect(() => maxOverStudies(g, [0.1, 0.2])).toThrow(/scores has length 2, expected 4 samples x 1 = 4/);
  });
  it('describes counts per task, per split and patients found in several splits', () => {
    const withSplits: CxrDataset = { ...ds, samples: ds.samples.map((s, i) => ({ ...s, split: i < 2 ? 'train' : i === 2 ? 'test' : 'train' })) };
    withSplits.samples[1] = { ...withSplits.samples[1], split: 'test' };
    const d = describeDataset(withSplits);
    expect([d.samples, d.patients, d.studies]).toEqual([4, 3, 3]);
    expect(d.tasks[0]).toEqual({ task: 'Effusion', positive: 1, negative: 2, unknown: 1 });
    expect(d.splits).toEqual([
      { split: 'test', samples: 2, patients: 2, positive: [0, 1, 0] },
      { split: 'train', samples: 2, patients: 2, positive: [1, 0, 1] },
    ]);
    expect(d.patientsInSeveralSplits).toEqual(['p1']);
  });
});
