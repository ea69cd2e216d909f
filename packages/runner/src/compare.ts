import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BOOTSTRAP_DEFAULTS, meanAurocCI, pairedBootstrap, pairedBootstrapTasks, pairedSeedBootstrap } from '@moco-cxr/bootstrap';
import { drawsFor, seedsOf, type RunnerConfig } from './config';
import { cellId, seedTag } from './grid';
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
    const r = pairedBootstrap(A.first.labels, A.draws, B.draws, { replicates: opts.replicates, confidence: opts.confidence ?? BOOTSTRAP_DEFAULTS.confidence, seed: opts.seed });
    return [{ ...base, ...(A.first.tasks ? { task: A.first.tasks[0] } : {}), aurocA: est(r.a), aurocB: est(r.b), difference: est(r.difference), pValue: r.pValue, replicates: r.replicates, degenerate: r.degenerate.count }];
  }
  // Several tasks: every task and the mean over tasks on the same resamples (NaN labels masked per task).
  const r = pairedBootstrapTasks(A.first.labels, K, A.draws, B.draws, { replicates: opts.replicates, confidence: opts.confidence ?? BOOTSTRAP_DEFAULTS.confidence, seed: opts.seed, taskNames: A.first.tasks });
  const row = (task: string, c: (typeof r)['mean']): ComparisonRow => ({ ...base, task, aurocA: est(c.a), aurocB: est(c.b), difference: est(c.difference), pValue: c.pValue, replicates: r.replicates, degenerate: r.degenerate.count });
  return [row(MEAN_TASK, r.mean), ...r.tasks.map((t, k) => row(t, r.perTask[k]))];
}

/** The row name of the mean over tasks. */
export const MEAN_TASK = 'mean over tasks';

/**
 * A vs B pooled over training seeds: `a[i]` and `b[i]` are the draws' run directories of seed
 * `seeds[i]`, all on the same test rows. Each replicate resamples the seeds (seed i of A paired with
 * seed i of B) and the test rows (see pairedSeedBootstrap); one row per task and one for their mean
 * when there are several.
 */
export function compareSeedRuns(a: string[][], b: string[][], opts: CompareOptions & { seeds: number[] }): ComparisonRow[] {
  if (a.length !== opts.seeds.length || b.length !== opts.seeds.length) throw new Error(`compareSeedRuns: ${a.length} (A) and ${b.length} (B) seeds of run directories for seeds ${opts.seeds.join(', ')}`);
  // Every seed of both sides must score the test rows of A's first seed, in the same order.
  const reference = loadDraws(a[0]).first;
  const A = a.map((dirs) => loadDraws(dirs, reference));
  const B = b.map((dirs) => loadDraws(dirs, reference));
  const K = taskCount(reference);
  const r = pairedSeedBootstrap(
    reference.labels,
    A.map((x) => x.draws),
    B.map((x) => x.draws),
    { tasks: K, ...(reference.tasks ? { taskNames: reference.tasks } : {}), replicates: opts.replicates, confidence: opts.confidence ?? BOOTSTRAP_DEFAULTS.confidence, seed: opts.seed },
  );
  const est = (i: { estimate: number; lower: number; upper: number }) => ({ estimate: i.estimate, lo: i.lower, hi: i.upper });
  const base = { protocol: opts.protocol ?? '-', fraction: opts.fraction ?? null, a: opts.nameA, b: opts.nameB, drawsA: a[0].length, drawsB: b[0].length, seeds: [...opts.seeds] };
  const row = (c: (typeof r)['mean'], task?: string): ComparisonRow => ({ ...base, ...(task !== undefined ? { task } : {}), aurocA: est(c.a), aurocB: est(c.b), difference: est(c.difference), pValue: c.pValue, replicates: r.replicates, degenerate: r.degenerate.count });
  if (K === 1) return [row(r.mean, reference.tasks?.[0])];
  return [row(r.mean, MEAN_TASK), ...r.tasks.map((t, k) => row(r.perTask[k], t))];
}

/** How the report's intervals are formed, in words (one line per kind of row). */
export function intervalText(cfg: Pick<RunnerConfig, 'seed' | 'seeds' | 'compare'>): string[] {
  const { replicates, confidence } = cfg.compare;
  const pct = `${Math.round(confidence * 100)}%`;
  const q = `${+((1 - confidence) * 50).toFixed(3)}th and ${+((1 + confidence) * 50).toFixed(3)}th percentiles`;
  const seeds = seedsOf(cfg);
  const perSeed = `${seeds.length > 1 ? 'Per-seed rows: each' : 'Each'} of ${replicates} bootstrap replicates (seed ${cfg.seed}) resamples the test images with replacement, the same images for both sides, scores every label-fraction draw of each side on them and averages over the draws; the ${pct} CI of each AUROC and of A - B is the ${q} of the replicates.`;
  if (seeds.length === 1) return [perSeed];
  return [
    perSeed,
    `Pooled rows (training seeds ${seeds.join(', ')}): each of ${replicates} replicates draws ${seeds.length} training seeds with replacement, the same seed indices for both sides (seed i of A is paired with seed i of B), and the test images with replacement, the same images for every seed and both sides; a side's AUROC is its mean over the drawn seeds of each seed's mean over its label-fraction draws, and the ${pct} CI is the ${q} of the replicates. The interval so covers the spread between training runs as well as between test images; the point estimate is the mean over seeds.`,
  ];
}

/** `compare --a ... --b ...`: the comparison of two sets of run directories, written to `out`. */
export async function compareDirs(a: string[], b: string[], opts: CompareOptions & { out: string }) {
  const rows = compareRuns(a, b, opts);
  const markdown = comparisonMarkdown(rows, opts.confidence ?? BOOTSTRAP_DEFAULTS.confidence);
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
  /** The training seeds; several give per-seed rows and pooled rows. */
  seeds: number[];
  replicates: number;
  /** How the intervals are formed, in words. */
  intervals: string[];
}

/** AUROC of one configuration pooled over its seeds (each seed's draws), with the seed-and-rows bootstrap CI; per task when it has several. */
function singleConfigurationSeeds(dirs: string[][], replicates: number, confidence: number, seed: number): { task?: string; estimate: number; lo: number; hi: number }[] {
  const first = loadDraws(dirs[0]).first;
  const loaded = dirs.map((d) => loadDraws(d, first));
  const K = taskCount(first);
  const draws = loaded.map((l) => l.draws);
  // Paired with itself, each side's interval is this configuration's.
  const r = pairedSeedBootstrap(first.labels, draws, draws, { tasks: K, ...(first.tasks ? { taskNames: first.tasks } : {}), replicates, confidence, seed });
  const one = (c: (typeof r)['mean'], task?: string) => ({ ...(task !== undefined ? { task } : {}), estimate: c.a.estimate, lo: c.a.lower, hi: c.a.upper });
  if (K === 1) return [one(r.mean, first.tasks?.[0])];
  return [one(r.mean, MEAN_TASK), ...r.tasks.map((t, k) => one(r.perTask[k], t))];
}

/**
 * Every initialisation vs `compare.baseline` at each protocol and label fraction, over the
 * finished draws (a configuration is compared only when all its draws finished). With several
 * training seeds: a row per seed, and a pooled row over the seeds both sides finished, whose
 * bootstrap resamples the seeds as well as the test images. Seeded.
 */
export async function experimentComparisons(experimentDir: string, cfg: RunnerConfig, io: Io): Promise<ExperimentComparisons> {
  const rows: ComparisonRow[] = [];
  const points: AurocPoint[] = [];
  const incomplete: string[] = [];
  const { replicates, confidence, baseline } = cfg.compare;
  const seeds = seedsOf(cfg);
  const several = seeds.length > 1;
  for (const protocol of cfg.protocols) {
    cfg.fractions.forEach((fraction, fi) => {
      const draws = drawsFor(cfg, fi);
      // Per initialisation, the draws' directories of each training seed whose draws all finished.
      const dirsOf = new Map<string, Map<number, string[]>>();
      for (const init of cfg.initialisations) {
        const bySeed = new Map<number, string[]>();
        for (const seed of seeds) {
          const dirs = Array.from({ length: draws }, (_, d) => join(experimentDir, 'cells', cellId(protocol, init, fraction, d, seedTag(cfg, seed))));
          if (dirs.every(isFinished)) bySeed.set(seed, dirs);
          else incomplete.push(`${protocol}/${init}/${fraction}${several ? `/seed ${seed}` : ''}`);
        }
        if (bySeed.size) dirsOf.set(init, bySeed);
      }
      const base = dirsOf.get(baseline);
      // The rows the figure and the per-configuration table take their AUROCs from: pooled ones with several seeds.
      const pointRows: ComparisonRow[] = [];
      for (const [init, bySeed] of dirsOf) {
        if (init === baseline || !base) continue;
        const common = seeds.filter((s) => bySeed.has(s) && base.has(s));
        const opts = { nameA: init, nameB: baseline, replicates, confidence, seed: cfg.seed, protocol, fraction };
        const perSeed = common.map((s) => compareRuns(bySeed.get(s)!, base.get(s)!, opts).map((r) => (several ? { ...r, seed: s } : r)));
        const pooled = several && common.length > 1 ? compareSeedRuns(common.map((s) => bySeed.get(s)!), common.map((s) => base.get(s)!), { ...opts, seeds: common }) : [];
        // Grouped by task: each seed's row, then the pooled row.
        const tasks = perSeed[0]?.length ?? 0;
        for (let t = 0; t < tasks; t++) rows.push(...perSeed.map((r) => r[t]), ...(pooled[t] ? [pooled[t]] : []));
        pointRows.push(...(several ? pooled : perSeed.flat()));
      }
      // Keyed by initialisation and task: one point per task (and the mean) when there are several.
      const pointOf = new Map<string, AurocPoint>();
      const key = (init: string, task?: string) => `${init}\u0000${task ?? ''}`;
      const seedCount = (row: ComparisonRow) => (row.seeds ? { seeds: row.seeds.length } : {});
      for (const row of pointRows) {
        const t = row.task !== undefined ? { task: row.task } : {};
        pointOf.set(key(row.a, row.task), { protocol, initialisation: row.a, fraction, auroc: row.aurocA.estimate, lo: row.aurocA.lo, hi: row.aurocA.hi, draws, ...seedCount(row), ...t });
        if (!pointOf.has(key(baseline, row.task))) pointOf.set(key(baseline, row.task), { protocol, initialisation: baseline, fraction, auroc: row.aurocB.estimate, lo: row.aurocB.lo, hi: row.aurocB.hi, draws, ...seedCount(row), ...t });
      }
      for (const [init, bySeed] of dirsOf) {
        if ([...pointOf.values()].some((p) => p.initialisation === init)) continue;
        const done = seeds.filter((s) => bySeed.has(s));
        const estimates = done.length > 1 ? singleConfigurationSeeds(done.map((s) => bySeed.get(s)!), replicates, confidence, cfg.seed) : singleConfiguration(bySeed.get(done[0])!, replicates, confidence, cfg.seed);
        for (const e of estimates) {
          pointOf.set(key(init, e.task), { protocol, initialisation: init, fraction, auroc: e.estimate, lo: e.lo, hi: e.hi, draws, ...(done.length > 1 ? { seeds: done.length } : {}), ...(e.task !== undefined ? { task: e.task } : {}) });
        }
      }
      points.push(...pointOf.values());
    });
  }
  if (incomplete.length && !io.quiet) io.err(`compare: ${incomplete.length} configurations have unfinished draws and were left out (${incomplete.slice(0, 4).join(', ')}${incomplete.length > 4 ? ', ...' : ''})\n`);
  const markdown = comparisonMarkdown(rows, confidence);
  const intervals = intervalText(cfg);
  writeFileAtomic(join(experimentDir, 'comparison.md'), `${markdown}\n\n${intervals.join('\n\n')}\n`);
  return { rows, points, markdown, incomplete, seed: cfg.seed, seeds, replicates, intervals };
}
