import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@moco-cxr/rng';
import { uniqueVariableName } from './variables';

export interface MemoryQueueOptions {
  /** K, the number of negative keys held. Need not be a multiple of the batch size. */
  size: number;
  /** Embedding dimension (128 in MoCo v2). */
  dim: number;
  /** Seeded generator for the random (normal, then L2-normalised) initial keys. */
  rng: Rng;
}

/** Serialisable queue contents: rows are keys, `data` is row-major K x dim. */
export interface MemoryQueueState {
  size: number;
  dim: number;
  pointer: number;
  data: Float32Array;
}

/**
 * MoCo's dictionary: K L2-normalised keys (K x dim) and a write pointer. `enqueue` overwrites
 * the oldest keys, wrapping around the end when K is not a multiple of the batch size.
 */
export class MemoryQueue {
  readonly size: number;
  readonly dim: number;
  private pointerValue: number;
  private readonly store: tf.Variable<tf.Rank.R2>;

  private constructor(size: number, dim: number, pointer: number, data: Float32Array) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`MemoryQueue: size must be a positive integer, got ${size}`);
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`MemoryQueue: dim must be a positive integer, got ${dim}`);
    if (data.length !== size * dim) throw new RangeError(`MemoryQueue: data has ${data.length} values, expected size*dim = ${size}*${dim}`);
    if (!Number.isInteger(pointer) || pointer < 0 || pointer >= size) throw new RangeError(`MemoryQueue: pointer must be in [0, ${size}), got ${pointer}`);
    this.size = size;
    this.dim = dim;
    this.pointerValue = pointer;
    // The variable holds its own reference to the data: the initial tensor is released, or every queue leaks one.
    const initial = tf.tensor2d(data, [size, dim]);
    this.store = tf.variable(initial, false, uniqueVariableName('queue', 'queue'));
    initial.dispose();
  }

  /** A queue of `size` random keys drawn from N(0, 1) and L2-normalised row by row. */
  static create(options: MemoryQueueOptions): MemoryQueue {
    const { size, dim, rng } = options;
    const data = new Float32Array(size * dim);
    for (let r = 0; r < size; r++) {
      let norm = 0;
      for (let c = 0; c < dim; c++) {
        const v = rng.normal();
        data[r * dim + c] = v;
        norm += v * v;
      }
      const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
      for (let c = 0; c < dim; c++) data[r * dim + c] *= inv;
    }
    return new MemoryQueue(size, dim, 0, data);
  }

  /** Restores a queue from `state()` (exact resume). */
  static fromState(state: MemoryQueueState): MemoryQueue {
    return new MemoryQueue(state.size, state.dim, state.pointer, Float32Array.from(state.data));
  }

  /** Index of the row the next enqueued key will overwrite. */
  get pointer(): number {
    return this.pointerValue;
  }

  /** The K x dim key matrix (owned by the queue: do not dispose). */
  get keys(): tf.Tensor2D {
    return this.store;
  }

  /** Writes `keys` (B x dim, B <= K) at the pointer, wrapping around, and advances the pointer. */
  enqueue(keys: tf.Tensor2D): void {
    const [batch, dim] = keys.shape;
    if (keys.rank !== 2 || dim !== this.dim) throw new Error(`MemoryQueue.enqueue: keys must be [batch, ${this.dim}], got [${keys.shape.join(', ')}]`);
    if (batch > this.size) throw new Error(`MemoryQueue.enqueue: batch ${batch} exceeds the queue size ${this.size}`);
    if (batch === 0) return;
    const ptr = this.pointerValue;
    const K = this.size;
    const next = tf.tidy(() => {
      const q = this.store;
      if (ptr + batch <= K) {
        const parts: tf.Tensor2D[] = [];
        if (ptr > 0) parts.push(tf.slice(q, [0, 0], [ptr, dim]));
        parts.push(keys);
        if (ptr + batch < K) parts.push(tf.slice(q, [ptr + batch, 0], [K - ptr - batch, dim]));
        return parts.length === 1 ? tf.clone(parts[0]) : tf.concat(parts, 0);
      }
      // The batch runs past row K-1: its head fills [ptr, K), its tail [0, rest).
      const head = K - ptr;
      const rest = batch - head;
      const parts: tf.Tensor2D[] = [tf.slice(keys, [head, 0], [rest, dim])];
      if (ptr - rest > 0) parts.push(tf.slice(q, [rest, 0], [ptr - rest, dim]));
      parts.push(tf.slice(keys, [0, 0], [head, dim]));
      return tf.concat(parts, 0);
    });
    this.store.assign(next);
    next.dispose();
    this.pointerValue = (ptr + batch) % K;
  }

  /** A copy of the contents and pointer, for checkpoints. */
  state(): MemoryQueueState {
    return { size: this.size, dim: this.dim, pointer: this.pointerValue, data: Float32Array.from(this.store.dataSync() as Float32Array) };
  }

  /** Replaces contents and pointer with a saved state of the same geometry. */
  loadState(state: MemoryQueueState): void {
    if (state.size !== this.size || state.dim !== this.dim) {
      throw new Error(`MemoryQueue.loadState: saved queue is ${state.size} x ${state.dim}, this queue is ${this.size} x ${this.dim}`);
    }
    if (!Number.isInteger(state.pointer) || state.pointer < 0 || state.pointer >= this.size) throw new RangeError(`MemoryQueue.loadState: pointer ${state.pointer} outside [0, ${this.size})`);
    tf.tidy(() => this.store.assign(tf.tensor2d(state.data, [this.size, this.dim])));
    this.pointerValue = state.pointer;
  }

  dispose(): void {
    this.store.dispose();
  }
}
