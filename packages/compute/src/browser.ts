// The browser entry (`@moco-cxr/compute/browser`, and `@moco-cxr/compute` under the "browser"
// condition): tfjs' own browser backends, no Node modules, no native addon.
import { registerWebgpuBackend } from './register-browser';
import * as tf from '@tensorflow/tfjs-core';
import { adapterReport, formatAdapter, isSoftwareAdapter, tfjsDeviceRequest, type AdapterInfoLike, type GpuAdapterReport } from './adapter';
import type { KernelsInUse } from './kernels-info';

export { registeredOverrides } from './wasm-kernels';
export { ensureSyncReadable } from './sync-read';
export { optimizerStepInPlace } from './in-place';
export type { InPlaceEntry } from './in-place';
export { describeKernels } from './kernels-info';
export { formatAdapter, isSoftwareAdapter } from './adapter';
export type { GpuAdapterReport } from './adapter';
export type { KernelSet, KernelsInUse } from './kernels-info';

/** The backends a browser can run, fastest first. */
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** The three wasm builds of tfjs-backend-wasm, by file name. */
export type WasmFiles = Partial<Record<'tfjs-backend-wasm.wasm' | 'tfjs-backend-wasm-simd.wasm' | 'tfjs-backend-wasm-threaded-simd.wasm', string>>;

export interface InitBackendOptions {
  /** Force one backend; initBackend throws if it fails to start. Default: the first that starts of webgpu and webgl on a hardware adapter, wasm, cpu. */
  prefer?: BackendName;
  /** wasm threads (needs a cross-origin-isolated page; 1..8). Default: navigator.hardwareConcurrency, at most 8. */
  threads?: number;
  /**
   * Where tfjs-backend-wasm's .wasm files are served: a folder URL ending in '/', or a URL per file
   * (what a bundler gives for `import url from '@tensorflow/tfjs-backend-wasm/wasm-out/...wasm?url'`).
   * Default: tfjs' own (beside the script).
   */
  wasmPaths?: string | WasmFiles;
  /** Called with each warning as it happens (also listed in `BackendInfo.warnings`); the package never prints. */
  onWarning?: (message: string) => void;
}

export interface BackendInfo {
  backend: BackendName;
  /** Threads the backend computes with (tfjs' wasm thread pool; 1 elsewhere). */
  threads: number;
  /** Whether wasm runs its SIMD build (false for other backends). */
  simd: boolean;
  /** Why a faster choice was skipped. */
  notes: string[];
  /** What the user should be told: the backend runs on a software adapter. */
  warnings: string[];
  /** 'wasm' (tfjs' wasm kernels with this package's additions) on wasm; null elsewhere. */
  kernels: 'wasm' | null;
  /** Always null in a browser (the native kernels are a Node addon). */
  nativeIsa: null;
  /** On webgpu and webgl, the adapter it runs on; else null. */
  adapter: GpuAdapterReport | null;
}

const ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
const MAX_WASM_THREADS = 8; // tfjs pre-creates 8 pthread workers; its pool never exceeds that.

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;
/** Whether `current` came from the automatic order (no `prefer`). */
let autoChosen = false;

/** What initBackend chose, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current && copy(current);
}

function copy(i: BackendInfo): BackendInfo {
  return { ...i, notes: [...i.notes], warnings: [...i.warnings], adapter: i.adapter && { ...i.adapter } };
}

/** The adapter the webgpu backend runs on, or null when it is not the running backend. */
export function webgpuAdapter(): GpuAdapterReport | null {
  return current?.backend === 'webgpu' && current.adapter ? { ...current.adapter } : null;
}

/** The kernels computing now: tfjs' (and this package's) on every browser backend. */
export function kernelsInUse(): KernelsInUse {
  const backend = tf.getBackend();
  return { backend, kernels: backend === 'wasm' ? 'wasm' : null, nativeIsa: null, precision: 'fp32' };
}

/**
 * Picks and starts a backend in the browser: WebGPU or WebGL on a hardware adapter, wasm, cpu (auto
 * never picks a software adapter such as SwiftShader; `prefer` does, with a warning). A call the
 * running backend already answers returns it untouched. Call it before creating tensors.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (pending) return pending.then(() => initBackend(options), () => initBackend(options));
  if (current && tf.getBackend() === current.backend && satisfies(current, options)) return Promise.resolve(copy(current));
  pending = choose(options).then(
    (info) => {
      current = info;
      autoChosen = options.prefer === undefined;
      pending = null;
      return copy(info);
    },
    (e: unknown) => {
      pending = null;
      throw e;
    },
  );
  return pending;
}

/** Whether the running choice already answers this request (tfjs' wasm pool cannot be resized once started). */
function satisfies(info: BackendInfo, options: InitBackendOptions): boolean {
  return options.prefer === undefined ? autoChosen : options.prefer === info.backend;
}

async function choose(options: InitBackendOptions): Promise<BackendInfo> {
  if (options.prefer !== undefined && !ORDER.includes(options.prefer)) {
    throw new Error(`initBackend: prefer must be one of ${ORDER.join(', ')} in a browser; got ${JSON.stringify(options.prefer)}`);
  }
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
    throw new Error(`initBackend: threads must be a positive integer; got ${options.threads}`);
  }
  const notes: string[] = [];
  for (const name of options.prefer ? [options.prefer] : ORDER) {
    try {
      return await start(name, options, notes);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (options.prefer) throw new Error(`initBackend: backend '${name}' was requested but could not start: ${msg}`);
      notes.push(`${name}: ${msg}`);
    }
  }
  throw new Error(`initBackend: no backend could start (${notes.join('; ')})`);
}

async function start(name: BackendName, options: InitBackendOptions, notes: string[]): Promise<BackendInfo> {
  const auto = options.prefer === undefined;
  const base = { notes, warnings: [] as string[], kernels: null, nativeIsa: null, adapter: null, threads: 1, simd: false };
  if (name === 'webgpu' || name === 'webgl') {
    // Refused before a backend starts on it, so a passed-over adapter holds no device.
    const refuse = (a: GpuAdapterReport) => {
      if (a.software && auto) throw new Error(`the only ${name} adapter is a software one (${formatAdapter(a)}), which auto never picks; ask for it with prefer '${name}'`);
    };
    const adapter = name === 'webgpu' ? await startWebgpu(refuse) : await webglAdapter();
    if (name === 'webgl') {
      refuse(adapter);
      await setBackendOrThrow('webgl');
    }
    const info: BackendInfo = { ...base, backend: name, adapter };
    if (adapter.software) {
      const w = `${name}: running on a software adapter (${formatAdapter(adapter)}): correct but far slower than a GPU`;
      info.warnings.push(w);
      options.onWarning?.(w);
    }
    return info;
  }
  if (name === 'cpu') {
    await setBackendOrThrow('cpu');
    return { ...base, backend: 'cpu' };
  }
  return startWasm(options, base);
}

async function setBackendOrThrow(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

// Minimal WebGPU shapes this file touches (the package does not depend on @webgpu/types).
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor: unknown): Promise<unknown>;
}

/** Starts tfjs-backend-webgpu on the browser's adapter; `check` may refuse the adapter before a device is made. */
async function startWebgpu(check: (report: GpuAdapterReport) => void): Promise<GpuAdapterReport> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: { powerPreference?: string }): Promise<AdapterLike | null> } } }).navigator?.gpu;
  if (!gpu) throw new Error('this browser offers no WebGPU (navigator.gpu is missing; Chromium needs a secure context, https or localhost)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter found (navigator.gpu.requestAdapter() gave null)');
  const info = adapter.info ?? {};
  const report = adapterReport(info, adapter.isFallbackAdapter === true, 'navigator.gpu');
  check(report);
  const mod = await import('@tensorflow/tfjs-backend-webgpu');
  const device = await adapter.requestDevice(tfjsDeviceRequest(adapter));
  registerWebgpuBackend(() => new mod.WebGPUBackend(device as never, info as never));
  await setBackendOrThrow('webgpu');
  return report;
}

// The WebGL calls this file makes (the package's types leave out the DOM lib).
interface GlLike {
  VENDOR: number;
  RENDERER: number;
  getParameter(name: number): unknown;
  getExtension(name: string): Record<string, unknown> | null;
}
interface CanvasLike {
  getContext(kind: string): unknown;
}

/** The WebGL renderer tfjs would draw on, read from a throwaway context (WEBGL_debug_renderer_info). */
async function webglAdapter(): Promise<GpuAdapterReport> {
  const g = globalThis as { OffscreenCanvas?: new (w: number, h: number) => CanvasLike; document?: { createElement(tag: string): CanvasLike } };
  const canvas = g.OffscreenCanvas ? new g.OffscreenCanvas(1, 1) : g.document?.createElement('canvas');
  const gl = (canvas?.getContext('webgl2') ?? canvas?.getContext('webgl')) as GlLike | null | undefined;
  if (!gl) throw new Error('this browser offers no WebGL context (WebGL is off, or there is no GPU process)');
  const ext = gl.getExtension('WEBGL_debug_renderer_info') as { UNMASKED_VENDOR_WEBGL: number; UNMASKED_RENDERER_WEBGL: number } | null;
  const vendor = String(gl.getParameter(ext ? ext.UNMASKED_VENDOR_WEBGL : gl.VENDOR));
  const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  (gl.getExtension('WEBGL_lose_context') as { loseContext(): void } | null)?.loseContext();
  return { vendor, architecture: '', device: '', description: renderer, software: isSoftwareAdapter({ vendor, description: renderer }), api: 'webgl' };
}

async function startWasm(options: InitBackendOptions, base: Omit<BackendInfo, 'backend'>): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const requested = Math.min(options.threads ?? cores, MAX_WASM_THREADS);
  if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths as never);
  wasm.setThreadsCount(requested);
  await setBackendOrThrow('wasm');
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threads = wasm.getThreadsCount();
  if (requested > threads) base.notes.push(`wasm: ${threads} thread${threads === 1 ? '' : 's'} of ${requested} asked (threads need a cross-origin-isolated page: COOP same-origin and COEP require-corp)`);
  return { ...base, backend: 'wasm', threads, simd, kernels: 'wasm' };
}
