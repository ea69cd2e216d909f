import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import { reRegisterWasm, setFusedKernels } from './register';
import { configureNative, loadNative, nativeLoadError, setNativeConvAlgorithm, setNativePrecision, type ConvAlgorithm, type KernelSet, type NativeIsa, type Precision } from './native';
import { patchForThreads, wasmBinaryDir, writeWorkerScript, type ThreadPatch } from './wasm-threads';
import { formatAdapter, startWebgpu, type GpuAdapterReport } from './webgpu';

/** The backends initBackend can choose, fastest first. */
export type BackendName = 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface InitBackendOptions {
  /** Force one backend; initBackend throws if it is not installed or fails to start. */
  prefer?: BackendName;
  /** wasm threads (XNNPACK pool size, 1..8). Default: all logical cores, at most 8. */
  threads?: number;
  /** Milliseconds the threaded wasm start may take before falling back to one thread. Default 30 000. */
  threadInitTimeoutMs?: number;
  /** Directory for the pthread worker script. Default: a per-user folder in os.tmpdir(). */
  cacheDir?: string;
  /**
   * Kernels on the wasm backend: 'native' (the addon; throws if it is not built), 'wasm' (tfjs'
   * own), or 'auto' (native where it loads). Default: $MOCO_CXR_KERNELS, else 'auto'.
   */
  kernels?: KernelSet | 'auto';
  /** Instruction set of the native kernels. Default: $MOCO_CXR_NATIVE_ISA, else the best this CPU runs. */
  nativeIsa?: NativeIsa;
  /**
   * The matrix products (convolutions, their gradients, matmuls): 'fp32', or 'bf16' (inputs rounded
   * to bf16 as they are packed, sums in fp32; weights, activations and optimiser state stay fp32).
   * bf16 runs on the native avx512 kernels of a CPU with AVX512_BF16; elsewhere fp32 runs and
   * `notes` says why. Default: $MOCO_CXR_PRECISION, else 'fp32'.
   */
  precision?: Precision;
  /**
   * 3x3 stride-1 convolutions and both their gradients on the native fp32 kernels: 'auto' runs
   * Winograd F(2x2, 3x3) where it is faster (2.25x fewer products; sums differ from the direct
   * product's in the last bits), 'direct' always the direct product. Default:
   * $MOCO_CXR_CONV_ALGORITHM, else 'auto'.
   */
  convAlgorithm?: ConvAlgorithm;
  /** Called with each warning as it happens (also listed in `BackendInfo.warnings`); the package never prints. */
  onWarning?: (message: string) => void;
}

export interface BackendInfo {
  backend: BackendName;
  /** Threads the backend computes with (XNNPACK pool size on wasm; 1 on cpu; all cores for TensorFlow). */
  threads: number;
  /** Whether wasm runs its SIMD build (false for other backends). */
  simd: boolean;
  /** Why a faster choice was skipped (missing package, fallback after a hung threaded start). */
  notes: string[];
  /** What the user should be told: the backend runs slower than asked (threaded wasm fell back to one thread; the native kernels did not load under `auto`). */
  warnings: string[];
  /** Which kernels compute on wasm: 'native' (the addon) or 'wasm' (tfjs'); null on other backends. */
  kernels: KernelSet | null;
  /** The native kernels' instruction set ('avx512', 'avx2', 'generic'), or null when they are off. */
  nativeIsa: string | null;
  /** The products' precision in effect: 'bf16' only where it was asked for and runs. */
  precision: Precision;
  /** The native kernels' convolution algorithm ('auto' or 'direct', see the option); null when they are off. */
  convAlgorithm: ConvAlgorithm | null;
  /** On webgpu, the adapter it runs on (vendor, architecture, description; software or not); else null. */
  adapter: GpuAdapterReport | null;
}

// webgpu on a hardware adapter only: auto refuses software adapters (SwiftShader, llvmpipe).
const ORDER: BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];
const MAX_WASM_THREADS = 8; // tfjs pre-creates 8 pthread workers; its pool never exceeds that.

let current: BackendInfo | null = null;
/** Whether `current` came from the automatic order (no `prefer`). */
let currentAuto = false;
let pending: Promise<BackendInfo> | null = null;
let pendingKey = '';
let pthreadWorkers: ThreadPatch['workers'] = [];

/** What initBackend chose, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  if (!current) return null;
  const { backend, threads, simd, notes, warnings, kernels, nativeIsa, precision, convAlgorithm, adapter } = current;
  return { backend, threads, simd, notes: [...notes], warnings: [...warnings], kernels, nativeIsa, precision, convAlgorithm, adapter: adapter && { ...adapter } };
}

/**
 * Picks and starts the fastest backend present: tfjs-node-gpu, WebGPU on a hardware adapter, tfjs-node,
 * wasm (threaded SIMD, native kernels), cpu.
 * A call whose request the running backend already satisfies returns it untouched (so tensors made
 * since survive); any other request re-initialises. Call it before creating tensors.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const threads = options.threads ?? os.cpus().length;
  const key = JSON.stringify([options.prefer ?? 'auto', Number.isInteger(threads) ? Math.min(threads, MAX_WASM_THREADS) : threads]);
  if (pending && key === pendingKey) return pending;
  if (current && tf.getBackend() === engineName(current.backend) && satisfies(current, options)) {
    try {
      applyKernels(current, options);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(backendInfo() as BackendInfo);
  }
  pendingKey = key;
  pending = choose(options).then(
    (info) => {
      applyKernels(info, options);
      current = info;
      currentAuto = options.prefer === undefined;
      pending = null;
      return backendInfo() as BackendInfo;
    },
    (e: unknown) => {
      pending = null;
      pendingKey = '';
      throw e;
    },
  );
  return pending;
}

const KERNEL_SETS = ['auto', 'native', 'wasm'] as const;
const ISAS = ['avx512', 'avx2', 'generic'] as const;
/** The products' precisions initBackend takes (option precision, $MOCO_CXR_PRECISION). */
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];
/** The convolution algorithms initBackend takes (option convAlgorithm, $MOCO_CXR_CONV_ALGORITHM). */
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['auto', 'direct'];

/**
 * Switches the wasm kernels between the native set and tfjs' own, as the options (or
 * $MOCO_CXR_KERNELS / $MOCO_CXR_NATIVE_ISA) ask; notes say in one line why native is off.
 */
function applyKernels(info: BackendInfo, options: InitBackendOptions): void {
  const wanted = options.kernels ?? ((process.env.MOCO_CXR_KERNELS || undefined) as InitBackendOptions['kernels']) ?? 'auto';
  const isa = options.nativeIsa ?? ((process.env.MOCO_CXR_NATIVE_ISA || undefined) as NativeIsa | undefined);
  const precision = options.precision ?? ((process.env.MOCO_CXR_PRECISION || undefined) as Precision | undefined) ?? 'fp32';
  if (!KERNEL_SETS.includes(wanted)) {
    throw new Error(`initBackend: kernels must be one of ${KERNEL_SETS.join(', ')} (option kernels or MOCO_CXR_KERNELS); got ${JSON.stringify(wanted)}`);
  }
  if (isa !== undefined && !ISAS.includes(isa)) {
    throw new Error(`initBackend: nativeIsa must be one of ${ISAS.join(', ')} (option nativeIsa or MOCO_CXR_NATIVE_ISA); got ${JSON.stringify(isa)}`);
  }
  const convAlgorithm = options.convAlgorithm ?? ((process.env.MOCO_CXR_CONV_ALGORITHM || undefined) as ConvAlgorithm | undefined) ?? 'auto';
  if (!CONV_ALGORITHMS.includes(convAlgorithm)) {
    throw new Error(`initBackend: convAlgorithm must be one of ${CONV_ALGORITHMS.join(', ')} (option convAlgorithm or MOCO_CXR_CONV_ALGORITHM); got ${JSON.stringify(convAlgorithm)}`);
  }
  if (!PRECISIONS.includes(precision)) {
    throw new Error(`initBackend: precision must be one of ${PRECISIONS.join(', ')} (option precision or MOCO_CXR_PRECISION); got ${JSON.stringify(precision)}`);
  }
  info.notes = info.notes.filter((n) => !n.startsWith('native:') && !n.startsWith('precision:'));
  info.precision = 'fp32';
  info.convAlgorithm = null;
  // bf16 asked for but not run is said in one line, never silent.
  const fp32Instead = (why: string) => {
    if (precision === 'bf16') info.notes.push(`precision: bf16 was asked for; the products run in fp32 because ${why}`);
  };
  const hadNativeWarning = info.warnings.find((w) => w.startsWith('native:'));
  info.warnings = info.warnings.filter((w) => !w.startsWith('native:'));
  if (info.backend !== 'wasm') {
    configureNative(false, 1);
    setFusedKernels(false);
    info.kernels = null;
    info.nativeIsa = null;
    fp32Instead(`bf16 runs only on the native kernels, not the ${info.backend} backend`);
    return;
  }
  let active: string | null = null;
  if (wanted === 'wasm') {
    configureNative(false, info.threads);
  } else if (loadNative() === null) {
    if (wanted === 'native') throw new Error(`initBackend: native kernels were requested but ${nativeLoadError()}`);
    // Training still works, several times slower: a user must hear it, not find it in run.json.
    const warning = `native: ${nativeLoadError()}; training runs on the wasm kernels`;
    info.notes.push(warning);
    info.warnings.push(warning);
    if (warning !== hadNativeWarning) options.onWarning?.(warning);
    configureNative(false, info.threads);
  } else {
    const available = loadNative()?.isas() ?? [];
    if (isa !== undefined && !available.includes(isa)) {
      throw new Error(`initBackend: native instruction set '${isa}' was requested but this CPU runs only ${available.join(', ')}`);
    }
    active = configureNative(true, info.threads, isa);
  }
  setFusedKernels(active !== null);
  info.kernels = active ? 'native' : 'wasm';
  info.nativeIsa = active;
  if (active) info.convAlgorithm = setNativeConvAlgorithm(convAlgorithm);
  if (!active) {
    fp32Instead("bf16 runs only on the native kernels, and tfjs' wasm kernels compute");
  } else if (precision === 'bf16') {
    const why = setNativePrecision('bf16');
    if (why) fp32Instead(why);
    else info.precision = 'bf16';
  }
}

/** Whether the running choice already answers this request. */
function satisfies(info: BackendInfo, options: InitBackendOptions): boolean {
  if (options.prefer === undefined ? !currentAuto : options.prefer !== info.backend) return false;
  if (info.backend !== 'wasm') return true;
  const wanted = Math.min(options.threads ?? os.cpus().length, MAX_WASM_THREADS);
  // A fallback to one thread is an answer too: retrying would hit the same failure.
  return wanted === info.threads || info.notes.some((n) => n.startsWith('wasm: threaded wasm start failed'));
}

function engineName(b: BackendName): string {
  return b === 'tensorflow-gpu' ? 'tensorflow' : b;
}

async function choose(options: InitBackendOptions): Promise<BackendInfo> {
  if (options.prefer !== undefined && !ORDER.includes(options.prefer)) {
    throw new Error(`initBackend: prefer must be one of ${ORDER.join(', ')}; got ${JSON.stringify(options.prefer)}`);
  }
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
    throw new Error(`initBackend: threads must be a positive integer; got ${options.threads}`);
  }
  const notes: string[] = [];
  const candidates = options.prefer ? [options.prefer] : ORDER;
  for (const name of candidates) {
    try {
      const info = await start(name, options, notes);
      if (info) return info;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (options.prefer) throw new Error(`initBackend: backend '${name}' was requested but could not start: ${msg}`);
      notes.push(`${name}: ${msg}`);
    }
  }
  throw new Error(`initBackend: no backend could start (${notes.join('; ')})`);
}

async function start(name: BackendName, options: InitBackendOptions, notes: string[]): Promise<BackendInfo | null> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    try {
      await import(/* @vite-ignore */ pkg);
    } catch (e) {
      throw new Error(`${pkg} is not installed or failed to load (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); install it with npm install ${pkg}@4.22.0`);
    }
    await setBackendOrThrow('tensorflow');
    return { backend: name, threads: os.cpus().length, simd: false, notes, warnings: [], kernels: null, nativeIsa: null, precision: 'fp32', convAlgorithm: null, adapter: null };
  }
  if (name === 'webgpu') {
    const adapter = await startWebgpu({ auto: options.prefer === undefined }, notes);
    const warnings: string[] = [];
    if (adapter.software) {
      const w = `webgpu: running on a software adapter (${formatAdapter(adapter)}): correct but far slower than the CPU backends`;
      warnings.push(w);
      options.onWarning?.(w);
    }
    return { backend: 'webgpu', threads: 1, simd: false, notes, warnings, kernels: null, nativeIsa: null, precision: 'fp32', convAlgorithm: null, adapter };
  }
  if (name === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    await setBackendOrThrow('cpu');
    return { backend: 'cpu', threads: 1, simd: false, notes, warnings: [], kernels: null, nativeIsa: null, precision: 'fp32', convAlgorithm: null, adapter: null };
  }
  return startWasm(options, notes);
}

async function setBackendOrThrow(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

let wasmPathsSet = false;

async function startWasm(options: InitBackendOptions, notes: string[]): Promise<BackendInfo> {
  const wasm: WasmModule = await import('@tensorflow/tfjs-backend-wasm');
  const requested = Math.min(options.threads ?? os.cpus().length, MAX_WASM_THREADS);
  const warnings: string[] = [];
  if (options.threads !== undefined && options.threads > MAX_WASM_THREADS) {
    notes.push(`wasm: threads capped at ${MAX_WASM_THREADS} (tfjs pre-creates 8 pthread workers)`);
  }
  if (!wasmPathsSet) {
    // Absolute file paths: the wasm files are found from dist (ESM or CJS) and from src alike.
    wasm.setWasmPaths(wasmBinaryDir());
    wasmPathsSet = true;
  }
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const factory = tf.findBackendFactory('wasm');
  if (!factory) throw new Error("tfjs-backend-wasm did not register the 'wasm' backend");
  const threadsAvailable = simd && typeof SharedArrayBuffer === 'function';
  if (requested > 1 && threadsAvailable) {
    try {
      const threads = await startWasmThreaded(wasm, factory, requested, options);
      return { backend: 'wasm', threads, simd: true, notes, warnings: [], kernels: null, nativeIsa: null, precision: 'fp32', convAlgorithm: null, adapter: null };
    } catch (e) {
      const msg = `threaded wasm start failed, using one thread: ${e instanceof Error ? e.message : String(e)}`;
      warnings.push(`wasm: ${msg}`);
      options.onWarning?.(`wasm: ${msg}`);
      notes.push(`wasm: ${msg}`);
    }
  } else if (requested > 1) {
    notes.push('wasm: this runtime lacks SIMD or SharedArrayBuffer, so the threaded build cannot run; using one thread');
  }
  await resetWasm(factory);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
  await setBackendOrThrow('wasm');
  return { backend: 'wasm', threads: wasm.getThreadsCount(), simd, notes, warnings, kernels: null, nativeIsa: null, precision: 'fp32', convAlgorithm: null, adapter: null };
}

/** Removes a started (or hung) wasm backend and registers its factory again, so it can restart. */
async function resetWasm(factory: () => tf.KernelBackend | Promise<tf.KernelBackend>): Promise<void> {
  // Never terminate pthread workers here: a threaded start still running in the background would
  // then block forever in pthreadpool_create. Disposing the backend stops its own threads.
  pthreadWorkers = [];
  if (tf.engine().registryFactory.wasm !== undefined && (tf.engine().registry.wasm !== undefined || tf.getBackend() === 'wasm' || tf.engine().backendName === 'wasm')) {
    tf.removeBackend('wasm');
  }
  reRegisterWasm(factory);
}

async function startWasmThreaded(
  wasm: WasmModule,
  factory: () => tf.KernelBackend | Promise<tf.KernelBackend>,
  threads: number,
  options: InitBackendOptions,
): Promise<number> {
  await resetWasm(factory);
  const workerFile = writeWorkerScript(options.cacheDir);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const patch = patchForThreads(workerFile, threads);
  const timeoutMs = options.threadInitTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the threaded wasm backend did not start within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([setBackendOrThrow('wasm'), timeout, patch.failure]);
  } catch (e) {
    // Whatever the abandoned start left running must not keep the process alive.
    for (const w of patch.workers) w.unref();
    throw e;
  } finally {
    clearTimeout(timer);
    patch.restore();
  }
  pthreadWorkers = patch.workers;
  // Pool threads are ref'd while they run; they must not keep a finished Node process alive.
  for (const w of pthreadWorkers) w.unref();
  const actual = wasm.getThreadsCount();
  if (actual < threads) throw new Error(`asked XNNPACK for ${threads} threads, got ${actual}`);
  return actual;
}
