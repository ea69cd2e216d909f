// Test-only (never imported by the library; "!src/test-support" leaves it out of the package).
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBackbone, readSafetensors, type BackboneName, type BackboneOptions } from '../index';
import { maxAbs, maxAbsDiff, useTestBackend } from './backend';

// Test-only: the torchvision parity checks, run by parity.test.ts (one wasm thread) and
// parity-threads.test.ts (two threads, as users run with every core).

const fixture = (f: string) => fileURLToPath(new URL(`../fixtures/${f}`, import.meta.url));

interface Case {
  fixture: string;
  name: BackboneName;
  options: BackboneOptions;
  pth: string;
}

// Same narrowed configurations as tools/torch-fixtures.py.
const CASES: Case[] = [
  { fixture: 'resnet-mini', name: 'resnet18', options: { blocks: [2, 1, 1, 1], widths: [8, 16, 16, 16], stemWidth: 16 }, pth: 'resnet-mini.pth' },
  { fixture: 'resnet-bottleneck-mini', name: 'resnet50', options: { blocks: [1, 1, 1, 1], widths: [4, 8, 8, 8], stemWidth: 8 }, pth: 'resnet-bottleneck-mini.pth' },
  { fixture: 'densenet-mini', name: 'densenet121', options: { growthRate: 4, blockConfig: [2, 3, 2], numInitFeatures: 8, bnSize: 2 }, pth: 'densenet-mini-moco.pth' },
];

export function paritySuite(threads: number): void {
  let backend = '';
  let running = 0;
  beforeAll(async () => {
    ({ backend, threads: running } = await useTestBackend(threads));
  });

  describe.each(CASES)(`torchvision parity (${threads} thread${threads > 1 ? 's' : ''}): $fixture`, (c) => {
    let io: Map<string, tf.Tensor>;
    beforeAll(async () => {
      io = (await readSafetensors(fixture(`${c.fixture}-io.safetensors`))).tensors;
    });
    afterAll(() => {
      for (const t of io.values()) t.dispose();
    });
    const inputShape: [number, number, number] = [33, 33, 3];

    test.each([
      ['safetensors', `${c.fixture}.safetensors`],
      ['pth', c.pth],
    ])('eval-mode features match from %s to 1e-4', async (_fmt, file) => {
      const before = tf.memory().numTensors;
      const b = await createBackbone(c.name, { ...c.options, inputShape, weights: fixture(file) });
      const out = b.embed(io.get('input_nhwc') as tf.Tensor4D);
      const ref = io.get('eval_features')!;
      expect(out.shape).toEqual(ref.shape);
      expect(b.featureDim).toBe(ref.shape[1]);
      expect(maxAbsDiff(out, ref)).toBeLessThan(1e-4);
      out.dispose();
      b.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });

    test('one training-mode step: features, running stats and gradients match torch', async () => {
      const b = await createBackbone(c.name, { ...c.options, inputShape, weights: fixture(`${c.fixture}.safetensors`) });
      const x = io.get('input_nhwc') as tf.Tensor4D;
      const proj = io.get('projection')!;
      let features: tf.Tensor2D | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const f = b.embed(x, { training: true });
        features = tf.keep(f);
        return tf.sum(tf.mul(f, proj)) as tf.Scalar;
      }, b.trainableVariables());
      expect(maxAbsDiff(features!, io.get('train_features')!)).toBeLessThan(1e-4);
      let statsChecked = 0;
      for (const [key, ref] of io) {
        if (!key.startsWith('after_train.')) continue;
        const v = b.variables.get(key.slice('after_train.'.length))!;
        expect(v, key).toBeDefined();
        expect(maxAbsDiff(v, ref), key).toBeLessThan(1e-5 * Math.max(1, maxAbs(ref)));
        statsChecked++;
      }
      expect(statsChecked).toBe([...b.variables.keys()].filter((k) => /running_|num_batches/.test(k)).length);
      let gradsChecked = 0;
      for (const [key, ref] of io) {
        if (!key.startsWith('grad.')) continue;
        const v = b.variables.get(key.slice('grad.'.length))!;
        const g = grads[v.name];
        expect(g, key).toBeDefined();
        expect(maxAbsDiff(g, ref), key).toBeLessThan(1e-4 * Math.max(1, maxAbs(ref)));
        gradsChecked++;
      }
      expect(gradsChecked).toBeGreaterThan(2);
      features!.dispose();
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
      b.dispose();
    });
  });

  test(`tests ran on the wasm backend with ${threads} thread(s) (or the backend MOCO_CXR_TEST_BACKEND names)`, () => {
    const cpu = process.env.MOCO_CXR_TEST_BACKEND === 'cpu';
    expect(backend).toBe(cpu ? 'cpu' : 'wasm');
    if (!cpu) expect(running).toBe(threads);
  });
}
