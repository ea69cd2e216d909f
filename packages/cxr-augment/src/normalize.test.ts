import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './test-support/backend';
import { Rng } from '@moco-cxr/rng';
import { toTensor, twoViews, resolveNormalization } from './index';

describe.each(['cpu', 'wasm'] as const)('toTensor on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test('CXR normalisation: (p/255 - 0.5020) / 0.085585 on all three channels', () => {
    const pixels = Uint8Array.from([0, 128, 255, 64]);
    const x = toTensor(pixels, { count: 1, height: 2, width: 2 }, { normalize: 'cxr', channels: 3 });
    expect(x.shape).toEqual([1, 2, 2, 3]);
    expect(x.dtype).toBe('float32');
    const v = x.dataSync();
    const expected = [0, 128, 255, 64].map((p) => (p / 255 - 0.502) / 0.085585);
    // Hand values from the paper's statistics, on the output: black is -5.86551, white +5.81877 in CXR units.
    expect(v[0]).toBeCloseTo(-5.865513, 4);
    expect(v[2 * 3 + 1]).toBeCloseTo(5.818777, 4);
    for (let i = 0; i < 4; i++) {
      for (let c = 0; c < 3; c++) expect(v[i * 3 + c]).toBeCloseTo(expected[i], 5);
      // Exactly the float32 ops x/255, -mean, /std, which the tensor path also uses.
      const exact = Math.fround(Math.fround(Math.fround([0, 128, 255, 64][i] / 255) - Math.fround(0.502)) / Math.fround(0.085585));
      expect(v[i * 3]).toBe(exact);
    }
    x.dispose();
  });

  test('ImageNet normalisation is per channel; grey is copied before normalising', () => {
    const x = toTensor(Uint8Array.from([255, 0]), { count: 2, height: 1, width: 1 }, { normalize: 'imagenet', channels: 3 });
    const v = Array.from(x.dataSync());
    const white = [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225];
    const black = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225];
    [...white, ...black].forEach((e, i) => expect(v[i]).toBeCloseTo(e, 5));
    // Hand values on the output: white blue is (1 - 0.406) / 0.225 = 2.64, black red -0.485 / 0.229 = -2.117904.
    expect(v[2]).toBeCloseTo(2.64, 5);
    expect(v[3]).toBeCloseTo(-2.117904, 5);
    x.dispose();
  });

  test("'none' scales to [0, 1]; a custom {mean, std} applies per channel; 1 channel stays grey", () => {
    const none = toTensor(Uint8Array.from([0, 51, 255]), { count: 3, height: 1, width: 1 }, { normalize: 'none', channels: 1 });
    expect(none.shape).toEqual([3, 1, 1, 1]);
    expect(Array.from(none.dataSync())).toEqual([0, Math.fround(0.2), 1]);
    const custom = toTensor(Uint8Array.from([51]), { count: 1, height: 1, width: 1 }, { normalize: { mean: [0.2, 0, 0.1], std: [1, 0.5, 0.1] }, channels: 3 });
    const v = custom.dataSync();
    expect(v[0]).toBeCloseTo(0, 6);
    expect(v[1]).toBeCloseTo(0.4, 6);
    expect(v[2]).toBeCloseTo(1, 5);
    none.dispose();
    custom.dispose();
  });

  test('the augment path without augmentation gives the same bits as toTensor', () => {
    const rng = new Rng(1);
    const pixels = Uint8Array.from({ length: 2 * 5 * 6 }, () => rng.int(256));
    const direct = toTensor(pixels, { count: 2, height: 5, width: 6 });
    const [q, k] = twoViews({ pixels, count: 2, height: 5, width: 6 }, { normalize: 'cxr', channels: 3 }, rng);
    expect(Array.from(q.dataSync())).toEqual(Array.from(direct.dataSync()));
    expect(Array.from(k.dataSync())).toEqual(Array.from(direct.dataSync()));
    const imagenet = toTensor(pixels, { count: 2, height: 5, width: 6 }, { normalize: 'imagenet' });
    const [qi] = twoViews({ pixels, count: 2, height: 5, width: 6 }, { normalize: 'imagenet', channels: 3 }, rng);
    expect(Array.from(qi.dataSync())).toEqual(Array.from(imagenet.dataSync()));
    const grey = toTensor(pixels, { count: 2, height: 5, width: 6 }, { normalize: 'none', channels: 3 });
    const [qg] = twoViews({ pixels, count: 2, height: 5, width: 6 }, { normalize: 'none', channels: 3 }, rng);
    expect(Array.from(qg.dataSync())).toEqual(Array.from(grey.dataSync()));
    tf.dispose([direct, q, k, imagenet, qi, grey, qg]);
  });
});

describe('toTensor input checks', () => {
  test('a byte count that does not match count*height*width names both', () => {
    expect(() => toTensor(new Uint8Array(10), { count: 2, height: 2, width: 3 })).toThrow(/10 bytes, expected count\*height\*width = 2\*2\*3 = 12/);
  });
  test("'imagenet' with one channel and wrong-length statistics are refused", () => {
    expect(() => resolveNormalization('imagenet', 1)).toThrow(/channels: 3/);
    expect(() => resolveNormalization({ mean: [0.5, 0.5], std: 1 }, 3)).toThrow(/mean has 2 values/);
    expect(() => resolveNormalization({ mean: 0.5, std: 0 }, 1)).toThrow(/std\[0\] = 0/);
  });
});
