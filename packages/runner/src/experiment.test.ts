import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';

// ../shared/data relative to the repository root (this file is packages/runner/src/).
const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const present = existsSync(join(KERMANY, 'train')) && existsSync(join(KERMANY, 'test'));
if (!present && process.env.CI === 'true') throw new Error(`Kermany data missing at ${KERMANY}: the real-data experiment test must run in CI`);

// The issue-7 study config (examples/kermany.yaml) at CI size, through examples/tiny-kermany.yaml
// which extends it: a change to the study's grid, protocols or statistics is tested here.
const RUNNER_VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
const TINY = fileURLToPath(new URL('../examples/tiny-kermany.yaml', import.meta.url));
const tinyConfig = (cacheDir: string) => `
extends: ${JSON.stringify(TINY)}
data:
  root: ${JSON.stringify(KERMANY)}
  cacheDir: ${JSON.stringify(cacheDir)}
`;

describe.skipIf(!present)('experiment on a slice of Kermany (CI-sized; skipped without the data at MOCO_CXR_DATA)', () => {
  it('runs the grid end to end, writes the comparison table and report, and resumes without redoing work', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-kermany-'));
    const config = join(dir, 'kermany-tiny.yaml');
    writeFileSync(config, tinyConfig(join(dir, 'cache')));
    const out = join(dir, 'exp');
    const io = captureIo();
    const first = await runCli(['experiment', '--config', config, '--out', out], io);
    expect(first.error).toBeUndefined();
    expect(first.exitCode).toBe(0);

    // The comparison table: every protocol x fraction, MoCo vs random init, with CIs that hold the estimate.
    const cmp = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8'));
    expect(cmp.rows.map((r: { protocol: string; fraction: number; a: string; b: string; drawsA: number }) => `${r.protocol} ${r.fraction} ${r.a}-${r.b} x${r.drawsA}`)).toEqual([
      'linear 0.25 moco-random x2',
      'linear 1 moco-random x1',
      'logistic 0.25 moco-random x2',
      'logistic 1 moco-random x1',
      'finetune 0.25 moco-random x2',
      'finetune 1 moco-random x1',
    ]);
    for (const r of cmp.rows) {
      for (const e of [r.aurocA, r.aurocB, r.difference]) expect(e.lo).toBeLessThanOrEqual(e.estimate + 1e-12), expect(e.hi).toBeGreaterThanOrEqual(e.estimate - 1e-12);
      expect(r.difference.estimate).toBeCloseTo(r.aurocA.estimate - r.aurocB.estimate, 12);
      expect(r.replicates).toBe(200);
    }
    expect(readFileSync(join(out, 'comparison.md'), 'utf8')).toMatch(/^\| protocol \| label fraction \| A \| AUROC A \[95% CI\]/);
    expect(io.text()).toContain('report: ');

    // Every cell scored the same 80-ish test images; a cell's AUROC matches its scores file.
    const cell = JSON.parse(readFileSync(join(out, 'cells', 'finetune-moco-25pct-d1', 'results.json'), 'utf8'));
    const scores = JSON.parse(readFileSync(join(out, 'cells', 'finetune-moco-25pct-d1', 'scores.json'), 'utf8'));
    expect(scores.level).toBe('image');
    expect(scores.ids.length).toBeGreaterThanOrEqual(70);
    expect(scores.ids.every((p: string) => p.startsWith('test/'))).toBe(true);
    expect(cell.testAuroc).toBeGreaterThanOrEqual(0);
    expect(readFileSync(join(out, 'cells', 'finetune-moco-25pct-d1', 'scores.csv'), 'utf8').split('\n')[0]).toBe('path,patient,study,label,score');

    // The logistic probe kept the penalty with the best validation AUROC, and reports it.
    const logistic = JSON.parse(readFileSync(join(out, 'cells', 'logistic-moco-100pct-d0', 'history.json'), 'utf8'));
    const logisticCell = JSON.parse(readFileSync(join(out, 'cells', 'logistic-moco-100pct-d0', 'results.json'), 'utf8'));
    expect(logistic.candidates.map((c: { l2: number }) => c.l2)).toEqual([0.1, 1, 10, 100, 1000]);
    expect(logisticCell.valAuroc).toBe(Math.max(...logistic.candidates.map((c: { valAuroc: number }) => c.valAuroc)));

    // The audit trail: resolved config, versions, backend, seed; pretraining monitor history.
    const runInfo = JSON.parse(readFileSync(join(out, 'pretrain', 'run.json'), 'utf8'));
    expect(runInfo).toMatchObject({ status: 'finished', seed: 3, versions: { '@moco-cxr/runner': RUNNER_VERSION } });
    expect(['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu']).toContain(runInfo.backend.backend);
    const history = JSON.parse(readFileSync(join(out, 'pretrain', 'history.json'), 'utf8'));
    expect(history.map((h: { epoch: number }) => h.epoch)).toEqual([0, 1, 2]);
    expect(history[2].loss).toBeGreaterThan(0);

    // The report: figure with a panel per protocol and a line per initialisation.
    const svg = readFileSync(join(out, 'report', 'figures', 'auroc-vs-fraction.svg'), 'utf8');
    for (const t of ['linear', 'logistic', 'finetune', 'moco', 'random', '25%', '100%']) expect(svg).toContain(`>${t}</text>`);
    expect(existsSync(join(out, 'report', 'figures', 'auroc-vs-fraction.png'))).toBe(true);
    const reportMd = readFileSync(join(out, 'report', 'report.md'), 'utf8');
    expect(reportMd).toContain('| linear | 25% (2 draws) | moco |');
    expect(reportMd).toMatch(/jobs: 21 finished, \S+ of job time in all, from 20\d\d-/);

    // Rerunning the same grid reuses every finished job.
    const io2 = captureIo();
    const again = await runCli(['experiment', '--config', config, '--out', out, '--json'], io2);
    expect(again.exitCode).toBe(0);
    expect(again.result).toMatchObject({ jobsRun: 0, jobsReused: 1 + 2 + 18 });
    expect(JSON.parse(io2.stdout()).comparisons).toEqual(cmp.rows);

    // evaluate reproduces a finetune cell's test scores from its saved checkpoint.
    const io3 = captureIo();
    const ev = await runCli(['evaluate', join(out, 'cells', 'finetune-moco-25pct-d1'), '--out', join(dir, 'eval')], io3);
    expect(ev.error).toBeUndefined();
    expect((ev.result as { auroc: number }).auroc).toBeCloseTo(cell.testAuroc, 5);

    // compare of two sets of run directories, as a user would call it.
    const io4 = captureIo();
    const c = await runCli(
      ['compare', '--a', ['d0', 'd1'].map((d) => join(out, 'cells', `linear-moco-25pct-${d}`)).join(','), '--b', ['d0', 'd1'].map((d) => join(out, 'cells', `linear-random-25pct-${d}`)).join(','), '--replicates', '200', '--seed', '3', '--out', join(dir, 'cmp')],
      io4,
    );
    expect(c.exitCode).toBe(0);
    expect((c.result as { row: unknown }).row).toEqual({ ...cmp.rows[0], a: 'A', b: 'B' });

    // data: counts per split, label and patient over the same slice (read from the shared cache).
    const io5 = captureIo();
    const d = await runCli(['data', '--config', config, '--out', join(dir, 'data')], io5);
    expect(d.error).toBeUndefined();
    const summary = d.result as { splits: Record<string, { images: number; patients: number; positive: number; negative: number }>; skipped: unknown[] };
    const { train, val, test } = summary.splits;
    expect(train.images + val.images).toBeGreaterThanOrEqual(110);
    expect(train.images + val.images).toBeLessThanOrEqual(130);
    expect(test.images).toBe(scores.ids.length);
    for (const s of [train, val, test]) expect(s.positive + s.negative).toBe(s.images), expect(s.patients).toBeLessThanOrEqual(s.images), expect(s.positive).toBeGreaterThan(0), expect(s.negative).toBeGreaterThan(0);
    expect(summary.skipped).toEqual([]);
    expect(io5.text()).toMatch(/split\s+images\s+patients\s+positive\s+negative/);
  }, 240_000);
});
