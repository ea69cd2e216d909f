import { Rng } from '@moco-cxr/rng';
import { CxrDataError } from './errors';
import type { CxrDataset } from './types';

export interface SplitByPatientOptions {
  /** Fractions of the images per split, summing to 1: `{train: 0.8, val: 0.2}` or `[0.8, 0.2]`. */
  fractions?: Record<string, number> | number[];
  /** Approximate image counts per split (patients are never divided); images left over go to no split. */
  sizes?: Record<string, number> | number[];
  seed: number;
  /** Stratify by label: true (default) = all tasks, false = no, or the task name(s) to use. */
  stratify?: boolean | string | string[];
  /** Split only these rows (e.g. a train split); returned indices still refer to `dataset`. */
  indices?: ArrayLike<number>;
}

interface Unit {
  members: number[];
  /** Per required task: has a positive, has a negative. */
  hasPos: boolean[];
  hasNeg: boolean[];
}

function pool(ds: CxrDataset, indices: ArrayLike<number> | undefined, what: string): number[] {
  const N = ds.samples.length;
  const out = indices ? Array.from(indices) : Array.from({ length: N }, (_, i) => i);
  for (const i of out) if (!Number.isInteger(i) || i < 0 || i >= N) throw new CxrDataError(`${what}: index ${i} is out of range for a dataset of ${N} samples`);
  if (new Set(out).size !== out.length) throw new CxrDataError(`${what}: indices contain duplicates`);
  if (out.length === 0) throw new CxrDataError(`${what}: empty selection (no samples to split or sample from)`);
  return out;
}

/** Patients of the selected rows, in order of first appearance. */
function patientsOf(ds: CxrDataset, rows: number[]): number[][] {
  const byId = new Map<string, number[]>();
  for (const i of rows) {
    const id = ds.samples[i].patientId;
    let list = byId.get(id);
    if (!list) byId.set(id, (list = []));
    list.push(i);
  }
  return [...byId.values()];
}

function taskIndices(ds: CxrDataset, stratify: boolean | string | string[] | undefined, what: string): number[] {
  if (stratify === false) return [];
  if (stratify === true || stratify === undefined) return ds.tasks.map((_, k) => k);
  const names = Array.isArray(stratify) ? stratify : [stratify];
  return names.map((t) => {
    const k = ds.tasks.indexOf(t);
    if (k < 0) throw new CxrDataError(`${what}: task ${JSON.stringify(t)} is not in the dataset; tasks are ${ds.tasks.join(', ')}`);
    return k;
  });
}

/** A patient's label for task k: 1 if any image is 1, else 0 if any is 0, else unknown. */
function patientLabel(ds: CxrDataset, members: number[], k: number): '1' | '0' | '?' {
  const K = ds.tasks.length;
  let v: '1' | '0' | '?' = '?';
  for (const i of members) {
    const x = ds.labels[i * K + k];
    if (x === 1) return '1';
    if (x === 0) v = '0';
  }
  return v;
}

function normaliseParts(options: SplitByPatientOptions, total: number, what: string): { names: string[]; cumulative: number[]; isArray: boolean } {
  if ((options.fractions === undefined) === (options.sizes === undefined)) throw new CxrDataError(`${what}: give exactly one of fractions or sizes`);
  const spec = (options.fractions ?? options.sizes)!;
  const isArray = Array.isArray(spec);
  const names = isArray ? spec.map((_, i) => String(i)) : Object.keys(spec);
  const values = isArray ? spec : Object.values(spec);
  if (values.length === 0) throw new CxrDataError(`${what}: no splits requested`);
  for (const [j, v] of values.entries()) if (!(Number.isFinite(v) && v >= 0)) throw new CxrDataError(`${what}: split ${names[j]} has size/fraction ${v}; expected a number >= 0`);
  const sum = values.reduce((a, b) => a + b, 0);
  let parts: number[];
  if (options.fractions !== undefined) {
    if (Math.abs(sum - 1) > 1e-6) throw new CxrDataError(`${what}: fractions sum to ${sum}, expected 1`);
    parts = values;
  } else {
    if (sum > total) throw new CxrDataError(`${what}: sizes sum to ${sum} but only ${total} images are available`);
    parts = values.map((v) => v / total);
  }
  const cumulative: number[] = [];
  let c = 0;
  for (const p of parts) cumulative.push((c += p));
  return { names, cumulative, isArray };
}

function assign(ds: CxrDataset, rows: number[], cumulative: number[], tasks: number[], rng: Rng): number[][] {
  const patients = patientsOf(ds, rows);
  const strata = new Map<string, number[][]>();
  for (const p of patients) {
    const key = tasks.map((k) => patientLabel(ds, p, k)).join('');
    let list = strata.get(key);
    if (!list) strata.set(key, (list = []));
    list.push(p);
  }
  const bins: number[][] = cumulative.map(() => []);
  for (const key of [...strata.keys()].sort()) {
    const group = rng.shuffle(strata.get(key)!);
    const total = group.reduce((a, p) => a + p.length, 0);
    // A random rotation, so a stratum of one or two patients lands in each split with its fraction's probability.
    const offset = rng.next();
    let c = 0;
    for (const p of group) {
      // A patient goes to the split whose share of this stratum contains the patient's (rotated) midpoint.
      const mid = ((c + p.length / 2) / total + offset) % 1;
      c += p.length;
      const bin = cumulative.findIndex((f) => mid < f);
      if (bin >= 0) bins[bin].push(...p);
    }
  }
  return bins.map((b) => b.sort((x, y) => x - y));
}

/** Splits by patient (a patient's images all land in one split), stratified by label, seeded. */
export function splitByPatient(ds: CxrDataset, options: SplitByPatientOptions & { fractions: number[] } | SplitByPatientOptions & { sizes: number[] }): number[][];
export function splitByPatient<T extends string>(ds: CxrDataset, options: SplitByPatientOptions & ({ fractions: Record<T, number> } | { sizes: Record<T, number> })): Record<T, number[]>;
export function splitByPatient(ds: CxrDataset, options: SplitByPatientOptions): number[][] | Record<string, number[]> {
  const rows = pool(ds, options.indices, 'splitByPatient');
  const { names, cumulative, isArray } = normaliseParts(options, rows.length, 'splitByPatient');
  const bins = assign(ds, rows, cumulative, taskIndices(ds, options.stratify, 'splitByPatient'), new Rng(options.seed));
  return isArray ? bins : Object.fromEntries(names.map((n, j) => [n, bins[j]]));
}

export interface ShenzhenSplitOptions {
  seed: number;
  /** The TB task (default: the only task, or 'Tuberculosis'). */
  task?: string;
  /** Default [0.65, 0.15, 0.2] (train, val, test). */
  fractions?: [number, number, number];
  /** Open interval for each split's normal:TB ratio. Default [0.9, 1.2]. */
  ratioBounds?: [number, number];
  maxAttempts?: number;
  indices?: ArrayLike<number>;
}

export interface ShenzhenSplit {
  train: number[];
  val: number[];
  test: number[];
  /** How many random splits were drawn until one met the ratio rule. */
  attempts: number;
  /** normal:TB ratio of train, val, test. */
  ratios: [number, number, number];
}

/** The paper's Shenzhen rule: random 65/15/20 patient split, redrawn until every split's normal:TB ratio lies in (0.9, 1.2). */
export function shenzhenSplit(ds: CxrDataset, options: ShenzhenSplitOptions): ShenzhenSplit {
  const what = 'shenzhenSplit';
  const rows = pool(ds, options.indices, what);
  const taskName = options.task ?? (ds.tasks.length === 1 ? ds.tasks[0] : 'Tuberculosis');
  const k = ds.tasks.indexOf(taskName);
  if (k < 0) throw new CxrDataError(`${what}: task ${JSON.stringify(taskName)} is not in the dataset; tasks are ${ds.tasks.join(', ')}`);
  const fractions = options.fractions ?? [0.65, 0.15, 0.2];
  const [lo, hi] = options.ratioBounds ?? [0.9, 1.2];
  const { cumulative } = normaliseParts({ fractions, seed: 0 }, rows.length, what);
  const rng = new Rng(options.seed);
  const maxAttempts = options.maxAttempts ?? 10000;
  const K = ds.tasks.length;
  const ratio = (idx: number[]) => {
    let neg = 0;
    let pos = 0;
    for (const i of idx) {
      const v = ds.labels[i * K + k];
      if (v === 1) pos++;
      else if (v === 0) neg++;
    }
    return neg / pos;
  };
  let last: number[] = [];
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const bins = assign(ds, rows, cumulative, [], rng);
    const ratios = bins.map(ratio);
    last = ratios;
    if (ratios.every((r) => r > lo && r < hi)) {
      return { train: bins[0], val: bins[1], test: bins[2], attempts: attempt, ratios: ratios as [number, number, number] };
    }
  }
  throw new CxrDataError(`${what}: no split with every normal:TB ratio in (${lo}, ${hi}) after ${maxAttempts} attempts (last: ${last.map((r) => r.toFixed(3)).join(', ')})`);
}

export interface SampleFractionOptions {
  draws: number;
  seed: number;
  /** Sample whole patients (default, the sound choice) or single images (the reference code). */
  by?: 'patient' | 'image';
  /** With several fractions: each smaller fraction's draw d is a subset of the larger fraction's draw d. */
  nested?: boolean;
  /** The task whose positives / negatives each draw must contain (default: the first task). */
  task?: string;
  /** Several tasks: each draw holds a positive and a negative of every one (overrides `task`). */
  tasks?: readonly string[];
  /** Sample only from these rows (e.g. the train split); returned indices still refer to `dataset`. */
  indices?: ArrayLike<number>;
}

/**
 * Label-fraction draws: `draws` index arrays (sorted), each about `fraction` of the patients (or images),
 * each with at least one positive and one negative for `task`. Units per draw: max(2, round(fraction * units)).
 * Given an array of fractions, returns one list of draws per fraction; `nested` makes them nest.
 */
export function sampleFraction(ds: CxrDataset, fraction: number, options: SampleFractionOptions): number[][];
export function sampleFraction(ds: CxrDataset, fraction: number[], options: SampleFractionOptions): number[][][];
export function sampleFraction(ds: CxrDataset, fraction: number | number[], options: SampleFractionOptions): number[][] | number[][][] {
  const what = 'sampleFraction';
  const fractions = Array.isArray(fraction) ? fraction : [fraction];
  if (fractions.length === 0) throw new CxrDataError(`${what}: no fractions given`);
  for (const f of fractions) if (!(f > 0 && f <= 1)) throw new CxrDataError(`${what}: fraction ${f} is not in (0, 1]`);
  const { draws, seed } = options;
  if (!Number.isInteger(draws) || draws < 1) throw new CxrDataError(`${what}: draws must be a positive integer, got ${draws}`);
  const by = options.by ?? 'patient';
  if (by !== 'patient' && by !== 'image') throw new CxrDataError(`${what}: by must be 'patient' or 'image', got ${JSON.stringify(by)}`);
  const rows = pool(ds, options.indices, what);
  const taskNames = options.tasks ?? [options.task ?? ds.tasks[0]];
  if (taskNames.length === 0) throw new CxrDataError(`${what}: tasks is empty`);
  const ks = taskNames.map((t) => {
    const k = ds.tasks.indexOf(t);
    if (k < 0) throw new CxrDataError(`${what}: task ${JSON.stringify(t)} is not in the dataset; tasks are ${ds.tasks.join(', ')}`);
    return k;
  });
  const K = ds.tasks.length;
  const groups = by === 'patient' ? patientsOf(ds, rows) : rows.map((i) => [i]);
  const units: Unit[] = groups.map((members) => ({
    members,
    hasPos: ks.map((k) => patientLabel(ds, members, k) === '1'),
    hasNeg: ks.map((k) => members.some((i) => ds.labels[i * K + k] === 0)),
  }));
  ks.forEach((_, t) => {
    const pos = units.some((u) => u.hasPos[t]);
    if (!pos || !units.some((u) => u.hasNeg[t])) {
      throw new CxrDataError(`${what}: the selection of ${rows.length} samples has no ${pos ? 'negative' : 'positive'} for task ${JSON.stringify(taskNames[t])}, so no draw can hold both`);
    }
  });
  const U = units.length;
  const sizes = fractions.map((f) => Math.min(U, Math.max(2, Math.round(f * U))));
  // Needs: [task, 'hasPos' | 'hasNeg'] pairs a draw must cover, in a fixed order.
  const needs = ks.flatMap((_, t) => [[t, 'hasPos'], [t, 'hasNeg']] as const);
  const covered = (perm: number[], n: number, t: number, need: 'hasPos' | 'hasNeg') => {
    for (let j = 0; j < n; j++) if (units[perm[j]][need][t]) return true;
    return false;
  };
  const valid = (perm: number[], n: number) => needs.every(([t, need]) => covered(perm, n, t, need));
  const impossible = (n: number) =>
    new CxrDataError(
      `${what}: no draw of ${n} ${by === 'patient' ? 'patients' : 'images'} (fraction ${fractions[sizes.indexOf(n)]} of ${U}) found holding a positive and a negative ` +
        `of every task (${taskNames.join(', ')}) after 1000 random draws and a repair; raise the fraction or use fewer tasks`,
    );
  const draw = (rng: Rng, n: number): number[] => {
    const perm = Array.from({ length: U }, (_, j) => j);
    // Rejection keeps each draw uniform among the valid ones; the repair below only runs for small, skewed pools.
    for (let attempt = 0; attempt < 1000; attempt++) {
      rng.shuffle(perm);
      if (valid(perm, n)) return perm;
    }
    // Greedy cover: repeatedly take a random unit among those covering the most needs still open.
    const open = new Set(needs.map((_, j) => j));
    const chosen: number[] = [];
    const taken = new Uint8Array(U);
    while (open.size > 0) {
      let best: number[] = [];
      let bestGain = 0;
      for (let u = 0; u < U; u++) {
        if (taken[u]) continue;
        let gain = 0;
        for (const j of open) if (units[u][needs[j][1]][needs[j][0]]) gain++;
        if (gain > bestGain) [best, bestGain] = [[u], gain];
        else if (gain === bestGain && gain > 0) best.push(u);
      }
      if (bestGain === 0 || chosen.length === n) throw impossible(n);
      const u = best[rng.int(best.length)];
      taken[u] = 1;
      chosen.push(u);
      for (const j of [...open]) if (units[u][needs[j][1]][needs[j][0]]) open.delete(j);
    }
    // The rest of the draw: the shuffled order, skipping the units already chosen.
    const rest = perm.filter((u) => !taken[u]);
    perm.splice(0, U, ...chosen, ...rest);
    if (!valid(perm, n)) throw impossible(n);
    return perm;
  };
  const toRows = (perm: number[], n: number) => perm.slice(0, n).flatMap((u) => units[u].members).sort((a, b) => a - b);
  const rng = new Rng(seed);
  let out: number[][][];
  if (options.nested && fractions.length > 1) {
    const nMin = Math.min(...sizes);
    out = fractions.map(() => []);
    for (let d = 0; d < draws; d++) {
      const perm = draw(rng, nMin);
      sizes.forEach((n, fi) => out[fi].push(toRows(perm, n)));
    }
  } else {
    out = sizes.map((n) => Array.from({ length: draws }, () => toRows(draw(rng, n), n)));
  }
  return Array.isArray(fraction) ? out : out[0];
}

export interface FractionDrawsOptions {
  draws: number;
  seed: number;
  /** Tasks each draw holds a positive and a negative of (default: every task of the dataset). */
  tasks?: readonly string[];
  /** How errors name the fraction's option (a caller's config field, e.g. `fractions`). Default `fractionDraws`. */
  optionName?: string;
  /** The split's name in errors. Default `train`. */
  split?: string;
  /** What the caller can change besides the fraction, said in the error: fewer tasks, more patients in the split. */
  fix?: { tasks?: string; patients?: string };
}

/**
 * The label-fraction draws of one split: per draw, the positions in `rows` (0 .. rows.length - 1, ascending)
 * of about `fraction` of its patients, holding a positive and a negative of every task; fraction 1 is every
 * position. The patients are sampleFraction's (by patient, same seed, same draws). A fraction under two
 * patients, or one no draw can cover, is an error naming the fraction, the split and what to change.
 */
export function fractionDraws(ds: CxrDataset, rows: readonly number[], fraction: number, options: FractionDrawsOptions): number[][] {
  const { draws, seed } = options;
  const at = options.optionName ?? 'fractionDraws';
  const split = options.split ?? 'train';
  const tasks = options.tasks ?? ds.tasks;
  const raise = `raise or remove this fraction${options.optionName ? ` in ${options.optionName}` : ''}`;
  if (!(fraction > 0 && fraction <= 1)) throw new CxrDataError(`${at}: fraction ${fraction} is not in (0, 1]`);
  if (!Number.isInteger(draws) || draws < 1) throw new CxrDataError(`${at}: draws must be a positive integer, got ${draws}`);
  if (rows.length === 0) throw new CxrDataError(`${at}: the ${split} split is empty; there is nothing to draw ${fraction} of`);
  if (fraction === 1) return Array.from({ length: draws }, () => rows.map((_, j) => j));
  // A draw holds at least two patients (a positive and a negative): a smaller fraction would be raised to two silently.
  const units = new Set(rows.map((i) => ds.samples[i].patientId)).size;
  if (Math.round(fraction * units) < 2) {
    // 1.5 / units, rounded up to three significant digits: the smallest fraction whose draw rounds to 2.
    const mag = 10 ** (Math.floor(Math.log10(1.5 / units)) - 2);
    const smallest = Number((Math.ceil(1.5 / units / mag) * mag).toPrecision(3));
    throw new CxrDataError(
      `${at}: ${fraction} of the ${units} ${split} patients is ${+(fraction * units).toPrecision(3)} patients; a draw needs at least 2 (a positive and a negative), ` +
        `so the smallest fraction this ${split} split allows is ${smallest}: ${raise}`,
    );
  }
  let drawn: number[][];
  try {
    drawn = sampleFraction(ds, fraction, { draws, seed, by: 'patient', indices: rows, tasks });
  } catch (err) {
    if (!(err instanceof CxrDataError) || !/^sampleFraction: no draw of/.test(err.message)) throw err;
    // One task alone always fits in 2 patients once the split has both labels: it is the tasks together.
    const n = Math.min(units, Math.max(2, Math.round(fraction * units)));
    const fix = [raise, ...(tasks.length > 1 ? [options.fix?.tasks ?? 'use fewer tasks'] : []), options.fix?.patients ?? `give the ${split} split more patients`];
    throw new CxrDataError(
      `${at}: ${fraction} (${draws} draw${draws > 1 ? 's' : ''}) cannot be drawn: no draw of ${n} of the ${units} ${split} patients holds a positive and a negative image of ` +
        `${tasks.length > 1 ? `every task together (${tasks.map((t) => JSON.stringify(t)).join(', ')})` : `task ${JSON.stringify(tasks[0])}`}; ${fix.slice(0, -1).join(', ')} or ${fix.at(-1)}`,
    );
  }
  const position = new Map(rows.map((d, j) => [d, j]));
  return drawn.map((draw) => draw.map((d) => position.get(d)!).sort((a, b) => a - b));
}
