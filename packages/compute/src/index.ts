export { initBackend, backendInfo } from './backend';
export type { BackendName, BackendInfo, InitBackendOptions } from './backend';
export { registeredOverrides } from './register';
export { FUSED, OPTIMIZER_KIND, activeNativeIsa, kernelsInUse, describeKernels } from './native';
export type { KernelSet, NativeIsa, KernelsInUse } from './native';
