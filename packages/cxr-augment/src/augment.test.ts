import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './test-support/backend';
import { Rng } from '@moco-cxr/rng';
import reference from './fixtures/torchvision-rotate.json';
import {
  applyAugmentParams,
  augment,
  evalAugment,
  mocoCxrAugment,
  mocoV2Augment,
  sampleAugmentParams,
  geometryOf,
  twoViews,
  type AugmentParams,
} from './index';

const copyRng = (rng: Rng) => Rng.fromState(rng.state());
const values = (t: tf.Tensor) => Array.from(t.dataSync());

/** A float batch: image n holds n + (flat index mod 997) / 997, so pixels differ within small images. */
function ramp(n: number, h: number, w: number, c = 1): tf.Tensor4D {
  const v = new Float32Array(n * h * w * c);
  for (let i = 0; i < v.length; i++) v[i] = (i % 997) / 997 + Math.floor(i / (h * w * c));
  return tf.tensor4d(v, [n, h, w, c]);
}

/** Intensity-weighted centre (x, y) of one grey image. */
function centroid(v: ArrayLike<number>, h: number, w: number, offset = 0): [number, number] {
  let s = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = v[offset + y * w + x];
      s += p;
      sx += p * x;
      sy += p * y;
    }
  }
  return [sx / s, sy / s];
}

/** A smooth blob (so bilinear resampling keeps its centre) at (x0, y0). */
function blob(h: number, w: number, x0: number, y0: number, sigma = 1.5): Float32Array {
  const v = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) v[y * w + x] = Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma * sigma));
  return v;
}

/** Views each backend block computed from one seed, compared in 'across backends'. */
const crossBackendViews = new Map<string, number[][]>();

const identity: AugmentParams = { cropX: 0, cropY: 0, cropWidth: 0, cropHeight: 0, flip: false, angle: 0, brightness: 1, contrast: 1, blurSigma: 0 };

describe.each(['cpu', 'wasm'] as const)('geometry on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test('a flip mirrors columns, and flipping twice is the identity', () => {
    const x = ramp(3, 5, 7);
    const opts = { flipProbability: 1 };
    const once = augment(x, opts, new Rng(1));
    const twice = augment(once, opts, new Rng(2));
    const a = x.arraySync();
    const b = once.arraySync();
    for (let n = 0; n < 3; n++) for (let r = 0; r < 5; r++) for (let c = 0; c < 7; c++) expect(b[n][r][c][0]).toBe(a[n][r][6 - c][0]);
    expect(values(twice)).toEqual(values(x));
    tf.dispose([x, once, twice]);
  });

  test('rotation 0 is the identity, and a full turn comes back to the image through the warp', () => {
    const x = ramp(2, 6, 9, 3);
    const zero = augment(x, { rotation: 0 }, new Rng(3));
    expect(values(zero)).toEqual(values(x));
    const full = augment(x, { rotation: [360, 360] }, new Rng(3));
    values(full).forEach((v, i) => expect(Math.abs(v - x.dataSync()[i])).toBeLessThan(1e-4));
    tf.dispose([x, zero, full]);
  });

  test('a 90° rotation turns the image counter-clockwise: top-right goes to top-left (numpy rot90)', () => {
    for (const size of [5, 6]) {
      const x = ramp(1, size, size);
      const y = augment(x, { rotation: [90, 90] }, new Rng(0));
      const a = x.arraySync()[0];
      const b = y.arraySync()[0];
      // np.rot90: out[r][c] = in[c][size - 1 - r]
      for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) expect(b[r][c][0]).toBe(a[c][size - 1 - r][0]);
      // the known pixel: the top-right corner lands at the top-left corner.
      expect(b[0][0][0]).toBe(a[0][size - 1][0]);
      tf.dispose([x, y]);
    }
  });

  test('rotation (with and without flip) matches torchvision F.rotate (bilinear and nearest, zero padding)', () => {
    const { height: h, width: w } = reference;
    const x = tf.tensor4d(reference.input, [1, h, w, 1]);
    for (const { angle, flip, output, interpolation } of reference.cases) {
      const opts = { fillValue: 0, interpolation: interpolation as 'bilinear' | 'nearest' };
      const y = applyAugmentParams(x, [{ ...identity, cropWidth: w, cropHeight: h, angle, flip }], opts);
      const v = values(y);
      let worst = 0;
      v.forEach((e, i) => (worst = Math.max(worst, Math.abs(e - output[i]))));
      expect(worst, `angle ${angle}, flip ${flip}, ${interpolation}`).toBeLessThan(2e-5);
      y.dispose();
    }
    x.dispose();
  });

  test('±10° rotations keep a centred dot at the centre and turn an off-centre dot by the drawn angle', () => {
    const h = 41;
    const w = 41;
    const n = 8;
    const centred = tf.tensor4d(Array.from({ length: n }, () => Array.from(blob(h, w, 20, 20))).flat(), [n, h, w, 1]);
    const off = tf.tensor4d(Array.from({ length: n }, () => Array.from(blob(h, w, 32, 20))).flat(), [n, h, w, 1]);
    const rng = new Rng(42);
    const drawn = sampleAugmentParams(n, h, w, mocoCxrAugment, copyRng(rng));
    const a = augment(centred, { ...mocoCxrAugment }, copyRng(rng)).dataSync();
    const b = augment(off, { ...mocoCxrAugment }, copyRng(rng)).dataSync();
    let turned = 0;
    for (let i = 0; i < n; i++) {
      const [cx, cy] = centroid(a, h, w, i * h * w);
      expect(Math.hypot(cx - 20, cy - 20)).toBeLessThan(0.02);
      const { angle, flip } = drawn[i];
      expect(Math.abs(angle)).toBeLessThanOrEqual(10);
      if (angle !== 0) turned++;
      // The dot starts 12 px right of centre; a flip sends it left (180°), then rotation adds `angle`.
      const [dx, dy] = centroid(b, h, w, i * h * w).map((v) => v - 20);
      const seen = (Math.atan2(-dy, dx) * 180) / Math.PI; // y grows downwards, so counter-clockwise is -dy
      const expected = (flip ? 180 : 0) + angle;
      const diff = ((seen - expected + 540) % 360) - 180;
      expect(Math.abs(diff)).toBeLessThan(0.2);
      expect(Math.hypot(dx, dy)).toBeCloseTo(12, 1);
    }
    expect(turned).toBe(n);
    tf.dispose([centred, off]);
  });

  test('rotated-in corners take the fill value; pixel input fills black before normalising', () => {
    const ones = tf.ones([1, 8, 8, 1]) as tf.Tensor4D;
    const y = augment(ones, { rotation: [45, 45], fillValue: -3 }, new Rng(0)).arraySync()[0];
    expect(y[0][0][0]).toBe(-3);
    expect(y[7][7][0]).toBe(-3);
    expect(y[4][4][0]).toBeCloseTo(1, 6);
    const pixels = new Uint8Array(64).fill(200);
    const v = augment({ pixels, count: 1, height: 8, width: 8 }, { ...mocoCxrAugment, rotation: [45, 45] }, new Rng(0)).arraySync()[0];
    const black = Math.fround(Math.fround(0 - Math.fround(0.502)) / Math.fround(0.085585));
    expect(v[0][0]).toEqual([black, black, black]);
    expect(v[4][4][0]).toBeCloseTo((200 / 255 - 0.502) / 0.085585, 4);
    ones.dispose();
  });

  test('random crops cut the drawn window exactly and reach every offset; centre crop is torchvision’s', () => {
    const x = ramp(40, 6, 8);
    const rng = new Rng(5);
    const opts = { size: [3, 4] as const, crop: 'random' as const };
    const params = sampleAugmentParams(40, 6, 8, opts, copyRng(rng));
    const y = augment(x, opts, rng).arraySync();
    const a = x.arraySync();
    const rows = new Set<number>();
    const cols = new Set<number>();
    params.forEach((p, n) => {
      expect(p.cropY).toBeGreaterThanOrEqual(0);
      expect(p.cropY).toBeLessThanOrEqual(3);
      expect(p.cropX).toBeGreaterThanOrEqual(0);
      expect(p.cropX).toBeLessThanOrEqual(4);
      rows.add(p.cropY);
      cols.add(p.cropX);
      for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(y[n][r][c][0]).toBe(a[n][p.cropY + r][p.cropX + c][0]);
    });
    expect([...rows].sort()).toEqual([0, 1, 2, 3]);
    expect([...cols].sort()).toEqual([0, 1, 2, 3, 4]);
    // CenterCrop: top = round((6 - 3) / 2) = 2 (Python rounds 1.5 to 2), left = (8 - 4) / 2 = 2.
    const centre = augment(x, { ...evalAugment, size: [3, 4] }, new Rng(0)).arraySync();
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(centre[7][r][c][0]).toBe(a[7][2 + r][2 + c][0]);
    tf.dispose(x);
  });

  test('padding lets a random crop start outside the image; the outside is the fill value', () => {
    const x = ramp(60, 4, 4);
    const opts = { size: 4, padding: 2, fillValue: -1 };
    const rng = new Rng(9);
    const params = sampleAugmentParams(60, 4, 4, opts, copyRng(rng));
    const y = augment(x, opts, rng).arraySync();
    const a = x.arraySync();
    expect(Math.min(...params.map((p) => p.cropX))).toBe(-2);
    expect(Math.max(...params.map((p) => p.cropY))).toBe(2);
    params.forEach((p, n) => {
      for (let r = 0; r < 4; r++) {
        for (let c = 0; c < 4; c++) {
          const sr = p.cropY + r;
          const sc = p.cropX + c;
          const inside = sr >= 0 && sr < 4 && sc >= 0 && sc < 4;
          expect(y[n][r][c][0]).toBe(inside ? a[n][sr][sc][0] : -1);
        }
      }
    });
    tf.dispose(x);
  });

  test('resize of the short side and resized crops resample with half-pixel centres (2x2 block means)', () => {
    const x = ramp(1, 4, 8);
    const a = x.arraySync()[0];
    const half = augment(x, { resize: 2, size: [2, 4] }, new Rng(0));
    expect(half.shape).toEqual([1, 2, 4, 1]);
    const h = half.arraySync()[0];
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 4; c++) {
        const mean = (a[2 * r][2 * c][0] + a[2 * r][2 * c + 1][0] + a[2 * r + 1][2 * c][0] + a[2 * r + 1][2 * c + 1][0]) / 4;
        expect(h[r][c][0]).toBeCloseTo(mean, 5);
      }
    }
    // A 4x4 box at (x 3, y 0) shrunk to 2x2.
    const box = applyAugmentParams(x, [{ ...identity, cropX: 3, cropY: 0, cropWidth: 4, cropHeight: 4 }], { size: 2 }).arraySync()[0];
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 2; c++) {
        const [y0, x0] = [2 * r, 3 + 2 * c];
        const mean = (a[y0][x0][0] + a[y0][x0 + 1][0] + a[y0 + 1][x0][0] + a[y0 + 1][x0 + 1][0]) / 4;
        expect(box[r][c][0]).toBeCloseTo(mean, 5);
      }
    }
    tf.dispose([x, half]);
  });

  test('random-resized-crop boxes follow torchvision: area fraction and aspect ratio within range, inside the image', () => {
    const params = sampleAugmentParams(500, 64, 48, { size: 32, resizedCrop: { scale: [0.2, 1], ratio: [3 / 4, 4 / 3] } }, new Rng(11));
    for (const p of params) {
      expect(p.cropX).toBeGreaterThanOrEqual(0);
      expect(p.cropY).toBeGreaterThanOrEqual(0);
      expect(p.cropX + p.cropWidth).toBeLessThanOrEqual(48);
      expect(p.cropY + p.cropHeight).toBeLessThanOrEqual(64);
      const area = (p.cropWidth * p.cropHeight) / (64 * 48);
      expect(area).toBeGreaterThan(0.18);
      expect(area).toBeLessThanOrEqual(1);
      const ratio = p.cropWidth / p.cropHeight;
      expect(ratio).toBeGreaterThan(0.7);
      expect(ratio).toBeLessThan(1.42);
    }
    const areas = params.map((p) => (p.cropWidth * p.cropHeight) / (64 * 48));
    expect(Math.min(...areas)).toBeLessThan(0.25);
    expect(Math.max(...areas)).toBeGreaterThan(0.7);
  });

  test('brightness then contrast: x·b clipped, then c·x + (1 - c)·mean, clipped', () => {
    const x = tf.tensor4d([0.1, 0.5, 0.9, 0.3, 0.2, 0.2, 0.2, 0.2], [2, 2, 2, 1]);
    const opts = { colorJitter: { brightness: 0.5, contrast: 0.5, probability: 1 } };
    const p = [
      { ...identity, cropWidth: 2, cropHeight: 2, brightness: 1.2, contrast: 1.5 },
      { ...identity, cropWidth: 2, cropHeight: 2 },
    ];
    const y = values(applyAugmentParams(x, p, opts));
    const bright = [0.1, 0.5, 0.9, 0.3].map((v) => Math.min(1, v * 1.2));
    const mean = bright.reduce((s, v) => s + v, 0) / 4;
    const expected = bright.map((v) => Math.min(1, Math.max(0, 1.5 * v + (1 - 1.5) * mean)));
    expected.forEach((e, i) => expect(y[i]).toBeCloseTo(e, 5));
    expect(y.slice(4)).toEqual([0.2, 0.2, 0.2, 0.2].map(Math.fround));
    x.dispose();
  });

  test('Gaussian blur: a dot becomes the outer product of the taps; sigma 0 and flat images are unchanged', () => {
    const dot = new Float32Array(2 * 15 * 15);
    dot[7 * 15 + 7] = 1;
    dot[225 + 7 * 15 + 7] = 1;
    const x = tf.tensor4d(dot, [2, 15, 15, 1]);
    const opts = { blur: { sigma: [0.1, 1.5] as const, probability: 1 } };
    const sigma = 1.2;
    const y = values(applyAugmentParams(x, [{ ...identity, cropWidth: 15, cropHeight: 15, blurSigma: sigma }, { ...identity, cropWidth: 15, cropHeight: 15 }], opts));
    const g = (k: number) => Math.exp(-(k * k) / (2 * sigma * sigma));
    let norm = 0;
    for (let k = -5; k <= 5; k++) norm += g(k); // radius = ceil(3 * 1.5)
    for (let r = 0; r < 15; r++) for (let c = 0; c < 15; c++) {
      const dr = r - 7;
      const dc = c - 7;
      const e = Math.abs(dr) <= 5 && Math.abs(dc) <= 5 ? (g(dr) * g(dc)) / (norm * norm) : 0;
      expect(y[r * 15 + c]).toBeCloseTo(e, 6);
    }
    expect(y.slice(225)).toEqual(Array.from(dot.slice(225)));
    // Reflected edges (torchvision's padding): a dot at (1, 1) reaches (0, 0) from both sides, 2·g(1) per axis.
    const edge = new Float32Array(15 * 15);
    edge[15 + 1] = 1;
    const e = tf.tensor4d(edge, [1, 15, 15, 1]);
    const ye = values(applyAugmentParams(e, [{ ...identity, cropWidth: 15, cropHeight: 15, blurSigma: sigma }], opts));
    expect(ye[0]).toBeCloseTo((2 * g(1) / norm) ** 2, 6);
    // At (1, 1) itself: the centre tap plus the tap two steps out, reflected back from index -1.
    expect(ye[16]).toBeCloseTo(((g(0) + g(2)) / norm) ** 2, 6);
    e.dispose();
    const flat = tf.fill([1, 12, 12, 1], 0.7) as tf.Tensor4D;
    values(applyAugmentParams(flat, [{ ...identity, cropWidth: 12, cropHeight: 12, blurSigma: 1.5 }], opts)).forEach((v) => expect(v).toBeCloseTo(0.7, 6));
    tf.dispose([x, flat]);
  });

  test('records seeded views for the cross-backend comparison below', () => {
    const rng = new Rng(77);
    const pixels = Uint8Array.from({ length: 3 * 40 * 40 }, () => rng.int(256));
    const views = twoViews({ pixels, count: 3, height: 40, width: 40 }, { ...mocoV2Augment, rotation: 10, size: 32 }, new Rng(5));
    crossBackendViews.set(backend, views.map(values));
    expect(views[0].shape).toEqual([3, 32, 32, 3]);
    tf.dispose(views);
  });

  test('same seed, same views (exactly); query and key differ; tensors do not leak', () => {
    const rng = new Rng(123);
    const pixels = Uint8Array.from({ length: 4 * 32 * 32 }, () => rng.int(256));
    const batch = { pixels, count: 4, height: 32, width: 32 };
    for (const preset of [mocoCxrAugment, { ...mocoV2Augment, blur: { sigma: [0.1, 2] as const, probability: 0.5 } }]) {
      const [q1, k1] = twoViews(batch, preset, new Rng(7));
      const [q2, k2] = twoViews(batch, preset, new Rng(7));
      expect(values(q1)).toEqual(values(q2));
      expect(values(k1)).toEqual(values(k2));
      expect(values(q1)).not.toEqual(values(k1));
      const [q3] = twoViews(batch, preset, new Rng(8));
      expect(values(q3)).not.toEqual(values(q1));
      expect(q1.shape).toEqual([4, 32, 32, 3]);
      tf.dispose([q1, k1, q2, k2, q3]);
    }
    const x = ramp(4, 32, 32, 3);
    const before = tf.memory().numTensors;
    const r = new Rng(1);
    for (let i = 0; i < 10; i++) {
      tf.dispose(twoViews(batch, mocoCxrAugment, r));
      tf.dispose(twoViews(batch, { ...mocoV2Augment, size: 24 }, r));
      tf.dispose(twoViews(x, { ...mocoCxrAugment, size: 28 }, r));
      tf.dispose(augment(x, evalAugment, r));
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('across backends', () => {
  test('one seed gives the same views on cpu and wasm (parameters come from Rng, not tf.random)', () => {
    const cpu = crossBackendViews.get('cpu');
    const wasm = crossBackendViews.get('wasm');
    expect(cpu && wasm, 'both backend blocks recorded their views').toBeTruthy();
    const [qc, kc] = cpu as number[][];
    const [qw, kw] = wasm as number[][];
    let worst = 0;
    qc.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - qw[i]))));
    kc.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - kw[i]))));
    expect(worst).toBeLessThan(1e-3); // CXR units (std 0.0856): about 1e-4 of the grey range
    expect(qc).not.toEqual(kc);
  });
});

describe('option checks', () => {
  test('errors name the shape or option that was wrong', () => {
    const x = tf.zeros([2, 8, 8, 1]) as tf.Tensor4D;
    expect(() => augment(x, { size: 10 }, new Rng(0))).toThrow(/10x10 crop does not fit the 8x8 image/);
    expect(() => augment(x, { flipProbability: 2 }, new Rng(0))).toThrow(/flipProbability/);
    expect(() => augment(tf.zeros([8, 8, 1]) as unknown as tf.Tensor4D, {}, new Rng(0))).toThrow(/rank 4, got shape \[8, 8, 1\]/);
    expect(() => twoViews({ pixels: new Uint8Array(5), count: 1, height: 2, width: 2 }, mocoCxrAugment, new Rng(0))).toThrow(/5 bytes/);
    expect(() => applyAugmentParams(x, [], {})).toThrow(/0 parameter sets for a batch of 2/);
    x.dispose();
  });

  test('resize follows torchvision Resize(int): short side to S, long side truncated; default output S x S', () => {
    expect(geometryOf(300, 400, { resize: 224 })).toEqual({
      inputHeight: 300, inputWidth: 400, resizedHeight: 224, resizedWidth: 298, outputHeight: 224, outputWidth: 224,
    });
    expect(geometryOf(400, 300, { resize: 224, size: [200, 180] })).toMatchObject({ resizedHeight: 298, resizedWidth: 224, outputHeight: 200, outputWidth: 180 });
    // A 224 crop of the 224 x 298 image moves only sideways.
    const p = sampleAugmentParams(200, 300, 400, { resize: 224 }, new Rng(4));
    expect(new Set(p.map((q) => q.cropY))).toEqual(new Set([0]));
    expect(Math.max(...p.map((q) => q.cropX))).toBe(74);
  });

  test('presets are the paper’s and MoCo v2’s settings, and frozen', () => {
    expect(mocoCxrAugment).toMatchObject({ flipProbability: 0.5, rotation: 10, crop: 'random', normalize: 'cxr', channels: 3 });
    expect(mocoCxrAugment.colorJitter ?? null).toBeNull();
    expect(mocoCxrAugment.blur ?? null).toBeNull();
    expect(mocoV2Augment.resizedCrop).toEqual({ scale: [0.2, 1], ratio: [3 / 4, 4 / 3] });
    expect(mocoV2Augment.colorJitter).toMatchObject({ brightness: 0.4, contrast: 0.4, probability: 0.8 });
    expect(mocoV2Augment.blur).toEqual({ sigma: [0.1, 2], probability: 0.5 });
    expect(Object.isFrozen(mocoCxrAugment)).toBe(true);
  });
});
