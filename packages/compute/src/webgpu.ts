import * as tf from '@tensorflow/tfjs-core';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { adapterReport, formatAdapter, isSoftwareAdapter, tfjsDeviceRequest, type AdapterInfoLike, type GpuAdapterReport } from './adapter';
import { registerWebgpuBackend } from './register';

export { formatAdapter, isSoftwareAdapter } from './adapter';
export type { GpuAdapterReport } from './adapter';

// Minimal WebGPU shapes this file touches (the package does not depend on @webgpu/types).
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
  requestDevice(descriptor: unknown): Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
interface WebgpuBackendModule {
  WebGPUBackend: new (device: unknown, adapterInfo?: unknown) => tf.KernelBackend;
}

// Held in variables so bundlers leave these optional packages alone and tsup keeps them external.
const DAWN_PKG = 'webgpu';
const TFJS_WEBGPU_PKG = '@tensorflow/tfjs-backend-webgpu';

/** Where this module sits, in both the ESM and the CJS build (and under vitest). */
function moduleBase(): string {
  // CJS defines __filename; ESM has import.meta.url (esbuild empties import.meta in the CJS build).
  if (typeof __filename === 'string' && __filename.length > 0) return __filename;
  return import.meta.url;
}

/** Chromium's SwiftShader Vulkan driver (a CPU Vulkan ICD), for running WebGPU where no GPU is: its JSON file, or null. */
export function swiftShaderIcd(): string | null {
  const candidates = [
    process.env.MOCO_CXR_SWIFTSHADER_ICD,
    '/usr/lib/chromium/vk_swiftshader_icd.json', // Debian, Ubuntu's chromium deb
    '/usr/lib64/chromium-browser/vk_swiftshader_icd.json', // Fedora
    '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
    '/opt/google/chrome/vk_swiftshader_icd.json',
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/** Dawn prints an error per adapter when XDG_RUNTIME_DIR is unset; give it a private one. Returns a note, or null. */
function ensureRuntimeDir(): string | null {
  if (process.env.XDG_RUNTIME_DIR) return null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'moco-cxr-xdg-'));
  process.env.XDG_RUNTIME_DIR = dir;
  return `webgpu: XDG_RUNTIME_DIR was unset (Dawn needs it); set to ${dir}`;
}

let gpuEntry: { gpu: GpuLike; api: GpuAdapterReport['api'] } | null = null;

/** navigator.gpu where the runtime has it (browsers), else Dawn's Node binding, installed as navigator.gpu for tfjs-backend-webgpu. */
async function loadGpu(notes: string[]): Promise<{ gpu: GpuLike; api: GpuAdapterReport['api'] }> {
  if (gpuEntry) return gpuEntry;
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (g.navigator?.gpu) return (gpuEntry = { gpu: g.navigator.gpu, api: 'navigator.gpu' });
  let dawn: { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  try {
    dawn = (await import(/* @vite-ignore */ DAWN_PKG)) as typeof dawn;
  } catch (e) {
    throw new Error(`the optional package 'webgpu' (Dawn's Node binding) is not installed or failed to load (${firstLine(e)}); install it with npm install webgpu@0.6.2`);
  }
  const runtimeNote = ensureRuntimeDir();
  if (runtimeNote) notes.push(runtimeNote);
  // tfjs-backend-webgpu uses the WebGPU globals (GPUBufferUsage, ...) and checks navigator.gpu.
  const scope = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in scope)) scope[k] = v;
  const gpu = dawn.create([]);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  return (gpuEntry = { gpu, api: 'webgpu (Dawn)' });
}

async function describeAdapter(adapter: AdapterLike, api: GpuAdapterReport['api']): Promise<{ report: GpuAdapterReport; info: AdapterInfoLike }> {
  const info: AdapterInfoLike = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
  const report = adapterReport(info, adapter.isFallbackAdapter === true, api);
  return { report, info };
}

/**
 * What adapter Dawn would give, asked in a child process so that Dawn's and the Vulkan loader's
 * messages (printed straight to stderr) and a crashing driver stay out of this process: `auto`
 * probes every start, also on machines without a GPU. Null when the probe finds no adapter.
 */
async function probeDawnAdapter(timeoutMs: number): Promise<{ report: GpuAdapterReport | null; stderr: string }> {
  const dawnIndex = createRequire(moduleBase()).resolve(DAWN_PKG);
  // The child answers over IPC and exits by itself once Dawn lets go.
  const script = [
    'const { create } = await import(process.argv[1]);',
    "const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });",
    'const i = a ? (a.info ?? (a.requestAdapterInfo ? await a.requestAdapterInfo() : {})) : null;',
    'const o = i && { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter ?? false };',
    'process.send({ adapter: o }, () => process.disconnect());',
  ].join('\n');
  const env = { ...process.env };
  if (!env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = os.tmpdir();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(dawnIndex).href], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let answer: { adapter: AdapterInfoLike | null } | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stderr?.on('data', (b: Buffer) => void (stderr += b.toString()));
    child.on('message', (m) => void (answer = m as typeof answer));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`the WebGPU adapter probe could not start (${firstLine(e)})`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (!answer) {
        const why = timedOut ? `timed out after ${timeoutMs} ms` : `exit ${code ?? signal}`;
        reject(new Error(`the WebGPU adapter probe failed (${why})${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`));
        return;
      }
      const adapter = answer.adapter;
      const report = adapter && {
        vendor: adapter.vendor ?? '',
        architecture: adapter.architecture ?? '',
        device: adapter.device ?? '',
        description: adapter.description ?? '',
        software: isSoftwareAdapter(adapter),
        api: 'webgpu (Dawn)' as const,
      };
      resolve({ report, stderr });
    });
  });
}

export interface StartWebgpuOptions {
  /** From the automatic order: a software adapter is refused (said in the error, which becomes a note). */
  auto: boolean;
  /** Milliseconds the automatic adapter probe may take. Default 20 000. */
  probeTimeoutMs?: number;
}

let startedAdapter: GpuAdapterReport | null = null;

/** The adapter the webgpu backend runs on, or null when it was never started. */
export function webgpuAdapter(): GpuAdapterReport | null {
  return startedAdapter && { ...startedAdapter };
}

/**
 * Starts tfjs-backend-webgpu on the first adapter WebGPU offers (high-performance preference).
 * Throws with the reason when WebGPU is missing, has no adapter, or (auto) offers only a software one.
 */
export async function startWebgpu(options: StartWebgpuOptions, notes: string[]): Promise<GpuAdapterReport> {
  const browser = Boolean((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) && gpuEntry === null;
  if (options.auto && !browser && gpuEntry === null) {
    let dawnFound = true;
    try {
      createRequire(moduleBase()).resolve(DAWN_PKG);
    } catch {
      dawnFound = false;
    }
    if (!dawnFound) throw new Error("the optional package 'webgpu' (Dawn's Node binding) is not installed; install it with npm install webgpu@0.6.2");
    const probe = await probeDawnAdapter(options.probeTimeoutMs ?? 20_000);
    if (!probe.report) throw new Error(`no WebGPU adapter found (no GPU driver for Vulkan, Metal or D3D12)${probe.stderr.trim() ? `; Dawn said: ${probe.stderr.trim().split('\n')[0]}` : ''}`);
    if (probe.report.software) throw softwareRefusal(probe.report);
  }
  const { gpu, api } = await loadGpu(notes);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`no WebGPU adapter found via ${api} (no GPU driver for Vulkan, Metal or D3D12)`);
  const { report, info } = await describeAdapter(adapter, api);
  if (options.auto && report.software) throw softwareRefusal(report);
  let mod: WebgpuBackendModule;
  try {
    mod = (await import(/* @vite-ignore */ TFJS_WEBGPU_PKG)) as WebgpuBackendModule;
  } catch (e) {
    throw new Error(`the optional package @tensorflow/tfjs-backend-webgpu is not installed or failed to load (${firstLine(e)}); install it with npm install @tensorflow/tfjs-backend-webgpu@4.22.0`);
  }
  const device = await adapter.requestDevice(tfjsDeviceRequest(adapter));
  const inNode = api === 'webgpu (Dawn)';
  registerWebgpuBackend(() => {
    const backend = new mod.WebGPUBackend(device, info);
    if (inNode) forbidGpuReadSync(backend);
    return backend;
  });
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new Error(`tf.setBackend('webgpu') returned false on ${formatAdapter(report)}`);
  await tf.ready();
  startedAdapter = report;
  return report;
}

function softwareRefusal(report: GpuAdapterReport): Error {
  return new Error(`the only WebGPU adapter is a software one (${formatAdapter(report)}), which auto never trains on; ask for it with backend 'webgpu'`);
}

/**
 * tfjs reads GPU data synchronously through OffscreenCanvas, which Node lacks: in Node, dataSync()
 * of a tensor held on the GPU throws this message instead of "OffscreenCanvas is not defined".
 */
function forbidGpuReadSync(backend: tf.KernelBackend): void {
  const b = backend as unknown as { readSync(dataId: object): unknown; tensorMap: { get(id: object): { values?: unknown; dtype: string; shape?: number[] } } };
  const stock = b.readSync.bind(backend);
  b.readSync = (dataId: object) => {
    const d = b.tensorMap.get(dataId);
    if (d.values != null || d.dtype === 'string') return stock(dataId);
    throw new Error('webgpu in Node: dataSync()/arraySync() cannot read a tensor held on the GPU (WebGPU reads are asynchronous there); use await tensor.data() or tensor.array()');
  };
}
