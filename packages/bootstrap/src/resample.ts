import type { Rng } from '@moco-cxr/rng';

/** Draws rows with replacement, within each stratum when given; fills multiplicity counts and the drawn indices. */
export class Resampler {
  readonly counts: Uint32Array;
  readonly indices: Uint32Array;
  private readonly strata: Uint32Array[];

  /** `strata` lists the rows of each stratum; one stratum of all rows when omitted. */
  constructor(
    readonly n: number,
    strata?: Uint32Array[],
  ) {
    this.counts = new Uint32Array(n);
    this.indices = new Uint32Array(n);
    this.strata = strata ?? [];
  }

  draw(rng: Rng): void {
    const { counts, indices, n } = this;
    counts.fill(0);
    if (this.strata.length === 0) {
      rng.ints(n, indices);
      for (let i = 0; i < n; i++) counts[indices[i]]++;
      return;
    }
    let k = 0;
    for (const rows of this.strata) {
      const size = rows.length;
      const picks = rng.ints(size, indices.subarray(k, k + size));
      for (let i = 0; i < size; i++) {
        const r = rows[picks[i]];
        picks[i] = r;
        counts[r]++;
      }
      k += size;
    }
  }
}

/** Rows grouped by key (ascending key order), for stratified resampling. */
export function strataOf(keys: ArrayLike<number>, n: number, fn: string): Uint32Array[] {
  if (keys.length !== n) throw new RangeError(`${fn}: stratify has length ${keys.length} but n is ${n}`);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    if (typeof key !== 'number' || Number.isNaN(key)) throw new RangeError(`${fn}: stratify[${i}] is ${key}; expected a number`);
    let rows = groups.get(key);
    if (!rows) groups.set(key, (rows = []));
    rows.push(i);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((key) => Uint32Array.from(groups.get(key)!));
}

/** Percentile with linear interpolation between order statistics (numpy's default). `sorted` ascending. */
export function percentile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
