import * as tf from '@tensorflow/tfjs-core';
import {
  avgPool,
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

export interface DenseNetConfig {
  growthRate: number;
  /** Layers per dense block: densenet121 [6,12,24,16]. */
  blockConfig: number[];
  numInitFeatures: number;
  /** Bottleneck width multiplier: the 1x1 conv outputs bnSize * growthRate channels. */
  bnSize: number;
  inChannels: number;
}

export interface DenseLayerModule {
  readonly type: 'DenseLayer';
  readonly name: string;
  readonly norm1: BatchNorm2dModule;
  readonly conv1: Conv2dModule;
  readonly norm2: BatchNorm2dModule;
  readonly conv2: Conv2dModule;
}

export interface TransitionModule {
  readonly type: 'Transition';
  readonly name: string;
  readonly norm: BatchNorm2dModule;
  readonly conv: Conv2dModule;
}

export interface DenseNetModule {
  readonly type: 'DenseNet';
  readonly config: DenseNetConfig;
  readonly conv0: Conv2dModule;
  readonly norm0: BatchNorm2dModule;
  /** blocks[i] is torchvision's `features.denseblock{i+1}`. */
  readonly blocks: DenseLayerModule[][];
  /** transitions[i] is `features.transition{i+1}`. */
  readonly transitions: TransitionModule[];
  readonly norm5: BatchNorm2dModule;
  readonly featureDim: number;
}

export function buildDenseNet(make: ParamFactory, config: DenseNetConfig): DenseNetModule {
  const { growthRate, blockConfig, numInitFeatures, bnSize, inChannels } = config;
  if (blockConfig.length === 0) throw new Error('DenseNet: blockConfig must list at least one block');
  // torchvision's DenseNet init: kaiming_normal_ with the default fan_in mode.
  const conv = (name: string, cin: number, cout: number, k: number, s: number, p: number) =>
    makeConv2d(make, name, cin, cout, k, s, p, 'fan_in');
  const conv0 = conv('features.conv0', inChannels, numInitFeatures, 7, 2, 3);
  const norm0 = makeBatchNorm2d(make, 'features.norm0', numInitFeatures);
  let features = numInitFeatures;
  const blocks: DenseLayerModule[][] = [];
  const transitions: TransitionModule[] = [];
  blockConfig.forEach((numLayers, i) => {
    const layers: DenseLayerModule[] = [];
    for (let l = 0; l < numLayers; l++) {
      const name = `features.denseblock${i + 1}.denselayer${l + 1}`;
      const cin = features + l * growthRate;
      layers.push({
        type: 'DenseLayer',
        name,
        norm1: makeBatchNorm2d(make, `${name}.norm1`, cin),
        conv1: conv(`${name}.conv1`, cin, bnSize * growthRate, 1, 1, 0),
        norm2: makeBatchNorm2d(make, `${name}.norm2`, bnSize * growthRate),
        conv2: conv(`${name}.conv2`, bnSize * growthRate, growthRate, 3, 1, 1),
      });
    }
    blocks.push(layers);
    features += numLayers * growthRate;
    if (i !== blockConfig.length - 1) {
      const name = `features.transition${i + 1}`;
      const out = Math.floor(features / 2);
      transitions.push({ type: 'Transition', name, norm: makeBatchNorm2d(make, `${name}.norm`, features), conv: conv(`${name}.conv`, features, out, 1, 1, 0) });
      features = out;
    }
  });
  const norm5 = makeBatchNorm2d(make, 'features.norm5', features);
  return { type: 'DenseNet', config, conv0, norm0, blocks, transitions, norm5, featureDim: features };
}

function denseLayer(x: tf.Tensor4D, layer: DenseLayerModule, training: boolean): tf.Tensor4D {
  const bottleneck = conv2d(batchNorm(x, layer.norm1, training, true), layer.conv1);
  return conv2d(batchNorm(bottleneck, layer.norm2, training, true), layer.conv2);
}

/** Features before torchvision's `classifier`: relu(norm5) pooled to [N, featureDim]. */
export function densenetForward(model: DenseNetModule, x: tf.Tensor4D, training: boolean): tf.Tensor2D {
  let y = batchNorm(conv2d(x, model.conv0), model.norm0, training, true);
  y = maxPool(y, 3, 2, 1);
  model.blocks.forEach((layers, i) => {
    let concat = y;
    for (const layer of layers) concat = tf.concat([concat, denseLayer(concat, layer, training)], 3);
    y = concat;
    const t = model.transitions[i];
    if (t) y = avgPool(conv2d(batchNorm(y, t.norm, training, true), t.conv), 2, 2);
  });
  return globalAvgPool(batchNorm(y, model.norm5, training, true));
}
