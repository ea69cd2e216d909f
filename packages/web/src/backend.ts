import * as tf from '@tensorflow/tfjs-core';
import { formatAdapter, initBackend, isSoftwareAdapter, type BackendInfo } from '@moco-cxr/compute/browser';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export const PAGE_BACKENDS = ['auto', 'webgpu', 'wasm'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export interface PageBackendInfo {
  backend: 'webgpu' | 'wasm';
  /** What the page says about it: the adapter, or why auto did not take webgpu. */
  line: string;
  info: BackendInfo;
}

// The wasm binaries come from this page's own server (bundled by vite), never from a CDN.
const WASM_FILES = { 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd };

/** Why auto leaves webgpu for wasm here, or null when a hardware adapter is offered. */
async function noHardwareWebgpu(): Promise<string | null> {
  type Adapter = { info?: { vendor?: string; architecture?: string; device?: string; description?: string }; isFallbackAdapter?: boolean };
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  if (!gpu) return 'this browser offers no WebGPU';
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return 'WebGPU offers no adapter here';
  // A software adapter (SwiftShader) is correct but slower than wasm; ?backend=webgpu still takes it.
  if (isSoftwareAdapter(adapter.info ?? {}, adapter.isFallbackAdapter === true)) return `the only WebGPU adapter is a software one (${adapter.info?.description || adapter.info?.vendor || 'fallback'})`;
  return null;
}

/**
 * Starts tfjs on webgpu where the browser offers a hardware adapter, else wasm; `?backend=webgpu`
 * or `?backend=wasm` forces one (an error says why a forced webgpu cannot start).
 */
export async function startPageBackend(asked: string): Promise<PageBackendInfo> {
  if (!(PAGE_BACKENDS as readonly string[]).includes(asked)) throw new Error(`?backend=${asked}: unknown backend; use ${PAGE_BACKENDS.join(', ')}`);
  const why = asked === 'auto' ? await noHardwareWebgpu() : null;
  const prefer = asked === 'wasm' || why ? 'wasm' : 'webgpu';
  // tfjs' pthread worker fails to start from a vite bundle ("e is not defined") where the page is
  // cross-origin isolated: keep wasm on its single-threaded SIMD build.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const info = await initBackend({ prefer, wasmPaths: WASM_FILES, threads: 1 });
  const detail = info.adapter ? `adapter ${formatAdapter(info.adapter)}` : `${info.simd ? 'SIMD' : 'no SIMD'}, ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  return { backend: prefer, info, line: `tfjs backend: ${prefer} (${detail})${why ? `; not webgpu: ${why}` : ''}` };
}
