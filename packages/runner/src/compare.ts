import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { meanAurocCI, pairedBootstrap } from '@moco-cxr/bootstrap';
import { drawsFor, type RunnerConfig } from './config';
import { cellId } from './grid';
import type { Io } from './progress';
import type { AurocPoint } from './report/figures';
import { comparisonMarkdown, type ComparisonRow } from './report/report';
import { isFinished, readJson, writeFileAtomic, writeJsonAtomic } from './rundir';

/** The test scores one trained model wrote: one row per study (or image where there are no studies). */
export interface ScoresFile {
  level: 'study' | 'image';
  ids: string[];
  labels: number[];
  scores: number[];
}

export function readScores(runDir: string): ScoresFile {
  const file = join(runDir, 'scores.json');
  if (!existsSync(file)) throw new Error(`${runDir}: no scores.json (is it a finished linear / finetune run?)`);
  const s = readJson<ScoresFile>(file);
  if (!Array.isArray(s.ids) || !Array.isArray(s.labels) || !Array.isArray(s.scores) || s.ids.length !== s.scores.length || s.labels.length !== s.scores.length) {
    throw new Error(`${file}: expected ids, labels and scores of equal length`);
  }
  return s;
}

/** Loads the draws of one configuration and checks they score the same test rows as `reference`. */
function loadDraws(dirs: string[], reference?: ScoresFile): { draws: number[][]; first: ScoresFile } {
  const files = dirs.map(readScores);
  const first = reference ?? files[0];
  files.forEach((f, i) => {
    if (f.ids.length !== first.ids.length || f.ids.some((id, j) => id !== first.ids[j])) {
      throw new Error(`${dirs[i]}: its test rows differ from ${reference ? 'the other configuration' : dirs[0]}; a paired comparison needs the same test split in the same order`);
    }
  });
  return { draws: files.map((f) => f.scores), first };
}

export interface CompareOptions {
  nameA: string;
  nameB: string;
  replicates: number;
  confidence?: number;
  seed: number;
  protocol?: string;
  fraction?: number;
}

/** The protocol and label fraction the run directories share (from their config.json), if they share one. */
function sharedJob(dirs: string[]): { protocol?: string; fraction?: number } {
  const jobs = dirs.map((d) => {
    const file = join(d, 'config.json');
    return existsSync(file) ? (readJson<{ job?: { protocol?: string; fraction?: number } }>(file).job ?? {}) : {};
  });
  const same = <K extends 'protocol' | 'fraction'>(k: K) => (jobs.every((j) => j[k] !== undefined && j[k] === jobs[0][k]) ? jobs[0][k] : undefined);
  return { protocol: same('protocol'), fraction: same('fraction') };
}

/** Paired bootstrap of configuration A (its draws' run dirs) vs B, on their common test rows. */
export function compareRuns(a: string[], b: string[], opts: CompareOptions): ComparisonRow {
  const A = loadDraws(a);
  const B = loadDraws(b, A.first);
  const r = pairedBootstrap(A.first.labels, A.draws, B.draws, { replicates: opts.replicates, confidence: opts.confidence ?? 0.95, seed: opts.seed });
  const shared = opts.protocol === undefined || opts.fraction === undefined ? sharedJob([...a, ...b]) : {};
  return {
    protocol: opts.protocol ?? shared.protocol ?? '-',
    fraction: opts.fraction ?? shared.fraction ?? null,
    a: opts.nameA,
    b: opts.nameB,
    drawsA: a.length,
    drawsB: b.length,
    aurocA: { estimate: r.a.estimate, lo: r.a.lower, hi: r.a.upper },
    aurocB: { estimate: r.b.estimate, lo: r.b.lower, hi: r.b.upper },
    difference: { estimate: r.difference.estimate, lo: r.difference.lower, hi: r.difference.upper },
    pValue: r.pValue,
    replicates: r.replicates,
    degenerate: r.degenerate.count,
  };
}

/** `compare --a ... --b ...`: the comparison of two sets of run directories, written to `out`. */
export async function compareDirs(a: string[], b: string[], opts: CompareOptions & { out: string }) {
  const row = compareRuns(a, b, opts);
  const markdown = comparisonMarkdown([row], opts.confidence ?? 0.95);
  writeFileAtomic(join(opts.out, 'comparison.md'), `${markdown}\n\nA: ${a.map((d) => basename(d)).join(', ')}\nB: ${b.map((d) => basename(d)).join(', ')}\n`);
  writeJsonAtomic(join(opts.out, 'comparison.json'), { row, a, b, seed: opts.seed });
  return { row, markdown };
}

/** AUROC of one configuration (mean over its draws) with a bootstrap CI, when it has nothing to be paired with. */
function singleConfiguration(dirs: string[], replicates: number, confidence: number, seed: number): { estimate: number; lo: number; hi: number } {
  const { draws, first } = loadDraws(dirs);
  const ci = meanAurocCI(first.labels, draws, { replicates, confidence, seed });
  return { estimate: ci.estimate, lo: ci.lower, hi: ci.upper };
}

export interface ExperimentComparisons {
  rows: ComparisonRow[];
  points: AurocPoint[];
  markdown: string;
  /** Configurations left out because some of their draws have not finished. */
  incomplete: string[];
  seed: number;
  replicates: number;
}

/**
 * Every initialisation vs `compare.baseline` at each protocol and label fraction, over the
 * finished draws (a configuration is compared only when all its draws finished). Seeded.
 */
export async function experimentComparisons(experimentDir: string, cfg: RunnerConfig, io: Io): Promise<ExperimentComparisons> {
  const rows: ComparisonRow[] = [];
  const points: AurocPoint[] = [];
  const incomplete: string[] = [];
  const { replicates, confidence, baseline } = cfg.compare;
  for (const protocol of cfg.protocols) {
    cfg.fractions.forEach((fraction, fi) => {
      const draws = drawsFor(cfg, fi);
      const dirsOf = new Map<string, string[]>();
      for (const init of cfg.initialisations) {
        const dirs = Array.from({ length: draws }, (_, d) => join(experimentDir, 'cells', cellId(protocol, init, fraction, d)));
        if (dirs.every(isFinished)) dirsOf.set(init, dirs);
        else incomplete.push(`${protocol}/${init}/${fraction}`);
      }
      const base = dirsOf.get(baseline);
      const pointOf = new Map<string, AurocPoint>();
      for (const [init, dirs] of dirsOf) {
        if (init === baseline || !base) continue;
        const row = compareRuns(dirs, base, { nameA: init, nameB: baseline, replicates, confidence, seed: cfg.seed, protocol, fraction });
        rows.push(row);
        pointOf.set(init, { protocol, initialisation: init, fraction, auroc: row.aurocA.estimate, lo: row.aurocA.lo, hi: row.aurocA.hi, draws });
        if (!pointOf.has(baseline)) pointOf.set(baseline, { protocol, initialisation: baseline, fraction, auroc: row.aurocB.estimate, lo: row.aurocB.lo, hi: row.aurocB.hi, draws });
      }
      for (const [init, dirs] of dirsOf) {
        if (pointOf.has(init)) continue;
        const e = singleConfiguration(dirs, replicates, confidence, cfg.seed);
        pointOf.set(init, { protocol, initialisation: init, fraction, auroc: e.estimate, lo: e.lo, hi: e.hi, draws });
      }
      points.push(...pointOf.values());
    });
  }
  if (incomplete.length && !io.quiet) io.err(`compare: ${incomplete.length} configurations have unfinished draws and were left out (${incomplete.slice(0, 4).join(', ')}${incomplete.length > 4 ? ', ...' : ''})\n`);
  const markdown = comparisonMarkdown(rows, confidence);
  writeFileAtomic(join(experimentDir, 'comparison.md'), `${markdown}\n\nPaired bootstrap, ${replicates} replicates, seed ${cfg.seed}; each replicate resamples the test rows once and averages every draw of a configuration on it.\n`);
  return { rows, points, markdown, incomplete, seed: cfg.seed, replicates };
}
