import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { CxrDataError } from './errors';
import { entryKind, realDir } from './paths';
import type { CxrDataset, CxrSample } from './types';

const NLM_NAME = /^(CHNCXR|MCUCXR)_(\d+)_([01])\.png$/i;
/** Lung-mask folders shipped beside the radiographs under the same file names (Montgomery's ManualMask/{left,right}Mask). */
const MASK_DIR = /^(ManualMask|leftMask|rightMask|masks?)$/i;

export interface ClinicalReading {
  sex?: string;
  age?: number;
  /** The reading's finding text (everything after sex / age). */
  finding: string;
}

/** Parses a Shenzhen ("male 35yrs\nnormal") or Montgomery ("Patient's Sex: M\nPatient's Age: 035Y\n...") reading. */
export function parseClinicalReading(text: string): ClinicalReading {
  const lines = text.replace(/\r/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let sex: string | undefined;
  let age: number | undefined;
  const rest: string[] = [];
  const toYears = (n: number, unit: string) => (/^m/i.test(unit) ? n / 12 : /^d/i.test(unit) ? n / 365 : n);
  for (const [i, l] of lines.entries()) {
    const ms = /^Patient'?s Sex:\s*(\S+)/i.exec(l);
    const ma = /^Patient'?s Age:\s*(\d+)\s*([YMD]?)/i.exec(l);
    const sz = i === 0 ? /^(male|female)\b[\s,]*(?:(\d+)\s*(yrs?|years?|y|months?|m|days?|d)?)?/i.exec(l) : null;
    if (ms) sex = /^m/i.test(ms[1]) ? 'M' : /^f/i.test(ms[1]) ? 'F' : ms[1];
    else if (ma) age = toYears(Number(ma[1]), ma[2] || 'Y');
    else if (sz) {
      sex = /^m/i.test(sz[1]) ? 'M' : 'F';
      if (sz[2] !== undefined) age = toYears(Number(sz[2]), sz[3] ?? 'y');
      const after = l.slice(sz[0].length).trim();
      if (after) rest.push(after);
    } else rest.push(l);
  }
  return { sex, age, finding: rest.join(' ') };
}

export interface NlmTbOptions {
  /** Which of the two sets to keep. Default both (whatever is under `dir`). */
  sets?: readonly ('shenzhen' | 'montgomery')[];
}

/**
 * Loads the NLM tuberculosis sets under `dir` (Shenzhen `CHNCXR_*_0|1.png`, Montgomery `MCUCXR_*_0|1.png`,
 * at any depth, lung-mask folders skipped), with `ClinicalReadings/<stem>.txt` attached when present. Task: `Tuberculosis`.
 */
export function loadNlmTb(dir: string, options: NlmTbOptions = {}): CxrDataset {
  const root = resolve(dir);
  const sets = options.sets ?? ['shenzhen', 'montgomery'];
  for (const s of sets) if (s !== 'shenzhen' && s !== 'montgomery') throw new CxrDataError(`loadNlmTb: sets may hold 'shenzhen' and 'montgomery', got ${JSON.stringify(s)}`);
  if (sets.length === 0) throw new CxrDataError(`loadNlmTb: sets is empty; name 'shenzhen' and/or 'montgomery'`);
  const prefixes = new Set<string>(sets.map((s) => (s === 'shenzhen' ? 'CHNCXR' : 'MCUCXR')));
  const images: string[] = [];
  const readings = new Map<string, string>();
  const seen = new Set<string>();
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      throw new CxrDataError(`loadNlmTb: cannot list ${d}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, d);
    }
    // A symlinked folder is walked once, so a link back to an ancestor cannot loop.
    const real = realDir(d);
    if (seen.has(real)) return;
    seen.add(real);
    for (const e of entries) {
      const full = join(d, e.name);
      const kind = entryKind(root, d, e);
      if (kind === 'dir') {
        if (!MASK_DIR.test(e.name)) walk(full);
      }
      else if (kind === 'file' && NLM_NAME.test(e.name) && prefixes.has(e.name.slice(0, 6).toUpperCase())) images.push(full);
      else if (kind === 'file' && /\.txt$/i.test(e.name) && /^(CHNCXR|MCUCXR)_/i.test(e.name)) readings.set(basename(e.name, '.txt').toUpperCase(), full);
    }
  };
  walk(root);
  if (images.length === 0) throw new CxrDataError(`loadNlmTb: no ${[...prefixes].map((p) => `${p}_*_0|1.png`).join(' or ')} images under ${root}`, root);
  images.sort((a, b) => basename(a).localeCompare(basename(b)) || a.localeCompare(b));
  // One image per name: a second copy would be a second image of the same patient (or not a radiograph at all).
  for (let i = 1; i < images.length; i++) {
    if (basename(images[i]).toUpperCase() === basename(images[i - 1]).toUpperCase()) {
      throw new CxrDataError(`loadNlmTb: ${basename(images[i])} is found twice under ${root}: ${relative(root, images[i - 1])} and ${relative(root, images[i])}; keep one copy (mask folders such as ManualMask/ are skipped)`, images[i]);
    }
  }
  const samples: CxrSample[] = [];
  const labels = new Float32Array(images.length);
  images.forEach((full, i) => {
    const m = NLM_NAME.exec(basename(full))!;
    const stem = basename(full).replace(/\.png$/i, '');
    const readingFile = readings.get(stem.toUpperCase());
    const meta: Record<string, string> = { dataset: m[1].toUpperCase() === 'CHNCXR' ? 'shenzhen' : 'montgomery' };
    let sex: string | undefined;
    let age: number | undefined;
    if (readingFile) {
      const text = readFileSync(readingFile, 'utf8');
      const reading = parseClinicalReading(text);
      sex = reading.sex;
      age = reading.age;
      meta.clinicalReading = text.trim();
      meta.finding = reading.finding;
    }
    labels[i] = Number(m[3]);
    // Each NLM image is a distinct patient.
    samples.push({ path: relative(root, full), patientId: `${m[1].toUpperCase()}_${m[2]}`, sex, age, meta });
  });
  return { root, tasks: ['Tuberculosis'], labels, samples };
}
