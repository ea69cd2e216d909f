import type { InitBackendOptions, NativeIsa } from '@moco-cxr/compute';
import { PRECISIONS } from '../config';
import { UsageError } from '../errors';

/** What @moco-cxr/compute takes from $MOCO_CXR_KERNELS, $MOCO_CXR_NATIVE_ISA and $MOCO_CXR_PRECISION. */
const KERNELS = ['auto', 'native', 'wasm'] as const satisfies readonly NonNullable<InitBackendOptions['kernels']>[];
const ISAS = ['avx512', 'avx2', 'generic'] as const satisfies readonly NativeIsa[];

/**
 * Refuses environment variables the backend would refuse, before a command writes anything: a bad
 * one is a usage problem (exit 2), not a failure found after run.json is written.
 */
export function checkEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const check = (name: string, allowed: readonly string[]) => {
    const v = env[name];
    if (v && !allowed.includes(v)) throw new UsageError(`${name}=${JSON.stringify(v)}: expected one of ${allowed.join(', ')} (or leave it unset)`);
  };
  check('MOCO_CXR_KERNELS', KERNELS);
  check('MOCO_CXR_NATIVE_ISA', ISAS);
  check('MOCO_CXR_PRECISION', PRECISIONS);
}
