// Test-only (never imported by the library; "!src/test-support" leaves it out of the package).
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@moco-cxr/rng';
import { initBackend } from '@moco-cxr/compute';

/**
 * Backend for this package's tests: @moco-cxr/compute's wasm (with its gradient kernels), one
 * thread by default so parallel test files do not fight over the shared cores. MOCO_CXR_TEST_BACKEND=cpu
 * runs the same tests on the pure-JS backend.
 */
export async function useTestBackend(threads = 1): Promise<{ backend: string; threads: number }> {
  const prefer = process.env.MOCO_CXR_TEST_BACKEND === 'cpu' ? 'cpu' : 'wasm';
  const info = await initBackend({ prefer, threads });
  return { backend: info.backend, threads: info.threads };
}

/** Largest absolute elementwise difference, read synchronously (tests only). */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shape [${a.shape}] vs [${b.shape}]`);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(b, 'float32')))).dataSync()[0]);
}

export function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.cast(a, 'float32'))).dataSync()[0]);
}

/** A standard-normal NHWC batch drawn from the seeded Rng (tests only). */
export function randomInput(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const values = new Float32Array(shape[0] * shape[1] * shape[2] * shape[3]);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return tf.tensor4d(values, shape);
}
