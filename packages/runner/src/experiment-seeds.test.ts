import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pairedBootstrap, pairedSeedBootstrap } from '@moco-cxr/bootstrap';
import { describe, expect, it } from 'vitest';
import { Rng } from '@moco-cxr/rng';
import { captureIo } from './test-support/io';
import { experimentComparisons, MEAN_TASK } from './compare';
import { resolveConfig } from './config';
import { runCli } from './cli/main';
import { fmtEstimate, type ComparisonRow } from './report/report';
import { writeJsonAtomic } from './rundir';

// Two training seeds of a grid that takes seconds: tiny synthetic images, a narrow ResNet18, one
// pretraining epoch, the logistic probe (fitted, no epochs) at 50% (2 draws) and 100% of the labels.
const config = `
seed: 7
seeds: [0, 1]
threads: 1
data: { source: synthetic, imageSize: 16, synthetic: { train: 48, test: 40 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
pretrain: { epochs: 1, batchSize: 16, queueSize: 32, monitorEvery: 1, probeSize: 16 }
protocols: [logistic]
fractions: [0.5, 1]
draws: [2, 1]
compare: { replicates: 60 }
`;

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('experiment with seeds: [0, 1]', () => {
  it('pretrains and initialises once per seed, runs every cell per seed, and reports per-seed rows and the pooled row with their numbers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-seeds-'));
    writeFileSync(join(dir, 'c.yaml'), config);
    const out = join(dir, 'exp');
    const io = captureIo();
    const r = await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', out], io);
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);

    // A pretraining run and a random init per seed, each trained from its own seed; the data and draws from `seed`.
    for (const s of [0, 1]) {
      expect(json(join(out, `pretrain-s${s}`, 'run.json'))).toMatchObject({ status: 'finished', seed: s });
      expect(json(join(out, 'features', `random-s${s}`, 'results.json')).weights).toBe(`random init, seed ${s}`);
      expect(json(join(out, 'cells', `logistic-moco-50pct-d1-s${s}`, 'config.json')).job).toMatchObject({ seed: s, drawSeed: 7, draw: 1 });
    }
    expect(readFileSync(join(out, 'features', 'random-s0', 'train.f32'))).not.toEqual(readFileSync(join(out, 'features', 'random-s1', 'train.f32')));
    expect(existsSync(join(out, 'pretrain'))).toBe(false);

    // comparison.json: per fraction, seed 0, seed 1, then the pooled row.
    const cmp = json(join(out, 'comparison.json'));
    const rows = cmp.rows as ComparisonRow[];
    expect(rows.map((x) => `${x.fraction} ${x.a}-${x.b} x${x.drawsA} ${x.seeds ? `pooled ${x.seeds.join(',')}` : `seed ${x.seed}`}`)).toEqual([
      '0.5 moco-random x2 seed 0',
      '0.5 moco-random x2 seed 1',
      '0.5 moco-random x2 pooled 0,1',
      '1 moco-random x1 seed 0',
      '1 moco-random x1 seed 1',
      '1 moco-random x1 pooled 0,1',
    ]);
    expect(cmp.seeds).toEqual([0, 1]);

    // Each row, recomputed here from the cells' scores files with the bootstrap package.
    const scores = (id: string) => json(join(out, 'cells', id, 'scores.json')) as { labels: number[]; scores: number[] };
    const labels = scores('logistic-moco-50pct-d0-s0').labels;
    const side = (init: string, tag: string, s: number) => (tag === '50pct' ? [0, 1] : [0]).map((d) => scores(`logistic-${init}-${tag}-d${d}-s${s}`).scores);
    for (const [i, tag] of [[0, '50pct'], [3, '100pct']] as const) {
      for (const s of [0, 1]) {
        const want = pairedBootstrap(labels, side('moco', tag, s), side('random', tag, s), { seed: 7, replicates: 60 });
        const row = rows[i + s];
        expect([row.aurocA.estimate, row.difference.estimate, row.difference.lo, row.difference.hi, row.pValue]).toEqual([want.a.estimate, want.difference.estimate, want.difference.lower, want.difference.upper, want.pValue]);
      }
      const pooled = pairedSeedBootstrap(labels, [0, 1].map((s) => side('moco', tag, s)), [0, 1].map((s) => side('random', tag, s)), { seed: 7, replicates: 60 });
      const row = rows[i + 2];
      expect([row.aurocA.estimate, row.aurocB.estimate, row.difference.estimate, row.difference.lo, row.difference.hi, row.pValue]).toEqual([
        pooled.mean.a.estimate,
        pooled.mean.b.estimate,
        pooled.mean.difference.estimate,
        pooled.mean.difference.lower,
        pooled.mean.difference.upper,
        pooled.mean.pValue,
      ]);
      // The pooled estimate is the mean of the seeds' estimates.
      expect(row.difference.estimate).toBeCloseTo((rows[i].difference.estimate + rows[i + 1].difference.estimate) / 2, 12);
    }

    // The report: the per-seed and pooled rows with their numbers, the findings from the pooled rows, and how the interval is formed.
    const md = readFileSync(join(out, 'report', 'report.md'), 'utf8');
    const html = readFileSync(join(out, 'report', 'index.html'), 'utf8');
    expect(md).toContain('| protocol | label fraction | A | seed | AUROC A [95% CI] | B |');
    for (const row of rows) {
      const line = `| logistic | ${row.fraction === 1 ? '100%' : '50%'} (${row.drawsA} draw${row.drawsA > 1 ? 's' : ''}) | moco | ${row.seeds ? 'pooled (0, 1)' : row.seed} | ${fmtEstimate(row.aurocA)} | random | ${fmtEstimate(row.aurocB)} | ${fmtEstimate(row.difference, true)} |`;
      expect(md).toContain(line);
      expect(html).toContain(`<td>${row.seeds ? 'pooled (0, 1)' : row.seed}</td><td>${fmtEstimate(row.aurocA)}</td>`);
    }
    const how = 'Pooled rows (training seeds 0, 1): each of 60 replicates draws 2 training seeds with replacement, the same seed indices for both sides (seed i of A is paired with seed i of B), and the test images with replacement';
    expect(md).toContain(how);
    expect(html).toContain(how);
    expect(cmp.intervals[1]).toContain(how);
    expect(readFileSync(join(out, 'comparison.md'), 'utf8')).toContain(how);
    expect(md).toMatch(/^- Logistic-regression probe \(frozen backbone\), 50% of the labels \(2 draws, pooled over training seeds 0, 1\): /m);
    expect(md).not.toMatch(/^- .*seed 0\b.*: (MoCo|no clear)/m);
    expect(md).toContain('- More seeds: 2 pretraining runs and 2 random inits (seeds 0, 1).');
    expect(md).toContain('| logistic | 50% | moco |');
    expect(md).toMatch(/\| logistic \| 50% \| moco \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \| 2 x 2 seeds \|/);
    // Every cell of both seeds is listed; the pretraining monitor has a line per seed.
    for (const s of [0, 1]) expect(md).toContain(`| logistic-random-100pct-d0-s${s} |`);
    expect(readFileSync(join(out, 'report', 'figures', 'pretraining.svg'), 'utf8')).toContain('loss, seed 1');

    // The terminal table has the seed column too.
    expect(io.text()).toMatch(/moco\s+pooled \(0, 1\)\s+/);
  }, 240_000);

  it('a single run (linear here; pretrain and finetune alike) trains once, with seed, and says that seeds are the experiment\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-seeds-one-'));
    writeFileSync(join(dir, 'c.yaml'), config);
    const io = captureIo();
    const r = await runCli(['linear', '-c', join(dir, 'c.yaml'), '-o', join(dir, 'lin'), '--fraction', '1'], io);
    expect(r.error).toBeUndefined();
    expect(io.text()).toContain('moco-cxr linear: seeds [0, 1] are the training seeds of `experiment`; this run trains once, with seed 7 (--seed n for another)\n');
    expect(json(join(dir, 'lin', 'run.json')).seed).toBe(7);
    expect(json(join(dir, 'lin', 'config.json')).seeds).toBeUndefined();
    // Its features sit where a one-seed run puts them, from a random init of seed 7.
    expect(json(join(dir, 'lin', 'features', 'random', 'results.json')).weights).toBe('random init, seed 7');
  }, 120_000);
});

describe('experimentComparisons over seeds with several tasks', () => {
  it('gives, per task and for the mean over tasks, each seed\'s row and then the pooled row of pairedSeedBootstrap', async () => {
    // Finished cells written by hand: two tasks (NaN = masked), two seeds, two draws at 50%.
    const dir = mkdtempSync(join(tmpdir(), 'runner-seeds-tasks-'));
    const rng = new Rng(3);
    const n = 60;
    const tasks = ['Effusion', 'Edema'];
    const labels = Array.from({ length: n * 2 }, (_, i) => (i === 7 ? NaN : rng.next() < 0.4 ? 1 : 0));
    const cell = (id: string, signal: number) => {
      const scores = labels.map((y) => (y === 1 ? signal : 0) + rng.normal());
      writeJsonAtomic(join(dir, 'cells', id, 'scores.json'), { level: 'image', tasks, ids: Array.from({ length: n }, (_, i) => `img${i}`), labels: labels.map((y) => (Number.isNaN(y) ? null : y)), scores });
      writeJsonAtomic(join(dir, 'cells', id, 'results.json'), {});
      return scores;
    };
    const scores = { moco: [0, 1].map((s) => [0, 1].map((d) => cell(`logistic-moco-50pct-d${d}-s${s}`, 1.2 + 0.3 * s))), random: [0, 1].map((s) => [0, 1].map((d) => cell(`logistic-random-50pct-d${d}-s${s}`, 0.8))) };
    const cfg = resolveConfig({ seed: 9, seeds: [0, 1], protocols: ['logistic'], fractions: [0.5], draws: 2, compare: { replicates: 40 } });
    const r = await experimentComparisons(dir, cfg, captureIo());
    expect(r.rows.map((x) => `${x.task} ${x.seeds ? 'pooled' : x.seed}`)).toEqual([`${MEAN_TASK} 0`, `${MEAN_TASK} 1`, `${MEAN_TASK} pooled`, 'Effusion 0', 'Effusion 1', 'Effusion pooled', 'Edema 0', 'Edema 1', 'Edema pooled']);
    const want = pairedSeedBootstrap(labels, scores.moco, scores.random, { seed: 9, replicates: 40, tasks: 2, taskNames: tasks });
    const pooled = r.rows.filter((x) => x.seeds);
    for (const [row, c] of [[pooled[0], want.mean], [pooled[1], want.perTask[0]], [pooled[2], want.perTask[1]]] as const) {
      expect([row.aurocA.estimate, row.difference.estimate, row.difference.lo, row.difference.hi, row.pValue]).toEqual([c.a.estimate, c.difference.estimate, c.difference.lower, c.difference.upper, c.pValue]);
    }
    // The figure's points are the pooled AUROCs, one per task and the mean, for each initialisation.
    expect(r.points.filter((p) => p.initialisation === 'moco').map((p) => [p.task, p.auroc, p.seeds])).toEqual([[MEAN_TASK, want.mean.a.estimate, 2], ['Effusion', want.perTask[0].a.estimate, 2], ['Edema', want.perTask[1].a.estimate, 2]]);
  });
});
