// The WebGPU adapter description, shared by the Node and the browser entries (no Node modules here).

/** The WebGPU adapter a backend runs on, as the adapter describes itself. */
export interface GpuAdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (SwiftShader, llvmpipe, WARP) or a fallback adapter: `auto` never picks one. */
  software: boolean;
  /** Where it came from: the browser's `navigator.gpu`, Dawn's Node binding (npm `webgpu`), or a browser's WebGL renderer. */
  api: 'navigator.gpu' | 'webgpu (Dawn)' | 'webgl';
}

/** What an adapter says of itself (GPUAdapterInfo's fields; the package does not depend on @webgpu/types). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|\bwarp\b/i;

/** Whether an adapter is a CPU implementation: named so by vendor, architecture, device or description, or a fallback adapter. */
export function isSoftwareAdapter(info: AdapterInfoLike, isFallbackAdapter = false): boolean {
  if (isFallbackAdapter || info.isFallbackAdapter === true) return true;
  return [info.vendor, info.architecture, info.device, info.description].some((s) => typeof s === 'string' && SOFTWARE.test(s));
}

/** The report of an adapter that describes itself with `info`. */
export function adapterReport(info: AdapterInfoLike, isFallbackAdapter: boolean, api: GpuAdapterReport['api']): GpuAdapterReport {
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software: isSoftwareAdapter(info, isFallbackAdapter),
    api,
  };
}

/** An adapter's features and limits, as far as the device request reads them. */
export interface AdapterCaps {
  features: { has(name: string): boolean };
  limits: Record<string, number>;
}

/** The same device request tfjs-backend-webgpu makes for itself: the adapter's full limits, timestamps where offered. */
export function tfjsDeviceRequest(adapter: AdapterCaps): { requiredFeatures: string[]; requiredLimits: Record<string, number> } {
  const keys = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'];
  return { requiredFeatures: ['timestamp-query'].filter((f) => adapter.features.has(f)), requiredLimits: Object.fromEntries(keys.map((k) => [k, adapter.limits[k]])) };
}

/** One line: `google swiftshader (SwiftShader driver 5.0.0), software`. */
export function formatAdapter(a: GpuAdapterReport): string {
  const name = [a.vendor, a.architecture].filter((s) => s).join(' ') || 'unnamed adapter';
  const detail = [a.description, a.device].filter((s) => s && s !== a.architecture).join(', ');
  return `${name}${detail ? ` (${detail})` : ''}${a.software ? ', software' : ''} via ${a.api}`;
}
