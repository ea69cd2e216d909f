// What computes a backend's kernels, shared by the Node and the browser entries (no Node modules here).

/** Which kernels train: the native ones (with their instruction set) or tfjs-backend-wasm's. */
export type KernelSet = 'native' | 'wasm';

/** The matrix products' inputs: fp32, or rounded to bf16 with fp32 sums (native kernels on CPUs with AVX512_BF16). */
export type Precision = 'fp32' | 'bf16';
/** How the native kernels run 3x3 stride-1 convolutions: 'auto' (Winograd where faster) or 'direct'. */
export type ConvAlgorithm = 'auto' | 'direct';

/** What computes the running backend's kernels; a run resumed on other kernels differs in the last bits. */
export interface KernelsInUse {
  /** The tfjs backend ('wasm', 'cpu', 'tensorflow', ...). */
  backend: string;
  /** On wasm, 'native' (the addon) or 'wasm' (tfjs'); null on other backends. */
  kernels: KernelSet | null;
  /** The native kernels' instruction set while they run, else null. */
  nativeIsa: string | null;
  /** The products' precision; absent in checkpoints written before it was recorded, which ran fp32. */
  precision?: Precision;
}

/** One line for messages: "wasm backend, native avx2 kernels", "wasm backend, tfjs' wasm kernels", "cpu backend". */
export function describeKernels(k: KernelsInUse): string {
  if (k.backend !== 'wasm' || k.kernels === null) return `${k.backend} backend`;
  if (k.kernels !== 'native') return "wasm backend, tfjs' wasm kernels";
  return `wasm backend, native ${k.nativeIsa} kernels${k.precision === 'bf16' ? ' with bf16 products' : ''}`;
}
