import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';

const config = `
seed: 5
data: { source: synthetic, imageSize: 24, synthetic: { train: 96, test: 64 }, valFraction: 0.25 }
backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }
pretrain: { epochs: 1, batchSize: 16, queueSize: 32, monitorEvery: 0 }
protocols: [linear, finetune]
fractions: [0.5, 1]
draws: [2, 1]
linear: { lr: 0.003, epochs: 5 }
finetune: { epochs: 1 }
compare: { replicates: 100 }
`;

describe('a grid split into independent jobs', () => {
  it('plans job specs, runs them one by one with run-job, then collects without rerunning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runner-split-'));
    writeFileSync(join(dir, 'c.yaml'), config);
    const out = join(dir, 'exp');
    const plan = await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', out, '--plan'], captureIo());
    expect(plan.exitCode).toBe(0);
    const specs = readdirSync(join(out, 'jobs')).sort();
    const cells = ['moco', 'random'].flatMap((init) => ['50pct-d0', '50pct-d1', '100pct-d0'].map((c) => `${init}-${c}`));
    expect(specs).toEqual(
      ['features-moco', 'features-random', ...cells.map((c) => `finetune-${c}`), ...cells.map((c) => `linear-${c}`), 'pretrain'].map((s) => `${s}.json`).sort(),
    );
    expect(existsSync(join(out, 'cells'))).toBe(false);

    // A MoCo job before its pretraining fails with exit 1 and says what to run first.
    const io = captureIo();
    const early = await runCli(['run-job', join(out, 'jobs', 'features-moco.json')], io);
    expect(early.exitCode).toBe(1);
    expect(io.text()).toMatch(/^moco-cxr run-job: .*backbone\.safetensors: the MoCo-pretrained backbone is missing; run the pretrain job first \(moco-cxr run-job .*pretrain\.json\)\n$/);

    expect((await runCli(['run-job', join(out, 'jobs', 'pretrain.json')], captureIo())).exitCode).toBe(0);
    // Feature and cell jobs dispose what they create: the tensor count is the same before and after.
    const tensorsBefore = tf.memory().numTensors;
    for (const spec of ['features-moco', 'features-random', ...cells.map((c) => `linear-${c}`), ...cells.map((c) => `finetune-${c}`)]) {
      const r = await runCli(['run-job', join(out, 'jobs', `${spec}.json`)], captureIo());
      expect(r.error).toBeUndefined();
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // The failed attempt left no results behind, and a finished job is not run twice.
    const rerun = await runCli(['run-job', join(out, 'jobs', 'linear-moco-50pct-d1.json'), '--json'], captureIo());
    expect(rerun.result).toMatchObject({ skipped: true });

    const collect = await runCli(['experiment', '-c', join(dir, 'c.yaml'), '-o', out, '--json'], captureIo());
    expect(collect.result).toMatchObject({ jobsRun: 0, jobsReused: 15 });
    expect((collect.result as { comparisons: unknown[] }).comparisons).toHaveLength(4);
    expect(existsSync(join(out, 'report', 'index.html'))).toBe(true);

    // compare and report on the experiment directory redo the table and the page from the cells.
    const cmp = await runCli(['compare', out, '--json'], captureIo());
    expect((cmp.result as { rows: unknown[] }).rows).toEqual((collect.result as { comparisons: unknown[] }).comparisons);
    const rep = await runCli(['report', out, '--out', join(dir, 'page')], captureIo());
    expect(rep.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'page', 'report.md'), 'utf8')).toContain('| linear | 50% (2 draws) | moco |');
    expect(readdirSync(join(dir, 'page', 'figures')).sort()).toEqual(['auroc-vs-fraction.png', 'auroc-vs-fraction.svg', 'pretraining.png', 'pretraining.svg', 'roc.png', 'roc.svg']);

    // evaluate reproduces a linear cell's test AUROC from its saved head.json (on the backbone it was trained on).
    const lin = JSON.parse(readFileSync(join(out, 'cells', 'linear-moco-100pct-d0', 'results.json'), 'utf8')) as { testAuroc: number };
    const ev = await runCli(['evaluate', join(out, 'cells', 'linear-moco-100pct-d0'), '--out', join(dir, 'ev-linear')], captureIo());
    expect(ev.error).toBeUndefined();
    expect((ev.result as { auroc: number }).auroc).toBeCloseTo(lin.testAuroc, 5);

    // A changed config in the same directory is refused, naming the fields, and nothing is lost.
    writeFileSync(join(dir, 'd.yaml'), config.replace('lr: 0.003, epochs: 5', 'lr: 0.003, epochs: 6'));
    const io2 = captureIo();
    const changed = await runCli(['experiment', '-c', join(dir, 'd.yaml'), '-o', out], io2);
    expect(changed.exitCode).toBe(1);
    expect(io2.text()).toMatch(/holds a run made with a different config \(linear\.epochs differ\); use a new --out directory/);
    expect(existsSync(join(out, 'cells', 'linear-moco-50pct-d1', 'results.json'))).toBe(true);
  }, 180_000);
});
