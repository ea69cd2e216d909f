import {
  add,
  backend_util,
  engine,
  getBackend,
  getKernel,
  mul,
  fill,
  reshape,
  rsqrt,
  scalar,
  sub,
  sum,
  tidy,
  util,
  type GradConfig,
  type NamedAttrMap,
  type Tensor,
} from '@tensorflow/tfjs-core';

/** Our formulations are for wasm; every other backend keeps tfjs' stock gradient. */
function onWasm(): boolean {
  return getBackend() === 'wasm';
}

function stockOrThrow(stock: GradConfig | undefined, name: string): GradConfig {
  if (!stock) throw new Error(`@moco-cxr/compute: tfjs-core registered no gradient for ${name}; cannot wrap it`);
  return stock;
}

/**
 * BatchNorm gradient from per-channel sums: dx = dy * scale * rsqrt(var + eps), and the
 * mean / variance / scale / offset gradients from sum(dy) and sum(dy * (x - mean)). The stock
 * gradient tiles a full-size tensor and keeps two full-size temporaries alive for the whole
 * backward pass.
 */
export function fusedBatchNormGradConfig(stock: GradConfig | undefined): GradConfig {
  const base = stockOrThrow(stock, 'FusedBatchNorm');
  return {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      if (!onWasm()) return base.gradFunc(dy, saved, attrs);
      const g = dy as Tensor;
      const [x, mean, variance, scale] = saved;
      const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
      const axes = backend_util.getReductionAxes(mean.shape, x.shape);
      const sumTo = (t: Tensor): Tensor => (axes.length > 0 ? reshape(sum(t, axes), mean.shape) : t);
      // Small per-channel tensors, kept for the closures below; the full-size temporaries die here.
      const [r, sdy, sdyxc] = tidy(() => {
        const rr = rsqrt(add(variance, scalar(eps)));
        return [rr, sumTo(g), sumTo(mul(g, sub(x, mean)))];
      });
      const sc = scale ?? scalar(1);
      return {
        x: () => mul(g, mul(sc, r)),
        mean: () => reshape(mul(mul(sc, r), mul(sdy, scalar(-1))), mean.shape),
        variance: () => reshape(mul(mul(mul(sc, mul(r, mul(r, r))), scalar(-0.5)), sdyxc), mean.shape),
        scale: () => reshape(mul(r, sdyxc), scale ? scale.shape : mean.shape),
        offset: () => reshape(sdy, mean.shape),
      };
    },
  };
}

function reduceAxes(attrs: NamedAttrMap, x: Tensor): number[] {
  return util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
}

function expandDy(dy: Tensor, x: Tensor, axes: number[]): Tensor {
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return reshape(dy, shape);
}

/**
 * Mean gradient: dy / size broadcast by one multiply with ones (wasm's Tile is far slower), no
 * full-size division. The ones come from the Fill kernel, written in place on the heap (`tf.ones`
 * builds them in JS and copies them in: 3.4 s of a 224 px ResNet step in a V8 profile).
 */
export function meanGradConfig(stock: GradConfig | undefined): GradConfig {
  const base = stockOrThrow(stock, 'Mean');
  return {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      if (!onWasm()) return base.gradFunc(dy, saved, attrs);
      const [x] = saved;
      const axes = reduceAxes(attrs, x);
      const size = axes.reduce((p, a) => p * x.shape[a], 1);
      return { x: () => mul(fill(x.shape, 1), mul(expandDy(dy as Tensor, x, axes), scalar(1 / size))) };
    },
  };
}

/** Sum gradient: dy broadcast by one multiply with ones (wasm's Tile is far slower). */
export function sumGradConfig(stock: GradConfig | undefined): GradConfig {
  const base = stockOrThrow(stock, 'Sum');
  return {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      if (!onWasm()) return base.gradFunc(dy, saved, attrs);
      const [x] = saved;
      const axes = reduceAxes(attrs, x);
      return { x: () => mul(fill(x.shape, 1), expandDy(dy as Tensor, x, axes)) };
    },
  };
}

/** The native ReLU gradient's kernel, registered on wasm only while the native kernels run (native.ts). */
export const RELU_GRAD_KERNEL = 'MocoCxrReluGrad';

/**
 * ReLU gradient in one native pass, dy * step(x) with tfjs' bits, where that kernel is registered;
 * tfjs' own (Step, Cast and Multiply: three kernels and two full-size temporaries) elsewhere.
 */
export function reluGradConfig(stock: GradConfig | undefined): GradConfig {
  const base = stockOrThrow(stock, 'Relu');
  return {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      if (getKernel(RELU_GRAD_KERNEL, getBackend()) === undefined) return base.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return { x: () => engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as Tensor, x }) as Tensor };
    },
  };
}
