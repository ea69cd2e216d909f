import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { CxrDataError } from './errors';
import type { CxrDataset } from './types';

/** A patient with images in two splits: refuse (default), drop their images from the earlier split, or allow (said in `notes`). */
export type SharedPatientPolicy = 'refuse' | 'drop' | 'allow';

export interface SplitLeakOptions {
  sharedPatients?: SharedPatientPolicy;
  /** How messages name the setting (a caller's config field); default `sharedPatients`. */
  optionName?: string;
}

export interface SplitLeakCheck<T extends string> {
  /** The rows of each split, less those dropped (`sharedPatients: 'drop'`). */
  splits: Record<T, number[]>;
  /** Patients with images in more than one split, as found (before any drop). */
  sharedPatients: string[];
  /** What was dropped or allowed, one sentence each, for the caller to say. */
  notes: string[];
}

const SHOWN = 5;

/** `path (split, file.csv line 7)`: where a row came from, for a message. */
function where(ds: CxrDataset, i: number, split: string): string {
  const meta = ds.samples[i].meta;
  return `${ds.samples[i].path} (${split}${meta?.csv && meta.csvLine ? `, ${meta.csv} line ${meta.csvLine}` : ''})`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/**
 * Checks that splits share no image and no patient. One file reached twice (a `test -> train` link, a row
 * listed in two CSVs) is always an error naming both rows and the file; a patient in two splits follows
 * `sharedPatients`. Splits are given in order from train to test: `drop` leaves a patient's images out of
 * every split but the last one holding them. Files that cannot be resolved are compared by path (the
 * image reader names them later).
 */
export function checkSplitLeaks<T extends string>(ds: CxrDataset, splits: Record<T, readonly number[]>, options: SplitLeakOptions = {}): SplitLeakCheck<T> {
  const policy = options.sharedPatients ?? 'refuse';
  if (policy !== 'refuse' && policy !== 'drop' && policy !== 'allow') throw new CxrDataError(`checkSplitLeaks: sharedPatients must be 'refuse', 'drop' or 'allow', got ${JSON.stringify(policy)}`);
  const option = options.optionName ?? 'sharedPatients';
  const names = Object.keys(splits) as T[];
  const byReal = new Map<string, { split: string; row: number }>();
  const same: string[] = [];
  let sameCount = 0;
  for (const name of names) {
    for (const i of splits[name]) {
      const abs = resolve(ds.root, ds.samples[i].path);
      let real = abs;
      try {
        real = realpathSync.native(abs);
      } catch {
        // A missing file is the image reader's to name; its path still identifies it here.
      }
      const first = byReal.get(real);
      if (first === undefined) {
        byReal.set(real, { split: name, row: i });
        continue;
      }
      sameCount++;
      if (same.length < SHOWN) same.push(`${where(ds, first.row, first.split)} and ${where(ds, i, name)} are the same file ${real}`);
    }
  }
  if (sameCount > 0) {
    throw new CxrDataError(
      `${plural(sameCount, 'image file appears', 'image files appear')} twice in the splits: ${same.join('; ')}${sameCount > SHOWN ? `; ... (${sameCount - SHOWN} more)` : ''}; ` +
        'a file may be in one split once (remove the duplicate rows, links or copies)',
      ds.root,
    );
  }
  // Patient -> the splits (by position) holding their images, and each split's first image of them.
  const seen = new Map<string, Map<number, number>>();
  names.forEach((name, s) => {
    for (const i of splits[name]) {
      const id = ds.samples[i].patientId;
      let m = seen.get(id);
      if (!m) seen.set(id, (m = new Map()));
      if (!m.has(s)) m.set(s, i);
    }
  });
  const shared = [...seen.entries()].filter(([, m]) => m.size > 1);
  const sharedPatients = shared.map(([id]) => id);
  const out = Object.fromEntries(names.map((n) => [n, [...splits[n]]])) as Record<T, number[]>;
  if (shared.length === 0) return { splits: out, sharedPatients, notes: [] };
  const describe = ([id, m]: [string, Map<number, number>]) => `${id} (${[...m.entries()].sort(([a], [b]) => a - b).map(([s, i]) => `${names[s]} ${ds.samples[i].path}`).join(', ')})`;
  const listed = `${shared.slice(0, SHOWN).map(describe).join(', ')}${shared.length > SHOWN ? `, ... (${shared.length - SHOWN} more)` : ''}`;
  const count = plural(shared.length, 'patient has', 'patients have');
  if (policy === 'refuse') {
    throw new CxrDataError(
      `${count} images in more than one split: ${listed}; a patient's images must all be in one split ` +
        `(${option}: 'drop' leaves them out of the earlier split, ${option}: 'allow' keeps them)`,
      ds.root,
    );
  }
  if (policy === 'allow') return { splits: out, sharedPatients, notes: [`${count} images in more than one split (kept: ${option} 'allow'): ${listed}`] };
  // Drop: a patient stays only in the last split that holds them.
  const lastSplit = new Map(shared.map(([id, m]) => [id, Math.max(...m.keys())]));
  const droppedPer: string[] = [];
  let dropped = 0;
  names.forEach((name, s) => {
    const keep = out[name].filter((i) => {
      const last = lastSplit.get(ds.samples[i].patientId);
      return last === undefined || last === s;
    });
    if (keep.length < out[name].length) droppedPer.push(`${out[name].length - keep.length} of ${name}`);
    dropped += out[name].length - keep.length;
    out[name] = keep;
  });
  return {
    splits: out,
    sharedPatients,
    notes: [`${plural(dropped, 'image', 'images')} of ${plural(shared.length, 'patient who also has', 'patients who also have')} images in a later split ${dropped === 1 ? 'was' : 'were'} left out: ${droppedPer.join(', ')}`],
  };
}
