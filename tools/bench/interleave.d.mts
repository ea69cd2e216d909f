export const MAX_TORCH_SPREAD: number;
export const MAX_START_LOAD: number;
export const MIN_ROUNDS: number;
export interface BenchSettings { rounds: number; allowLoad: boolean; startLoad: number[]; loaded: boolean; tooFewRounds: boolean }
export interface InterleavedCase { label: string; torch: () => number; ours: () => number }
export interface InterleavedResult { label: string; torch: number[]; ours: number[]; loads: number[] }
export interface RunFigure { label: string; round: number; side: 'torch' | 'ours'; value: number; load: number }
export function loadAverage(): number[];
export function spreadOf(xs: number[]): { median: number; min: number; max: number; spread: number; n: number };
export function benchSettings(argv?: string[]): BenchSettings;
export function runJson(file: string, args: string[], options?: object): any;
export function interleave(cases: InterleavedCase[], options: { rounds: number; onRun?: (f: RunFigure) => void }): InterleavedResult[];
export function interleavedTable(results: InterleavedResult[], settings: BenchSettings, options?: { unit?: string; title?: string }): string;
