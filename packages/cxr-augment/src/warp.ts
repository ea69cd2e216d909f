import * as tf from '@tensorflow/tfjs-core';

// Per backend: does Transform honour one matrix per image? tfjs-backend-cpu 4.22 returns after the
// first image of a batch (the rest stay at the fill value), so there we warp image by image.
const batchedTransformWorks = new Map<string, boolean>();

function probeBatchedTransform(): boolean {
  const backend = tf.getBackend();
  const known = batchedTransformWorks.get(backend);
  if (known !== undefined) return known;
  // webgpu reads synchronously only through a canvas in browsers (in headless Chromium on SwiftShader
  // that read loses the device) and not at all in Node: never probe it; image by image is right everywhere.
  if (backend === 'webgpu') {
    batchedTransformWorks.set(backend, false);
    return false;
  }
  const ok = tf.tidy(() => {
    const x = tf.tensor4d([1, 2], [2, 1, 1, 1]);
    const identity = tf.tensor2d([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], [2, 8]);
    const y = tf.image.transform(x, identity, 'nearest', 'constant', 0);
    try {
      const v = y.dataSync();
      return v[0] === 1 && v[1] === 2;
    } catch {
      // A backend that cannot read synchronously (webgpu in Node) cannot be probed: image by image is right everywhere.
      return false;
    }
  });
  batchedTransformWorks.set(backend, ok);
  return ok;
}

/** One projective warp per image (rows of `matrices`), in a single Transform call where the backend allows. */
export function warpBatch(
  x: tf.Tensor4D,
  matrices: readonly (readonly number[])[],
  outputShape: [number, number],
  interpolation: 'bilinear' | 'nearest',
  fillValue: number,
): tf.Tensor4D {
  const n = x.shape[0];
  if (matrices.length !== n) throw new RangeError(`warpBatch: ${matrices.length} matrices for a batch of ${n} images`);
  return tf.tidy(() => {
    if (n === 1 || probeBatchedTransform()) {
      const t = tf.tensor2d(matrices.flat(), [n, 8], 'float32');
      return tf.image.transform(x, t, interpolation, 'constant', fillValue, outputShape);
    }
    const parts = tf.split(x, n, 0).map((xi: tf.Tensor, i) =>
      tf.image.transform(xi as tf.Tensor4D, tf.tensor2d([...matrices[i]], [1, 8], 'float32'), interpolation, 'constant', fillValue, outputShape),
    );
    return tf.concat(parts, 0);
  }) as tf.Tensor4D;
}
