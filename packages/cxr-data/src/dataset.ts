import { CxrDataError } from './errors';
import type { CxrDataset, CxrSample } from './types';

function checkIndex(ds: CxrDataset, i: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= ds.samples.length) {
    throw new CxrDataError(`${what}: index ${i} is out of range for a dataset of ${ds.samples.length} samples`);
  }
}

/** The label of sample `i` for task `k` (1, 0 or NaN). */
export function labelAt(ds: CxrDataset, i: number, k: number): number {
  return ds.labels[i * ds.tasks.length + k];
}

/** A new dataset of the rows `indices`, in that order (repeats allowed). */
export function subset(ds: CxrDataset, indices: ArrayLike<number>): CxrDataset {
  const K = ds.tasks.length;
  const labels = new Float32Array(indices.length * K);
  const samples: CxrSample[] = new Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    checkIndex(ds, i, 'subset');
    labels.set(ds.labels.subarray(i * K, i * K + K), j * K);
    samples[j] = ds.samples[i];
  }
  return { root: ds.root, tasks: [...ds.tasks], labels, samples };
}

export interface FilterOptions {
  /** Return an empty dataset instead of throwing when nothing is selected. */
  allowEmpty?: boolean;
  /** Names the filter in the error message. */
  description?: string;
}

/** Keeps the samples for which `keep(sample, labels, index)` is true; an empty result is an error. */
export function filter(
  ds: CxrDataset,
  keep: (sample: CxrSample, labels: Float32Array, index: number) => boolean,
  options: FilterOptions = {},
): CxrDataset {
  const K = ds.tasks.length;
  const idx: number[] = [];
  for (let i = 0; i < ds.samples.length; i++) if (keep(ds.samples[i], ds.labels.subarray(i * K, i * K + K), i)) idx.push(i);
  if (idx.length === 0 && !options.allowEmpty) {
    throw new CxrDataError(`filter${options.description ? ` "${options.description}"` : ''} selected none of the ${ds.samples.length} samples of ${ds.root}`);
  }
  return subset(ds, idx);
}

/** The rows `filter` would keep with the same predicate, as indices into `ds` (e.g. for `indices` options). */
export function filterIndices(ds: CxrDataset, keep: (sample: CxrSample, labels: Float32Array, index: number) => boolean): number[] {
  const K = ds.tasks.length;
  const idx: number[] = [];
  for (let i = 0; i < ds.samples.length; i++) if (keep(ds.samples[i], ds.labels.subarray(i * K, i * K + K), i)) idx.push(i);
  return idx;
}

/** Keeps (and reorders) the tasks named. */
export function selectTasks(ds: CxrDataset, tasks: string[]): CxrDataset {
  return relabel(ds, Object.fromEntries(tasks.map((t) => [t, t])));
}

/**
 * New tasks from old ones: `{Effusion: 'Pleural Effusion', Any: ['Edema', 'Consolidation']}`.
 * A merged task is 1 if any source is 1, else 0 if any source is 0, else NaN.
 */
export function relabel(ds: CxrDataset, mapping: Record<string, string | string[]>): CxrDataset {
  const K = ds.tasks.length;
  const names = Object.keys(mapping);
  if (names.length === 0) throw new CxrDataError('relabel: the mapping names no tasks');
  const sources = names.map((name) => {
    const src = mapping[name];
    const list = Array.isArray(src) ? src : [src];
    if (list.length === 0) throw new CxrDataError(`relabel: task ${JSON.stringify(name)} has no source task`);
    return list.map((s) => {
      const k = ds.tasks.indexOf(s);
      if (k < 0) throw new CxrDataError(`relabel: source task ${JSON.stringify(s)} (for ${JSON.stringify(name)}) is not in the dataset; tasks are ${ds.tasks.join(', ')}`);
      return k;
    });
  });
  const N = ds.samples.length;
  const J = names.length;
  const labels = new Float32Array(N * J);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < J; j++) {
      let v = NaN;
      for (const k of sources[j]) {
        const x = ds.labels[i * K + k];
        if (x === 1) {
          v = 1;
          break;
        }
        if (x === 0) v = 0;
      }
      labels[i * J + j] = v;
    }
  }
  return { root: ds.root, tasks: names, labels, samples: ds.samples.slice() };
}

export interface StudyGroups {
  /** Study IDs (a sample without studyId is its own study, keyed by its path). */
  studyIds: string[];
  /** For each sample, the index of its study. */
  studyOf: Int32Array;
  /** For each study, its sample indices. */
  members: number[][];
  tasks: string[];
  /** Study-level labels, S x K: the max over the study's images, ignoring NaN (NaN if all NaN). */
  labels: Float32Array;
}

/** Groups samples by study, so a study's prediction can be the max over its images (the paper's test-time rule). */
export function groupStudies(ds: CxrDataset): StudyGroups {
  const ids = new Map<string, number>();
  const studyIds: string[] = [];
  const members: number[][] = [];
  const studyOf = new Int32Array(ds.samples.length);
  ds.samples.forEach((s, i) => {
    const key = s.studyId ?? `path:${s.path}`;
    let g = ids.get(key);
    if (g === undefined) {
      g = studyIds.length;
      ids.set(key, g);
      studyIds.push(key);
      members.push([]);
    }
    members[g].push(i);
    studyOf[i] = g;
  });
  const K = ds.tasks.length;
  const labels = maxOverStudies({ studyIds, studyOf, members, tasks: ds.tasks, labels: new Float32Array(0) }, ds.labels, K);
  return { studyIds, studyOf, members, tasks: [...ds.tasks], labels };
}

/**
 * Study-level scores: the max over each study's images, ignoring NaN.
 * `scores` is N x k row-major (k = 1 for one score per image); the result is S x k.
 */
export function maxOverStudies(groups: StudyGroups, scores: ArrayLike<number>, k = 1): Float32Array {
  const N = groups.studyOf.length;
  if (scores.length !== N * k) throw new CxrDataError(`maxOverStudies: scores has length ${scores.length}, expected ${N} samples x ${k} = ${N * k}`);
  const S = groups.members.length;
  const out = new Float32Array(S * k).fill(NaN);
  for (let s = 0; s < S; s++) {
    for (const i of groups.members[s]) {
      for (let j = 0; j < k; j++) {
        const v = scores[i * k + j];
        const cur = out[s * k + j];
        if (!Number.isNaN(v) && (Number.isNaN(cur) || v > cur)) out[s * k + j] = v;
      }
    }
  }
  return out;
}

export interface DatasetSummary {
  samples: number;
  patients: number;
  studies: number;
  /** Per task: positives, negatives and unknown (NaN) labels. */
  tasks: { task: string; positive: number; negative: number; unknown: number }[];
  /** Per split (samples without a split are counted under ''): samples, patients, positives of each task. */
  splits: { split: string; samples: number; patients: number; positive: number[] }[];
  /** Patients whose images sit in more than one split (a leak between the given splits). */
  patientsInSeveralSplits: string[];
}

/** Counts per label, per split and per patient; names patients that appear in more than one split. */
export function describeDataset(ds: CxrDataset): DatasetSummary {
  const K = ds.tasks.length;
  const tasks = ds.tasks.map((task, k) => {
    let positive = 0;
    let negative = 0;
    let unknown = 0;
    for (let i = 0; i < ds.samples.length; i++) {
      const v = ds.labels[i * K + k];
      if (v === 1) positive++;
      else if (v === 0) negative++;
      else unknown++;
    }
    return { task, positive, negative, unknown };
  });
  const bySplit = new Map<string, { samples: number; patients: Set<string>; positive: number[] }>();
  const splitsOfPatient = new Map<string, Set<string>>();
  ds.samples.forEach((s, i) => {
    const split = s.split ?? '';
    let e = bySplit.get(split);
    if (!e) bySplit.set(split, (e = { samples: 0, patients: new Set(), positive: new Array(K).fill(0) }));
    e.samples++;
    e.patients.add(s.patientId);
    for (let k = 0; k < K; k++) if (ds.labels[i * K + k] === 1) e.positive[k]++;
    let sp = splitsOfPatient.get(s.patientId);
    if (!sp) splitsOfPatient.set(s.patientId, (sp = new Set()));
    sp.add(split);
  });
  return {
    samples: ds.samples.length,
    patients: splitsOfPatient.size,
    studies: new Set(ds.samples.map((s) => s.studyId ?? `path:${s.path}`)).size,
    tasks,
    splits: [...bySplit.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([split, e]) => ({ split, samples: e.samples, patients: e.patients.size, positive: e.positive })),
    patientsInSeveralSplits: [...splitsOfPatient.entries()].filter(([, s]) => s.size > 1).map(([p]) => p).sort(),
  };
}
