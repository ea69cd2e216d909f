/**
 * The package's one side-effect file: every kernel and gradient @moco-cxr/compute registers with
 * tfjs is registered here, once, when the package is imported.
 */
// tfjs-core alone registers no gradients in Node; the union package's Node bundle does, against the
// same (deduplicated) tfjs-core. Without it tf.grads fails for every op.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { findBackendFactory, getGradient, getKernel, registerBackend, registerGradient, registerKernel, removeBackend, unregisterKernel, type KernelBackend, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { makeKernels, KernelScope } from './kernels';
import { fusedBatchNormGradConfig, meanGradConfig, sumGradConfig } from './gradients';
import { channelReduceKernel } from './reduce';
import { castKernel, identityKernel, sliceKernel, splitVKernel } from './heap';
import { fusedBatchNormKernel, maxPoolGradKernel } from './norm-pool';
import { patchTfAdam } from './optimizers';
import { fusedKernels, nativeMaxPoolGrad, nativeBatchMatMul, nativeConv2D, nativeConv2DBackpropFilter, nativeConv2DBackpropInput } from './native';

const WASM = 'wasm';
const registered: string[] = [];

function replaceKernel(config: KernelConfig): void {
  const stock = getKernel(config.kernelName, config.backendName);
  if (stock) unregisterKernel(config.kernelName, config.backendName);
  // Keep the stock setupFunc: it binds the wasm exports the stock kernels we call rely on.
  registerKernel({ ...config, setupFunc: config.setupFunc ?? stock?.setupFunc, disposeFunc: config.disposeFunc ?? stock?.disposeFunc });
  registered.push(`${config.backendName}:${config.kernelName}`);
}

function register(): void {
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

  // Native kernels over everything above: each falls back to the kernel it replaces whenever the
  // native set is off (initBackend's choice) or the call is one it does not handle.
  for (const [name, wrap] of [['Conv2D', nativeConv2D], ['Conv2DBackpropInput', nativeConv2DBackpropInput], ['Conv2DBackpropFilter', nativeConv2DBackpropFilter], ['BatchMatMul', nativeBatchMatMul], ['MaxPoolGrad', nativeMaxPoolGrad]] as const) {
    const current = getKernel(name, WASM);
    if (current) replaceKernel({ kernelName: name, backendName: WASM, kernelFunc: wrap(current.kernelFunc) });
  }

  patchTfAdam();

  for (const g of [fusedBatchNormGradConfig(getGradient('FusedBatchNorm')), meanGradConfig(getGradient('Mean')), sumGradConfig(getGradient('Sum'))]) {
    registerGradient(g);
    registered.push(`gradient:${g.kernelName}`);
  }
}

register();

/** Registers the wasm backend factory again after initBackend removed a started (or hung) instance. */
export function reRegisterWasm(factory: () => KernelBackend | Promise<KernelBackend>): void {
  if (findBackendFactory(WASM) == null) registerBackend(WASM, factory, 2);
}

/**
 * Registers the webgpu backend factory initBackend built for its chosen adapter, in place of any
 * earlier one (tfjs-backend-webgpu registers its own in browsers, for whatever adapter it finds).
 */
export function registerWebgpuBackend(factory: () => KernelBackend | Promise<KernelBackend>): void {
  if (findBackendFactory('webgpu') != null) removeBackend('webgpu');
  registerBackend('webgpu', factory, 1);
}

/** What this package registered with tfjs (for diagnostics and tests). */
export function registeredOverrides(): string[] {
  return [...registered];
}

/**
 * Registers the fused native kernels on wasm (or removes them): they exist only while they run
 * natively, so callers test `getKernel(name, getBackend())` and compose tf ops otherwise.
 */
export function setFusedKernels(on: boolean): void {
  for (const k of fusedKernels) {
    const present = getKernel(k.kernelName, WASM) !== undefined;
    if (on && !present) registerKernel({ ...k, backendName: WASM });
    if (!on && present) unregisterKernel(k.kernelName, WASM);
  }
}
