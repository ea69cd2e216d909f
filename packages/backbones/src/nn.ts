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

export function conv2d(x: tf.Tensor4D, conv: Conv2dModule): tf.Tensor4D {
  const c = x.shape[3];
  if (c !== conv.inChannels) {
    throw new Error(`${conv.name}: input has ${c} channels (shape [${x.shape}]), expected ${conv.inChannels}`);
  }
  // A number pads symmetrically like torch; 'same' would pad bottom/right more on stride 2.
  const pad = conv.padding === 0 ? 'valid' : conv.padding;
  return tf.conv2d(x, conv.weight as tf.Tensor4D, conv.stride, pad);
}

/** Sum over all rows of a [rows, C] matrix as a [1, C] matMul: no transpose of the big tensor on wasm. */
function channelSum(x2: tf.Tensor2D, ones: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(ones, x2);
}

/**
 * Training-mode BatchNorm with torch semantics: normalise by the biased batch variance,
 * update running_mean/running_var (unbiased) with momentum, count the batch. The gradient
 * is the closed per-channel form, so backprop never differentiates through the statistics ops.
 */
function batchNormTrain(x: tf.Tensor4D, bn: BatchNorm2dModule): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const count = n * h * w;
  if (count < 2) {
    throw new Error(`${bn.name}: training-mode BatchNorm needs more than 1 value per channel, got input shape [${x.shape}]`);
  }
  const op = tf.customGrad(((xIn: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
    const x2 = tf.reshape(xIn, [count, c]) as tf.Tensor2D;
    const ones = tf.fill([1, count], 1) as tf.Tensor2D;
    const mean = tf.div(channelSum(x2, ones), count);
    const centered = tf.sub(x2, mean) as tf.Tensor2D;
    const variance = tf.div(channelSum(tf.square(centered) as tf.Tensor2D, ones), count);
    const rstd = tf.rsqrt(tf.add(variance, bn.eps));
    // y = (x - mean) * (gamma * rstd) + beta: two full-size ops after centering, xhat never materialised.
    const y = tf.add(tf.mul(centered, tf.mul(gamma, rstd)), beta);
    // Running statistics are side effects of the forward pass, outside the tape (kernel scope).
    const m = bn.momentum;
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(tf.reshape(mean, [c]), m)));
    bn.runningVar.assign(
      tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(tf.reshape(variance, [c]), (m * count) / (count - 1))),
    );
    bn.numBatchesTracked.assign(tf.add(bn.numBatchesTracked, tf.scalar(1, 'int32')));
    save([centered, rstd, gamma as tf.Tensor1D]);
    return {
      value: tf.reshape(y, [n, h, w, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sc, srstd, sgamma] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dy2 = tf.reshape(dy, [count, c]) as tf.Tensor2D;
        const onesB = tf.fill([1, count], 1) as tf.Tensor2D;
        const dbeta = channelSum(dy2, onesB);
        // dgamma = sum(dy * xhat) = rstd * sum(dy * (x - mean)), per channel.
        const dgamma = tf.mul(channelSum(tf.mul(dy2, sc) as tf.Tensor2D, onesB), srstd);
        const scale = tf.mul(sgamma, srstd);
        // dx = gamma*rstd*(dy - mean(dy) - xhat*mean(dy*xhat)), with xhat = (x - mean)*rstd folded per channel.
        const dx = tf.add(
          tf.mul(tf.add(dy2, tf.div(dbeta, -count)), scale),
          tf.mul(sc, tf.mul(tf.mul(scale, srstd), tf.div(dgamma, -count))),
        );
        return [tf.reshape(dx, [n, h, w, c]), tf.reshape(dgamma, [c]), tf.reshape(dbeta, [c])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, bn.weight, bn.bias) as tf.Tensor4D;
}

export function batchNorm(x: tf.Tensor4D, bn: BatchNorm2dModule, training: boolean): tf.Tensor4D {
  if (x.shape[3] !== bn.numFeatures) {
    throw new Error(`${bn.name}: input has ${x.shape[3]} channels (shape [${x.shape}]), expected ${bn.numFeatures}`);
  }
  if (training) return batchNormTrain(x, bn);
  return tf.batchNorm4d(
    x,
    bn.runningMean as tf.Tensor1D,
    bn.runningVar as tf.Tensor1D,
    bn.bias as tf.Tensor1D,
    bn.weight as tf.Tensor1D,
    bn.eps,
  );
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
