import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { Rng } from '@moco-cxr/rng';
import { MemoryQueue } from './queue';

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

function rows(q: MemoryQueue): number[][] {
  return q.keys.arraySync() as number[][];
}

describe('MemoryQueue', () => {
  it('starts with random rows of unit L2 norm, reproducible from the seed', () => {
    const a = MemoryQueue.create({ size: 7, dim: 5, rng: new Rng(3) });
    const b = MemoryQueue.create({ size: 7, dim: 5, rng: new Rng(3) });
    for (const r of rows(a)) expect(Math.hypot(...r)).toBeCloseTo(1, 6);
    expect(rows(a)).toEqual(rows(b));
    expect(new Set(rows(a).map((r) => r[0].toFixed(6))).size).toBe(7);
    expect(a.pointer).toBe(0);
    a.dispose();
    b.dispose();
  });

  it('wraps around when K is not a multiple of the batch', () => {
    const q = MemoryQueue.create({ size: 10, dim: 2, rng: new Rng(1) });
    const initial = rows(q);
    const batch = (v: number) => tf.tensor2d([[v, 0], [v + 1, 0], [v + 2, 0], [v + 3, 0]]);
    const b1 = batch(100);
    q.enqueue(b1);
    expect(q.pointer).toBe(4);
    const b2 = batch(200);
    q.enqueue(b2);
    expect(q.pointer).toBe(8);
    const b3 = batch(300);
    q.enqueue(b3); // rows 8, 9 then 0, 1
    expect(q.pointer).toBe(2);
    const r = rows(q).map((x) => x[0]);
    expect(r).toEqual([302, 303, 102, 103, 200, 201, 202, 203, 300, 301]);
    // Untouched columns of overwritten rows come from the batch, not the old queue.
    expect(rows(q)[2][1]).toBe(0);
    expect(initial[2][1]).not.toBe(0);
    for (const t of [b1, b2, b3]) t.dispose();
    q.dispose();
  });

  it('handles a batch equal to K and a pointer landing exactly on K', () => {
    const q = MemoryQueue.create({ size: 4, dim: 1, rng: new Rng(1) });
    const a = tf.tensor2d([[1], [2], [3]]);
    q.enqueue(a);
    const b = tf.tensor2d([[4]]);
    q.enqueue(b);
    expect(q.pointer).toBe(0);
    expect(rows(q).flat()).toEqual([1, 2, 3, 4]);
    const c = tf.tensor2d([[5], [6], [7], [8]]);
    q.enqueue(q.pointer === 0 ? c : c);
    expect(rows(q).flat()).toEqual([5, 6, 7, 8]);
    expect(q.pointer).toBe(0);
    q.enqueue(a);
    q.enqueue(c); // starts at 3: 5 -> row 3, 6,7,8 -> rows 0..2
    expect(rows(q).flat()).toEqual([6, 7, 8, 5]);
    expect(q.pointer).toBe(3);
    for (const t of [a, b, c]) t.dispose();
    q.dispose();
  });

  it('round-trips its state exactly and does not leak tensors', () => {
    const q = MemoryQueue.create({ size: 6, dim: 3, rng: new Rng(9) });
    const keys = tf.tensor2d([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]]);
    q.enqueue(keys);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) q.enqueue(keys);
    expect(tf.memory().numTensors).toBe(before);
    const saved = q.state();
    const copy = MemoryQueue.fromState(saved);
    expect(copy.pointer).toBe(q.pointer);
    expect(rows(copy)).toEqual(rows(q));
    q.enqueue(keys);
    expect(rows(copy)).not.toEqual(rows(q));
    q.loadState(saved);
    expect(rows(q)).toEqual(rows(copy));
    keys.dispose();
    q.dispose();
    copy.dispose();
  });

  it('rejects wrong shapes with a message naming them', () => {
    const q = MemoryQueue.create({ size: 3, dim: 2, rng: new Rng(0) });
    const wide = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => q.enqueue(wide)).toThrow(/\[batch, 2\], got \[2, 3\]/);
    const big = tf.zeros([4, 2]) as tf.Tensor2D;
    expect(() => q.enqueue(big)).toThrow(/batch 4 exceeds the queue size 3/);
    wide.dispose();
    big.dispose();
    q.dispose();
  });
});
