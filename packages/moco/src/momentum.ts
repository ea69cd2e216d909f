import * as tf from '@tensorflow/tfjs-core';
import { optimizerStepInPlace } from '@moco-cxr/compute';
import { KIND, fusedStep } from './fused';
import { allVariables, trainableVariables, type VariableSource } from './variables';

/**
 * MoCo's momentum (EMA) update, run before the keys are computed:
 * key <- m * key + (1 - m) * query, for every trainable weight of `query`, matched by name.
 * BatchNorm running statistics are not trainable and are left alone: the key encoder's
 * come from its own training-mode forward passes, as in the reference implementation.
 */
export function momentumUpdate(key: VariableSource, query: VariableSource, momentum: number): void {
  if (!(momentum >= 0 && momentum <= 1)) throw new RangeError(`momentumUpdate: momentum must be in [0, 1], got ${momentum}`);
  const keyVars = allVariables(key);
  const queryTrainable = trainableVariables(query);
  for (const [name, q] of queryTrainable) {
    const k = keyVars.get(name);
    if (k === undefined) throw new Error(`momentumUpdate: the key encoder has no variable '${name}' (the query encoder has)`);
    if (!tf.util.arraysEqual(k.shape, q.shape)) {
      throw new Error(`momentumUpdate: '${name}' is [${k.shape.join(', ')}] in the key encoder but [${q.shape.join(', ')}] in the query encoder`);
    }
  }
  const hyper = [momentum, 0, 0, 0, 0, 0];
  tf.tidy(() => {
    // Every key weight in one native call, in place, where the native kernels run; the rest one by one.
    const entries = [...queryTrainable].map(([name, q]) => ({ param: keyVars.get(name)!, grad: q as tf.Tensor }));
    for (const { param: k, grad: q } of optimizerStepInPlace(KIND.ema, entries, hyper)) {
      const fused = fusedStep(KIND.ema, k, q, hyper);
      k.assign(fused ? fused[0] : tf.add(tf.mul(k, momentum), tf.mul(q, 1 - momentum)));
    }
  });
}

/**
 * Copies every variable (weights and BatchNorm running statistics) from `source` into
 * `target`, by name: how the key encoder starts as an exact copy of the query encoder.
 */
export function copyVariables(target: VariableSource, source: VariableSource): void {
  const to = allVariables(target);
  const from = allVariables(source);
  const missing = [...from.keys()].filter((n) => !to.has(n));
  const extra = [...to.keys()].filter((n) => !from.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(`copyVariables: names differ; missing in target: [${missing.slice(0, 5).join(', ')}], missing in source: [${extra.slice(0, 5).join(', ')}]`);
  }
  tf.tidy(() => {
    for (const [name, v] of from) {
      const t = to.get(name)!;
      if (!tf.util.arraysEqual(t.shape, v.shape)) throw new Error(`copyVariables: '${name}' is [${t.shape.join(', ')}] in target, [${v.shape.join(', ')}] in source`);
      t.assign(v.clone());
    }
  });
}
