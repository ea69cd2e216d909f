import { Rng } from '@moco-cxr/rng';
import { CxrDataError } from './errors';
import type { ImageSet } from './types';

export interface BatchIteratorOptions {
  batchSize: number;
  /** Seeded reshuffle every epoch (default true). */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last, short batch of each epoch (default false; MoCo training usually sets it). */
  dropLast?: boolean;
  /** Batches read ahead of the consumer (default 2); memory holds at most prefetch + 1 batches. */
  prefetch?: number;
  /** Iterate over these images of the set only (e.g. a label-fraction draw). */
  indices?: ArrayLike<number>;
  /** Epochs to run (default 1; Infinity for an endless stream). */
  epochs?: number;
  /** Resume point: start at this epoch ... */
  epoch?: number;
  /** ... and this many images into it (a batch boundary from an earlier `Batch.next`). */
  position?: number;
}

export interface Batch {
  /** Grey uint8 pixels, indices.length x height x width. */
  images: Uint8Array;
  /** Indices into the ImageSet of the images in this batch. */
  indices: Int32Array;
  epoch: number;
  /** Images of this epoch consumed before this batch. */
  position: number;
  /** Where to resume to continue right after this batch (store it in a checkpoint). */
  next: { epoch: number; position: number };
}

type AsyncImageSet = ImageSet & { readAsync?(indices: ArrayLike<number>): Promise<Uint8Array> };

/** The order of epoch `epoch`: a pure function of (seed, epoch), so a resumed run sees the same batches. */
export function epochOrder(pool: ArrayLike<number>, epoch: number, options: { shuffle?: boolean; seed?: number } = {}): Int32Array {
  const order = Int32Array.from(pool);
  if (options.shuffle ?? true) {
    // One generator per epoch, derived from (seed, epoch), so earlier epochs need not be replayed to resume.
    new Rng(((options.seed ?? 0) ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
  }
  return order;
}

// setImmediate in Node; browsers have none, so a zero timeout there.
const nextMacrotask: (f: () => void) => void = typeof setImmediate === 'function' ? (f) => void setImmediate(f) : (f) => void setTimeout(f, 0);

/**
 * Streams batches of an ImageSet: seeded shuffling per epoch, `prefetch` batches read ahead of the
 * consumer, resumable from (epoch, position).
 */
export async function* batchIterator(images: AsyncImageSet, options: BatchIteratorOptions): AsyncGenerator<Batch, void, undefined> {
  const { batchSize } = options;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new CxrDataError(`batchIterator: batchSize must be a positive integer, got ${batchSize}`);
  const pool = options.indices ? Int32Array.from(options.indices) : Int32Array.from({ length: images.count }, (_, i) => i);
  for (const i of pool) if (i < 0 || i >= images.count) throw new CxrDataError(`batchIterator: index ${i} is out of range for an ImageSet of ${images.count} images`);
  if (pool.length === 0) throw new CxrDataError('batchIterator: no images to iterate over (empty indices)');
  const dropLast = options.dropLast ?? false;
  if (dropLast && pool.length < batchSize) throw new CxrDataError(`batchIterator: dropLast with batchSize ${batchSize} leaves no batch from ${pool.length} images`);
  const prefetch = Math.max(0, Math.floor(options.prefetch ?? 2));
  const epochs = options.epochs ?? 1;
  const startEpoch = options.epoch ?? 0;
  const startPosition = options.position ?? 0;
  if (!(Number.isInteger(startPosition) && startPosition >= 0 && startPosition <= pool.length)) {
    throw new CxrDataError(`batchIterator: resume position ${startPosition} is outside epoch length ${pool.length}`);
  }
  const perEpoch = dropLast ? Math.floor(pool.length / batchSize) * batchSize : pool.length;

  // Batch plans in order, produced lazily.
  function* plans(): Generator<Omit<Batch, 'images'>> {
    for (let epoch = startEpoch; epoch < startEpoch + epochs || (epochs === Infinity); epoch++) {
      const order = epochOrder(pool, epoch, options);
      for (let pos = epoch === startEpoch ? startPosition : 0; pos < perEpoch; pos += batchSize) {
        const end = Math.min(pos + batchSize, perEpoch);
        const nextPos = end >= perEpoch ? { epoch: epoch + 1, position: 0 } : { epoch, position: end };
        yield { indices: order.slice(pos, end), epoch, position: pos, next: nextPos };
      }
    }
  }
  const read = (indices: Int32Array): Promise<Uint8Array> =>
    images.readAsync ? images.readAsync(indices) : new Promise((res, rej) => nextMacrotask(() => {
      try {
        res(images.read(indices));
      } catch (err) {
        rej(err);
      }
    }));
  const it = plans();
  const queue: { plan: Omit<Batch, 'images'>; pixels: Promise<Uint8Array> }[] = [];
  // Reads in flight while the consumer holds a batch: at most `prefetch`.
  const fill = (limit: number) => {
    while (queue.length < limit) {
      const r = it.next();
      if (r.done) return;
      const pixels = read(r.value.indices);
      // Errors surface when the consumer reaches this batch, not as an unhandled rejection.
      pixels.catch(() => undefined);
      queue.push({ plan: r.value, pixels });
    }
  };
  for (;;) {
    if (queue.length === 0) fill(1);
    const head = queue.shift();
    if (!head) return;
    fill(prefetch);
    yield { ...head.plan, images: await head.pixels };
  }
}
