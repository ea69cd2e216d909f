import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { createBackbone, type Backbone, type BackboneOptions } from './index';
import { maxAbsDiff, randomInput, useTestBackend } from './test-support/backend';

beforeAll(async () => {
  await useTestBackend();
});

const countParams = (b: Backbone) => b.trainableVariables().reduce((n, v) => n + v.size, 0);

describe('full-size topology', () => {
  test.each([
    ['resnet18', 11_176_512, 512, 120],
    ['resnet50', 23_508_032, 2048, 318],
    ['densenet121', 6_953_856, 1024, 725],
  ] as const)('%s has %i parameters without the classifier and torchvision key names', async (name, params, dim, keys) => {
    const b = await createBackbone(name, { weights: undefined });
    try {
      expect(countParams(b)).toBe(params);
      expect(b.featureDim).toBe(dim);
      expect(b.variables.size).toBe(keys);
      expect(b.inputShape).toEqual([224, 224, 3]);
      const k = [...b.variables.keys()];
      if (name === 'densenet121') {
        expect(k.slice(0, 7)).toEqual([
          'features.conv0.weight',
          'features.norm0.weight',
          'features.norm0.bias',
          'features.norm0.running_mean',
          'features.norm0.running_var',
          'features.norm0.num_batches_tracked',
          'features.denseblock1.denselayer1.norm1.weight',
        ]);
        expect(b.variables.get('features.denseblock4.denselayer16.conv2.weight')!.shape).toEqual([3, 3, 128, 32]);
        expect(b.variables.get('features.transition3.conv.weight')!.shape).toEqual([1, 1, 1024, 512]);
        expect(b.variables.get('features.norm5.weight')!.shape).toEqual([1024]);
      } else {
        expect(k.slice(0, 3)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias']);
        expect(b.variables.get('conv1.weight')!.shape).toEqual([7, 7, 3, 64]);
        expect(b.variables.has('layer2.0.downsample.0.weight')).toBe(true);
        // resnet18's first stage keeps 64 channels, so it has no downsample; resnet50's expands to 256.
        expect(b.variables.has('layer1.0.downsample.0.weight')).toBe(name === 'resnet50');
        expect(b.variables.has('fc.weight')).toBe(false);
      }
    } finally {
      b.dispose();
    }
  });
});

// Small configurations keep the behavioural tests fast.
const SMALL: BackboneOptions = { inputShape: [32, 32, 3], blocks: [1, 1, 1, 1], widths: [8, 16, 16, 16], stemWidth: 8, seed: 3 };

describe('initialisation', () => {
  test('torchvision init: kaiming normal (fan_out for ResNet, fan_in for DenseNet), BN 1/0, stats 0/1', async () => {
    const r = await createBackbone('resnet18', { ...SMALL, widths: [64, 64, 64, 64], stemWidth: 64 });
    const d = await createBackbone('densenet121', { inputShape: [32, 32, 3], growthRate: 8, blockConfig: [2, 2], numInitFeatures: 64, bnSize: 2 });
    const std = (t: tf.Tensor) => tf.tidy(() => Math.sqrt(tf.moments(t).variance.dataSync()[0]));
    // layer1.0.conv1: 3x3, 64 -> 64; fan_out = fan_in = 576. conv1 (7x7, 3 -> 64): fan_out 3136, fan_in 147.
    expect(std(r.variables.get('conv1.weight')!)).toBeCloseTo(Math.sqrt(2 / 3136), 3);
    expect(std(d.variables.get('features.conv0.weight')!)).toBeCloseTo(Math.sqrt(2 / 147), 2);
    expect(Math.abs(std(r.variables.get('layer1.0.conv1.weight')!) / Math.sqrt(2 / 576) - 1)).toBeLessThan(0.03);
    for (const [suffix, value] of [['weight', 1], ['bias', 0], ['running_mean', 0], ['running_var', 1]] as const) {
      expect(Array.from(r.variables.get(`bn1.${suffix}`)!.dataSync())).toEqual(new Array(64).fill(value));
    }
    expect(r.variables.get('bn1.num_batches_tracked')!.dtype).toBe('int32');
    r.dispose();
    d.dispose();
  });

  test('the same seed gives the same weights, another seed different ones', async () => {
    const a = await createBackbone('resnet18', SMALL);
    const b = await createBackbone('resnet18', SMALL);
    const c = await createBackbone('resnet18', { ...SMALL, seed: 4 });
    expect(maxAbsDiff(a.variables.get('layer3.0.conv2.weight')!, b.variables.get('layer3.0.conv2.weight')!)).toBe(0);
    expect(maxAbsDiff(a.variables.get('layer3.0.conv2.weight')!, c.variables.get('layer3.0.conv2.weight')!)).toBeGreaterThan(0.1);
    for (const x of [a, b, c]) x.dispose();
  });
});

describe('Backbone', () => {
  test('embed returns [N, featureDim] and rejects inputs with the wrong channel count', async () => {
    const b = await createBackbone('resnet50', { ...SMALL, widths: [4, 4, 4, 8] });
    expect(b.featureDim).toBe(32);
    const y = b.embed(tf.ones([2, 40, 24, 3]));
    expect(y.shape).toEqual([2, 32]);
    y.dispose();
    const grey = tf.ones([1, 32, 32, 1]) as tf.Tensor4D;
    expect(() => b.embed(grey)).toThrow(/\[1,32,32,1\] has 1 channels, expected 3/);
    grey.dispose();
    b.dispose();
    expect(() => b.embed(tf.ones([1, 32, 32, 3]))).toThrow(/disposed/);
  });

  test.each(['resnet18', 'densenet121'] as const)('%s featureMap is the last block before pooling: its spatial mean is embed', async (name) => {
    const b = await createBackbone(name, name === 'resnet18' ? { ...SMALL, inputShape: [64, 64, 3] } : { inputShape: [64, 64, 3], growthRate: 4, blockConfig: [1, 1], numInitFeatures: 8, bnSize: 2 });
    const x = randomInput([2, 64, 64, 3], 9);
    const before = tf.memory().numTensors;
    const map = b.featureMap(x);
    const pooled = b.embed(x);
    expect(map.shape[0]).toBe(2);
    expect(map.shape[3]).toBe(b.featureDim);
    // Several positions, so a Grad-CAM over it has somewhere to point.
    expect(map.shape[1] * map.shape[2]).toBeGreaterThan(1);
    const mean = tf.mean(map, [1, 2]);
    expect(maxAbsDiff(mean, pooled)).toBeLessThan(1e-6);
    for (const t of [map, pooled, mean]) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const grey = tf.ones([1, 32, 32, 1]) as tf.Tensor4D;
    expect(() => b.featureMap(grey)).toThrow(/featureMap: input shape \[1,32,32,1\] has 1 channels, expected 3/);
    grey.dispose();
    x.dispose();
    b.dispose();
  });

  test('trainableVariables are weights and BN gamma/beta only; buffers are non-trainable', async () => {
    const b = await createBackbone('densenet121', { inputShape: [32, 32, 3], growthRate: 4, blockConfig: [1, 1], numInitFeatures: 8, bnSize: 2 });
    const trainable = new Set(b.trainableVariables());
    for (const [key, v] of b.variables) {
      expect(trainable.has(v), key).toBe(!/running_|num_batches_tracked/.test(key));
      expect(v.name.endsWith(`/${key}`)).toBe(true);
    }
    b.dispose();
  });

  test('clone is an exact, independent copy including BN statistics', async () => {
    const a = await createBackbone('resnet18', SMALL);
    const x = randomInput([4, 32, 32, 3], 5);
    a.embed(x, { training: true }).dispose(); // moves running stats away from 0/1
    const b = a.clone();
    expect([...b.variables.keys()]).toEqual([...a.variables.keys()]);
    for (const [key, v] of a.variables) {
      expect(b.variables.get(key)!.name).not.toBe(v.name);
      expect(maxAbsDiff(b.variables.get(key)!, v), key).toBe(0);
    }
    expect(b.variables.get('bn1.num_batches_tracked')!.dataSync()[0]).toBe(1);
    const ea = a.embed(x);
    const eb = b.embed(x);
    expect(maxAbsDiff(ea, eb)).toBe(0);
    b.embed(x, { training: true }).dispose();
    expect(maxAbsDiff(a.variables.get('bn1.running_mean')!, b.variables.get('bn1.running_mean')!)).toBeGreaterThan(0);
    expect(a.variables.get('bn1.num_batches_tracked')!.dataSync()[0]).toBe(1);
    for (const t of [ea, eb, x]) t.dispose();
    a.dispose();
    b.dispose();
  });

  test('stateDict in torch layout has OIHW kernels and loads back exactly', async () => {
    const a = await createBackbone('resnet18', SMALL);
    const b = await createBackbone('resnet18', { ...SMALL, seed: 9 });
    const dict = a.stateDict({ layout: 'torch' });
    expect(dict.get('conv1.weight')!.shape).toEqual([8, 3, 7, 7]);
    expect(dict.get('layer2.0.downsample.0.weight')!.shape).toEqual([16, 8, 1, 1]);
    const res = b.loadStateDict(dict, { layout: 'torch' });
    expect(res).toEqual({ missing: [], unexpected: [], mismatched: [] });
    for (const [key, v] of a.variables) expect(maxAbsDiff(b.variables.get(key)!, v), key).toBe(0);
    for (const t of dict.values()) t.dispose();
    a.dispose();
    b.dispose();
  });

  test('loadStateDict lists missing, unexpected and mis-shaped keys; non-strict loads the rest', async () => {
    const a = await createBackbone('resnet18', SMALL);
    const dict = a.stateDict();
    const keep = dict.get('conv1.weight')!;
    dict.delete('layer4.0.bn2.running_var');
    dict.delete('bn1.num_batches_tracked'); // optional, as in torch's old checkpoints
    dict.set('fc.weight', tf.zeros([10, 16]));
    dict.set('bn1.weight', tf.ones([9]));
    expect(() => a.loadStateDict(dict)).toThrow(
      /missing keys \(1\): layer4\.0\.bn2\.running_var\nunexpected keys \(1\): fc\.weight\nshape mismatches \(1\): bn1\.weight: got \[9\] \(tfjs layout\), expected \[8\]/,
    );
    dict.set('conv1.weight', tf.mul(keep, 2));
    const res = a.loadStateDict(dict, { strict: false });
    expect(res.missing).toEqual(['layer4.0.bn2.running_var']);
    expect(res.unexpected).toEqual(['fc.weight']);
    expect(res.mismatched).toHaveLength(1);
    expect(maxAbsDiff(a.variables.get('conv1.weight')!, tf.mul(keep, 2))).toBe(0);
    for (const t of dict.values()) t.dispose();
    keep.dispose();
    a.dispose();
  });

  test('training steps with Adam leak no tensors and update running statistics', async () => {
    const b = await createBackbone('densenet121', { inputShape: [24, 24, 3], growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2 });
    const r = await createBackbone('resnet18', SMALL);
    const x = randomInput([4, 24, 24, 3], 1);
    // Adam keeps its slots by position in the variable list: one optimizer per model.
    const opts = new Map([b, r].map((m) => [m, tf.train.adam(1e-3)]));
    const step = (m: Backbone) =>
      opts.get(m)!.minimize(() => tf.mean(tf.square(m.embed(x, { training: true }))) as tf.Scalar, true, m.trainableVariables())!;
    const losses: number[] = [];
    for (const m of [b, r]) step(m).dispose(); // warm-up creates Adam's slots
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      for (const m of [b, r]) {
        const loss = step(m);
        losses.push(loss.dataSync()[0]);
        loss.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(b.variables.get('features.norm5.num_batches_tracked')!.dataSync()[0]).toBe(4);
    expect(r.variables.get('layer4.0.bn2.num_batches_tracked')!.dataSync()[0]).toBe(4);
    // Adam moved the weights: each model's loss changes between steps.
    expect(losses[0]).not.toBe(losses[2]);
    expect(losses[1]).not.toBe(losses[3]);
    for (const o of opts.values()) o.dispose();
    x.dispose();
    b.dispose();
    r.dispose();
  });

  test('createBackbone rejects unknown names and bad input shapes', async () => {
    await expect(createBackbone('vgg16' as never)).rejects.toThrow(/unknown backbone 'vgg16'/);
    await expect(createBackbone('resnet18', { inputShape: [32, 32] as never })).rejects.toThrow(/inputShape/);
  });

  test('createBackbone names a mistyped, misplaced or bad option instead of building something else', async () => {
    const before = tf.memory().numTensors;
    await expect(createBackbone('resnet18', { widht: [8, 8, 8, 8] } as never)).rejects.toThrow(/createBackbone\(resnet18\): unknown option 'widht' \(did you mean 'widths'\?\); known options: .*widths/);
    await expect(createBackbone('resnet18', { widths: [-4, 8, 8, 8] })).rejects.toThrow(/widths must be a list of 4 positive integers, got \[-4,8,8,8\]/);
    await expect(createBackbone('resnet50', { blocks: [1, 1.5, 1, 1] })).rejects.toThrow(/blocks must be a list of 4 positive integers/);
    await expect(createBackbone('resnet18', { growthRate: 8 })).rejects.toThrow(/option 'growthRate' applies to DenseNet only/);
    await expect(createBackbone('densenet121', { stemWidth: 8 })).rejects.toThrow(/option 'stemWidth' applies to ResNet only/);
    await expect(createBackbone('densenet121', { bnSize: 0 })).rejects.toThrow(/bnSize must be a positive integer, got 0/);
    await expect(createBackbone('densenet121', { memoryEfficient: 'yes' as never })).rejects.toThrow(/memoryEfficient must be true or false/);
    await expect(createBackbone('resnet18', { seed: 'a' as never })).rejects.toThrow(/seed must be an integer/);
    // Nothing was built for a refused option.
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('memory-efficient DenseNet (torchvision memory_efficient)', () => {
  test('a training step peaks at well under the tensor bytes of the stored version', async () => {
    const arch: BackboneOptions = { inputShape: [32, 32, 3], growthRate: 8, blockConfig: [8], numInitFeatures: 16, bnSize: 4, seed: 2 };
    const x = randomInput([4, 32, 32, 3], 1);
    const peak = async (memoryEfficient: boolean) => {
      const b = await createBackbone('densenet121', { ...arch, memoryEfficient });
      try {
        const info = await tf.profile(() => {
          const { value, grads } = tf.variableGrads(() => tf.mean(b.embed(x, { training: true })) as tf.Scalar, b.trainableVariables());
          tf.dispose([value, ...Object.values(grads)]);
        });
        return info.peakBytes;
      } finally {
        b.dispose();
      }
    };
    const stored = await peak(false);
    const efficient = await peak(true);
    x.dispose();
    // Measured 0.57 of the stored peak for this 8-layer block; the gap grows with depth.
    expect(efficient).toBeLessThan(0.7 * stored);
  });

  test('same features, gradients and running statistics as the stored version, each stat updated once, no leak', async () => {
    const arch: BackboneOptions = { inputShape: [20, 20, 3], growthRate: 4, blockConfig: [3, 2], numInitFeatures: 8, bnSize: 2, seed: 5 };
    const plain = await createBackbone('densenet121', arch);
    const efficient = await createBackbone('densenet121', { ...arch, memoryEfficient: true });
    const x = randomInput([3, 20, 20, 3], 9);
    const target = tf.tidy(() => tf.randomNormal([3, plain.featureDim], 0, 1, 'float32', 4));
    try {
      const step = (b: Backbone) => {
        const vars = b.trainableVariables();
        const before = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(b.embed(x, { training: true }), target)) as tf.Scalar, vars);
        const out = { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name]) };
        value.dispose();
        return { out, before };
      };
      const a = step(plain);
      const b = step(efficient);
      expect(b.out.loss).toBeCloseTo(a.out.loss, 3);
      let worst = 0;
      a.out.grads.forEach((g, i) => {
        const scale = Math.max(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]), 1e-6);
        worst = Math.max(worst, maxAbsDiff(g, b.out.grads[i]) / scale);
      });
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([...a.out.grads, ...b.out.grads]);
      for (const [key, v] of plain.variables) {
        if (!/running_|num_batches/.test(key)) continue;
        expect(maxAbsDiff(v, efficient.variables.get(key)!), key).toBeLessThan(1e-5);
      }
      expect(efficient.variables.get('features.denseblock1.denselayer3.norm1.num_batches_tracked')!.dataSync()[0]).toBe(1);
      // A second step leaves no tensors behind.
      const count = tf.memory().numTensors;
      const again = step(efficient);
      tf.dispose(again.out.grads);
      expect(tf.memory().numTensors).toBe(count);
    } finally {
      tf.dispose([x, target]);
      plain.dispose();
      efficient.dispose();
    }
  });
});
