import * as tf from '@tensorflow/tfjs-core';
import type { MemoryQueue } from './queue';

export interface InfoNceResult {
  /** Mean cross-entropy with target index 0 (the positive key). */
  loss: tf.Scalar;
  /** [q.k+, q.queue] / T, shape [batch, 1 + K]; column 0 is the positive. */
  logits: tf.Tensor2D;
}

/**
 * MoCo's InfoNCE loss. `query` and `key` are L2-normalised [batch, dim] embeddings (the key
 * is a constant: compute it outside any gradient function); `queue` holds K negatives as
 * [K, dim] rows. logits = [q.k+, q.queue^T] / T; loss = CE(logits, 0).
 */
export function infoNceLoss(
  query: tf.Tensor2D,
  key: tf.Tensor2D,
  queue: tf.Tensor2D | MemoryQueue,
  temperature: number,
): InfoNceResult {
  if (!(temperature > 0)) throw new RangeError(`infoNceLoss: temperature must be > 0, got ${temperature}`);
  const negatives = queue instanceof tf.Tensor ? queue : queue.keys;
  if (query.rank !== 2 || key.rank !== 2 || query.shape[0] !== key.shape[0] || query.shape[1] !== key.shape[1]) {
    throw new Error(`infoNceLoss: query [${query.shape.join(', ')}] and key [${key.shape.join(', ')}] must both be [batch, dim]`);
  }
  if (negatives.rank !== 2 || negatives.shape[1] !== query.shape[1]) {
    throw new Error(`infoNceLoss: queue must be [K, ${query.shape[1]}], got [${negatives.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const positive = tf.sum(tf.mul(query, key), 1, true);
    const negative = tf.matMul(query, negatives, false, true);
    const logits = tf.div(tf.concat([positive, negative], 1), temperature) as tf.Tensor2D;
    // CE with target 0: logsumexp(row) - row[0].
    const perRow = tf.sub(tf.logSumExp(logits, 1), tf.squeeze(tf.slice(logits, [0, 0], [-1, 1]), [1]));
    return { loss: tf.mean(perRow) as tf.Scalar, logits };
  });
}

/**
 * Fraction of rows whose positive (column 0) ranks within the top k of its row, for each k.
 * Ties count against the positive (a tie with a negative is not a hit at k = 1).
 */
export function positiveTopK(logits: tf.Tensor2D, ks: readonly number[] = [1, 5]): number[] {
  const [rows, cols] = logits.shape;
  const values = logits.dataSync();
  const above = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const pos = values[r * cols];
    for (let c = 1; c < cols; c++) if (values[r * cols + c] >= pos) above[r]++;
  }
  return topKFromRanks(above, ks);
}

/** Per row, how many negatives score at least the positive: the same comparisons as positiveTopK, on the device (a [batch] read instead of [batch, 1 + K]). */
export function positiveRanks(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.cast(tf.greaterEqual(tf.slice(logits, [0, 1], [-1, -1]), tf.slice(logits, [0, 0], [-1, 1])), 'int32'), 1) as tf.Tensor1D);
}

/** positiveTopK's fractions from per-row counts of negatives at or above the positive. */
export function topKFromRanks(above: ArrayLike<number>, ks: readonly number[]): number[] {
  const rows = above.length;
  const hits = ks.map(() => 0);
  for (let r = 0; r < rows; r++) {
    ks.forEach((k, i) => {
      if (above[r] < k) hits[i]++;
    });
  }
  return hits.map((h) => (rows === 0 ? NaN : h / rows));
}
