import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from './backbone';
import type { WeightLayout } from './layout';
import { mapWeightKey, parseWeights, type ReadWeightsOptions } from './parse-weights';
import { writeSafetensors } from './safetensors-file';

export type { ReadWeightsOptions };
export { mapWeightKey, parseWeights };

/**
 * Reads a torchvision-style state dict from `.safetensors` or PyTorch `.pth` / `.pth.tar`
 * (zip or legacy format, a bare state_dict or a checkpoint holding `state_dict`). Never executes
 * pickle code. Returns new tensors (caller disposes) keyed by torchvision name. A kept tensor
 * holding NaN or Inf is refused, naming the file and the tensor.
 */
export async function readWeights(path: string, options: ReadWeightsOptions = {}): Promise<Map<string, tf.Tensor>> {
  return parseWeights(new Uint8Array(await readFile(path)), path, options);
}

export interface SaveBackboneOptions {
  /** 'torch' (default: OIHW, a torchvision state_dict) or 'tfjs' (HWIO as held in memory). */
  layout?: WeightLayout;
  /** Extra string metadata stored in the file header. */
  metadata?: Record<string, string>;
}

/** Saves every variable of a backbone (or any network with a name and a state dict) as `.safetensors` (atomically), with its name and layout in the metadata. */
export async function saveBackbone(backbone: Pick<Backbone, 'stateDict'> & { readonly name: string }, path: string, options: SaveBackboneOptions = {}): Promise<void> {
  const layout = options.layout ?? 'torch';
  const dict = backbone.stateDict({ layout });
  try {
    await writeSafetensors(path, dict, { ...options.metadata, format: 'pt', layout, backbone: backbone.name });
  } finally {
    for (const t of dict.values()) t.dispose();
  }
}
