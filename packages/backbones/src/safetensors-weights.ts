import * as tf from '@tensorflow/tfjs-core';
import { convertLayout, type WeightLayout } from './layout';
import { parseSafetensors } from './safetensors';

export interface ReadWeightsOptions {
  /**
   * Key prefix to strip; keys without it are dropped. 'auto' (default) picks `module.encoder_q.`
   * or `encoder_q.` when present (MoCo checkpoints, whose key encoder and queue are then
   * ignored), else `module.` when every key has it (DataParallel), else none.
   */
  prefix?: string | 'auto';
  /** Keep torchvision's `fc.*` / `classifier.*` keys (dropped by default: backbones have no classifier). */
  keepClassifier?: boolean;
  /** Layout of the returned tensors: 'tfjs' (HWIO kernels, default) or 'torch' (OIHW). */
  layout?: WeightLayout;
}

const AUTO_PREFIXES = ['module.encoder_q.', 'encoder_q.'];

export function choosePrefix(keys: string[], option: string | 'auto'): string {
  if (option !== 'auto') return option;
  for (const p of AUTO_PREFIXES) if (keys.some((k) => k.startsWith(p))) return p;
  if (keys.length > 0 && keys.every((k) => k.startsWith('module.'))) return 'module.';
  return '';
}

// torchvision's old densenet files name layers `norm.1`, `conv.2`; its loader rewrites them the same way.
const LEGACY_DENSENET = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

/** Renames and filters raw keys; returns the new name or null to drop the tensor. */
export function mapWeightKey(key: string, prefix: string, keepClassifier: boolean): string | null {
  if (prefix && !key.startsWith(prefix)) return null;
  let name = key.slice(prefix.length);
  const legacy = LEGACY_DENSENET.exec(name);
  if (legacy) name = legacy[1] + legacy[2];
  if (!keepClassifier && (name.startsWith('fc.') || name.startsWith('classifier.'))) return null;
  return name;
}

/**
 * Refuses a tensor holding NaN or Inf: such weights load and run, but ReLU turns every feature
 * row into the same vector, so a downstream AUROC of 0.5 would be the first sign.
 */
export function checkFinite(path: string, key: string, values: ArrayLike<number>): void {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  if (nan + inf === 0) return;
  const what = [nan ? `${nan} NaN` : '', inf ? `${inf} infinite` : ''].filter(Boolean).join(' and ');
  throw new Error(`${path}: tensor '${key}' holds ${what} of its ${values.length} values; weights must be finite (the file comes from a diverged or broken run)`);
}

/**
 * The tensors of a `.safetensors` state dict in memory, under torchvision names, with readWeights'
 * checks (a NaN or Inf tensor is refused naming `path` and the tensor) and no filesystem or
 * Node module: what a browser loads fetched weights with. Returns new tensors; the caller disposes.
 */
export function parseSafetensorsWeights(bytes: Uint8Array, path: string, options: ReadWeightsOptions = {}): Map<string, tf.Tensor> {
  const outLayout = options.layout ?? 'tfjs';
  const keepClassifier = options.keepClassifier ?? false;
  const out = new Map<string, tf.Tensor>();
  try {
    const { tensors, metadata } = parseSafetensors(bytes, path);
    const fileLayout: WeightLayout = metadata.layout === 'tfjs' ? 'tfjs' : 'torch';
    const prefix = choosePrefix([...tensors.keys()], options.prefix ?? 'auto');
    try {
      for (const [key, t] of tensors) {
        const name = mapWeightKey(key, prefix, keepClassifier);
        if (name === null) continue;
        if (t.dtype === 'float32') checkFinite(path, key, t.dataSync());
        out.set(name, convertLayout(t, fileLayout, outLayout));
      }
    } finally {
      // Also when a tensor is refused: the file's tensors are disposed, only the converted ones are returned.
      for (const t of tensors.values()) t.dispose();
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  if (out.size === 0) throw new Error(`${path}: no backbone tensors left after prefix/classifier filtering`);
  return out;
}
