import * as tf from '@tensorflow/tfjs-core';

/**
 * Starts a backend for the tests through @moco-cxr/compute's initBackend. If compute cannot be
 * loaded (it is developed in parallel), registers the stock tfjs backend of that name instead and
 * says so, so these tests still check augmentation on that backend.
 */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  try {
    // A computed specifier keeps compute's sources out of this package's typecheck (it is developed in parallel).
    const specifier = '@moco-cxr/compute';
    const compute = (await import(specifier)) as { initBackend(o: { prefer: string }): Promise<unknown> };
    await compute.initBackend({ prefer: name });
    return;
  } catch (e) {
    console.warn(`cxr-augment tests: @moco-cxr/compute initBackend unavailable (${(e as Error).message.split('\n')[0]}); using stock tfjs-backend-${name}`);
  }
  if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  else await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(name))) throw new Error(`cxr-augment tests: tf.setBackend('${name}') failed`);
  await tf.ready();
}
