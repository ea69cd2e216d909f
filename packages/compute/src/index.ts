export { initBackend, backendInfo, PRECISIONS } from './backend';
export type { BackendName, BackendInfo, InitBackendOptions } from './backend';
export { registeredOverrides } from './register';
export { ensureSyncReadable } from './sync-read';
export { isSoftwareAdapter, formatAdapter, swiftShaderIcd, webgpuAdapter } from './webgpu';
export type { GpuAdapterReport } from './webgpu';
export { FUSED, OPTIMIZER_KIND, activeNativeIsa, kernelsInUse, describeKernels } from './native';
export type { KernelSet, NativeIsa, KernelsInUse, Precision } from './native';
