export { Rng } from './rng';
export type { RngState } from './rng';
export { syncDirectory, writeFileAtomic } from './atomic-write';
