import { resolveConfig, type RunnerConfig } from './config';

/**
 * The demo's config: the synthetic dataset at 32 px, a ResNet18 of torchvision's topology at a
 * quarter of its width, short MoCo pretraining (momentum 0.99 so the key encoder keeps up over
 * about a hundred steps), the linear protocol with a fixed 100 epochs at lr 1e-3 and the end-to-end
 * protocol capped at 10 epochs (tiny label sets give the paper's schedules too few steps to learn),
 * MoCo vs random init at 10% (3 draws) and 100% of the labels. A few minutes on 2 cores.
 */
export function demoConfig(opts: { seed?: number; backend?: string } = {}): RunnerConfig {
  return resolveConfig(
    {
      seed: opts.seed ?? 0,
      ...(opts.backend ? { backend: opts.backend } : {}),
      data: { source: 'synthetic', imageSize: 32, synthetic: { train: 400, test: 200, prevalence: 0.5 }, valFraction: 0.2 },
      backbone: { name: 'resnet18', options: { widths: [16, 32, 64, 128], stemWidth: 16 } },
      initialisations: ['moco', 'random'],
      pretrain: { epochs: 8, batchSize: 32, queueSize: 256, momentum: 0.99, lr: 5e-4, schedule: 'constant', monitorEvery: 1, probeSize: 300, knnK: 10, checkpointEvery: 50 },
      protocols: ['linear', 'finetune'],
      fractions: [0.1, 1],
      draws: [3, 1],
      linear: { epochs: 100, lr: 1e-3 },
      finetune: { maxEpochs: 10, lr: 1e-3 },
      compare: { replicates: 500 },
    },
    'demo config',
  );
}
