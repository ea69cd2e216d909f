import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@moco-cxr/compute';
import { Adam, Sgd, type Optimizer } from './optim';

// Made by scripts/make-fixtures.py with torch.optim (torch 1.13).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/torch-optim.json', import.meta.url), 'utf8')) as {
  shape: number[];
  p0: number[];
  grads: number[][];
  lrs: number[];
  trajectories: Record<string, number[][]>;
};

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

function replay(make: () => Optimizer, stopAfter?: number): { traj: number[][]; opt: Optimizer; params: Map<string, tf.Variable> } {
  const init = tf.tensor(fixture.p0, fixture.shape);
  const params = new Map([['w', tf.variable(init)]]);
  init.dispose();
  const opt = make();
  const traj: number[][] = [];
  fixture.grads.slice(0, stopAfter).forEach((g, i) => {
    const grad = tf.tensor(g, fixture.shape);
    opt.step(params, new Map([['w', grad]]), fixture.lrs[i]);
    grad.dispose();
    traj.push(Array.from(params.get('w')!.dataSync()));
  });
  return { traj, opt, params };
}

function expectClose(a: number[][], b: number[][], tol: number) {
  expect(a.length).toBe(b.length);
  a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - b[i][j])).toBeLessThan(tol)));
}

describe('optimisers match torch.optim', () => {
  const cases: Array<[string, () => Optimizer]> = [
    ['adam', () => new Adam({ weightDecay: 0.1 })],
    ['sgd', () => new Sgd({ momentum: 0.9, weightDecay: 0.1 })],
    ['sgd_nesterov', () => new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: same trajectory as torch over 5 steps with changing lr`, () => {
      const before = tf.memory().numTensors;
      const { traj, opt, params } = replay(make);
      expectClose(traj, fixture.trajectories[name], 1e-6);
      opt.dispose();
      params.get('w')!.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${name}: state() / loadState() resumes exactly`, () => {
      const straight = replay(make);
      const first = replay(make, 2);
      const saved = first.opt.state();
      const params = first.params;
      const resumed = make();
      resumed.loadState(saved);
      const traj = first.traj.slice();
      fixture.grads.slice(2).forEach((g, k) => {
        const grad = tf.tensor(g, fixture.shape);
        resumed.step(params, new Map([['w', grad]]), fixture.lrs[k + 2]);
        grad.dispose();
        traj.push(Array.from(params.get('w')!.dataSync()));
      });
      expect(traj).toEqual(straight.traj);
      for (const o of [straight.opt, first.opt, resumed]) o.dispose();
      straight.params.get('w')!.dispose();
      params.get('w')!.dispose();
    });
  }

  it('rejects a gradient for an unknown parameter or of the wrong shape', () => {
    const params = new Map([['w', tf.variable(tf.zeros([2]))]]);
    const opt = new Adam();
    const g = tf.zeros([3]);
    expect(() => opt.step(params, new Map([['v', g]]), 1e-3)).toThrow(/gradient for 'v' has no parameter/);
    expect(() => opt.step(params, new Map([['w', g]]), 1e-3)).toThrow(/gradient 'w' is \[3\], parameter is \[2\]/);
    expect(() => new Sgd().loadState(opt.state())).toThrow(/saved state is for 'adam'/);
    g.dispose();
    params.get('w')!.dispose();
    opt.dispose();
  });
});

describe('Adam on the native kernels: every parameter in one in-place call', () => {
  it('follows torch over 5 steps on two parameters, in one MocoCxrOptimizerStepInPlace per step, leaving no tensor', async () => {
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native' });
    try {
      const make = (v: number[]) => tf.tidy(() => tf.variable(tf.tensor(v, fixture.shape)));
      // The same fixture twice, the second negated: both follow torch (its negation) in the one call.
      const params = new Map([['w', make(fixture.p0)], ['u', make(fixture.p0.map((x) => -x))]]);
      const opt = new Adam({ weightDecay: 0.1 });
      const before = tf.memory().numTensors;
      const traj: number[][][] = [[], []];
      for (const [i, g] of fixture.grads.entries()) {
        const grads = new Map([['w', tf.tensor(g, fixture.shape)], ['u', tf.tensor(g.map((x) => -x), fixture.shape)]]);
        const prof = await tf.profile(() => opt.step(params, grads, fixture.lrs[i]));
        expect(prof.kernels.map((k) => k.name).filter((n) => n.startsWith('MocoCxrOptimizerStep'))).toEqual(['MocoCxrOptimizerStepInPlace']);
        tf.dispose([...grads.values()]);
        traj[0].push(Array.from(params.get('w')!.dataSync()));
        traj[1].push(Array.from(params.get('u')!.dataSync(), (x) => -x));
      }
      // The slots were made on the first step; nothing else is left.
      expect(tf.memory().numTensors).toBe(before + 4);
      expectClose(traj[0], fixture.trajectories.adam, 1e-6);
      expectClose(traj[1], fixture.trajectories.adam, 1e-6);
      opt.dispose();
      tf.dispose([...params.values()]);
    } finally {
      await initBackend({ prefer: 'cpu' });
    }
  });
});
