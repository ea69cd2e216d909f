import * as tf from '@tensorflow/tfjs-core';

/** `tfjs`: convolution kernels HWIO (as the variables hold them); `torch`: OIHW (as in a torchvision state_dict). */
export type WeightLayout = 'tfjs' | 'torch';

/** Moves a tensor from one layout to the other; only rank-4 (convolution kernels) differ. Returns a new tensor. */
export function convertLayout(t: tf.Tensor, from: WeightLayout, to: WeightLayout): tf.Tensor {
  if (from === to || t.rank !== 4) return tf.clone(t);
  // OIHW -> HWIO is [2,3,1,0]; HWIO -> OIHW is [3,2,0,1].
  return tf.transpose(t, from === 'torch' ? [2, 3, 1, 0] : [3, 2, 0, 1]);
}

/** Shape of a tensor in the other layout, for error messages and checks without touching data. */
export function shapeInLayout(shape: readonly number[], from: WeightLayout, to: WeightLayout): number[] {
  if (from === to || shape.length !== 4) return [...shape];
  const [a, b, c, d] = shape;
  return from === 'torch' ? [c, d, b, a] : [d, c, a, b];
}
