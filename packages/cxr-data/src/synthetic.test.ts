import { describe, expect, it } from 'vitest';
import { aurocOf, fitLinearProbe } from './test-support/fixtures';
import { splitByPatient, syntheticCxr } from './index';

describe('syntheticCxr', () => {
  it('is seeded, labels known, patients with 1-3 images that share findings', () => {
    const a = syntheticCxr({ count: 60, size: 32, seed: 1 });
    const b = syntheticCxr({ count: 60, size: 32, seed: 1 });
    const c = syntheticCxr({ count: 60, size: 32, seed: 2 });
    const all = Array.from({ length: 60 }, (_, i) => i);
    expect(a.images.read(all)).toEqual(b.images.read(all));
    expect(a.dataset).toEqual(b.dataset);
    expect(c.images.read(all)).not.toEqual(a.images.read(all));
    expect(a.dataset.tasks).toEqual(['Effusion', 'Nodule']);
    expect(a.images.read([0]).length).toBe(32 * 32);
    const byPatient = new Map<string, number[]>();
    a.dataset.samples.forEach((s, i) => byPatient.set(s.patientId, [...(byPatient.get(s.patientId) ?? []), i]));
    for (const rows of byPatient.values()) {
      expect(rows.length).toBeLessThanOrEqual(3);
      for (const i of rows) expect(Array.from(a.dataset.labels.subarray(i * 2, i * 2 + 2))).toEqual(Array.from(a.dataset.labels.subarray(rows[0] * 2, rows[0] * 2 + 2)));
    }
    expect(byPatient.size).toBeGreaterThan(20);
    const only = syntheticCxr({ count: 10, size: 16, seed: 1, findings: { effusion: 1 } });
    expect(only.dataset.tasks).toEqual(['Effusion']);
    expect(Array.from(only.dataset.labels)).toEqual(new Array(10).fill(1));
    expect(() => syntheticCxr({ count: 0, size: 32, seed: 1 })).toThrow(/count must be a positive integer, got 0/);
  });
  it('images look like radiographs: dark background, dark lungs inside bright tissue, all different', () => {
    const { images } = syntheticCxr({ count: 40, size: 64, seed: 3, findings: { effusion: 0 } });
    const px = images.read(Array.from({ length: 40 }, (_, i) => i));
    const at = (i: number, x: number, y: number) => px[i * 4096 + y * 64 + x];
    let minDiff = Infinity;
    for (let i = 0; i < 40; i++) {
      // Corner (air) darker than the mid-lung, mid-lung darker than the spine.
      expect(at(i, 0, 0)).toBeLessThan(at(i, 20, 28));
      expect(at(i, 20, 28)).toBeLessThan(at(i, 32, 20));
      for (let j = 0; j < i; j++) {
        let d = 0;
        for (let p = 0; p < 4096; p++) d += Math.abs(px[i * 4096 + p] - px[j * 4096 + p]);
        minDiff = Math.min(minDiff, d / 4096);
      }
    }
    // Not trivially identical: every pair differs by several grey levels per pixel on average.
    expect(minDiff).toBeGreaterThan(3);
  });
  it('exposure 0 exposes every image alike and keeps the anatomy, findings and patients', () => {
    const all = Array.from({ length: 80 }, (_, i) => i);
    // The grey level of the air in the top corners (outside the body) is set by the exposure alone.
    const airSpread = (exposure: number) => {
      const { dataset, images } = syntheticCxr({ count: 80, size: 32, seed: 5, exposure });
      const px = images.read(all);
      const air = all.map((i) => {
        let sum = 0;
        for (let y = 0; y < 3; y++) for (const x of [0, 1, 2, 29, 30, 31]) sum += px[i * 1024 + y * 32 + x];
        return sum / 18;
      });
      const m = air.reduce((a, v) => a + v, 0) / air.length;
      return { dataset, sd: Math.sqrt(air.reduce((a, v) => a + (v - m) ** 2, 0) / air.length) };
    };
    const varied = airSpread(1);
    const alike = airSpread(0);
    expect(alike.dataset).toEqual(varied.dataset);
    expect(syntheticCxr({ count: 80, size: 32, seed: 5 }).images.read(all)).toEqual(syntheticCxr({ count: 80, size: 32, seed: 5, exposure: 1 }).images.read(all));
    console.log(`spread of the air's grey level over images: exposure 1 ${varied.sd.toFixed(2)}, exposure 0 ${alike.sd.toFixed(2)}`);
    // Left at exposure 0: the noise (measured 8.6 -> 1.2 grey levels).
    expect(alike.sd).toBeLessThan(0.25 * varied.sd);
    expect(() => syntheticCxr({ count: 8, size: 32, seed: 1, exposure: -1 })).toThrow(/exposure must be a finite number >= 0, got -1/);
  });
  it('effusion is learnable by a linear probe at 32 px, on held-out patients', () => {
    const S = 32;
    const { dataset, images } = syntheticCxr({ count: 400, size: S, seed: 4 });
    const split = splitByPatient(dataset, { fractions: { train: 0.5, test: 0.5 }, seed: 1, stratify: 'Effusion' });
    const px = images.read(Array.from({ length: 400 }, (_, i) => i));
    const y = (i: number) => dataset.labels[i * 2];
    // A linear probe on raw pixels: ridge-regularised LDA fitted on the train patients.
    const D = S * S;
    const x = new Float64Array(split.train.length * D);
    split.train.forEach((i, r) => {
      for (let p = 0; p < D; p++) x[r * D + p] = px[i * D + p] / 255;
    });
    const w = fitLinearProbe(x, D, split.train.map(y), 0.05);
    const scores = split.test.map((i) => {
      let s = 0;
      for (let p = 0; p < D; p++) s += (w[p] * px[i * D + p]) / 255;
      return s;
    });
    const auc = aurocOf(split.test.map(y), scores);
    console.log(`synthetic effusion linear probe AUROC at 32 px: ${auc.toFixed(3)}`);
    expect(auc).toBeGreaterThan(0.9);
    // Visible but not a giveaway: a pixel probe does not separate it perfectly (measured 0.988 here with
    // the default moderate effusions, 0.92-0.95 over five splits with the 0.15-0.35 of before 0.1.0).
    expect(auc).toBeLessThan(0.995);
  });
  it('effusionHeight sets the size of the fluid and nothing else', () => {
    const all = Array.from({ length: 60 }, (_, i) => i);
    const small = syntheticCxr({ count: 60, size: 32, seed: 6, exposure: 0, effusionHeight: [0.15, 0.35] });
    const large = syntheticCxr({ count: 60, size: 32, seed: 6, exposure: 0, effusionHeight: [0.5, 0.6] });
    expect(large.dataset).toEqual(small.dataset);
    const a = small.images.read(all);
    const b = large.images.read(all);
    // Lower half of the image: brighter where the fluid is higher, identical without effusion.
    let positives = 0;
    for (const i of all) {
      let lower = 0;
      for (let p = 16 * 32; p < 1024; p++) lower += b[i * 1024 + p] - a[i * 1024 + p];
      if (small.dataset.labels[i * 2] === 1) {
        positives++;
        expect(lower, `image ${i}`).toBeGreaterThan(0);
      } else {
        expect(Array.from(b.subarray(i * 1024, (i + 1) * 1024)), `image ${i}`).toEqual(Array.from(a.subarray(i * 1024, (i + 1) * 1024)));
      }
    }
    expect(positives).toBeGreaterThan(10);
    expect(syntheticCxr({ count: 8, size: 32, seed: 1 }).images.read([0, 1, 2])).toEqual(syntheticCxr({ count: 8, size: 32, seed: 1, effusionHeight: [0.25, 0.5] }).images.read([0, 1, 2]));
    expect(() => syntheticCxr({ count: 8, size: 32, seed: 1, effusionHeight: [0.4, 0.2] })).toThrow(/effusionHeight must be \[min, max\] with 0 < min <= max <= 1 .*got \[0.4,0.2\]/);
  });
});
