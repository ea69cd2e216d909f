import { initBackend } from '@moco-cxr/compute';

/** Starts a backend for the tests the way users do, through @moco-cxr/compute. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  await initBackend({ prefer: name });
}
