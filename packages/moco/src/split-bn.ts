import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@moco-cxr/rng';

/**
 * How the key batch meets BatchNorm on one device. MoCo's shuffle-BN permutes the key batch
 * across GPUs so that query and key are normalised over different sub-batches; with one
 * device the whole batch shares one set of statistics and a plain shuffle changes nothing.
 * - `batch`: one forward over the whole batch (the paper's setting: batch 16 on one GPU).
 * - `split`: the key batch is normalised in `groups` consecutive sub-batches.
 * - `shuffle`: single-device shuffle-BN. Query and key are both normalised in `groups`
 *   sub-batches, the key's after a seeded permutation of the batch (undone afterwards), so
 *   a query and its key are normalised with different companions, as across GPUs.
 */
export type KeyBatchNorm = { mode: 'batch' } | { mode: 'split'; groups: number } | { mode: 'shuffle'; groups: number };

/** Row ranges of `groups` consecutive sub-batches whose sizes differ by at most one. */
export function subBatches(batch: number, groups: number): Array<[start: number, size: number]> {
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`subBatches: groups must be a positive integer, got ${groups}`);
  if (groups > batch) throw new RangeError(`subBatches: cannot split a batch of ${batch} into ${groups} groups`);
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let g = 0; g < groups; g++) {
    const size = Math.floor(batch / groups) + (g < batch % groups ? 1 : 0);
    out.push([start, size]);
    start += size;
  }
  return out;
}

/**
 * Runs `forward` (a training-mode embed, whose BatchNorm uses batch statistics) on
 * `groups` consecutive sub-batches of `x` and concatenates the outputs in input order.
 */
export function groupedForward(forward: (x: tf.Tensor4D) => tf.Tensor2D, x: tf.Tensor4D, groups: number): tf.Tensor2D {
  if (groups === 1) return forward(x);
  const parts = subBatches(x.shape[0], groups).map(([start, size]) => {
    const chunk = tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]);
    const out = forward(chunk);
    chunk.dispose();
    return out;
  });
  const joined = tf.concat(parts, 0);
  parts.forEach((p) => p.dispose());
  return joined;
}

/**
 * Shuffle-BN on one device: permute the batch with `permutation` (or one drawn from `rng`),
 * run `groupedForward`, and put the outputs back in input order.
 */
export function shuffledForward(
  forward: (x: tf.Tensor4D) => tf.Tensor2D,
  x: tf.Tensor4D,
  groups: number,
  permutation: ArrayLike<number> | Rng,
): tf.Tensor2D {
  const batch = x.shape[0];
  let perm: Int32Array;
  if (typeof (permutation as Rng).shuffle === 'function') {
    perm = (permutation as Rng).shuffle(Int32Array.from({ length: batch }, (_, i) => i));
  } else {
    perm = Int32Array.from(permutation as ArrayLike<number>);
  }
  const seen = new Uint8Array(batch);
  for (const i of perm) {
    if (!(i >= 0 && i < batch) || seen[i]) throw new Error(`shuffledForward: permutation is not a permutation of 0..${batch - 1}`);
    seen[i] = 1;
  }
  if (perm.length !== batch) throw new Error(`shuffledForward: permutation has ${perm.length} entries, batch has ${batch}`);
  const inverse = new Int32Array(batch);
  perm.forEach((p, i) => (inverse[p] = i));
  const shuffled = tf.gather(x, perm);
  const out = groupedForward(forward, shuffled as tf.Tensor4D, groups);
  shuffled.dispose();
  const restored = tf.gather(out, inverse) as tf.Tensor2D;
  out.dispose();
  return restored;
}
