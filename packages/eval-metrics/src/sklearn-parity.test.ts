import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { auroc, averagePrecision, confusionAt, maskedAurocs, prCurve, rocCurve, youdenThreshold } from './index';

// Fixtures come from tools/sklearn-fixtures.py (scikit-learn 1.2, /usr/bin/python3).
const dir = new URL('./fixtures/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));

interface Curve {
  fpr: number[];
  tpr: number[];
  thresholdsAfterFirst: number[];
}
interface BinaryCase {
  name: string;
  labels: number[];
  scores: number[];
  auroc?: number;
  roc?: Curve;
  rocFull?: Curve;
  youden?: { threshold: number | null; j: number; sensitivity: number; specificity: number };
  pr?: { precision: number[]; recall: number[]; thresholds: number[] };
  averagePrecision?: number;
  confusion: Array<Record<string, number | null>>;
}

const cases: BinaryCase[] = readdirSync(dir)
  .filter((f) => f.startsWith('binary-'))
  .map(load);

function expectClose(actual: ArrayLike<number>, expected: number[], tol = 1e-12) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(tol);
}

// Thresholds are scores themselves, so equal exactly; === because -0 and 0 are one threshold.
function expectSameNumbers(actual: ArrayLike<number>, expected: number[]) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i] === expected[i]).toBe(true);
}

function expectCurve(actual: ReturnType<typeof rocCurve>, expected: Curve) {
  expectClose(actual.fpr, expected.fpr);
  expectClose(actual.tpr, expected.tpr);
  expect(actual.thresholds[0]).toBe(Infinity);
  expectSameNumbers(actual.thresholds.subarray(1), expected.thresholdsAfterFirst);
}

describe('scikit-learn parity', () => {
  it('has the fixture set (ties, tiny n, imbalanced, one class)', () => {
    expect(cases.map((c) => c.name).sort()).toEqual(
      ['all-tied', 'heavy-ties', 'imbalanced', 'integer-scores', 'inverted', 'negative-and-zero', 'positives-only', 'random-continuous', 'tiny-2', 'tiny-3-tied'],
    );
  });

  for (const c of cases) {
    describe(c.name, () => {
      if (c.auroc !== undefined) {
        it('auroc equals roc_auc_score to 1e-12', () => {
          expect(Math.abs(auroc(c.labels, c.scores) - c.auroc!)).toBeLessThanOrEqual(1e-12);
        });
        it('rocCurve equals roc_curve (default and drop_intermediate=False)', () => {
          expectCurve(rocCurve(c.labels, c.scores), c.roc!);
          expectCurve(rocCurve(c.labels, c.scores, { dropIntermediate: false }), c.rocFull!);
        });
        it('youdenThreshold equals argmax(tpr - fpr)', () => {
          const y = youdenThreshold(c.labels, c.scores);
          expect(y.threshold).toBe(c.youden!.threshold ?? Infinity);
          expect(Math.abs(y.j - c.youden!.j)).toBeLessThanOrEqual(1e-12);
          expect(Math.abs(y.sensitivity - c.youden!.sensitivity)).toBeLessThanOrEqual(1e-12);
          expect(Math.abs(y.specificity - c.youden!.specificity)).toBeLessThanOrEqual(1e-12);
        });
      } else {
        it('auroc and rocCurve refuse a single class', () => {
          expect(() => auroc(c.labels, c.scores)).toThrow(/needs both classes/);
          expect(() => rocCurve(c.labels, c.scores)).toThrow(/rocCurve: needs both classes/);
        });
      }
      it('prCurve and averagePrecision equal precision_recall_curve / average_precision_score', () => {
        const pr = prCurve(c.labels, c.scores);
        expectClose(pr.precision, c.pr!.precision);
        expectClose(pr.recall, c.pr!.recall);
        expectSameNumbers(pr.thresholds, c.pr!.thresholds);
        expect(Math.abs(averagePrecision(c.labels, c.scores) - c.averagePrecision!)).toBeLessThanOrEqual(1e-12);
      });
      it('confusionAt equals confusion_matrix counts and rates', () => {
        for (const expected of c.confusion) {
          const got = confusionAt(c.labels, c.scores, expected.threshold!);
          for (const key of ['tp', 'fp', 'tn', 'fn'] as const) expect(got[key]).toBe(expected[key]);
          for (const key of ['sensitivity', 'specificity', 'ppv', 'npv', 'f1'] as const) {
            if (expected[key] === null) expect(got[key]).toBeNaN();
            else expect(Math.abs(got[key] - expected[key]!)).toBeLessThanOrEqual(1e-12);
          }
        }
      });
    });
  }

  it('maskedAurocs equals roc_auc_score per task on the unmasked rows', () => {
    const f = load('masked-multitask.json');
    const labels = (f.labels as Array<Array<number | null>>).map((row) => row.map((v) => (v === null ? Number.NaN : v)));
    const result = maskedAurocs(labels, f.scores, f.tasks);
    expect(result.scored).toEqual(Object.keys(f.aurocs));
    for (const task of result.scored) expect(Math.abs(result.aurocs[task] - f.aurocs[task])).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(result.mean - f.mean)).toBeLessThanOrEqual(1e-12);
    expect(result.unscorable.map((u) => u.task)).toEqual(f.unscorable);
    expect(result.unscorable[0].reason).toMatch(/no negative labels after masking/);
  });
});
