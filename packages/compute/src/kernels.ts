import {
  backend_util,
  getKernel,
  type KernelBackend,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/**
 * Runs stock wasm kernels on raw TensorInfos inside one of our kernels and frees every
 * intermediate, so a composite kernel costs exactly its parts and leaks nothing.
 */
export class KernelScope {
  private readonly temps: TensorInfo[] = [];

  constructor(
    private readonly backend: KernelBackend,
    private readonly backendName: string,
  ) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(kernelName, this.backendName);
    if (!kernel) throw new Error(`@moco-cxr/compute: kernel '${kernelName}' is not registered for backend '${this.backendName}'`);
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo | TensorInfo[];
    const one = Array.isArray(out) ? out[0] : out;
    this.temps.push(one);
    return one;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  /** Frees every intermediate except `result`, which the caller returns to the engine. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.temps) {
      if (t !== result) this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
    return result;
  }

  /** Frees everything (used when a kernel throws halfway). */
  abort(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

function withScope(backend: KernelBackend, backendName: string, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const s = new KernelScope(backend, backendName);
  try {
    return s.finish(body(s));
  } catch (e) {
    s.abort();
    throw e;
  }
}

function conv(s: KernelScope, x: TensorInfo, filter: TensorInfo, strides: [number, number], pad: Pad, dilations: [number, number]): TensorInfo {
  return s.run('Conv2D', { x, filter }, { strides, pad, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined } as unknown as NamedAttrMap);
}

function checkNhwc(dataFormat: unknown, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`@moco-cxr/compute ${kernel}: only NHWC is supported on wasm; got dataFormat ${String(dataFormat)}`);
  }
}

/**
 * dW as a FORWARD convolution (XNNPACK's fast path): with x padded as in the forward pass,
 * dW[a,b,i,o] = sum_{n,p,q} x[n, a + s p, b + s q, i] dy[n,p,q,o], i.e. conv2d of x as [Ci, H, W, N]
 * with dy as the kernel [OH, OW, N, Co], dilation = stride, then back to [KH, KW, Ci, Co].
 */
export function conv2dBackpropFilterImpl(
  s: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode: Rounding,
): TensorInfo {
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== co) {
    throw new Error(`Conv2DBackpropFilter: dy has shape [${dy.shape}], expected [${n},${oh},${ow},${co}] for x [${x.shape}] and filter [${filterShape}]`);
  }
  if (kh === 1 && kw === 1 && top === 0 && left === 0) {
    // 1x1: a plain matrix product; stride picks every s-th pixel first.
    const xs = subsample(s, x, sh, sw, oh, ow);
    const x2 = s.reshape(xs, [n * oh * ow, ci]);
    const xt = s.reshape(s.transpose(x2, [1, 0]), [1, ci, n * oh * ow]);
    const dy3 = s.reshape(dy, [1, n * oh * ow, co]);
    const dw = s.run('BatchMatMul', { a: xt, b: dy3 }, { transposeA: false, transposeB: false });
    return s.reshape(dw, [1, 1, ci, co]);
  }
  // Rows/cols the forward pass never reached (stride leftovers) are cropped; the rest is padding.
  let bottom = kh + sh * (oh - 1) - h - top;
  let right = kw + sw * (ow - 1) - w - left;
  let xs = x;
  if (bottom < 0 || right < 0) {
    xs = s.slice(x, [0, 0, 0, 0], [n, h + Math.min(bottom, 0), w + Math.min(right, 0), ci]);
    bottom = Math.max(bottom, 0);
    right = Math.max(right, 0);
  }
  // As rank-3 transposes (the wasm kernel's 3-D path is faster than its 4-D one for these).
  const [, xh, xw] = xs.shape;
  const xt = s.reshape(s.transpose(s.reshape(xs, [n, xh * xw, ci]), [2, 1, 0]), [ci, xh, xw, n]);
  const dyt = s.reshape(s.transpose(s.reshape(dy, [n, oh * ow, co]), [1, 0, 2]), [oh, ow, n, co]);
  const explicit: backend_util.ExplicitPadding = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  const out = conv(s, xt, dyt, [1, 1], explicit, [sh, sw]);
  return s.transpose(out, [1, 2, 0, 3]);
}

/** The kernel with in/out swapped, as [KH*KW, Co, Ci] (one contiguous block per tap). */
function swapTaps(s: KernelScope, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  return s.transpose(s.reshape(filter, [kh * kw, ci, co]), [0, 2, 1]);
}

/** Stacks the chosen taps of a [T, ...] tensor along axis 0 (contiguous copies; wasm's GatherV2 took 70 ms for 1.6M values). */
function pickTaps(s: KernelScope, taps: TensorInfo, order: number[]): TensorInfo {
  const [t, ...rest] = taps.shape;
  if (order.length === t && order.every((v, i) => v === i)) return taps;
  const parts = order.map((i) => s.slice(taps, [i, ...rest.map(() => 0)], [1, ...rest]));
  return parts.length === 1 ? parts[0] : s.run('Concat', parts as unknown as NamedTensorInfoMap, { axis: 0 });
}

/**
 * Every s-th row and column of x from the first, [n, oh, ow, c], with contiguous 2-D slices
 * (wasm's StridedSlice took 131 ms to subsample 16x56x56x64, about 30x a slice).
 */
function subsample(s: KernelScope, x: TensorInfo, sh: number, sw: number, oh: number, ow: number): TensorInfo {
  if (sh === 1 && sw === 1) return x;
  const [n, , , c] = x.shape;
  let t = fitSpatial(s, x, sh * oh, sw * ow);
  if (sh > 1) t = s.slice(s.reshape(t, [n * oh, sh * sw * ow * c]), [0, 0], [n * oh, sw * ow * c]);
  if (sw > 1) t = s.slice(s.reshape(t, [n * oh * ow, sw * c]), [0, 0], [n * oh * ow, c]);
  return s.reshape(t, [n, oh, ow, c]);
}

/**
 * Inserts s-1 zeros between the rows and columns of dy (the stride's holes) with two low-rank pads
 * (wasm's rank-5 PadV2 and Concat + DepthToSpace were 4-5x slower). The result has oh*s rows;
 * the last s-1 are zeros.
 */
function zeroDilate(s: KernelScope, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  let t = dy;
  if (sw > 1) {
    const cols = s.reshape(dy, [n * oh, ow, 1, c]);
    t = s.run('PadV2', { x: cols }, { paddings: [[0, 0], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
  }
  if (sh > 1) {
    const rows = s.reshape(t, [n * oh, 1, ow * sw * c]);
    t = s.run('PadV2', { x: rows }, { paddings: [[0, 0], [0, sh - 1], [0, 0]], constantValue: 0 });
  }
  return s.reshape(t, [n, oh * sh, ow * sw, c]);
}

/** One axis of a strided convolution's input gradient, split by output phase. */
interface Phase {
  /** Kernel taps that reach this phase, in the order the forward convolution of dy applies them. */
  taps: number[];
  /** Padding of dy before (negative: rows to drop) and after, for `rows` outputs. */
  lo: number;
  hi: number;
}

/**
 * Input rows r = s*m + rho receive dy[m + c - j] * W[a0 + s*j] for j < J, where a0 = (rho + top) mod s:
 * a stride-1 correlation of dy with the reversed taps a0 + s*(J-1), ..., a0.
 */
function phases(k: number, stride: number, top: number, outLen: number, rows: number): Phase[] {
  const out: Phase[] = [];
  for (let rho = 0; rho < stride; rho++) {
    const a0 = (((rho + top) % stride) + stride) % stride;
    const count = a0 < k ? Math.ceil((k - a0) / stride) : 0;
    const c = (rho + top - a0) / stride;
    const taps = Array.from({ length: count }, (_, t) => a0 + stride * (count - 1 - t));
    out.push({ taps, lo: count - 1 - c, hi: rows + c - outLen });
  }
  return out;
}

/** Pads (or crops, for negative amounts) the rows and columns of x. */
function padOrCrop(s: KernelScope, x: TensorInfo, top: number, bottom: number, left: number, right: number): { x: TensorInfo; pad: backend_util.ExplicitPadding } {
  const [n, h, w, c] = x.shape;
  const ct = Math.max(-top, 0);
  const cb = Math.max(-bottom, 0);
  const cl = Math.max(-left, 0);
  const cr = Math.max(-right, 0);
  const y = ct + cb + cl + cr > 0 ? s.slice(x, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]) : x;
  return { x: y, pad: [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]] };
}

/**
 * dx without the stock wasm kernel (a scalar loop): for stride s, the s*s output phases are each a
 * stride-1 forward convolution of dy with a subset of the flipped, in/out-swapped taps (exactly the
 * forward pass's work; zero-dilating dy would multiply it by s*s), interleaved by concatenation.
 */
export function conv2dBackpropInputImpl(
  s: KernelScope,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode: Rounding,
): TensorInfo {
  const fShape = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(inputShape, fShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== co) {
    throw new Error(`Conv2DBackpropInput: dy has shape [${dy.shape}], expected [${n},${oh},${ow},${co}] for input [${inputShape}] and filter [${fShape}]`);
  }
  if (kh === 1 && kw === 1 && top === 0 && left === 0) {
    // 1x1: dx = dy W^T at the sampled pixels, zeros elsewhere.
    const wt = s.reshape(s.transpose(s.reshape(filter, [ci, co]), [1, 0]), [1, co, ci]);
    const prod = s.run('BatchMatMul', { a: s.reshape(dy, [1, n * oh * ow, co]), b: wt }, { transposeA: false, transposeB: false });
    const dx = s.reshape(prod, [n, oh, ow, ci]);
    if (sh === 1 && sw === 1 && oh === h && ow === w) return dx;
    const d = zeroDilate(s, dx, sh, sw);
    return fitSpatial(s, d, h, w);
  }
  // Every phase is computed for mh x mw outputs; rows past h (when s does not divide it) are cropped.
  const mh = Math.ceil(h / sh);
  const mw = Math.ceil(w / sw);
  const rowPhases = phases(kh, sh, top, oh, mh);
  const colPhases = phases(kw, sw, left, ow, mw);
  const taps = swapTaps(s, filter);
  const rowsOut: TensorInfo[] = [];
  for (const rp of rowPhases) {
    const cols: TensorInfo[] = [];
    for (const cp of colPhases) {
      if (rp.taps.length === 0 || cp.taps.length === 0) {
        cols.push(s.run('Fill', {}, { shape: [n, mh, mw, ci], value: 0, dtype: 'float32' }));
        continue;
      }
      const order = rp.taps.flatMap((a) => cp.taps.map((b) => a * kw + b));
      const k = s.reshape(pickTaps(s, taps, order), [rp.taps.length, cp.taps.length, co, ci]);
      const { x: d, pad: p } = padOrCrop(s, dy, rp.lo, rp.hi, cp.lo, cp.hi);
      cols.push(conv(s, d, k, [1, 1], p, [1, 1]));
    }
    // Columns of one row phase: [n, mh, mw, sw*ci] is [n, mh, mw*sw, ci] interleaved.
    const row = cols.length === 1 ? cols[0] : s.run('Concat', cols as unknown as NamedTensorInfoMap, { axis: 3 });
    rowsOut.push(s.reshape(row, [n * mh, 1, mw * sw * ci]));
  }
  const all = rowsOut.length === 1 ? rowsOut[0] : s.run('Concat', rowsOut as unknown as NamedTensorInfoMap, { axis: 1 });
  const dx = s.reshape(all, [n, mh * sh, mw * sw, ci]);
  return fitSpatial(s, dx, h, w);
}

/** Crops or zero-pads rows/cols at the bottom/right so x is h x w. */
function fitSpatial(s: KernelScope, x: TensorInfo, h: number, w: number): TensorInfo {
  const [n, xh, xw, c] = x.shape;
  let y = x;
  if (xh > h || xw > w) y = s.slice(y, [0, 0, 0, 0], [n, Math.min(xh, h), Math.min(xw, w), c]);
  if (y.shape[1] < h || y.shape[2] < w) {
    y = s.run('PadV2', { x: y }, { paddings: [[0, 0], [0, h - y.shape[1]], [0, w - y.shape[2]], [0, 0]], constantValue: 0 });
  }
  return y;
}

/**
 * Depthwise dW: each (n, c) channel is correlated with its own dy slice, so run ONE depthwise conv
 * over x as [1, H, W, N*C] with dy as an [OH, OW, N*C, M] kernel (dilation = stride), then sum over n.
 */
export function depthwiseBackpropFilterImpl(
  s: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode: Rounding,
): TensorInfo {
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, true, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const m = filterShape[3];
  const { top, left } = info.padInfo;
  let bottom = kh + sh * (oh - 1) - h - top;
  let right = kw + sw * (ow - 1) - w - left;
  let xs = x;
  if (bottom < 0 || right < 0) {
    xs = s.slice(x, [0, 0, 0, 0], [n, h + Math.min(bottom, 0), w + Math.min(right, 0), c]);
    bottom = Math.max(bottom, 0);
    right = Math.max(right, 0);
  }
  const xt = s.reshape(s.transpose(xs, [1, 2, 0, 3]), [1, xs.shape[1], xs.shape[2], n * c]);
  const dyt = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, m]);
  const out = s.run('DepthwiseConv2dNative', { x: xt, filter: dyt }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [sh, sw],
    dimRoundingMode: undefined,
  } as unknown as NamedAttrMap);
  // out: [1, KH, KW, N*C*M] in (n, c, m) order; sum over n.
  const r = s.reshape(out, [kh * kw, n, c * m]);
  const summed = s.run('Sum', { x: r }, { axis: [1], keepDims: false });
  return s.reshape(summed, [kh, kw, c, m]);
}

/** Depthwise dx: per multiplier slice m, a depthwise conv of zero-dilated dy with the flipped kernel. */
export function depthwiseBackpropInputImpl(
  s: KernelScope,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dimRoundingMode: Rounding,
): TensorInfo {
  const fShape = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(inputShape, fShape, strides, 1, pad, dimRoundingMode, true, 'channelsLast');
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const m = fShape[3];
  const { top, left } = info.padInfo;
  // Flip spatially: [KH*KW, C, M] reversed along the first axis.
  const flat = s.reshape(filter, [kh * kw, c * m]);
  const flipped = s.reshape(pickTaps(s, flat, Array.from({ length: kh * kw }, (_, i) => kh * kw - 1 - i)), [kh, kw, c, m]);
  const dy5 = s.reshape(dy, [n, oh, ow, c, m]);
  let total: TensorInfo | null = null;
  for (let j = 0; j < m; j++) {
    const dyj = m === 1 ? dy : s.reshape(s.slice(dy5, [0, 0, 0, 0, j], [n, oh, ow, c, 1]), [n, oh, ow, c]);
    const fj = m === 1 ? flipped : s.slice(flipped, [0, 0, 0, j], [kh, kw, c, 1]);
    let d = zeroDilate(s, dyj, sh, sw);
    const dh = d.shape[1];
    const dw = d.shape[2];
    const pt = kh - 1 - top;
    const pl = kw - 1 - left;
    if (pt < 0 || pl < 0) throw new Error(`DepthwiseConv2dNativeBackpropInput: padding larger than the kernel is not supported (kernel ${kh}x${kw}, pad top ${top}, left ${left})`);
    let pb = h + kh - 1 - dh - pt;
    let pr = w + kw - 1 - dw - pl;
    if (pb < 0 || pr < 0) {
      d = s.slice(d, [0, 0, 0, 0], [n, dh + Math.min(pb, 0), dw + Math.min(pr, 0), c]);
      pb = Math.max(pb, 0);
      pr = Math.max(pr, 0);
    }
    const part = s.run('DepthwiseConv2dNative', { x: d, filter: fj }, {
      strides: [1, 1],
      pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap);
    total = total === null ? part : s.run('Add', { a: total, b: part });
  }
  return total as TensorInfo;
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dimRoundingMode?: Rounding;
}

/** The kernel function's arguments, typed as the wasm kernels receive them. */
interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs: NamedAttrMap;
}

function input(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`@moco-cxr/compute ${kernel}: input '${name}' is missing`);
  return t;
}

export function makeKernels(backendName: string): Array<{ kernelName: string; kernelFunc: KernelFunc }> {
  return [
    {
      kernelName: 'Conv2DBackpropFilter',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args as unknown as KernelArgs;
        const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
        checkNhwc(a.dataFormat, 'Conv2DBackpropFilter');
        return withScope(backend, backendName, (s) => conv2dBackpropFilterImpl(s, input(inputs, 'x', 'Conv2DBackpropFilter'), input(inputs, 'dy', 'Conv2DBackpropFilter'), a.filterShape, a.strides, a.pad, a.dimRoundingMode));
      },
    },
    {
      kernelName: 'Conv2DBackpropInput',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args as unknown as KernelArgs;
        const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
        checkNhwc(a.dataFormat, 'Conv2DBackpropInput');
        return withScope(backend, backendName, (s) => conv2dBackpropInputImpl(s, input(inputs, 'dy', 'Conv2DBackpropInput'), input(inputs, 'filter', 'Conv2DBackpropInput'), a.inputShape, a.strides, a.pad, a.dimRoundingMode));
      },
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropFilter',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args as unknown as KernelArgs;
        const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number]; dilations?: number | [number, number] };
        checkDilation1(a.dilations, 'DepthwiseConv2dNativeBackpropFilter');
        return withScope(backend, backendName, (s) => depthwiseBackpropFilterImpl(s, input(inputs, 'x', 'DepthwiseConv2dNativeBackpropFilter'), input(inputs, 'dy', 'DepthwiseConv2dNativeBackpropFilter'), a.filterShape, a.strides, a.pad, a.dimRoundingMode));
      },
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropInput',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args as unknown as KernelArgs;
        const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number]; dilations?: number | [number, number] };
        checkDilation1(a.dilations, 'DepthwiseConv2dNativeBackpropInput');
        return withScope(backend, backendName, (s) => depthwiseBackpropInputImpl(s, input(inputs, 'dy', 'DepthwiseConv2dNativeBackpropInput'), input(inputs, 'filter', 'DepthwiseConv2dNativeBackpropInput'), a.inputShape, a.strides, a.pad, a.dimRoundingMode));
      },
    },
  ];
}

function checkDilation1(d: number | [number, number] | undefined, kernel: string): void {
  const ok = d === undefined || d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1);
  if (!ok) throw new Error(`@moco-cxr/compute ${kernel}: dilations other than 1 are not supported in gradients; got ${JSON.stringify(d)}`);
}
