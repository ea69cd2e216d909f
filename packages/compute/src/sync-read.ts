import * as tf from '@tensorflow/tfjs-core';

/**
 * Makes `dataSync()` work on these tensors on every backend. WebGPU reads are asynchronous in Node
 * (tfjs' synchronous read needs a browser's OffscreenCanvas), so on webgpu this reads them with
 * `data()` first, which keeps their values on the CPU; elsewhere it does nothing.
 */
export async function ensureSyncReadable(tensors: Iterable<tf.Tensor>): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await Promise.all([...tensors].map((t) => t.data()));
}
