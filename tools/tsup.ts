import { fileURLToPath } from 'node:url';
import type { Options } from 'tsup';

const buildTsconfig = fileURLToPath(new URL('./tsconfig.build.json', import.meta.url));

/** One tsup config for every package: ESM + CJS, .d.ts and .d.cts, Node 20. */
export function packageConfig(entry: Record<string, string> | string[] = ['src/index.ts']): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    tsconfig: buildTsconfig,
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: false,
  };
}
