/**
 * The browser entry's one side-effect file: tfjs' browser backends (the union package brings cpu and
 * webgl, and the gradients) and the TypeScript wasm kernels and gradients this package adds; the
 * native kernels are Node-only.
 */
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { findBackendFactory, registerBackend, removeBackend, type KernelBackend } from '@tensorflow/tfjs-core';
import { registerWasmGradients, registerWasmKernels } from './wasm-kernels';

registerWasmKernels();
registerWasmGradients();

/** Registers the webgpu backend factory initBackend built for its adapter, in place of the one tfjs-backend-webgpu registered on import. */
export function registerWebgpuBackend(factory: () => KernelBackend | Promise<KernelBackend>): void {
  if (findBackendFactory('webgpu') != null) removeBackend('webgpu');
  registerBackend('webgpu', factory, 1);
}
