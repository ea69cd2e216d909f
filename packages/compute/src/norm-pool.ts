import { backend_util, util, type KernelBackend, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { KernelScope } from './kernels';
import type { HeapBackend } from './heap';

/**
 * 'FusedBatchNorm' as (x - mean) * (scale * rsqrt(variance + eps)) + offset with XNNPACK's
 * broadcasting binary ops: the stock kernel was about 10x slower on [200704, 64] (52.9 vs 5.3 ms).
 */
export function fusedBatchNormKernel(stock: KernelFunc, backendName: string): KernelFunc {
  return (args) => {
    const backend = args.backend as KernelBackend;
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined>;
    if (!x || !mean || !variance || x.dtype !== 'float32' || util.sizeFromShape(x.shape) === 0) return stock(args);
    const eps = (args.attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    const s = new KernelScope(backend, backendName);
    try {
      const epsT = s.run('Fill', {}, { shape: [], value: eps, dtype: 'float32' });
      let k = s.run('Rsqrt', { x: s.run('Add', { a: variance, b: epsT }) });
      if (scale) k = s.run('Multiply', { a: k, b: scale });
      let y = s.run('Multiply', { a: s.run('Sub', { a: x, b: mean }), b: k });
      if (offset) y = s.run('Add', { a: y, b: offset });
      return s.finish(y);
    } catch (e) {
      s.abort();
      throw e;
    }
  };
}

/**
 * 'MaxPoolGrad' as one pass over the windows in JS on views of the heap (the stock kernel takes
 * 366 ms for ResNet's 3x3/2 pool at 224 px, batch 16). Each window's gradient goes to its first
 * maximum in row-major order, as on the cpu backend; padded cells never win.
 */
export function maxPoolGradKernel(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as Record<string, TensorInfo>;
    if (input.dtype !== 'float32') return stock(args);
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as {
      filterSize: number | [number, number];
      strides: number | [number, number];
      pad: 'valid' | 'same' | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
    const { top, left } = info.padInfo;
    if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== c) {
      throw new Error(`MaxPoolGrad: dy has shape [${dy.shape}], expected [${n},${oh},${ow},${c}] for input [${input.shape}]`);
    }
    const heap = args.backend as unknown as HeapBackend;
    const out = heap.makeOutput(input.shape, 'float32');
    // Views only after makeOutput: allocating may grow (and so detach) the heap.
    const xv = heap.typedArrayFromHeap(input) as Float32Array;
    const gv = heap.typedArrayFromHeap(dy) as Float32Array;
    const dx = heap.typedArrayFromHeap(out) as Float32Array;
    dx.fill(0);
    const best = new Float32Array(c);
    const at = new Int32Array(c);
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < oh; p++) {
        const r0 = p * sh - top;
        const rs = Math.max(r0, 0);
        const re = Math.min(r0 + kh, h);
        for (let q = 0; q < ow; q++) {
          const c0 = q * sw - left;
          const cs = Math.max(c0, 0);
          const ce = Math.min(c0 + kw, w);
          if (rs >= re || cs >= ce) continue;
          best.fill(-Infinity);
          at.fill(-1);
          for (let r = rs; r < re; r++) {
            for (let col = cs; col < ce; col++) {
              const base = ((b * h + r) * w + col) * c;
              for (let ch = 0; ch < c; ch++) {
                const v = xv[base + ch];
                if (v > best[ch]) {
                  best[ch] = v;
                  at[ch] = base + ch;
                }
              }
            }
          }
          const o = ((b * oh + p) * ow + q) * c;
          for (let ch = 0; ch < c; ch++) if (at[ch] >= 0) dx[at[ch]] += gv[o + ch];
        }
      }
    }
    return out;
  };
}
