import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { meanAurocCI, pairedBootstrap, pairedBootstrapTasks } from '@moco-cxr/bootstrap';
import { drawsFor, type RunnerConfig } from './config';
import { cellId } from './grid';
import type { Io } from './progress';
import type { AurocPoint } from './report/figures';
import { comparisonMarkdown, type ComparisonRow } from './report/report';
import { isFinished, readJson, writeFileAtomic, writeJsonAtomic } from './rundir';

/** The test scores one trained model wrote: one row per study (or image where there are no studies), rows x tasks. */
export interface ScoresFile {
  level: 'study' | 'image';
  /** Task names (absent in files from before several tasks: one task). */
  tasks?: string[];
  ids: string[];
  /** rows x tasks, row-major; NaN (null in JSON) = masked. */
  labels: number[];
  scores: number[];
}

/** The number of tasks a scores file holds. */
export function taskCount(s: ScoresFile): number {
  return s.tasks?.length ?? 1;
}

export function readScores(runDir: string): ScoresFile {
  const file = join(runDir, 'scores.json');
  if (!existsSync(file)) throw new Error(`${runDir}: no scores.json (is it a finished linear / finetune run?)`);
  const s = readJson<ScoresFile>(file);
  const K = taskCount(s);
  if (!Array.isArray(s.ids) || !Array.isArray(s.labels) || !Array.isArray(s.scores) || s.ids.length * K !== s.scores.length || s.labels.length !== s.scores.length) {
    throw new Error(`${file}: expected ids, and labels and scores of ids x ${K} task${K > 1 ? 's' : ''}`);
  }
  // JSON writes NaN (a masked label) as null.
  s.labels = s.labels.map((y) => (y === null ? Number.NaN : y));
  return s;
}

/** Loads the draws of one configuration and checks they score the same test rows as `reference`. */
function loadDraws(dirs: string[], reference?: ScoresFile): { draws: number[][]; first: ScoresFile } {
  const files = dirs.map(readScores);
  const first = reference ?? files[0];
  files.forEach((f, i) => {
    if (JSON.stringify(f.tasks ?? null) !== JSON.stringify(first.tasks ?? null)) throw new Error(`${dirs[i]}: its tasks (${f.tasks?.join(', ') ?? 'one'}) differ from ${(first.tasks ?? ['one']).join(', ')}`);
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

/** Paired bootstrap of configuration A (its draws' run dirs) vs B, on their common test rows; one row per task and one for their mean when there are several. */
export function compareRuns(a: string[], b: string[], opts: CompareOptions): ComparisonRow[] {
  const A = loadDraws(a);
  const B = loadDraws(b, A.first);
  const shared = opts.protocol === undefined || opts.fraction === undefined ? sharedJob([...a, ...b]) : {};
  const base = {
    protocol: opts.protocol ?? shared.protocol ?? '-',
    fraction: opts.fraction ?? shared.fraction ?? null,
    a: opts.nameA,
    b: opts.nameB,
    drawsA: a.length,
    drawsB: b.length,
  };
  const est = (i: { estimate: number; lower: number; upper: number }) => ({ estimate: i.estimate, lo: i.lower, hi: i.upper });
  const K = taskCount(A.first);
  if (K === 1) {
    const r = pairedBootstrap(A.first.labels, A.draws, B.draws, { replicates: opts.replicates, confidence: opts.confidence ?? 0.95, seed: opts.seed });
    return [{ ...base, ...(A.first.tasks ? { task: A.first.tasks[0] } : {}), aurocA: est(r.a), aurocB: est(r.b), difference: est(r.difference), pValue: r.pValue, replicates: r.replicates, degenerate: r.degenerate.count }];
  }
  // Several tasks: every task and the mean over tasks on the same resamples (NaN labels masked per task).
  const r = pairedBootstrapTasks(A.first.labels, K, A.draws, B.draws, { replicates: opts.replicates, confidence: opts.confidence ?? 0.95, seed: opts.seed, taskNames: A.first.tasks });
  const row = (task: string, c: (typeof r)['mean']): ComparisonRow => ({ ...base, task, aurocA: est(c.a), aurocB: est(c.b), difference: est(c.difference), pValue: c.pValue, replicates: r.replicates, degenerate: r.degenerate.count });
  return [row(MEAN_TASK, r.mean), ...r.tasks.map((t, k) => row(t, r.perTask[k]))];
}

/** The row name of the mean over tasks. */
export const MEAN_TASK = 'mean over tasks';

/** `compare --a ... --b ...`: the comparison of two sets of run directories, written to `out`. */
export async function compareDirs(a: string[], b: string[], opts: CompareOptions & { out: string }) {
  const rows = compareRuns(a, b, opts);
  const markdown = comparisonMarkdown(rows, opts.confidence ?? 0.95);
  writeFileAtomic(join(opts.out, 'comparison.md'), `${markdown}\n\nA: ${a.map((d) => basename(d)).join(', ')}\nB: ${b.map((d) => basename(d)).join(', ')}\n`);
  writeJsonAtomic(join(opts.out, 'comparison.json'), { row: rows[0], rows, a, b, seed: opts.seed });
  return { row: rows[0], rows, markdown };
}

/** AUROC of one configuration (mean over its draws) with a bootstrap CI, per task when it has several, when it has nothing to be paired with. */
function singleConfiguration(dirs: string[], replicates: number, confidence: number, seed: number): { task?: string; estimate: number; lo: number; hi: number }[] {
  const { draws, first } = loadDraws(dirs);
  const K = taskCount(first);
  if (K > 1) {
    // Paired with itself, each side's interval is this configuration's bootstrap CI.
    const r = pairedBootstrapTasks(first.labels, K, draws, draws, { replicates, confidence, seed, taskNames: first.tasks });
    return [{ task: MEAN_TASK, estimate: r.mean.a.estimate, lo: r.mean.a.lower, hi: r.mean.a.upper }, ...r.tasks.map((task, k) => ({ task, estimate: r.perTask[k].a.estimate, lo: r.perTask[k].a.lower, hi: r.perTask[k].a.upper }))];
  }
  const ci = meanAurocCI(first.labels, draws, { replicates, confidence, seed });
  return [{ ...(first.tasks ? { task: first.tasks[0] } : {}), estimate: ci.estimate, lo: ci.lower, hi: ci.upper }];
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
      // Keyed by initialisation and task: one point per task (and the mean) when there are several.
      const pointOf = new Map<string, AurocPoint>();
      const key = (init: string, task?: string) => `${init}\u0000${task ?? ''}`;
      for (const [init, dirs] of dirsOf) {
        if (init === baseline || !base) continue;
        for (const row of compareRuns(dirs, base, { nameA: init, nameB: baseline, replicates, confidence, seed: cfg.seed, protocol, fraction })) {
          rows.push(row);
          const t = row.task !== undefined ? { task: row.task } : {};
          pointOf.set(key(init, row.task), { protocol, initialisation: init, fraction, auroc: row.aurocA.estimate, lo: row.aurocA.lo, hi: row.aurocA.hi, draws, ...t });
          if (!pointOf.has(key(baseline, row.task))) pointOf.set(key(baseline, row.task), { protocol, initialisation: baseline, fraction, auroc: row.aurocB.estimate, lo: row.aurocB.lo, hi: row.aurocB.hi, draws, ...t });
        }
      }
      for (const [init, dirs] of dirsOf) {
        if ([...pointOf.values()].some((p) => p.initialisation === init)) continue;
        for (const e of singleConfiguration(dirs, replicates, confidence, cfg.seed)) {
          pointOf.set(key(init, e.task), { protocol, initialisation: init, fraction, auroc: e.estimate, lo: e.lo, hi: e.hi, draws, ...(e.task !== undefined ? { task: e.task } : {}) });
        }
      }
      points.push(...pointOf.values());
    });
  }
  if (incomplete.length && !io.quiet) io.err(`compare: ${incomplete.length} configurations have unfinished draws and were left out (${incomplete.slice(0, 4).join(', ')}${incomplete.length > 4 ? ', ...' : ''})\n`);
  const markdown = comparisonMarkdown(rows, confidence);
  writeFileAtomic(join(experimentDir, 'comparison.md'), `${markdown}\n\nPaired bootstrap, ${replicates} replicates, seed ${cfg.seed}; each replicate resamples the test rows once and averages every draw of a configuration on it.\n`);
  return { rows, points, markdown, incomplete, seed: cfg.seed, replicates };
}
