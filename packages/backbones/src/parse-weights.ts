import * as tf from '@tensorflow/tfjs-core';
import { convertLayout } from './layout';
import { parsePth } from './pth';
import { checkFinite, choosePrefix, mapWeightKey, parseSafetensorsWeights, type ReadWeightsOptions } from './safetensors-weights';

export type { ReadWeightsOptions };
export { mapWeightKey };

// A safetensors header starts with '{' after its 8-byte length; a .pth starts with a zip or pickle header.
// The length is not checked here, so a file cut inside its header is reported as a cut safetensors file.
function isSafetensors(path: string, bytes: Uint8Array): boolean {
  if (/\.safetensors$/i.test(path)) return true;
  return bytes.byteLength >= 9 && bytes[8] === 0x7b && !(bytes[0] === 0x50 && bytes[1] === 0x4b) && bytes[0] !== 0x80;
}

/**
 * `readWeights` on bytes already in memory: `.safetensors` (parseSafetensorsWeights) or `.pth`;
 * `path` names the source in errors and, by its extension, may mark it as safetensors.
 */
export function parseWeights(bytes: Uint8Array, path: string, options: ReadWeightsOptions = {}): Map<string, tf.Tensor> {
  if (isSafetensors(path, bytes)) return parseSafetensorsWeights(bytes, path, options);
  const outLayout = options.layout ?? 'tfjs';
  const keepClassifier = options.keepClassifier ?? false;
  const out = new Map<string, tf.Tensor>();
  try {
    const raw = parsePth(bytes, path);
    const prefix = choosePrefix([...raw.keys()], options.prefix ?? 'auto');
    for (const [key, r] of raw) {
      const name = mapWeightKey(key, prefix, keepClassifier);
      if (name === null) continue;
      if (r.dtype === 'float32') checkFinite(path, key, r.values);
      const t = tf.tensor(r.values, r.shape, r.dtype);
      out.set(name, convertLayout(t, 'torch', outLayout));
      t.dispose();
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  if (out.size === 0) throw new Error(`${path}: no backbone tensors left after prefix/classifier filtering`);
  return out;
}
