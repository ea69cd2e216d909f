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
    let xs = x;
    if (sh !== 1 || sw !== 1) {
      xs = s.run('StridedSlice', { x }, { begin: [0, 0, 0, 0], end: [n, sh * (oh - 1) + 1, sw * (ow - 1) + 1, ci], strides: [1, sh, sw, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 });
    }
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

/** Spatially flipped kernel with in/out swapped: Wf[a,b,o,i] = W[KH-1-a, KW-1-b, i, o], via one gather. */
function flipSwap(s: KernelScope, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const t = s.transpose(filter, [0, 1, 3, 2]);
  if (kh * kw === 1) return t;
  const flat = s.reshape(t, [kh * kw, co, ci]);
  const idx = s.run('Range', {}, { start: kh * kw - 1, stop: -1, step: -1, dtype: 'int32' });
  const g = s.run('GatherV2', { x: flat, indices: idx }, { axis: 0, batchDims: 0 });
  return s.reshape(g, [kh, kw, co, ci]);
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

/**
 * dx as a forward convolution of dy, zero-dilated by the stride, with the flipped, in/out-swapped
 * kernel and padding (KH-1-top, ...), replacing the stock wasm kernel (a scalar loop).
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
  let d = zeroDilate(s, dy, sh, sw);
  // d has oh*sh rows: (oh-1)*sh+1 meaningful, the rest zeros.
  const dh = d.shape[1];
  const dw = d.shape[2];
  let pt = kh - 1 - top;
  let pl = kw - 1 - left;
  let pb = h + kh - 1 - dh - pt;
  let pr = w + kw - 1 - dw - pl;
  if (pt < 0 || pl < 0) {
    d = s.slice(d, [0, Math.max(-pt, 0), Math.max(-pl, 0), 0], [n, dh - Math.max(-pt, 0), dw - Math.max(-pl, 0), co]);
    pt = Math.max(pt, 0);
    pl = Math.max(pl, 0);
    pb = h + kh - 1 - d.shape[1] - pt;
    pr = w + kw - 1 - d.shape[2] - pl;
  }
  if (pb < 0 || pr < 0) {
    d = s.slice(d, [0, 0, 0, 0], [n, d.shape[1] + Math.min(pb, 0), d.shape[2] + Math.min(pr, 0), co]);
    pb = Math.max(pb, 0);
    pr = Math.max(pr, 0);
  }
  const explicit: backend_util.ExplicitPadding = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  return conv(s, d, flipSwap(s, filter), [1, 1], explicit, [1, 1]);
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
  const idx = s.run('Range', {}, { start: kh * kw - 1, stop: -1, step: -1, dtype: 'int32' });
  const flipped = s.reshape(s.run('GatherV2', { x: flat, indices: idx }, { axis: 0, batchDims: 0 }), [kh, kw, c, m]);
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
