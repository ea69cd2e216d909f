import { resolveConfig, type RunnerConfig } from './config';

/**
 * The demo's config: the synthetic dataset at 32 px with every image exposed alike (per-image
 * exposure is a shortcut for instance discrimination: the two views of an image share it), a
 * ResNet18 of torchvision's topology at a quarter of its width, short MoCo pretraining (16 epochs,
 * 160 steps at lr 1e-3; momentum 0.99 so the key encoder keeps up), the linear protocol with a fixed
 * 100 epochs at lr 1e-3 and the end-to-end protocol capped at 10 epochs (tiny label sets give the
 * paper's schedules too few steps to learn), MoCo vs random init at 10% (3 draws) and 100% of the
 * labels. About a minute on 2 idle cores. Chosen on seeds 11-15, never on seed 0's test split:
 * docs/benchmarks/runner.md.
 */
/**
 * What the demo's page says about other seeds: the config was chosen on seeds 11-15 before seed 0
 * (the demo's) was run, and the effect needs both of its changes (docs/benchmarks/runner.md).
 */
export const DEMO_NOTES: readonly string[] = Object.freeze([
  'Other seeds of this config, run before seed 0 to choose it (each seed makes its own images, split and initialisation): MoCo minus random init under the linear protocol at 10% of the labels was +0.221, +0.242, +0.145, +0.100 and +0.221 AUROC on seeds 11 to 15, every 95% CI above 0. It does not hold on every seed with per-image exposure left in or half the pretraining steps (seed 14: -0.006 and +0.002 AUROC); see docs/benchmarks/runner.md.',
]);

export function demoConfig(opts: { seed?: number; backend?: string; precision?: RunnerConfig['precision'] } = {}): RunnerConfig {
  return resolveConfig(
    {
      seed: opts.seed ?? 0,
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.precision ? { precision: opts.precision } : {}),
      data: { source: 'synthetic', imageSize: 32, synthetic: { train: 400, test: 200, prevalence: 0.5, exposure: 0 }, valFraction: 0.2 },
      backbone: { name: 'resnet18', options: { widths: [16, 32, 64, 128], stemWidth: 16 } },
      initialisations: ['moco', 'random'],
      pretrain: { epochs: 16, batchSize: 32, queueSize: 256, momentum: 0.99, lr: 1e-3, schedule: 'constant', monitorEvery: 1, probeSize: 300, knnK: 10, checkpointEvery: 50, augment: { preset: 'moco-cxr' } },
      protocols: ['linear', 'finetune'],
      fractions: [0.1, 1],
      draws: [3, 1],
      linear: { epochs: 100, lr: 1e-3 },
      finetune: { maxEpochs: 10, lr: 1e-3 },
    },
    'demo config',
  );
}
