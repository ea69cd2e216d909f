import { describe, expect, it } from 'vitest';
import { batchIterator, epochOrder } from './index';
import type { ImageSet } from './index';

/** Image i is filled with the value i, so a batch's pixels tell which images it holds. */
function numbered(count: number, onRead?: (indices: ArrayLike<number>) => void): ImageSet {
  return {
    count,
    height: 2,
    width: 2,
    read(indices) {
      onRead?.(indices);
      const out = new Uint8Array(indices.length * 4);
      for (let j = 0; j < indices.length; j++) out.fill(indices[j], j * 4, j * 4 + 4);
      return out;
    },
  };
}

async function collect(it: AsyncIterable<{ indices: Int32Array; images: Uint8Array; epoch: number; position: number; next: { epoch: number; position: number } }>) {
  const out = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('batchIterator', () => {
  it('visits every image once per epoch, pixels match indices, seeded and different per epoch', async () => {
    const batches = await collect(batchIterator(numbered(10), { batchSize: 3, seed: 5, epochs: 2 }));
    expect(batches.map((b) => b.indices.length)).toEqual([3, 3, 3, 1, 3, 3, 3, 1]);
    for (const b of batches) expect(Array.from(b.images.filter((_, i) => i % 4 === 0))).toEqual(Array.from(b.indices));
    const e0 = batches.filter((b) => b.epoch === 0).flatMap((b) => Array.from(b.indices));
    const e1 = batches.filter((b) => b.epoch === 1).flatMap((b) => Array.from(b.indices));
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...e1].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const again = await collect(batchIterator(numbered(10), { batchSize: 3, seed: 5, epochs: 2 }));
    expect(again.map((b) => Array.from(b.indices))).toEqual(batches.map((b) => Array.from(b.indices)));
    const other = await collect(batchIterator(numbered(10), { batchSize: 3, seed: 6, epochs: 1 }));
    expect(other.flatMap((b) => Array.from(b.indices))).not.toEqual(e0);
  });
  it('dropLast, no shuffle and an index subset', async () => {
    const b = await collect(batchIterator(numbered(10), { batchSize: 4, shuffle: false, dropLast: true, epochs: 2 }));
    expect(b.map((x) => Array.from(x.indices))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(b[1].next).toEqual({ epoch: 1, position: 0 });
    const s = await collect(batchIterator(numbered(10), { batchSize: 2, seed: 1, indices: [7, 3, 9] }));
    expect(s.flatMap((x) => Array.from(x.indices)).sort()).toEqual([3, 7, 9]);
    await expect(collect(batchIterator(numbered(3), { batchSize: 4, dropLast: true }))).rejects.toThrow(/dropLast with batchSize 4 leaves no batch from 3 images/);
  });
  it('resumes exactly from a batch`s next position', async () => {
    const opts = { batchSize: 4, seed: 11, epochs: 3, dropLast: true };
    const straight = await collect(batchIterator(numbered(18), opts));
    const k = 5;
    const resumeAt = straight[k - 1].next;
    const rest = await collect(batchIterator(numbered(18), { ...opts, epochs: 3 - resumeAt.epoch, epoch: resumeAt.epoch, position: resumeAt.position }));
    expect(rest.map((b) => Array.from(b.indices))).toEqual(straight.slice(k).map((b) => Array.from(b.indices)));
  });
  it('epochOrder is the order the iterator visits in that epoch, a permutation that changes with the epoch', async () => {
    const pool = [4, 9, 2, 7, 11, 0];
    const batches = await collect(batchIterator(numbered(12), { batchSize: 4, seed: 11, epochs: 3, indices: pool }));
    for (const epoch of [0, 1, 2]) {
      const visited = batches.filter((b) => b.epoch === epoch).flatMap((b) => Array.from(b.indices));
      const order = Array.from(epochOrder(pool, epoch, { seed: 11 }));
      expect(visited).toEqual(order);
      expect([...order].sort((a, b) => a - b)).toEqual([0, 2, 4, 7, 9, 11]);
    }
    expect(Array.from(epochOrder(pool, 1, { seed: 11 }))).not.toEqual(Array.from(epochOrder(pool, 2, { seed: 11 })));
    expect(Array.from(epochOrder(pool, 1, { seed: 11, shuffle: false }))).toEqual(pool);
  });
  it('prefetches ahead of the consumer, but never more than `prefetch` batches', async () => {
    let reads = 0;
    const set = numbered(100, () => reads++);
    const it = batchIterator(set, { batchSize: 5, seed: 1, prefetch: 3 });
    let consumed = 0;
    for await (const _ of it) {
      consumed++;
      // Let queued reads run while the consumer "works".
      await new Promise((r) => setTimeout(r, 2));
      expect(reads - consumed).toBeLessThanOrEqual(3);
      if (consumed === 3) expect(reads - consumed).toBe(3);
    }
    expect(consumed).toBe(20);
    expect(reads).toBe(20);
  });
  it('surfaces a read error at the batch that failed', async () => {
    const set = numbered(10, (idx) => {
      if (Array.from(idx).includes(9)) throw new Error('disk gone at image 9');
    });
    await expect(collect(batchIterator(set, { batchSize: 2, shuffle: false }))).rejects.toThrow(/disk gone at image 9/);
  });
});
