import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, writeSafetensors } from '@moco-cxr/backbones';
import type { ProtocolBackbone } from './embed';
import type { LinearHead } from './linear';

/** A backbone that can export and import its state dict (the @moco-cxr/backbones `Backbone` can). */
export interface CheckpointBackbone extends ProtocolBackbone {
  stateDict(options?: { layout?: 'tfjs' | 'torch' }): Map<string, tf.Tensor>;
  loadStateDict(
    dict: ReadonlyMap<string, tf.Tensor>,
    options?: { layout?: 'tfjs' | 'torch'; strict?: boolean },
  ): unknown;
}

export interface SaveCheckpointOptions {
  /** Prefix of the head's keys; default torchvision's: 'classifier' for DenseNet, else 'fc'. */
  headName?: string;
  /** Extra `__metadata__` strings (validation AUROC, step, ...). */
  metadata?: Record<string, string>;
}

export const FINETUNE_CHECKPOINT_FORMAT = 'moco-cxr/finetune-v1';

/**
 * Writes backbone + head as one `.safetensors` in torchvision's own layout and names
 * (`layer1.0.conv1.weight` OIHW, `fc.weight` K x d, `fc.bias`), so PyTorch's
 * `model.load_state_dict` reads it as is. Atomic: a crash never leaves a half-written file.
 */
export async function saveFinetuneCheckpoint(path: string, backbone: CheckpointBackbone, head: LinearHead, options: SaveCheckpointOptions = {}): Promise<void> {
  const headName = options.headName ?? defaultHeadName(backbone);
  const tensors = backbone.stateDict({ layout: 'torch' });
  for (const key of [`${headName}.weight`, `${headName}.bias`]) {
    if (tensors.has(key)) {
      for (const t of tensors.values()) t.dispose();
      throw new Error(`saveFinetuneCheckpoint: head key '${key}' collides with a backbone variable; pass another headName`);
    }
  }
  tensors.set(`${headName}.weight`, tf.tensor2d(head.weight, [head.tasks, head.featureDim]));
  tensors.set(`${headName}.bias`, tf.tensor1d(head.bias));
  try {
    await writeSafetensors(path, tensors, {
      format: FINETUNE_CHECKPOINT_FORMAT,
      layout: 'torch',
      headName,
      featureDim: String(head.featureDim),
      tasks: String(head.tasks),
      ...options.metadata,
    });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

export interface LoadedCheckpoint {
  head: LinearHead;
  metadata: Record<string, string>;
}

/** Loads a `saveFinetuneCheckpoint` file: the backbone's variables are overwritten, the head is returned. */
export async function loadFinetuneCheckpoint(path: string, backbone: CheckpointBackbone, options: { headName?: string } = {}): Promise<LoadedCheckpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  try {
    const headName = options.headName ?? metadata.headName ?? defaultHeadName(backbone);
    const w = tensors.get(`${headName}.weight`);
    const b = tensors.get(`${headName}.bias`);
    if (!w || !b || w.rank !== 2 || b.rank !== 1 || w.shape[0] !== b.shape[0]) {
      throw new Error(
        `loadFinetuneCheckpoint: ${path} has no head '${headName}.weight' [K, d] and '${headName}.bias' [K] ` +
          `(found ${w ? `[${w.shape}]` : 'none'} and ${b ? `[${b.shape}]` : 'none'})`,
      );
    }
    if (metadata.layout !== undefined && metadata.layout !== 'torch') {
      throw new Error(`loadFinetuneCheckpoint: ${path} says layout '${metadata.layout}'; finetune checkpoints are written in torch layout`);
    }
    if (w.shape[1] !== backbone.featureDim) {
      throw new Error(`loadFinetuneCheckpoint: ${path} head expects ${w.shape[1]} features, the backbone gives ${backbone.featureDim}`);
    }
    const head: LinearHead = {
      featureDim: w.shape[1],
      tasks: w.shape[0],
      weight: Float32Array.from(await w.data()),
      bias: Float32Array.from(await b.data()),
    };
    const rest = new Map<string, tf.Tensor>([...tensors].filter(([k]) => k !== `${headName}.weight` && k !== `${headName}.bias`));
    try {
      backbone.loadStateDict(rest, { layout: 'torch', strict: true });
    } catch (err) {
      throw new Error(`loadFinetuneCheckpoint: ${path}: ${(err as Error).message}`);
    }
    return { head, metadata };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** torchvision's classifier name: DenseNet's is `classifier`, ResNet's `fc`. */
function defaultHeadName(backbone: CheckpointBackbone): string {
  const name = (backbone as { name?: unknown }).name;
  return typeof name === 'string' && name.startsWith('densenet') ? 'classifier' : 'fc';
}
