// Test-only (never imported by the library; "!src/test-support" leaves it out of the package).
import { initBackend } from '@moco-cxr/compute';

/** Starts a backend for the tests the way users do, through @moco-cxr/compute; without a name, its default choice. */
export async function useBackend(name?: 'cpu' | 'wasm'): Promise<void> {
  await initBackend({ prefer: name });
}
