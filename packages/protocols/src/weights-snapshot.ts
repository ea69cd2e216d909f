import * as tf from '@tensorflow/tfjs-core';

/** A backbone's every variable (BatchNorm statistics included) copied off the device. */
export type WeightsSnapshot = Map<string, { shape: number[]; dtype: 'float32' | 'int32'; values: Float32Array | Int32Array }>;

/** Copies every variable of the backbone to typed arrays. */
export function snapshotWeights(backbone: { readonly variables: ReadonlyMap<string, tf.Variable> }): WeightsSnapshot {
  const out: WeightsSnapshot = new Map();
  for (const [name, v] of backbone.variables) {
    const dtype = v.dtype === 'int32' ? 'int32' : 'float32';
    const data = v.dataSync();
    out.set(name, { shape: [...v.shape], dtype, values: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data) });
  }
  return out;
}

/** Writes a snapshot back into the backbone's variables (names and shapes must match). */
export function restoreWeights(backbone: { readonly variables: ReadonlyMap<string, tf.Variable> }, weights: WeightsSnapshot): void {
  for (const [name, v] of backbone.variables) {
    const s = weights.get(name);
    if (!s) throw new Error(`restoreWeights: snapshot has no '${name}'`);
    if (s.shape.length !== v.shape.length || s.shape.some((n, i) => n !== v.shape[i])) {
      throw new Error(`restoreWeights: '${name}' has shape [${s.shape}] in the snapshot, [${v.shape}] in the backbone`);
    }
    tf.tidy(() => v.assign(tf.tensor(s.values, s.shape, s.dtype)));
  }
}
