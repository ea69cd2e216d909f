import { backend_util, util, type KernelBackend, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { KernelScope } from './kernels';

/** Below this many elements the stock transpose + reduce is as fast and simpler. */
const MIN_SIZE = 4096;

/** Leading-axes reduction size, or 0 when `axes` are not exactly 0..k-1 (k < rank). */
function leadingSplit(shape: number[], axis: number | number[]): { outer: number; inner: number; axes: number[] } | null {
  const axes = util.parseAxisParam(axis, shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return null;
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return null;
  const outer = util.sizeFromShape(shape.slice(0, axes.length));
  const inner = util.sizeFromShape(shape.slice(axes.length));
  return { outer, inner, axes };
}

/**
 * Sum / Mean over the leading axes as XNNPACK average pooling over an [1, A, 1, C] view: one
 * contiguous pass, where the stock kernels first transpose the whole tensor to put those axes last.
 */
export function channelReduceKernel(name: 'Sum' | 'Mean', stock: KernelFunc, backendName: string): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as KernelBackend;
    const x = inputs.x as TensorInfo;
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const split = x.dtype === 'float32' ? leadingSplit(x.shape, axis) : null;
    if (split === null || split.outer < 2 || util.sizeFromShape(x.shape) < MIN_SIZE) return stock(args);
    const s = new KernelScope(backend, backendName);
    try {
      const { outer, inner, axes } = split;
      // Pool 4D-NHWC-shaped [N, H, W, C] over H*W first when that splits the work evenly, else all rows at once.
      const view = s.reshape(x, [1, outer, 1, inner]);
      const pooled = s.run('AvgPool', { x: view }, { filterSize: [outer, 1], strides: [outer, 1], pad: 'valid', dimRoundingMode: undefined } as never);
      let out = pooled;
      if (name === 'Sum') {
        const scaleId = backend.write(new Float32Array([outer]), [], 'float32');
        const scale: TensorInfo = { dataId: scaleId, shape: [], dtype: 'float32' };
        try {
          out = s.run('Multiply', { a: pooled, b: scale });
        } finally {
          backend.disposeData(scaleId);
        }
      }
      const outShape = keepDims ? backend_util.expandShapeToKeepDim(x.shape.slice(axes.length), axes) : x.shape.slice(axes.length);
      return s.finish(s.reshape(out, outShape));
    } catch (e) {
      s.abort();
      throw e;
    }
  };
}
