/**
 * The package's one side-effect file: every kernel and gradient @moco-cxr/compute registers with
 * tfjs is registered here, once, when the package is imported.
 */
// tfjs-core alone registers no gradients in Node; the union package's Node bundle does, against the
// same (deduplicated) tfjs-core. Without it tf.grads fails for every op.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { findBackendFactory, getGradient, getKernel, registerBackend, registerGradient, registerKernel, removeBackend, unregisterKernel, type KernelBackend } from '@tensorflow/tfjs-core';
import { patchTfAdam } from './optimizers';
import { fusedKernels, nativeMaxPoolGrad, nativeBatchMatMul, nativeConv2D, nativeConv2DBackpropInput, nativeConv2DBackpropFilter, nativeRelu } from './native';
import { reluGradConfig } from './gradients';
import { registerWasmGradients, registerWasmKernels, replaceKernel, WASM } from './wasm-kernels';

export { registeredOverrides } from './wasm-kernels';

function register(): void {
  registerWasmKernels();

  // Native kernels over everything above: each falls back to the kernel it replaces whenever the
  // native set is off (initBackend's choice) or the call is one it does not handle.
  for (const [name, wrap] of [['Conv2D', nativeConv2D], ['Conv2DBackpropInput', nativeConv2DBackpropInput], ['Conv2DBackpropFilter', nativeConv2DBackpropFilter], ['BatchMatMul', nativeBatchMatMul], ['MaxPoolGrad', nativeMaxPoolGrad], ['Relu', nativeRelu]] as const) {
    const current = getKernel(name, WASM);
    if (current) replaceKernel({ kernelName: name, backendName: WASM, kernelFunc: wrap(current.kernelFunc) });
  }

  patchTfAdam();
  registerWasmGradients();
  // Relu's gradient as one native kernel while the native set runs (tfjs' own otherwise, on every backend).
  registerGradient(reluGradConfig(getGradient('Relu')));
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
