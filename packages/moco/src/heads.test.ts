import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { createProjectionHead } from './heads';

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

describe('projection heads', () => {
  it('MLP head is Linear(d,d)-ReLU-Linear(d,128) with torch names', () => {
    const head = createProjectionHead({ kind: 'mlp', inputDim: 8, seed: 1 });
    expect([...head.variables.keys()]).toEqual(['fc.0.weight', 'fc.0.bias', 'fc.2.weight', 'fc.2.bias']);
    expect(head.variables.get('fc.0.weight')!.shape).toEqual([8, 8]);
    expect(head.variables.get('fc.2.weight')!.shape).toEqual([8, 128]);
    const x = tf.randomNormal([3, 8], 0, 1, 'float32', 5) as tf.Tensor2D;
    const y = head.apply(x);
    expect(y.shape).toEqual([3, 128]);
    const v = (n: string) => head.variables.get(n)!;
    const manual = tf.tidy(() => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, v('fc.0.weight')), v('fc.0.bias'))), v('fc.2.weight')), v('fc.2.bias')));
    expect(tf.max(tf.abs(tf.sub(y, manual))).dataSync()[0]).toBeLessThan(1e-6);
    // torch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)).
    const w = v('fc.0.weight').dataSync();
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(8));
    expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(0.5 / Math.sqrt(8));
    for (const t of [x, y, manual]) t.dispose();
    head.dispose();
  });

  it('linear head is one Linear(d, outputDim)', () => {
    const head = createProjectionHead({ kind: 'linear', inputDim: 4, outputDim: 16, seed: 2 });
    expect([...head.variables.keys()]).toEqual(['fc.weight', 'fc.bias']);
    const x = tf.ones([2, 4]) as tf.Tensor2D;
    const y = head.apply(x);
    const w = head.variables.get('fc.weight')!.arraySync() as number[][];
    const b = head.variables.get('fc.bias')!.dataSync();
    const expected0 = w.reduce((s, row) => s + row[0], 0) + b[0];
    expect(y.arraySync()[1][0]).toBeCloseTo(expected0, 5);
    for (const t of [x, y]) t.dispose();
    head.dispose();
  });

  it('stateDict in torch layout transposes Linear weights and round-trips; clone is independent', () => {
    const head = createProjectionHead({ inputDim: 5, hiddenDim: 6, outputDim: 3, seed: 3 });
    const sd = head.stateDict({ layout: 'torch' });
    expect(sd.get('fc.0.weight')!.shape).toEqual([6, 5]);
    expect(sd.get('fc.2.weight')!.shape).toEqual([3, 6]);
    const other = createProjectionHead({ inputDim: 5, hiddenDim: 6, outputDim: 3, seed: 4 });
    other.loadStateDict(sd, { layout: 'torch' });
    for (const [name, v] of head.variables) expect(Array.from(other.variables.get(name)!.dataSync())).toEqual(Array.from(v.dataSync()));
    const copy = head.clone();
    head.variables.get('fc.2.bias')!.assign(tf.zeros([3]));
    expect(Array.from(copy.variables.get('fc.2.bias')!.dataSync())).toEqual(Array.from(other.variables.get('fc.2.bias')!.dataSync()));
    sd.delete('fc.2.bias');
    expect(() => other.loadStateDict(sd)).toThrow(/missing keys \[fc\.2\.bias\]/);
    const bad = new Map(sd);
    bad.set('fc.2.bias', tf.zeros([4]));
    expect(() => other.loadStateDict(bad)).toThrow(/'fc\.2\.bias' is \[4\].*expected \[3\]/);
    for (const t of [...sd.values(), bad.get('fc.2.bias')!]) t.dispose();
    for (const h of [head, other, copy]) h.dispose();
  });
});
