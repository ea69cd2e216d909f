export interface ProfiledKernel {
  name: string;
  kernelTimeMs: number | { error: string } | Promise<number | { error: string }>;
}

/** Kernel time summed by kernel name, largest first: the total, the number of kernel calls and one printable line per kernel. */
export function kernelTable(prof: { kernels: ProfiledKernel[] }, top?: number): Promise<{ totalMs: number; calls: number; lines: string[] }>;

/** Times each kernel by the process's CPU time (all threads) instead of the wall clock (wasm, cpu backends). */
export function timeKernelsByCpu(backend: unknown): void;
