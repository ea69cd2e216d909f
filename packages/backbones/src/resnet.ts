import * as tf from '@tensorflow/tfjs-core';
import {
  batchNorm,
  conv2d,
  globalAvgPool,
  makeBatchNorm2d,
  makeConv2d,
  maxPool,
  type BatchNorm2dModule,
  type Conv2dModule,
  type ParamFactory,
} from './nn';

export interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  /** Blocks per stage (torchvision `layers`): resnet18 [2,2,2,2], resnet50 [3,4,6,3]. */
  blocks: number[];
  /** `planes` per stage: torchvision uses [64,128,256,512]; narrower values make small fixtures. */
  widths: number[];
  /** Channels after the stem convolution (torchvision: 64). */
  stemWidth: number;
  inChannels: number;
}

export interface ResNetBlockModule {
  readonly type: 'BasicBlock' | 'Bottleneck';
  readonly name: string;
  readonly convs: Conv2dModule[];
  readonly bns: BatchNorm2dModule[];
  readonly downsample?: { conv: Conv2dModule; bn: BatchNorm2dModule };
}

export interface ResNetModule {
  readonly type: 'ResNet';
  readonly config: ResNetConfig;
  readonly conv1: Conv2dModule;
  readonly bn1: BatchNorm2dModule;
  /** layers[i] is torchvision's `layer{i+1}`. */
  readonly layers: ResNetBlockModule[][];
  readonly featureDim: number;
}

export function buildResNet(make: ParamFactory, config: ResNetConfig): ResNetModule {
  const { block, blocks, widths, stemWidth, inChannels } = config;
  if (blocks.length !== widths.length || blocks.length === 0) {
    throw new Error(`ResNet: blocks (${blocks.length} stages) and widths (${widths.length} stages) must have the same non-zero length`);
  }
  const expansion = block === 'basic' ? 1 : 4;
  // torchvision's ResNet init: kaiming_normal_(mode='fan_out', nonlinearity='relu').
  const conv = (name: string, cin: number, cout: number, k: number, s: number, p: number) =>
    makeConv2d(make, name, cin, cout, k, s, p, 'fan_out');
  const conv1 = conv('conv1', inChannels, stemWidth, 7, 2, 3);
  const bn1 = makeBatchNorm2d(make, 'bn1', stemWidth);
  let inplanes = stemWidth;
  const layers: ResNetBlockModule[][] = [];
  blocks.forEach((count, stage) => {
    const planes = widths[stage];
    const stageStride = stage === 0 ? 1 : 2;
    const stageBlocks: ResNetBlockModule[] = [];
    for (let b = 0; b < count; b++) {
      const name = `layer${stage + 1}.${b}`;
      const stride = b === 0 ? stageStride : 1;
      const out = planes * expansion;
      // Interleaved conv/bn creation keeps torchvision's state_dict key order.
      const convs: Conv2dModule[] = [];
      const bns: BatchNorm2dModule[] = [];
      const specs: [number, number, number, number, number][] =
        block === 'basic'
          ? [
              [inplanes, planes, 3, stride, 1],
              [planes, planes, 3, 1, 1],
            ]
          : // torchvision v1.5 bottleneck: the stride sits on the 3x3 convolution.
            [
              [inplanes, planes, 1, 1, 0],
              [planes, planes, 3, stride, 1],
              [planes, out, 1, 1, 0],
            ];
      specs.forEach(([cin, cout, k, s, p], i) => {
        convs.push(conv(`${name}.conv${i + 1}`, cin, cout, k, s, p));
        bns.push(makeBatchNorm2d(make, `${name}.bn${i + 1}`, cout));
      });
      const downsample =
        stride !== 1 || inplanes !== out
          ? { conv: conv(`${name}.downsample.0`, inplanes, out, 1, stride, 0), bn: makeBatchNorm2d(make, `${name}.downsample.1`, out) }
          : undefined;
      stageBlocks.push({ type: block === 'basic' ? 'BasicBlock' : 'Bottleneck', name, convs, bns, downsample });
      inplanes = out;
    }
    layers.push(stageBlocks);
  });
  return { type: 'ResNet', config, conv1, bn1, layers, featureDim: inplanes };
}

function blockForward(x: tf.Tensor4D, blk: ResNetBlockModule, training: boolean): tf.Tensor4D {
  let y = x;
  const last = blk.convs.length - 1;
  blk.convs.forEach((c, i) => {
    y = batchNorm(conv2d(y, c), blk.bns[i], training, i < last);
  });
  const identity = blk.downsample ? batchNorm(conv2d(x, blk.downsample.conv), blk.downsample.bn, training) : x;
  return tf.relu(tf.add(y, identity)) as tf.Tensor4D;
}

/** The last block's activations (layer4's output, before pooling): [N, h, w, featureDim]. */
export function resnetFeatureMap(model: ResNetModule, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  let y = batchNorm(conv2d(x, model.conv1), model.bn1, training, true);
  y = maxPool(y, 3, 2, 1);
  for (const stage of model.layers) for (const blk of stage) y = blockForward(y, blk, training);
  return y;
}

/** Features before torchvision's `fc`: [N, featureDim]. */
export function resnetForward(model: ResNetModule, x: tf.Tensor4D, training: boolean): tf.Tensor2D {
  return globalAvgPool(resnetFeatureMap(model, x, training));
}
