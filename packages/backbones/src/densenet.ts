import * as tf from '@tensorflow/tfjs-core';
import {
  avgPool,
  batchNorm,
  batchNormTrainBackward,
  batchNormTrainForward,
  conv2d,
  convPadding,
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
  /**
   * torchvision's `memory_efficient`: in training, each dense layer keeps only its inputs and
   * recomputes concat + norm1 + conv1 + norm2 in the backward pass, so the stored activations grow
   * linearly, not quadratically, with depth (the 224 px batch-16 step then fits wasm's 4 GiB).
   */
  memoryEfficient: boolean;
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

/** dW and dx of `conv2d(x, conv)` for output gradient dy, from the registered gradient kernels. */
function convBackward(x: tf.Tensor4D, dy: tf.Tensor4D, w: tf.Tensor, conv: Conv2dModule): { dx: tf.Tensor4D; dw: tf.Tensor4D } {
  const attrs = { strides: [conv.stride, conv.stride], pad: convPadding(conv), dataFormat: 'NHWC', dimRoundingMode: undefined };
  const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape } as never) as tf.Tensor4D;
  const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape } as never) as tf.Tensor4D;
  return { dx, dw };
}

/**
 * A training-mode dense layer over the block's features so far, checkpointed: the forward keeps
 * only its inputs (the features are kept anyway), the backward recomputes the bottleneck
 * without touching the running statistics, then applies each op's closed-form gradient.
 */
function denseLayerCheckpointed(block: readonly tf.Tensor4D[], layer: DenseLayerModule): tf.Tensor4D {
  // A copy: the block's list grows after this call, the gradient must see today's length.
  const features = block.slice();
  const { norm1, conv1, norm2, conv2 } = layer;
  const params = [norm1.weight, norm1.bias, conv1.weight, norm2.weight, norm2.bias, conv2.weight];
  const channels = features.map((f) => f.shape[3]);
  const cin = channels.reduce((a, b) => a + b, 0);
  const [n, h, w] = features[0].shape;
  const rows = n * h * w;
  if (rows < 2) throw new Error(`${layer.name}: training-mode BatchNorm needs more than 1 value per channel, got input shape [${features[0].shape}]`);
  const bottleneck = (inputs: tf.Tensor[], update: boolean) => {
    const [g1, b1, w1, g2, b2] = inputs.slice(features.length);
    const x = features.length === 1 ? inputs[0] : tf.concat(inputs.slice(0, features.length), 3);
    const bn1 = batchNormTrainForward(tf.reshape(x, [rows, cin]) as tf.Tensor2D, norm1, g1, b1, true, update);
    const a1 = tf.reshape(bn1.out, [n, h, w, cin]) as tf.Tensor4D;
    const c1 = tf.conv2d(a1, w1 as tf.Tensor4D, conv1.stride, convPadding(conv1));
    const bn2 = batchNormTrainForward(tf.reshape(c1, [rows, c1.shape[3]]) as tf.Tensor2D, norm2, g2, b2, true, update);
    return { bn1, a1, bn2, a2: tf.reshape(bn2.out, c1.shape) as tf.Tensor4D };
  };
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const inputs = args as tf.Tensor[];
    const w2 = inputs[inputs.length - 1];
    const { a2 } = bottleneck(inputs, true);
    save(inputs);
    return {
      value: tf.conv2d(a2, w2 as tf.Tensor4D, conv2.stride, convPadding(conv2)),
      // The engine does not tidy a custom gradient: the recomputed activations would live until
      // the end of the whole backward pass.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [g1, , w1, g2, , w2s] = saved.slice(features.length);
        const { bn1, a1, bn2, a2: ra2 } = bottleneck(saved, false);
        const back2 = convBackward(ra2, dy as tf.Tensor4D, w2s, conv2);
        const n2 = batchNormTrainBackward(tf.reshape(back2.dx, [rows, ra2.shape[3]]) as tf.Tensor2D, bn2, g2);
        const back1 = convBackward(a1, tf.reshape(n2.dx, ra2.shape) as tf.Tensor4D, w1, conv1);
        const n1 = batchNormTrainBackward(tf.reshape(back1.dx, [rows, cin]) as tf.Tensor2D, bn1, g1);
        const dx = tf.reshape(n1.dx, [n, h, w, cin]);
        const dFeatures = features.length === 1 ? [dx] : tf.split(dx, channels, 3);
        return [...dFeatures, n1.dgamma, n1.dbeta, back1.dw, n2.dgamma, n2.dbeta, back2.dw];
      }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(...features, ...params) as tf.Tensor4D;
}

/** Features before torchvision's `classifier`: relu(norm5) pooled to [N, featureDim]. */
export function densenetForward(model: DenseNetModule, x: tf.Tensor4D, training: boolean): tf.Tensor2D {
  return globalAvgPool(densenetFeatureMap(model, x, training));
}

/** The last block's activations, relu(norm5) before pooling: [N, h, w, featureDim]. */
export function densenetFeatureMap(model: DenseNetModule, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  let y = batchNorm(conv2d(x, model.conv0), model.norm0, training, true);
  y = maxPool(y, 3, 2, 1);
  model.blocks.forEach((layers, i) => {
    if (training && model.config.memoryEfficient) {
      const features = [y];
      for (const layer of layers) features.push(denseLayerCheckpointed(features, layer));
      y = tf.concat(features, 3);
    } else {
      let concat = y;
      for (const layer of layers) concat = tf.concat([concat, denseLayer(concat, layer, training)], 3);
      y = concat;
    }
    const t = model.transitions[i];
    if (t) y = avgPool(conv2d(batchNorm(y, t.norm, training, true), t.conv), 2, 2);
  });
  return batchNorm(y, model.norm5, training, true);
}
