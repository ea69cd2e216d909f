import * as tf from '@tensorflow/tfjs-core';
import { scoreFeatures } from '@moco-cxr/protocols';
import type { ModelBundle } from './bundle';
import { gridTensor, inputWindow, toInputGrid, type GreyImage, type InputWindow } from './input';

/** A Grad-CAM heatmap over the model's input grid. */
export interface GradCamResult {
  task: string;
  /** The task's probability for this image (as scoreImages gives it). */
  probability: number;
  /** The heatmap is width x height = the bundle's input size. */
  width: number;
  height: number;
  /** Row-major, in [0, 1]: ReLU(sum_c alpha_c A_c) upsampled bilinearly and divided by its maximum (all 0 when nothing speaks for the task). */
  heatmap: Float32Array;
  /** The size of the last block's activation grid the heatmap was upsampled from. */
  grid: { width: number; height: number };
  /** Where the heatmap lies on the original image (the centre crop the model sees). */
  window: InputWindow;
}

/**
 * Grad-CAM (Selvaraju et al. 2017) for one task: the last conv block's activations A (ResNet's
 * layer4, DenseNet's relu(norm5)) weighted per channel by the mean gradient of the task's logit
 * with respect to them. Computed inside tf.tidy; nothing is left allocated.
 */
export async function gradCam(bundle: ModelBundle, image: GreyImage, task: string | number): Promise<GradCamResult> {
  const k = typeof task === 'number' ? task : bundle.tasks.indexOf(task);
  if (!Number.isInteger(k) || k < 0 || k >= bundle.tasks.length) throw new RangeError(`gradCam: unknown task ${JSON.stringify(task)}; the bundle's tasks are ${bundle.tasks.join(', ')}`);
  const { input } = bundle.manifest;
  const grid = toInputGrid(image, input, 'gradCam: image');
  const { head, backbone } = bundle;
  const d = head.featureDim;
  let gridShape = { width: 0, height: 0 };
  const [map, pooled] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
    const x = gridTensor(grid, input);
    const activations = backbone.featureMap(x, { training: false });
    gridShape = { height: activations.shape[1], width: activations.shape[2] };
    const w = tf.tensor2d(head.weight.subarray(k * d, (k + 1) * d), [d, 1]);
    const b = tf.scalar(head.bias[k]);
    // The logit as a function of the activations: the backbone's global pool, then the head's row k.
    const logit = (a: tf.Tensor) => tf.sum(tf.add(tf.matMul(tf.mean(a, [1, 2]) as tf.Tensor2D, w), b));
    const gradients = tf.grad(logit)(activations);
    const alpha = tf.mean(gradients, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(activations, alpha), 3, true)) as tf.Tensor4D;
    const up = tf.image.resizeBilinear(cam, [input.size, input.size], false, true);
    const peak = tf.max(up);
    // All zero stays all zero rather than dividing by zero.
    const scaled = tf.div(up, tf.maximum(peak, tf.scalar(1e-30)));
    return [tf.reshape(tf.clipByValue(scaled, 0, 1), [input.size, input.size]), tf.mean(activations, [1, 2])];
  });
  try {
    const [heatmap, features] = await Promise.all([map.data<'float32'>(), pooled.data<'float32'>()]);
    const probability = scoreFeatures(head, features)[k];
    return {
      task: bundle.tasks[k],
      probability,
      width: input.size,
      height: input.size,
      heatmap,
      grid: gridShape,
      window: inputWindow(image, input),
    };
  } finally {
    map.dispose();
    pooled.dispose();
  }
}
