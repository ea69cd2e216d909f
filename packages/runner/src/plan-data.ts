import { MOCO_CXR_DEFAULTS } from '@moco-cxr/moco';
import { epochsForFraction, PAPER_MAX_EPOCHS } from '@moco-cxr/protocols';
import { ConfigError, drawsFor, type RunnerConfig } from './config';
import { checkLabels, labelFractionDraws, loadRows, sayNotes, splitsOf } from './data';
import type { Io } from './progress';

/**
 * What an experiment checks when it plans its grid, before any job runs and without decoding an
 * image: every split has a positive and a negative of every task, and every label fraction x draw
 * can be drawn. Throws naming the field (`fractions: 0.001 ...`) and what to change.
 */
export async function checkGridData(cfg: RunnerConfig, io: Io, source = 'config'): Promise<RunnerConfig> {
  const d = cfg.data;
  const quiet = { ...io, quiet: true };
  // `plan`: a patient in two splits stops the grid here unless data.sharedPatients says otherwise.
  const loaded = await loadRows(d, 'data', cfg.seed, quiet, '', false, true);
  const carved = splitsOf(loaded, d, cfg.seed);
  const notes = [...loaded.notes];
  // MoCo pretrains on the train and validation images (all of them, labelled or not), of pretrainData when given.
  let moco: { images: number; of: string } | undefined;
  if (cfg.initialisations.includes('moco') && !cfg.mocoWeights) {
    if (cfg.pretrainData) {
      const pre = await loadRows(cfg.pretrainData, 'pretrainData', cfg.seed, quiet, '', false, true);
      const c = splitsOf(pre, cfg.pretrainData, cfg.seed);
      notes.push(...pre.notes);
      moco = { images: c.train.length + c.val.length + c.unlabelled.length, of: 'pretrainData' };
    } else moco = { images: carved.train.length + carved.val.length + carved.unlabelled.length, of: 'data' };
  }
  let queueSize = cfg.pretrain.queueSize;
  try {
    checkLabels(loaded.dataset, carved, 'data');
    cfg.fractions.forEach((fraction, fi) => labelFractionDraws(loaded.dataset, carved.train, fraction, drawsFor(cfg, fi), cfg.seed));
    if (moco) queueSize = checkPretrainSizes(cfg, moco.images, moco.of, notes);
    notes.push(...epochCapNotes(cfg));
  } catch (err) {
    // The config asks for what the data cannot give: a config problem (exit code 2), found before any job runs.
    throw new ConfigError([(err as Error).message], source);
  } finally {
    sayNotes(io, notes);
  }
  return queueSize === cfg.pretrain.queueSize ? cfg : { ...cfg, pretrain: { ...cfg.pretrain, queueSize } };
}

/** The fractions whose paper epochs are capped at PAPER_MAX_EPOCHS (as protocolEpochs does), to be said when the grid is planned. */
function epochCapNotes(cfg: RunnerConfig): string[] {
  const notes: string[] = [];
  for (const protocol of ['linear', 'finetune'] as const) {
    const p = cfg[protocol];
    if (!cfg.protocols.includes(protocol) || p.epochs !== 'paper' || (p.maxEpochs > 0 && p.maxEpochs <= PAPER_MAX_EPOCHS)) continue;
    for (const f of cfg.fractions) {
      const n = epochsForFraction(f);
      if (n > PAPER_MAX_EPOCHS) notes.push(`${protocol}.epochs: the paper's formula gives ${n} epochs at fraction ${f}; capped at ${PAPER_MAX_EPOCHS}, its value at 0.1%, the smallest fraction the paper trains`);
    }
  }
  return notes;
}

/**
 * MoCo's batch and queue against the images it pretrains on: a batch needs that many images, and the
 * queue holds keys of earlier batches, which must be other images (the paper's K = 24576 is far below
 * CheXpert's ~190,000 training images). K is at most the images of one epoch (full batches).
 */
function checkPretrainSizes(cfg: RunnerConfig, images: number, of: string, notes: string[]): number {
  const { batchSize, queueSize } = cfg.pretrain;
  const what = `${images} ${of} train and validation images MoCo pretrains on`;
  if (images < batchSize) throw new Error(`pretrain.batchSize: ${batchSize} is more than the ${what}; lower it`);
  const perEpoch = Math.floor(images / batchSize) * batchSize;
  if (queueSize > perEpoch && queueSize === MOCO_CXR_DEFAULTS.queueSize) {
    // The paper's K is for CheXpert; on smaller data the default is capped (as @moco-cxr/moco caps its own default), and said.
    notes.push(`pretrain.queueSize: the default ${queueSize} is capped at ${perEpoch}, the images of one epoch (the ${what}, in batches of ${batchSize})`);
    return perEpoch;
  }
  if (queueSize > perEpoch) {
    throw new Error(
      `pretrain.queueSize: ${queueSize} is larger than the ${perEpoch} images of one epoch (the ${what}, in batches of ${batchSize}); ` +
        `the queue's keys must be other images than the batch's, so set pretrain.queueSize to at most ${perEpoch}`,
    );
  }
  return queueSize;
}
