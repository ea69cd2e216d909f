import { backend_util, slice_util, util, type KernelBackend, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

/** The BackendWasm methods our JS kernels need (public on the class, absent from KernelBackend). */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: object): void;
}

/** x as a new tensor on the same buffer (the backend counts references, as for Reshape). */
function share(backend: KernelBackend, x: TensorInfo): TensorInfo {
  (backend as unknown as HeapBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Below this many elements per row a plain loop beats a subarray + set per row (measured: loop faster at 64, set at 128). */
const SHORT_ROW = 96;

/**
 * Copies x[begin : begin + size] through views of the wasm heap. The stock kernel first copies the
 * WHOLE input out of the heap into a fresh JS array (readSync), so each slice costs the input's size:
 * 16 ms to take one 3x3 tap of a 3x3x256x512 kernel, 0.1 ms here.
 */
export function heapSlice(backend: KernelBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const heap = backend as unknown as HeapBackend;
  const rank = x.shape.length;
  const out = heap.makeOutput(size, x.dtype);
  const total = util.sizeFromShape(size);
  if (total === 0) return out;
  // Views only after makeOutput: allocating may grow (and so detach) the heap.
  const xv = heap.typedArrayFromHeap(x);
  const ov = heap.typedArrayFromHeap(out);
  if (rank === 0) {
    ov[0] = xv[0];
    return out;
  }
  const strides = util.computeStrides(x.shape);
  // Innermost axis that is cut: everything inside it is one contiguous run per outer index.
  let k = rank - 1;
  while (k > 0 && size[k] === x.shape[k]) k--;
  const inner = k === rank - 1 ? 1 : strides[k];
  const run = size[k] * inner;
  const outer = util.sizeFromShape(size.slice(0, k));
  const idx = new Array<number>(k).fill(0);
  let base = 0;
  for (let a = 0; a < rank; a++) base += begin[a] * (a < rank - 1 ? strides[a] : 1);
  for (let r = 0, o = 0; r < outer; r++, o += run) {
    let off = base;
    for (let a = 0; a < k; a++) off += idx[a] * strides[a];
    if (run < SHORT_ROW) {
      for (let i = 0; i < run; i++) ov[o + i] = xv[off + i];
    } else {
      ov.set(xv.subarray(off, off + run), o);
    }
    for (let a = k - 1; a >= 0; a--) {
      if (++idx[a] < size[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** 'Slice' for wasm without the whole-input copy; strings keep the stock kernel. */
export function sliceKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return stock(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = slice_util.parseSliceParams(x as never, begin, size);
    slice_util.assertParamsValid(x as never, b, s);
    return heapSlice(args.backend as KernelBackend, x, b, s);
  };
}

/** 'SplitV' for wasm: the stock kernel calls the stock slice directly, one whole-input copy per part. */
export function splitVKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return stock(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
    const ax = util.parseAxisParam(axis, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = x.shape.slice();
      size[ax] = n;
      const part = heapSlice(args.backend as KernelBackend, x, begin.slice(), size);
      begin[ax] += n;
      return part;
    });
  };
}



/**
 * 'Identity' for wasm shares the input's memory (as Reshape does, and as the cpu backend's Identity
 * does): tensors are immutable, and the engine clones every tensor it saves for the backward pass,
 * which the stock kernel copies through JS (about 1 s of a 224 px ResNet18 step).
 */
export function identityKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return stock(args);
    return share(args.backend as KernelBackend, x);
  };
}

/** 'Cast' to the same dtype shares the buffer like Identity; real conversions keep the stock kernel. */
export function castKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { dtype } = args.attrs as unknown as { dtype: string };
    if (x.dtype === 'string' || dtype !== x.dtype) return stock(args);
    return share(args.backend as KernelBackend, x);
  };
}
