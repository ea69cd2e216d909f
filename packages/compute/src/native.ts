/**
 * The native CPU kernels (packages/compute/native, built by `npm ci` through node-gyp): Conv2D, its
 * input and filter gradients and BatchMatMul, run in place on the wasm heap with instruction sets
 * chosen at run time. When the addon is missing or fails to load, the wasm kernels stay in charge.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { backend_util, getBackend, util, type KernelBackend, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { HeapBackend } from './heap';
import { OPTIMIZER_STEP_IN_PLACE } from './in-place';
import { RELU_GRAD_KERNEL } from './gradients';
import type { ConvAlgorithm, KernelSet, KernelsInUse, Precision } from './kernels-info';

export { describeKernels } from './kernels-info';
export type { ConvAlgorithm, KernelSet, KernelsInUse, Precision } from './kernels-info';

/** The addon's surface (native/addon.cc). Views must be Float32Arrays of exactly the shapes' sizes. */
export interface NativeAddon {
  isas(): string[];
  isa(): string;
  /** Selects a set; the products return to fp32 (setPrecision asks again for bf16). */
  setIsa(name: string): string;
  /** The products' precision: 'bf16' rounds their inputs to bf16 and sums in fp32. */
  precision(): Precision;
  /** Throws, saying why, where bf16 cannot run (bf16Unavailable()). */
  setPrecision(name: Precision): Precision;
  /** 3x3 stride-1 convolutions and both their gradients: Winograd F(2x2, 3x3) on fp32 products ('auto') or the direct GEMM. */
  convAlgorithm(): ConvAlgorithm;
  setConvAlgorithm(name: ConvAlgorithm): ConvAlgorithm;
  /** Why bf16 products cannot run with the active set on this CPU ('' when they can). */
  bf16Unavailable(): string;
  conv2d(x: Float32Array, w: Float32Array, y: Float32Array, shape: Int32Array, threads: number): void;
  conv2dGradInput(dy: Float32Array, w: Float32Array, dx: Float32Array, shape: Int32Array, threads: number): void;
  conv2dGradFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, shape: Int32Array, threads: number): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, params: Float64Array, threads: number): void;
  batchNormTrain(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, rstd: Float32Array, rows: number, channels: number, eps: number, relu: boolean, threads: number): void;
  batchNormTrainGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, gamma: Float32Array, y: Float32Array | null, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, channels: number, threads: number): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, shape: Int32Array, threads: number): void;
  optimizerStep(kind: number, p: Float32Array, s: Float32Array | null, t: Float32Array | null, g: Float32Array, p2: Float32Array, s2: Float32Array | null, t2: Float32Array | null, hyper: Float64Array, threads: number): void;
  /** y = relu(x) with tfjs' bits (NaN kept, -0 to +0). */
  relu(x: Float32Array, y: Float32Array, threads: number): void;
  /** dx = dy * step(x) with tfjs' bits. */
  reluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, threads: number): void;
  /** One update of every variable (kinds 0, 1, 3), params and slots overwritten; slots null for the EMA. */
  optimizerStepInPlace(kind: number, params: Float32Array[], slot1: Float32Array[] | null, slot2: Float32Array[] | null, grads: Float32Array[], hyper: Float64Array, threads: number): void;
  /** The CPU features dispatch requires for each instruction set (what its build targets). */
  isaFeatures(): Record<string, string[]>;
  /** Test hooks (native/addon.cc): the pool's and the scratch buffer's failure paths. */
  testPool(mode: 'worker' | 'caller'): { threw: string; workerFinished: boolean };
  testInjectFault(): void;
  testScratchAfterFailure(): boolean;
}

export type NativeIsa = 'avx512' | 'avx2' | 'generic';

let addon: NativeAddon | null | undefined;
let loadError = '';
const state = { enabled: false, threads: 1 };

/** Where this module sits, in both the ESM and the CJS build (and under vitest). */
function moduleBase(): string {
  // CJS defines __filename; ESM has import.meta.url (esbuild empties import.meta in the CJS build).
  if (typeof __filename === 'string' && __filename.length > 0) return __filename;
  return import.meta.url;
}

/** The package root: src/ and dist/ both sit one level below it. */
function packageRoot(): string {
  const base = moduleBase();
  const file = base.startsWith('file:') ? new URL(base).pathname : base;
  return path.resolve(path.dirname(file), '..');
}

/** The addon's file: $MOCO_CXR_NATIVE_ADDON, else the package's build/Release. */
export function nativeAddonPath(): string {
  return process.env.MOCO_CXR_NATIVE_ADDON ?? path.join(packageRoot(), 'build', 'Release', 'moco_cxr_native.node');
}

/** The addon, loaded once; null (with `nativeLoadError()` saying why) when it cannot load. */
export function loadNative(): NativeAddon | null {
  if (addon !== undefined) return addon;
  const file = nativeAddonPath();
  if (!existsSync(file)) {
    loadError = `the addon was not built (${file} is missing${installOutcome(file)}; \`npm rebuild @moco-cxr/compute\` builds it, and needs g++, make and python3)`;
    addon = null;
    return addon;
  }
  try {
    addon = createRequire(moduleBase())(file) as NativeAddon;
  } catch (e) {
    loadError = `the addon failed to load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
    addon = null;
  }
  return addon;
}

/** What scripts/build-native.mjs recorded at install next to `build/Release/<addon>` ('' when nothing). */
function installOutcome(file: string): string {
  const status = path.join(path.dirname(path.dirname(file)), 'native-build.json');
  try {
    const s = JSON.parse(readFileSync(status, 'utf8')) as { ok?: boolean; reason?: string; log?: string };
    if (s.ok || !s.reason) return '';
    return `; ${s.reason}${s.log ? `; log: ${s.log}` : ''}`;
  } catch {
    return '';
  }
}

/** Why the addon is not available ('' when it is). */
export function nativeLoadError(): string {
  loadNative();
  return loadError;
}

/** Turns the native kernels on (with `threads` and an instruction set, fp32 products) or off; returns the active ISA. */
export function configureNative(enabled: boolean, threads: number, isa?: NativeIsa): string | null {
  const a = enabled ? loadNative() : null;
  state.enabled = a !== null;
  state.threads = Math.max(1, threads);
  if (!a) return null;
  if (isa) a.setIsa(isa);
  else a.setIsa(a.isas()[0]);
  return a.isa();
}

/**
 * Asks the running native kernels for bf16 or fp32 products; returns why bf16 cannot run ('' when
 * the precision asked for is in effect). Only while the native kernels are on.
 */
export function setNativePrecision(precision: Precision): string {
  const a = state.enabled ? addon : null;
  if (!a) return 'the native kernels are off';
  const why = precision === 'bf16' ? a.bf16Unavailable() : '';
  a.setPrecision(why ? 'fp32' : precision);
  return why;
}

/** Sets the running native kernels' convolution algorithm; returns it (null while they are off). */
export function setNativeConvAlgorithm(algorithm: ConvAlgorithm): ConvAlgorithm | null {
  const a = state.enabled ? addon : null;
  return a ? a.setConvAlgorithm(algorithm) : null;
}

/** The native kernels' product precision while they run, else null. */
export function activeNativePrecision(): Precision | null {
  return state.enabled && addon ? addon.precision() : null;
}

/** The active native instruction set, or null while the wasm kernels run. */
export function activeNativeIsa(): string | null {
  return state.enabled && addon ? addon.isa() : null;
}

/** The kernels computing now (read from the running backend, whoever started it). */
export function kernelsInUse(): KernelsInUse {
  const backend = getBackend();
  if (backend !== 'wasm') return { backend, kernels: null, nativeIsa: null, precision: 'fp32' };
  const isa = activeNativeIsa();
  return { backend, kernels: isa ? 'native' : 'wasm', nativeIsa: isa, precision: activeNativePrecision() ?? 'fp32' };
}

function f32(backend: KernelBackend, t: TensorInfo): Float32Array {
  return (backend as unknown as HeapBackend).typedArrayFromHeap(t) as Float32Array;
}

function isNhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

function dilated(d: unknown): boolean {
  return !(d === undefined || d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1));
}

function convShape(info: backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth, info.outChannels, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  ]);
}

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

/**
 * A wasm kernel that runs natively while the native set is active and the call is one it
 * handles (float32, NHWC, no dilation); anything else goes to `fallback`.
 */
type Args = { inputs: Record<string, TensorInfo>; attrs: Record<string, unknown>; backend: KernelBackend };

function nativeOr(fallback: KernelFunc, run: (args: Args, a: NativeAddon) => TensorInfo | null): KernelFunc {
  return (args) => {
    if (!state.enabled || !addon) return fallback(args);
    return run(args as unknown as Args, addon) ?? fallback(args);
  };
}

/** Output tensor first, heap views after: allocating may grow (and so detach) the heap. */
function output(backend: KernelBackend, shape: number[]): TensorInfo {
  return (backend as unknown as HeapBackend).makeOutput(shape, 'float32');
}

type ConvKind = 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter';

/**
 * One of the three convolution kernels: `a` and `b` name its two inputs, `geometry` gives the
 * input shape, filter shape and output shape from them and the attributes.
 */
function nativeConv(
  fallback: KernelFunc,
  kind: ConvKind,
  [a, b]: [string, string],
  geometry: (ta: TensorInfo, tb: TensorInfo, at: Record<string, unknown>) => { inShape: number[]; filterShape: number[]; outShape: (info: backend_util.Conv2DInfo) => number[] },
): KernelFunc {
  return nativeOr(fallback, ({ inputs, attrs, backend }, addon) => {
    const ta = inputs[a];
    const tb = inputs[b];
    const at = attrs as unknown as ConvAttrs;
    if (!ta || !tb || ta.dtype !== 'float32' || tb.dtype !== 'float32' || !isNhwc(at.dataFormat) || dilated(at.dilations)) return null;
    const g = geometry(ta, tb, attrs);
    const info = backend_util.computeConv2DInfo(g.inShape as never, g.filterShape as never, at.strides, 1, at.pad, at.dimRoundingMode, false, 'channelsLast');
    const shape = g.outShape(info);
    const out = output(backend, shape);
    if (util.sizeFromShape(shape) > 0) addon[kind](f32(backend, ta), f32(backend, tb), f32(backend, out), convShape(info), state.threads);
    return out;
  });
}

export const nativeConv2D = (fallback: KernelFunc): KernelFunc =>
  nativeConv(fallback, 'conv2d', ['x', 'filter'], (x, w) => ({ inShape: x.shape, filterShape: w.shape, outShape: (i) => i.outShape }));

export const nativeConv2DBackpropInput = (fallback: KernelFunc): KernelFunc =>
  nativeConv(fallback, 'conv2dGradInput', ['dy', 'filter'], (_dy, w, at) => ({ inShape: at.inputShape as number[], filterShape: w.shape, outShape: (i) => i.inShape }));

export const nativeConv2DBackpropFilter = (fallback: KernelFunc): KernelFunc =>
  nativeConv(fallback, 'conv2dGradFilter', ['x', 'dy'], (x, _dy, at) => ({ inShape: x.shape, filterShape: at.filterShape as number[], outShape: () => at.filterShape as number[] }));

/** MaxPoolGrad (first maximum of each window takes its gradient, as on cpu), one image per thread item. */
export function nativeMaxPoolGrad(fallback: KernelFunc): KernelFunc {
  return nativeOr(fallback, ({ inputs, attrs, backend }, a) => {
    const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
    const at = attrs as unknown as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    if (dy.dtype !== 'float32' || input.dtype !== 'float32' || input.shape.length !== 4) return null;
    const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], at.filterSize, at.strides, 1, at.pad, at.dimRoundingMode);
    if (dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth || dy.shape[3] !== info.inChannels) return null; // the fallback names the mismatch
    const out = output(backend, input.shape);
    if (util.sizeFromShape(input.shape) === 0) return out;
    const shape = Int32Array.from([
      info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth, info.inChannels,
      info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
    ]);
    a.maxPoolGrad(f32(backend, input), f32(backend, dy), f32(backend, out), shape, state.threads);
    return out;
  });
}

/** Relu in one native pass over the threads, the same bits as tfjs' kernel. */
export function nativeRelu(fallback: KernelFunc): KernelFunc {
  return nativeOr(fallback, ({ inputs, backend }, a) => {
    const { x } = inputs as { x: TensorInfo };
    if (x.dtype !== 'float32') return null;
    const out = output(backend, x.shape);
    if (util.sizeFromShape(x.shape) > 0) a.relu(f32(backend, x), f32(backend, out), state.threads);
    return out;
  });
}

/** BatchMatMul with either operand transposed and a batch of 1 broadcast against the other's. */
export function nativeBatchMatMul(fallback: KernelFunc): KernelFunc {
  return nativeOr(fallback, ({ inputs, attrs, backend }, na) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const k2 = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (k !== k2) return null; // the stock kernel reports the mismatch
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
    const outBatch = (batchA >= batchB ? a : b).shape.slice(0, -2);
    if (batchA === batchB && ra !== rb) return null;
    const batch = Math.max(batchA, batchB);
    const out = output(backend, [...outBatch, m, n]);
    if (batch * m * n > 0) {
      const params = Float64Array.from([batch, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n]);
      na.matmul(f32(backend, a), f32(backend, b), f32(backend, out), params, state.threads);
    }
    return out;
  });
}

/**
 * Fused kernels with no tfjs counterpart, registered on wasm only while the native set is active,
 * so a caller asks `getKernel(name, getBackend())` and composes tf ops when it is absent.
 */
export const FUSED = {
  /**
   * inputs {x [rows, c], gamma [c], beta [c], runningMean? [c], runningVar? [c], numBatchesTracked? int32 []},
   * attrs {varianceEpsilon, relu, runningKeep?, runningMomentum?, runningVarianceFactor?} -> [y, mean, variance, rstd]
   * ([1, c] each). With the running inputs (each the only tensor on its buffer), they are updated in place as
   * torch's BatchNorm does, with the bits of the tf ops runningMean * keep + mean * momentum,
   * runningVar * keep + variance * factor and numBatchesTracked + 1: no dispatch of their own.
   */
  batchNormTrain: 'MocoCxrBatchNormTrain',
  /** inputs {dy, x, mean, rstd, gamma, y?}, attrs {} -> [dx, dgamma [c], dbeta [c]]; y gates a fused ReLU. */
  batchNormTrainGrad: 'MocoCxrBatchNormTrainGrad',
  /** inputs {param, grad, slot1?, slot2?}, attrs {kind, hyper} -> [param, slot1?, slot2?] (see native/elementwise.cc). */
  optimizerStep: 'MocoCxrOptimizerStep',
  /**
   * inputs {param<i>, grad<i>, slot1_<i>?, slot2_<i>?} for i < count, attrs {kind (0, 1, 3), hyper, count} -> []:
   * every variable's update in one call, params and slots overwritten (optimizerStepInPlace() in in-place.ts).
   */
  optimizerStepInPlace: OPTIMIZER_STEP_IN_PLACE,
  /** inputs {dy, x} -> dx = dy * step(x): Relu's gradient (gradients.ts reluGradConfig). */
  reluGrad: RELU_GRAD_KERNEL,
} as const;

/** Optimiser kinds of the optimizerStep kernel (hyperparameter layouts in native/elementwise.cc). */
export const OPTIMIZER_KIND = { tfAdam: 0, torchAdam: 1, sgd: 2, ema: 3 } as const;

function requireInput(inputs: Record<string, TensorInfo>, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`@moco-cxr/compute ${kernel}: input '${name}' is missing`);
  if (t.dtype !== 'float32') throw new Error(`@moco-cxr/compute ${kernel}: input '${name}' must be float32, got ${t.dtype}`);
  return t;
}

/**
 * MocoCxrBatchNormTrain's running statistics, in place: float32 products and sums (each rounded
 * once, as the Multiply and Add kernels round them; a float op in double rounded to float is exact).
 */
type RunningStats = { rm: TensorInfo; rv: TensorInfo; nb: TensorInfo; keep: number; momentum: number; factor: number };

/** The running-statistics inputs and attrs, checked before anything is allocated or written. */
function runningStatsArgs(inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>, backend: KernelBackend, c: number): RunningStats {
  const k = FUSED.batchNormTrain;
  const refs = backend as unknown as { refCount(dataId: object): number };
  const owned = (name: string, dtype: string, size: number): TensorInfo => {
    const t = inputs[name];
    if (!t) throw new Error(`@moco-cxr/compute ${k}: input '${name}' is missing (the running statistics come as runningMean, runningVar and numBatchesTracked together)`);
    if (t.dtype !== dtype || util.sizeFromShape(t.shape) !== size) throw new Error(`@moco-cxr/compute ${k}: input '${name}' must be ${dtype} with ${size} element(s), got ${t.dtype} [${t.shape}]`);
    if (refs.refCount(t.dataId) !== 1) throw new Error(`@moco-cxr/compute ${k}: input '${name}' shares its buffer with another tensor; it cannot be updated in place`);
    return t;
  };
  const rm = owned('runningMean', 'float32', c);
  const rv = owned('runningVar', 'float32', c);
  const nb = owned('numBatchesTracked', 'int32', 1);
  const [keep, momentum, factor] = ['runningKeep', 'runningMomentum', 'runningVarianceFactor'].map((a) => {
    const value = attrs[a];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`@moco-cxr/compute ${k}: attr '${a}' must be a finite number with the running statistics, got ${String(value)}`);
    return Math.fround(value);
  });
  if (rm.dataId === rv.dataId) throw new Error(`@moco-cxr/compute ${k}: runningMean and runningVar are one buffer`);
  return { rm, rv, nb, keep, momentum, factor };
}

function updateRunningStats({ rm, rv, nb, keep, momentum, factor }: RunningStats, backend: KernelBackend, c: number, mean: Float32Array, variance: Float32Array): void {
  const f = Math.fround;
  const m = f32(backend, rm);
  const s = f32(backend, rv);
  for (let j = 0; j < c; j++) {
    m[j] = f(f(m[j] * keep) + f(mean[j] * momentum));
    s[j] = f(f(s[j] * keep) + f(variance[j] * factor));
  }
  const n = (backend as unknown as HeapBackend).typedArrayFromHeap(nb) as Int32Array;
  n[0] = (n[0] + 1) | 0;
}

export const fusedKernels: Array<{ kernelName: string; kernelFunc: KernelFunc }> = [
  {
    kernelName: FUSED.batchNormTrain,
    kernelFunc: (args) => {
      const { inputs, attrs, backend } = args as unknown as Args;
      const x = requireInput(inputs, 'x', FUSED.batchNormTrain);
      const [rows, c] = x.shape;
      if (x.shape.length !== 2 || rows < 1) throw new Error(`${FUSED.batchNormTrain}: x must be [rows, channels], got [${x.shape}]`);
      const gamma = requireInput(inputs, 'gamma', FUSED.batchNormTrain);
      const beta = requireInput(inputs, 'beta', FUSED.batchNormTrain);
      const running = inputs.runningMean || inputs.runningVar || inputs.numBatchesTracked ? runningStatsArgs(inputs, attrs, backend, c) : null;
      const outs = [output(backend, [rows, c]), output(backend, [1, c]), output(backend, [1, c]), output(backend, [1, c])];
      const v = (t: TensorInfo) => f32(backend, t);
      addon!.batchNormTrain(v(x), v(gamma), v(beta), v(outs[0]), v(outs[1]), v(outs[2]), v(outs[3]), rows, c, Number(attrs.varianceEpsilon), Boolean(attrs.relu), state.threads);
      if (running) updateRunningStats(running, backend, c, v(outs[1]), v(outs[2]));
      return outs;
    },
  },
  {
    kernelName: FUSED.batchNormTrainGrad,
    kernelFunc: (args) => {
      const { inputs, backend } = args as unknown as Args;
      const k = FUSED.batchNormTrainGrad;
      const x = requireInput(inputs, 'x', k);
      const [rows, c] = x.shape;
      const outs = [output(backend, [rows, c]), output(backend, [c]), output(backend, [c])];
      const v = (t: TensorInfo) => f32(backend, t);
      const y = inputs.y ? v(requireInput(inputs, 'y', k)) : null;
      addon!.batchNormTrainGrad(v(requireInput(inputs, 'dy', k)), v(x), v(requireInput(inputs, 'mean', k)), v(requireInput(inputs, 'rstd', k)), v(requireInput(inputs, 'gamma', k)), y, v(outs[0]), v(outs[1]), v(outs[2]), rows, c, state.threads);
      return outs;
    },
  },
  {
    kernelName: FUSED.optimizerStep,
    kernelFunc: (args) => {
      const { inputs, attrs, backend } = args as unknown as Args;
      const k = FUSED.optimizerStep;
      const param = requireInput(inputs, 'param', k);
      const grad = requireInput(inputs, 'grad', k);
      const kind = Number(attrs.kind);
      const hyper = Float64Array.from(attrs.hyper as number[]);
      const slots = kind === OPTIMIZER_KIND.ema ? 0 : kind === OPTIMIZER_KIND.sgd ? (hyper[0] !== 0 ? 1 : 0) : 2;
      const outs = Array.from({ length: 1 + slots }, () => output(backend, param.shape));
      const v = (t: TensorInfo | undefined) => (t ? f32(backend, t) : null);
      addon!.optimizerStep(kind, v(param)!, v(inputs.slot1), v(inputs.slot2), v(grad)!, v(outs[0])!, v(outs[1]), v(outs[2]), hyper, state.threads);
      return outs;
    },
  },
  {
    kernelName: FUSED.reluGrad,
    kernelFunc: (args) => {
      const { inputs, backend } = args as unknown as Args;
      const k = FUSED.reluGrad;
      const dy = requireInput(inputs, 'dy', k);
      const x = requireInput(inputs, 'x', k);
      if (!util.arraysEqual(dy.shape, x.shape)) throw new Error(`@moco-cxr/compute ${k}: dy [${dy.shape}] and x [${x.shape}] differ in shape`);
      const out = output(backend, x.shape);
      if (util.sizeFromShape(x.shape) > 0) addon!.reluGrad(f32(backend, dy), f32(backend, x), f32(backend, out), state.threads);
      return out;
    },
  },
  {
    kernelName: FUSED.optimizerStepInPlace,
    kernelFunc: (args) => {
      const { inputs, attrs, backend } = args as unknown as Args;
      const k = FUSED.optimizerStepInPlace;
      const kind = Number(attrs.kind);
      const count = Number(attrs.count);
      const slots = kind === OPTIMIZER_KIND.ema ? 0 : 2;
      const refs = backend as unknown as { refCount(dataId: object): number };
      const written = new Set<object>();
      // Written in place: each buffer must be seen by its one tensor only, and listed once.
      const owned = (name: string): TensorInfo => {
        const t = requireInput(inputs, name, k);
        if (refs.refCount(t.dataId) !== 1 || written.has(t.dataId)) throw new Error(`@moco-cxr/compute ${k}: input '${name}' shares its buffer with another tensor; it cannot be updated in place`);
        written.add(t.dataId);
        return t;
      };
      const lists: TensorInfo[][] = [[], [], [], []];
      for (let i = 0; i < count; i++) {
        lists[0].push(owned(`param${i}`));
        lists[3].push(requireInput(inputs, `grad${i}`, k));
        if (slots) lists[1].push(owned(`slot1_${i}`)), lists[2].push(owned(`slot2_${i}`));
      }
      if (lists[3].some((g) => written.has(g.dataId))) throw new Error(`@moco-cxr/compute ${k}: a grad shares its buffer with a tensor it updates`);
      const [p, s1, s2, g] = lists.map((l) => l.map((t) => f32(backend, t)));
      addon!.optimizerStepInPlace(kind, p, slots ? s1 : null, slots ? s2 : null, g, Float64Array.from(attrs.hyper as number[]), state.threads);
      return [];
    },
  },
];
