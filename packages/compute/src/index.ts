export { initBackend, backendInfo } from './backend';
export type { BackendName, BackendInfo, InitBackendOptions } from './backend';
export { registeredOverrides } from './register';
