import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { initBackend } from '@moco-cxr/compute';
import { afterAll, describe, expect, it } from 'vitest';
import { batchNorm, makeBatchNorm2d, type BatchNorm2dModule, type ParamSpec } from './nn';

afterAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1, kernels: 'auto' });
});

const C = 24;
// Variables that alone hold their buffers (tf.variable shares its initial tensor's until that is disposed).
const make = (spec: ParamSpec) => tf.tidy(() => tf.variable(spec.dtype === 'int32' ? tf.scalar(0, 'int32') : tf.fill(spec.shape, spec.init.kind === 'constant' ? spec.init.value : 0), spec.trainable, spec.name));

function module(name: string, rng: Rng): BatchNorm2dModule {
  const bn = makeBatchNorm2d(make, name, C);
  // Running statistics away from their initial values, so every product matters.
  tf.tidy(() => {
    bn.runningMean.assign(tf.tensor1d(Array.from({ length: C }, () => rng.normal())));
    bn.runningVar.assign(tf.tensor1d(Array.from({ length: C }, () => 0.5 + Math.abs(rng.normal()))));
  });
  return bn;
}

const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array | Int32Array).slice().buffer));
const kernels = async (f: () => void) => (await tf.profile(f)).kernels.map((k) => k.name);

describe('training BatchNorm on the native kernels: running statistics updated inside the fused kernel', () => {
  it('the same bits as the tf-op update, with no Multiply or Add dispatched; a shared buffer takes the tf ops and keeps its value', async () => {
    await initBackend({ prefer: 'wasm', threads: 2, kernels: 'native' });
    const rng = new Rng(12);
    const fusedBn = module('fused', new Rng(3));
    const opsBn = module('ops', new Rng(3));
    const start = bits(fusedBn.runningVar);
    for (let step = 0; step < 3; step++) {
      const x = tf.tensor4d(Array.from({ length: 4 * 5 * 3 * C }, () => rng.normal() * 2 + 1), [4, 5, 3, C]);
      // A clone of the ops module's running mean shares its buffer: that module must take the tf ops.
      const held = opsBn.runningMean.clone();
      const heldBits = bits(held);
      const before = tf.memory().numTensors;
      const fusedNames = await kernels(() => batchNorm(x, fusedBn, true, step % 2 === 0).dispose());
      expect(tf.memory().numTensors).toBe(before);
      expect(fusedNames.filter((n) => n === 'Multiply' || n === 'Add'), `step ${step}`).toEqual([]);
      const opsNames = await kernels(() => batchNorm(x, opsBn, true, step % 2 === 0).dispose());
      expect(opsNames.filter((n) => n === 'Multiply').length, `step ${step}`).toBeGreaterThanOrEqual(4);
      expect(bits(held), 'the clone keeps its value').toEqual(heldBits);
      tf.dispose([x, held]);
      expect(bits(fusedBn.runningMean), `running_mean, step ${step}`).toEqual(bits(opsBn.runningMean));
      expect(bits(fusedBn.runningVar), `running_var, step ${step}`).toEqual(bits(opsBn.runningVar));
      expect(fusedBn.numBatchesTracked.dataSync()[0]).toBe(step + 1);
      expect(opsBn.numBatchesTracked.dataSync()[0]).toBe(step + 1);
    }
    expect(bits(fusedBn.runningVar)).not.toEqual(start);
    for (const bn of [fusedBn, opsBn]) tf.dispose([bn.weight, bn.bias, bn.runningMean, bn.runningVar, bn.numBatchesTracked]);
  });
});
