/** One kept snapshot and the validation AUROC that earned its place. */
export interface Ranked<T> {
  valAuroc: number;
  /** Training examples seen when the snapshot was taken. */
  examples: number;
  value: T;
}

/**
 * Keeps the k snapshots with the highest validation AUROC. Ties keep the earlier one first, so
 * a later evaluation must be strictly better to displace it; `make` runs only for a snapshot that enters.
 */
export class TopK<T> {
  readonly entries: Ranked<T>[] = [];

  constructor(
    readonly k: number,
    private readonly release: (value: T) => void = () => {},
  ) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`topK must be a positive integer, got ${k}`);
  }

  /** Offers a result; returns its rank (0 = best) if kept, else -1. */
  offer(valAuroc: number, examples: number, make: () => T): number {
    if (Number.isNaN(valAuroc)) return -1;
    let rank = this.entries.findIndex((e) => valAuroc > e.valAuroc);
    if (rank === -1) rank = this.entries.length;
    if (rank >= this.k) return -1;
    this.entries.splice(rank, 0, { valAuroc, examples, value: make() });
    while (this.entries.length > this.k) this.release((this.entries.pop() as Ranked<T>).value);
    return rank;
  }

  get best(): Ranked<T> | undefined {
    return this.entries[0];
  }
}
