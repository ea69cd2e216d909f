import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureIo } from './test-support/io';
import type { ExperimentComparisons } from './compare';
import { resolveConfig } from './config';
import { buildReportData, notShown } from './experiment-report';
import { runCli } from './cli/main';

const dir = mkdtempSync(join(tmpdir(), 'runner-experiment-report-'));
const pretrained = join(dir, 'pretrained');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const data = { source: 'synthetic', imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 };
const backbone = { name: 'resnet18', options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } };

beforeAll(async () => {
  // A real pretraining run: its moco/config.json is what the report must quote.
  writeFileSync(join(dir, 'pretrain.json'), JSON.stringify({ seed: 3, threads: 1, data, backbone, pretrain: { epochs: 1, batchSize: 8, queueSize: 24, temperature: 0.3, monitorEvery: 0 } }));
  const r = await runCli(['pretrain', '-c', join(dir, 'pretrain.json'), '-o', pretrained], captureIo());
  expect(r.error).toBeUndefined();
}, 180_000);

const comparisons = (task?: string): ExperimentComparisons => ({
  rows: [],
  points: [{ ...(task ? { task } : {}), protocol: 'linear', initialisation: 'moco', fraction: 1, auroc: 0.8, lo: 0.7, hi: 0.9, draws: 1 }],
  markdown: '',
  incomplete: [],
  seed: 0,
  seeds: [0],
  replicates: 20,
  intervals: [],
});

describe('the report says what ran', () => {
  it('with mocoWeights it names the weights and the settings they were pretrained with, not the config\'s pretraining defaults', () => {
    const cfg = resolveConfig({ data, backbone, mocoWeights: pretrained, initialisations: ['moco', 'random'], protocols: ['linear'], fractions: [1] });
    const report = buildReportData(join(dir, 'exp'), cfg, comparisons('Effusion'), {});
    const file = join(pretrained, 'moco', 'backbone.safetensors');
    expect(report.context.filter((l) => l.startsWith('MoCo pretraining:'))).toEqual([
      `MoCo pretraining: not run by this experiment; the MoCo backbone is ${file}, pretrained with 1 epochs, batch 8, queue 24, T 0.3, m 0.999 (${join(pretrained, 'moco', 'config.json')})`,
    ]);
    // The defaults this grid never ran (20 epochs, queue 24576) appear nowhere.
    expect(report.context.join('\n')).not.toMatch(/queue 24576|20 epochs/);
    expect(notShown(cfg, { rows: [] }).join('\n')).toContain('1 pretraining epochs (the paper: 20)');

    // A bare weights file, with no pretraining record beside it.
    mkdirSync(join(dir, 'bare'));
    copyFileSync(file, join(dir, 'bare', 'mine.safetensors'));
    const bare = resolveConfig({ data, backbone, mocoWeights: join(dir, 'bare', 'mine.safetensors'), initialisations: ['moco', 'random'] });
    expect(buildReportData(join(dir, 'exp'), bare, comparisons(), {}).context.filter((l) => l.startsWith('MoCo pretraining:'))).toEqual([
      `MoCo pretraining: not run by this experiment; the MoCo backbone is ${join(dir, 'bare', 'mine.safetensors')} (no pretraining record beside it: its settings are not known)`,
    ]);
    expect(notShown(bare, { rows: [] }).join('\n')).not.toContain('pretraining epochs');
  });

  it('names the task of a one-task grid; a grid without MoCo lists no MoCo pretraining', () => {
    const cfg = resolveConfig({ data, backbone, initialisations: ['random'], protocols: ['linear'], fractions: [1] });
    const report = buildReportData(join(dir, 'exp'), cfg, comparisons('Effusion'), {});
    expect(report.context[0]).toBe('data: synthetic chest X-rays (48 train / 32 test, seeded); input 16 px; task Effusion');
    expect(report.context.some((l) => l.startsWith('MoCo'))).toBe(false);
  });
});
