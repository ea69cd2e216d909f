import * as tf from '@tensorflow/tfjs-core';

/** A 2-D convolution without bias, torchvision `nn.Conv2d(..., bias=False)`; weight is HWIO. */
export interface Conv2dModule {
  readonly type: 'Conv2d';
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly weight: tf.Variable;
}

/** torchvision `nn.BatchNorm2d` with its buffers; momentum in torch's sense (weight of the new batch). */
export interface BatchNorm2dModule {
  readonly type: 'BatchNorm2d';
  readonly name: string;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;
}

/** How a parameter is initialised when no weights are given. */
export type ParamInit =
  | { kind: 'kaimingNormal'; fan: number }
  | { kind: 'constant'; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  trainable: boolean;
  init: ParamInit;
}

/** Creates one named variable; the backbone decides the initial value (random, zeros, or a copy). */
export type ParamFactory = (spec: ParamSpec) => tf.Variable;

export function makeConv2d(
  make: ParamFactory,
  name: string,
  inChannels: number,
  outChannels: number,
  kernelSize: number,
  stride: number,
  padding: number,
  fanMode: 'fan_in' | 'fan_out',
): Conv2dModule {
  const fan = (fanMode === 'fan_out' ? outChannels : inChannels) * kernelSize * kernelSize;
  const weight = make({
    name: `${name}.weight`,
    shape: [kernelSize, kernelSize, inChannels, outChannels],
    dtype: 'float32',
    trainable: true,
    init: { kind: 'kaimingNormal', fan },
  });
  return { type: 'Conv2d', name, inChannels, outChannels, kernelSize, stride, padding, weight };
}

export function makeBatchNorm2d(make: ParamFactory, name: string, numFeatures: number): BatchNorm2dModule {
  const vec = (suffix: string, value: number, trainable: boolean) =>
    make({ name: `${name}.${suffix}`, shape: [numFeatures], dtype: 'float32', trainable, init: { kind: 'constant', value } });
  return {
    type: 'BatchNorm2d',
    name,
    numFeatures,
    eps: 1e-5,
    momentum: 0.1,
    weight: vec('weight', 1, true),
    bias: vec('bias', 0, true),
    runningMean: vec('running_mean', 0, false),
    runningVar: vec('running_var', 1, false),
    numBatchesTracked: make({
      name: `${name}.num_batches_tracked`,
      shape: [],
      dtype: 'int32',
      trainable: false,
      init: { kind: 'constant', value: 0 },
    }),
  };
}

/** tfjs padding for a torch Conv2d: a number pads symmetrically like torch ('same' would pad bottom/right more on stride 2). */
export function convPadding(conv: Conv2dModule): 'valid' | number {
  return conv.padding === 0 ? 'valid' : conv.padding;
}

export function conv2d(x: tf.Tensor4D, conv: Conv2dModule): tf.Tensor4D {
  const c = x.shape[3];
  if (c !== conv.inChannels) {
    throw new Error(`${conv.name}: input has ${c} channels (shape [${x.shape}]), expected ${conv.inChannels}`);
  }
  return tf.conv2d(x, conv.weight as tf.Tensor4D, conv.stride, convPadding(conv));
}

// @moco-cxr/compute's fused native kernels (its FUSED names); registered only while they run natively.
const FUSED_BN = 'MocoCxrBatchNormTrain';
const FUSED_BN_GRAD = 'MocoCxrBatchNormTrainGrad';
function fused(kernel: string): boolean {
  return tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/** True when no other tensor sees v's buffer (the wasm backend counts references), so a kernel may write it in place. */
function ownsBuffer(v: tf.Tensor): boolean {
  return (tf.backend() as unknown as { refCount?(dataId: object): number }).refCount?.(v.dataId) === 1;
}

/** Per-channel sum of a [rows, C] matrix as [1, C]: a leading-axis reduction, contiguous on NHWC data. */
function channelSum(x2: tf.Tensor2D): tf.Tensor2D {
  return tf.sum(x2, 0, true);
}

/** x * a + b per channel in one FusedBatchNorm kernel (mean 0, variance 1, eps 0): no broadcast binary ops. */
function affine(x: tf.Tensor2D, a: tf.Tensor, b: tf.Tensor, c: number): tf.Tensor2D {
  const zeros = tf.zeros([c]) as tf.Tensor1D;
  const ones = tf.ones([c]) as tf.Tensor1D;
  return tf.batchNorm2d(x, zeros, ones, tf.reshape(b, [c]) as tf.Tensor1D, tf.reshape(a, [c]) as tf.Tensor1D, 0);
}

/** What training-mode BatchNorm keeps for its gradient, on the [rows, C] view of its input. */
export interface BatchNormSaved {
  x2: tf.Tensor2D;
  mean: tf.Tensor2D;
  rstd: tf.Tensor2D;
  /** The output after ReLU, when ReLU is fused (its mask gates the gradient). */
  y?: tf.Tensor2D;
}

/**
 * Training-mode BatchNorm (+ ReLU) forward on x2 = [rows, C] with the biased batch variance.
 * `update` folds the batch statistics into the running ones (off when a layer is recomputed).
 */
export function batchNormTrainForward(x2: tf.Tensor2D, bn: BatchNorm2dModule, gamma: tf.Tensor, beta: tf.Tensor, relu: boolean, update: boolean): BatchNormSaved & { out: tf.Tensor2D } {
  const [count, c] = x2.shape;
  let mean: tf.Tensor2D;
  let variance: tf.Tensor;
  let rstd: tf.Tensor2D;
  let out: tf.Tensor2D;
  const m = bn.momentum;
  // torch's running-statistics update, as float32 factors of the tf ops below.
  const keep = 1 - m;
  const varianceFactor = (m * count) / (count - 1);
  let updated = false;
  if (fused(FUSED_BN)) {
    // One native kernel: statistics, normalisation and ReLU in three passes over x; the running
    // statistics too, in place, when no other tensor shares their buffers (no dispatch of their own).
    const inputs: tf.NamedTensorMap = { x: x2, gamma, beta };
    const attrs: Record<string, unknown> = { varianceEpsilon: bn.eps, relu };
    if (update && [bn.runningMean, bn.runningVar, bn.numBatchesTracked].every(ownsBuffer)) {
      Object.assign(inputs, { runningMean: bn.runningMean, runningVar: bn.runningVar, numBatchesTracked: bn.numBatchesTracked });
      Object.assign(attrs, { runningKeep: keep, runningMomentum: m, runningVarianceFactor: varianceFactor });
      updated = true;
    }
    [out, mean, variance, rstd] = tf.engine().runKernel(FUSED_BN, inputs, attrs as never) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  } else {
    mean = tf.div(channelSum(x2), count) as tf.Tensor2D;
    variance = tf.div(channelSum(tf.squaredDifference(x2, mean) as tf.Tensor2D), count);
    rstd = tf.rsqrt(tf.add(variance, bn.eps)) as tf.Tensor2D;
    out = tf.batchNorm2d(x2, tf.reshape(mean, [c]) as tf.Tensor1D, tf.reshape(variance, [c]) as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, bn.eps);
    if (relu) out = tf.relu(out);
  }
  if (update && !updated) {
    // Running statistics are side effects of the forward pass, outside the tape (kernel scope).
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, keep), tf.mul(tf.reshape(mean, [c]), m)));
    bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, keep), tf.mul(tf.reshape(variance, [c]), varianceFactor)));
    bn.numBatchesTracked.assign(tf.add(bn.numBatchesTracked, tf.scalar(1, 'int32')));
  }
  return { out, x2, mean, rstd, y: relu ? out : undefined };
}

/** The closed-form gradient of batchNormTrainForward: dx on [rows, C], dgamma and dbeta as [C]. */
export function batchNormTrainBackward(dy2: tf.Tensor2D, saved: BatchNormSaved, gamma: tf.Tensor): { dx: tf.Tensor2D; dgamma: tf.Tensor1D; dbeta: tf.Tensor1D } {
  const { x2, mean, rstd, y } = saved;
  const [count, c] = x2.shape;
  if (fused(FUSED_BN_GRAD)) {
    const inputs: tf.NamedTensorMap = { dy: dy2, x: x2, mean, rstd, gamma };
    if (y) inputs.y = y;
    const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_BN_GRAD, inputs, {}) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    return { dx, dgamma, dbeta };
  }
  const g = y ? (tf.mul(dy2, tf.step(y)) as tf.Tensor2D) : dy2;
  const dbeta = channelSum(g);
  // dgamma = sum(g * xhat) = rstd * (sum(g * x) - mean * sum(g)), per channel.
  const dgamma = tf.mul(tf.sub(channelSum(tf.mul(g, x2) as tf.Tensor2D), tf.mul(mean, dbeta)), rstd);
  const scale = tf.mul(gamma, rstd);
  // dx = scale*(g - mean(g) - xhat*mean(g*xhat)) = scale*g + k*x + (b - k*mean), per-channel k and b.
  const k = tf.mul(tf.mul(scale, rstd), tf.div(dgamma, -count));
  const b = tf.sub(tf.mul(scale, tf.div(dbeta, -count)), tf.mul(k, mean));
  const dx = tf.add(affine(g, scale, tf.zeros([c]), c), affine(x2, k, b, c)) as tf.Tensor2D;
  return { dx, dgamma: tf.reshape(dgamma, [c]) as tf.Tensor1D, dbeta: tf.reshape(dbeta, [c]) as tf.Tensor1D };
}

/**
 * Training-mode BatchNorm (optionally followed by ReLU) with torch semantics: normalise by the
 * biased batch variance, update running_mean/running_var (unbiased) with momentum, count the
 * batch. The gradient is the closed per-channel form, so backprop never differentiates through
 * the statistics ops; fusing the ReLU saves its stock gradient's cast copy.
 */
function batchNormTrain(x: tf.Tensor4D, bn: BatchNorm2dModule, relu: boolean): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const count = n * h * w;
  if (count < 2) {
    throw new Error(`${bn.name}: training-mode BatchNorm needs more than 1 value per channel, got input shape [${x.shape}]`);
  }
  const op = tf.customGrad(((xIn: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const f = batchNormTrainForward(tf.reshape(xIn, [count, c]) as tf.Tensor2D, bn, gamma, beta, relu, true);
    save(f.y ? [f.x2, f.mean, f.rstd, gamma, f.y] : [f.x2, f.mean, f.rstd, gamma]);
    return {
      value: tf.reshape(f.out, [n, h, w, c]),
      // Tidied: the engine keeps a custom gradient's temporaries until the backward pass ends.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [x2, mean, rstd, sgamma, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D?];
        const g = batchNormTrainBackward(tf.reshape(dy, [count, c]) as tf.Tensor2D, { x2, mean, rstd, y }, sgamma);
        return [tf.reshape(g.dx, [n, h, w, c]), g.dgamma, g.dbeta];
      }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, bn.weight, bn.bias) as tf.Tensor4D;
}

/** BatchNorm2d, followed by ReLU when `relu` (fused in training mode). */
export function batchNorm(x: tf.Tensor4D, bn: BatchNorm2dModule, training: boolean, relu = false): tf.Tensor4D {
  if (x.shape[3] !== bn.numFeatures) {
    throw new Error(`${bn.name}: input has ${x.shape[3]} channels (shape [${x.shape}]), expected ${bn.numFeatures}`);
  }
  if (training) return batchNormTrain(x, bn, relu);
  const y = tf.batchNorm4d(
    x,
    bn.runningMean as tf.Tensor1D,
    bn.runningVar as tf.Tensor1D,
    bn.bias as tf.Tensor1D,
    bn.weight as tf.Tensor1D,
    bn.eps,
  );
  return relu ? tf.relu(y) : y;
}

/** torch MaxPool2d(kernel, stride, padding): padded cells never win, as with -inf padding. */
export function maxPool(x: tf.Tensor4D, kernel: number, stride: number, padding: number): tf.Tensor4D {
  return tf.maxPool(x, kernel, stride, padding === 0 ? 'valid' : padding);
}

/** torch AvgPool2d(kernel, stride) without padding. */
export function avgPool(x: tf.Tensor4D, kernel: number, stride: number): tf.Tensor4D {
  return tf.avgPool(x, kernel, stride, 'valid');
}

/** Global average pool to [N, C] (torch adaptive_avg_pool2d(1) + flatten). */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}
