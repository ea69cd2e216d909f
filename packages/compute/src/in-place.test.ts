import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { optimizerStepInPlace } from './in-place';
import { FUSED, OPTIMIZER_KIND, loadNative } from './native';
import { randn } from './test-support/kernels';

const addon = loadNative();

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto' });
});

// Sizes around the 16k-element chunk, a scalar-sized one and a conv filter: chunks of several variables share the threads.
const SIZES = [1, 7, 16384, 16385, 40000, 3 * 3 * 5 * 7];
const b1 = 0.9, b2 = 0.999, t = 3;
const CASES = [
  { name: 'tf.train.adam', kind: OPTIMIZER_KIND.tfAdam, hyper: [b1, b2, 1e-7, 0.01, Math.fround(1 - b1 ** t), Math.fround(1 - b2 ** t)], slots: true },
  { name: 'torch Adam with weight decay', kind: OPTIMIZER_KIND.torchAdam, hyper: [b1, b2, 1e-8, 0.01 / (1 - b1 ** t), Math.sqrt(1 - b2 ** t), 1e-4], slots: true },
  { name: 'key-encoder EMA', kind: OPTIMIZER_KIND.ema, hyper: [0.999, 0, 0, 0, 0, 0], slots: false },
];

function values(rng: Rng): Float32Array[][] {
  // [param, grad, slot1, slot2] per variable; the second moment is non-negative.
  return SIZES.map((n) => [randn(rng, [n]).values, randn(rng, [n]).values, randn(rng, [n]).values, randn(rng, [n]).values.map((v) => v * v)]);
}

// A variable that alone holds its buffer (tf.variable shares its initial tensor's until that is disposed).
const variable = (a: Float32Array | number[]) => tf.tidy(() => tf.variable(tf.tensor1d(a)));

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

for (const threads of [1, 2])
describe(`optimizerStepInPlace, native kernels, ${threads} thread(s)`, () => {
  const rng = new Rng(31);
  const native = async () => {
    const info = await initBackend({ prefer: 'wasm', threads, kernels: 'native' });
    expect(info).toMatchObject({ kernels: 'native', threads });
  };

  for (const c of CASES) {
    it(`${c.name}: every variable in one call, the same bits as one optimizerStep per variable, nothing left`, async () => {
      const vals = values(rng);
      await native();
      const before = tf.memory().numTensors;
      // Reference: the out-of-place kernel, one call per variable.
      const ref = vals.map(([p, g, s1, s2]) => {
        const inputs: tf.NamedTensorMap = { param: tf.tensor1d(p), grad: tf.tensor1d(g) };
        if (c.slots) Object.assign(inputs, { slot1: tf.tensor1d(s1), slot2: tf.tensor1d(s2) });
        const outs = tf.engine().runKernel(FUSED.optimizerStep, inputs, { kind: c.kind, hyper: c.hyper } as never) as tf.Tensor[];
        const data = outs.map((o) => o.dataSync() as Float32Array);
        tf.dispose([...Object.values(inputs), ...outs]);
        return data;
      });
      const vars = vals.map(([p, g, s1, s2]) => ({ param: variable(p), grad: tf.tensor1d(g), slot1: variable(s1), slot2: variable(s2) }));
      const entries = vars.map((v) => (c.slots ? v : { param: v.param, grad: v.grad }));
      const left = tf.tidy(() => optimizerStepInPlace(c.kind, entries, c.hyper));
      expect(left.length).toBe(0);
      vars.forEach((v, i) => {
        expect(bits(v.param.dataSync() as Float32Array), `param ${i} (${SIZES[i]})`).toEqual(bits(ref[i][0]));
        if (c.slots) {
          expect(bits(v.slot1.dataSync() as Float32Array), `slot1 ${i}`).toEqual(bits(ref[i][1]));
          expect(bits(v.slot2.dataSync() as Float32Array), `slot2 ${i}`).toEqual(bits(ref[i][2]));
        } else {
          expect(bits(v.slot1.dataSync() as Float32Array), `slot1 ${i} untouched`).toEqual(bits(vals[i][2]));
        }
        expect(bits(v.grad.dataSync() as Float32Array), `grad ${i} untouched`).toEqual(bits(vals[i][1]));
      });
      tf.dispose(vars.flatMap((v) => [v.param, v.grad, v.slot1, v.slot2]));
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('leaves to the caller a variable whose buffer a clone shares, or that is another entry\'s grad; their values do not change', async () => {
    await native();
    const c = CASES[1];
    const [[p0, g0, s10, s20], [p1, g1, s11, s21], [p2, , s12, s22]] = values(rng);
    const mk = (p: Float32Array, g: Float32Array, s1: Float32Array, s2: Float32Array) => ({ param: variable(p), grad: tf.tensor1d(g), slot1: variable(s1), slot2: variable(s2) });
    const shared = mk(p0, g0, s10, s20);
    const clone = shared.slot1.clone(); // shares slot1's buffer (Identity counts references)
    const free = mk(p1, g1, s11, s21);
    const read = { param: variable(p2), grad: free.param as tf.Tensor, slot1: variable(s12), slot2: variable(s22) };
    const readBy = { param: variable(p2), grad: read.param as tf.Tensor, slot1: variable(s12), slot2: variable(s22) };
    const all = [shared, free, read, readBy];
    const left = optimizerStepInPlace(c.kind, all, c.hyper);
    // free's param is read as read's grad, and read's param as readBy's grad: only readBy is written.
    expect(left.map((e) => all.indexOf(e))).toEqual([0, 1, 2]);
    expect(bits(clone.dataSync() as Float32Array)).toEqual(bits(s10));
    expect(bits(shared.param.dataSync() as Float32Array)).toEqual(bits(p0));
    expect(bits(free.param.dataSync() as Float32Array)).toEqual(bits(p1));
    expect(bits(read.param.dataSync() as Float32Array)).toEqual(bits(p2));
    expect(bits(readBy.param.dataSync() as Float32Array)).not.toEqual(bits(p2));
    tf.dispose([clone, ...all.flatMap((v) => [v.param, v.slot1, v.slot2]), shared.grad, free.grad]);
  });

  it('the kernel refuses a shared buffer, naming the input; the addon names a view of the wrong size', async () => {
    await native();
    const p = variable([1, 2, 3]);
    const g = tf.tensor1d([1, 1, 1]);
    const held = p.clone();
    expect(() => tf.engine().runKernel(FUSED.optimizerStepInPlace, { param0: p, grad0: g }, { kind: OPTIMIZER_KIND.ema, hyper: [0.5, 0, 0, 0, 0, 0], count: 1 } as never)).toThrow(/input 'param0' shares its buffer/);
    expect(Array.from(held.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([p, g, held]);
    const h = new Float64Array(6);
    const f = (n: number) => new Float32Array(n);
    expect(() => addon!.optimizerStepInPlace(1, [f(4)], [f(4)], [f(3)], [f(4)], h, 1)).toThrow(/slot2\[0\] has 3 elements, params\[0\] 4/);
    expect(() => addon!.optimizerStepInPlace(2, [f(4)], null, null, [f(4)], h, 1)).toThrow(/kind must be 0, 1 or 3/);
    expect(() => addon!.optimizerStepInPlace(3, [f(4), f(2)], null, null, [f(4)], h, 1)).toThrow(/as many views/);
  });

  it('tf.train.adam on several variables: the in-place update matches tfjs on the cpu backend over three steps', async () => {
    const inits = [[40, 7], [3, 3, 4, 5], [1]].map((s) => randn(rng, s));
    const train = () => {
      const ws = inits.map((i) => tf.variable(tf.tensor(i.values, i.shape)));
      const opt = tf.train.adam(0.01);
      for (let s = 0; s < 3; s++) opt.minimize(() => tf.addN(ws.map((w, i) => tf.sum(tf.square(tf.sub(w, i + 0.5))))) as tf.Scalar);
      const out = ws.map((w) => w.clone());
      opt.dispose();
      tf.dispose(ws);
      return out;
    };
    await native();
    // A training step takes the in-place path (no variable's buffer is shared after the backward pass).
    const ws = inits.map((i) => tf.tidy(() => tf.variable(tf.tensor(i.values, i.shape))));
    const opt = tf.train.adam(0.01);
    const prof = await tf.profile(() => opt.minimize(() => tf.addN(ws.map((w) => tf.sum(tf.square(w)))) as tf.Scalar, true)?.dispose());
    const updates = prof.kernels.map((k) => k.name).filter((n) => n.startsWith('MocoCxrOptimizerStep'));
    expect(updates).toEqual([FUSED.optimizerStepInPlace]);
    opt.dispose();
    tf.dispose(ws);
    const before = tf.memory().numTensors;
    const ours = tf.tidy(train);
    const oursData = ours.map((o) => o.dataSync() as Float32Array);
    tf.dispose(ours);
    expect(tf.memory().numTensors).toBe(before);
    await initBackend({ prefer: 'cpu' });
    const ref = tf.tidy(train);
    ref.forEach((r, i) => {
      const a = oursData[i];
      const b = r.dataSync() as Float32Array;
      for (let j = 0; j < a.length; j++) expect(Math.abs(a[j] - b[j]), `variable ${i}[${j}]`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b[j])));
      expect(Math.abs(a[0] - inits[i].values[0])).toBeGreaterThan(1e-3); // it moved
    });
    tf.dispose(ref);
  });
});

describe('optimizerStepInPlace with the native kernels off', () => {
  it('leaves every entry to the caller and writes nothing', async () => {
    await initBackend({ prefer: 'wasm', threads: 1, kernels: 'wasm' });
    const p = variable([1, 2]);
    const g = tf.tensor1d([3, 4]);
    const entries = [{ param: p, grad: g }];
    const left = optimizerStepInPlace(OPTIMIZER_KIND.ema, entries, [0.5, 0, 0, 0, 0, 0]);
    expect(left.length === 1 && left[0] === entries[0]).toBe(true);
    expect(Array.from(p.dataSync())).toEqual([1, 2]);
    tf.dispose([p, g]);
  });
});
