import { subsetImages } from '@moco-cxr/cxr-data';
import { augmentPreset, type AugmentOptions } from '@moco-cxr/cxr-augment';
import { MOCO_CXR_DEFAULTS, pretrain, PretrainAbortError, readPretrainHistory, sampleProbeRows, type EpochRecord, type LrSchedule } from '@moco-cxr/moco';
import type { RunnerConfig } from '../config';
import { prepareData } from '../data';
import { formatSeconds, Progress, type Io } from '../progress';
import { writeJsonAtomic, type RunDir } from '../rundir';
import { makeBackbone, MOCO_SUBDIR } from './backbone';

function schedule(cfg: RunnerConfig): LrSchedule {
  const p = cfg.pretrain;
  if (p.schedule === 'step') return { kind: 'step', milestones: p.stepEpochs, gamma: MOCO_CXR_DEFAULTS.schedule.kind === 'step' ? MOCO_CXR_DEFAULTS.schedule.gamma : undefined };
  if (p.schedule === 'cosine') return { kind: 'cosine', epochs: p.epochs };
  return { kind: 'constant' };
}

/** The two views' augmentation: the config's fields over its preset (cxr-augment's named view sets). */
export function pretrainAugment(cfg: RunnerConfig): AugmentOptions {
  const { preset, ...over } = cfg.pretrain.augment;
  return augmentPreset(preset, cfg.data.imageSize, over);
}

/** One line per epoch: means, rate, time, ETA and the monitor's probe against initialisation. */
export function epochLine(e: EpochRecord, epochs: number, etaSeconds?: number): string {
  const probe = e.probe
    ? `; probe linear AUROC ${e.probe.linearAuroc.toFixed(3)} (init ${e.probe.initLinearAuroc.toFixed(3)}), kNN AUROC ${e.probe.knnAuroc.toFixed(3)} (init ${e.probe.initKnnAuroc.toFixed(3)})`
    : '';
  const eta = e.epoch < epochs && etaSeconds !== undefined ? `, ETA ${formatSeconds(etaSeconds)}` : '';
  return `epoch ${e.epoch}/${epochs}: loss ${e.loss.toFixed(4)}, top-1 ${e.top1.toFixed(3)}, top-5 ${e.top5.toFixed(3)}, ${e.imagesPerSecond.toFixed(1)} img/s, ${formatSeconds(e.seconds)}${eta}${probe}`;
}

/**
 * MoCo pretraining on the train (and validation) images, labels unused; the monitor probes a
 * labelled sample of them. `seed` is the training seed (initialisation, views, batches); the data
 * and the probe sample follow `cfg.seed`. Resumes from the checkpoint in the run directory.
 */
export async function runPretrainJob(cfg: RunnerConfig, run: RunDir, io: Io, experimentDir: string, seed = cfg.seed) {
  // Transfer: pretrainData (when given) is what MoCo sees; the protocols use data.
  const data = await prepareData(cfg, io, experimentDir, 'pretrainData');
  const backbone = await makeBackbone(cfg, cfg.imagenetWeights, seed);
  const p = cfg.pretrain;
  const mocoDir = run.path(MOCO_SUBDIR);
  try {
    // The monitor's probe: a fixed, seeded sample of the pretraining images with their labels
    // (file order may be sorted by class); labels serve only this diagnostic, never the training.
    const probeRows = sampleProbeRows(data.pretrainLabels, p.probeSize, cfg.seed);
    let bar: Progress | undefined;
    const say = (m: string) => (bar ? bar.log(`pretrain: ${m}`) : !io.quiet && io.err(`pretrain: ${m}\n`));
    const train = (signal?: AbortSignal) =>
      pretrain({
        backbone,
        data: data.pretrainImages,
        outDir: mocoDir,
        queueSize: p.queueSize,
        momentum: p.momentum,
        temperature: p.temperature,
        ...(p.lr !== undefined ? { learningRate: p.lr } : {}),
        imagenetInit: Boolean(cfg.imagenetWeights),
        weightDecay: p.weightDecay,
        batchSize: p.batchSize,
        augment: pretrainAugment(cfg),
        epochs: p.epochs,
        schedule: schedule(cfg),
        seed,
        checkpointEvery: p.checkpointEvery,
        resume: true,
        monitor:
          p.monitorEvery > 0
            ? {
                probe: { images: subsetImages(data.pretrainImages, probeRows), labels: probeRows.map((i) => data.pretrainLabels[i]) },
                everyEpochs: p.monitorEvery,
                knnK: p.knnK,
                seed,
              }
            : false,
        signal,
        onLog: say,
        // Printed even with --quiet, as the backend's warnings are (a resume warns before the first step draws a bar).
        onWarning: (w) => io.err(`moco-cxr: warning: ${w}\n`),
        onStep: (s) => {
          // Counted in images for an img/s rate; created at the first step so a resumed run's rate and ETA count only this call.
          bar ??= new Progress(io, 'pretrain', s.totalSteps * s.batchSize, 'img', { initial: (s.step - 1) * s.batchSize });
          bar.set(s.step * s.batchSize, { epoch: `${s.epoch + 1}/${s.epochs}`, step: `${s.stepInEpoch}/${s.stepsPerEpoch}`, loss: s.loss, acc: s.top1 });
        },
        onEpoch: (e) => say(epochLine(e, p.epochs, bar?.eta())),
      });
    const result = await (io.interrupt ? io.interrupt.during(train) : train()).catch((err: unknown) => {
      if (!(err instanceof PretrainAbortError)) throw err;
      throw new PretrainAbortError(`stopped at step ${err.step}, checkpoint written; run the same command again to resume (${err.checkpoint})`, err.step, err.checkpoint, { cause: err });
    });
    if (result.status !== 'completed') throw new Error(`pretraining ${result.status} at epoch ${result.epoch}, step ${result.step}; rerun the same command to resume from ${result.checkpoint}`);
    const history = readPretrainHistory(mocoDir);
    writeJsonAtomic(run.path('history.json'), history);
    const last = history[history.length - 1];
    run.metric({ event: 'pretrain', epochs: p.epochs, steps: result.step, loss: last?.loss, knnAuroc: last?.knnAuroc, linearProbeAuroc: last?.linearProbeAuroc });
    if (!io.quiet) {
      const first = history[0];
      const probe = (k: 'knnAuroc' | 'linearProbeAuroc') => (last?.[k] !== undefined && first?.[k] !== undefined ? `${last[k]!.toFixed(3)} (init ${first[k]!.toFixed(3)})` : 'n/a');
      io.err(`pretrain: ${result.epoch} epochs, ${result.step} steps, final loss ${last?.loss?.toFixed(3) ?? 'n/a'}; kNN AUROC ${probe('knnAuroc')}, linear-probe AUROC ${probe('linearProbeAuroc')}\n`);
      io.err(`pretrain: backbone ${result.exports?.backbone} (use as --weights ${run.dir})\n`);
    }
    return {
      status: result.status,
      epochs: result.epoch,
      steps: result.step,
      backbone: result.exports?.backbone,
      torchvision: result.exports?.torchvision,
      checkpoint: result.checkpoint,
      initialProbe: result.initialProbe,
      final: last,
      images: data.pretrainImages.count,
      data: data.description,
    };
  } finally {
    backbone.dispose();
  }
}
