/**
 * The wasm kernels and gradients this package adds to tfjs that are plain TypeScript over the wasm
 * heap (no native addon, no Node modules): the Node entry (register.ts) and the browser entry
 * (register-browser.ts) both register them.
 */
import { getGradient, getKernel, registerGradient, registerKernel, unregisterKernel, type KernelBackend, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { makeKernels, KernelScope } from './kernels';
import { fusedBatchNormGradConfig, meanGradConfig, sumGradConfig } from './gradients';
import { channelReduceKernel } from './reduce';
import { castKernel, identityKernel, sliceKernel, splitVKernel } from './heap';
import { fusedBatchNormKernel, maxPoolGradKernel } from './norm-pool';

export const WASM = 'wasm';
const registered: string[] = [];

/** Replaces a stock kernel, keeping its setup and dispose functions, and records the replacement. */
export function replaceKernel(config: KernelConfig): void {
  const stock = getKernel(config.kernelName, config.backendName);
  if (stock) unregisterKernel(config.kernelName, config.backendName);
  // Keep the stock setupFunc: it binds the wasm exports the stock kernels we call rely on.
  registerKernel({ ...config, setupFunc: config.setupFunc ?? stock?.setupFunc, disposeFunc: config.disposeFunc ?? stock?.disposeFunc });
  registered.push(`${config.backendName}:${config.kernelName}`);
}

/** Registers the TypeScript wasm kernels over tfjs-backend-wasm's stock ones (call once, after importing it). */
export function registerWasmKernels(): void {
  for (const k of makeKernels(WASM)) replaceKernel({ ...k, backendName: WASM });

  // Transposed matMul runs a scalar loop on wasm; transpose explicitly and take XNNPACK's GEMM.
  const stockMatMul = getKernel('BatchMatMul', WASM);
  if (stockMatMul) {
    replaceKernel({
      kernelName: 'BatchMatMul',
      backendName: WASM,
      kernelFunc: ({ inputs, backend: anyBackend, attrs }) => {
        const backend = anyBackend as KernelBackend;
        const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
        if (!transposeA && !transposeB) return stockMatMul.kernelFunc({ inputs, backend, attrs });
        const s = new KernelScope(backend, WASM);
        try {
          const swapLast = (t: TensorInfo): TensorInfo => {
            const perm = t.shape.map((_, i) => i);
            const r = perm.length;
            [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
            return s.transpose(t, perm);
          };
          const a = inputs.a as TensorInfo;
          const b = inputs.b as TensorInfo;
          const at = transposeA ? swapLast(a) : a;
          const bt = transposeB ? swapLast(b) : b;
          const out = stockMatMul.kernelFunc({ inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } as NamedAttrMap }) as TensorInfo;
          return s.finish(out);
        } catch (e) {
          s.abort();
          throw e;
        }
      },
    });
  }

  // Slices as copies between heap views (the stock ones first copy the whole input out of the heap);
  // Identity (and a Cast to the same dtype) as a shared reference instead of a copy.
  for (const [name, make] of [['Slice', sliceKernel], ['SplitV', splitVKernel], ['Identity', identityKernel], ['Cast', castKernel]] as const) {
    const stock = getKernel(name, WASM);
    if (stock) replaceKernel({ kernelName: name, backendName: WASM, kernelFunc: make(stock.kernelFunc) });
  }

  const stockBn = getKernel('FusedBatchNorm', WASM);
  if (stockBn) replaceKernel({ kernelName: 'FusedBatchNorm', backendName: WASM, kernelFunc: fusedBatchNormKernel(stockBn.kernelFunc, WASM) });
  const stockPoolGrad = getKernel('MaxPoolGrad', WASM);
  if (stockPoolGrad) replaceKernel({ kernelName: 'MaxPoolGrad', backendName: WASM, kernelFunc: maxPoolGradKernel(stockPoolGrad.kernelFunc) });

  // Sum / Mean over the leading axes of NHWC (BatchNorm statistics, bias gradients) without the
  // full-size transpose the stock kernels make first.
  for (const name of ['Sum', 'Mean'] as const) {
    const stock = getKernel(name, WASM);
    if (stock) replaceKernel({ kernelName: name, backendName: WASM, kernelFunc: channelReduceKernel(name, stock.kernelFunc, WASM) });
  }
}

/** Registers the gradients tfjs lacks or computes slowly on wasm (call once, after the union package registered its own). */
export function registerWasmGradients(): void {
  for (const g of [fusedBatchNormGradConfig(getGradient('FusedBatchNorm')), meanGradConfig(getGradient('Mean')), sumGradConfig(getGradient('Sum'))]) {
    registerGradient(g);
    registered.push(`gradient:${g.kernelName}`);
  }
}

/** What this package registered with tfjs (for diagnostics and tests). */
export function registeredOverrides(): string[] {
  return [...registered];
}
