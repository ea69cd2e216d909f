import * as tf from '@tensorflow/tfjs-core';

// @moco-cxr/compute's fused optimiser kernel (FUSED.optimizerStep, kinds OPTIMIZER_KIND): registered
// only while its native kernels run, so a missing kernel means "compose tf ops".
const OPTIMIZER_STEP = 'MocoCxrOptimizerStep';
export const KIND = { torchAdam: 1, sgd: 2, ema: 3 } as const;

/** One fused update of `param` (and its slots) when the native kernel is active, else null. */
export function fusedStep(kind: number, param: tf.Tensor, grad: tf.Tensor, hyper: number[], slot1?: tf.Tensor, slot2?: tf.Tensor): tf.Tensor[] | null {
  if (tf.getKernel(OPTIMIZER_STEP, tf.getBackend()) === undefined) return null;
  const inputs: tf.NamedTensorMap = { param, grad };
  if (slot1) inputs.slot1 = slot1;
  if (slot2) inputs.slot2 = slot2;
  return tf.engine().runKernel(OPTIMIZER_STEP, inputs, { kind, hyper } as never) as tf.Tensor[];
}
