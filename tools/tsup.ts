import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options } from 'tsup';

const buildTsconfig = fileURLToPath(new URL('./tsconfig.build.json', import.meta.url));

/**
 * One tsup config for every package: ESM + CJS, .d.ts and .d.cts, Node 20. `inlineTypesFrom`:
 * packages whose types the .d.ts copies in, for a type-only import of a package that is not a
 * dependency (so installing this package alone still type-checks).
 */
export function packageConfig(entry: Record<string, string> | string[] = ['src/index.ts'], options: { inlineTypesFrom?: string[] } = {}): Options {
  // tsup keeps dependencies and peerDependencies external; optional ones (a browser entry's literal import of one) too.
  const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
  return {
    external: Object.keys(pkg.optionalDependencies ?? {}),
    entry,
    format: ['esm', 'cjs'],
    dts: options.inlineTypesFrom ? { resolve: options.inlineTypesFrom } : true,
    tsconfig: buildTsconfig,
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: false,
  };
}

/**
 * packageConfig for several entries (index and a browser entry), built side by side, one config
 * each, so every .d.ts stands alone: a .d.ts chunk shared by two entries is left behind as a
 * dangling import by a package that inlines these types (inlineTypesFrom).
 */
export function packageConfigs(entries: Record<string, string>, options: { inlineTypesFrom?: string[] } = {}): Options[] {
  // Emptied here, once, before the builds start: a build's own clean would race the others' output.
  rmSync(join(process.cwd(), 'dist'), { recursive: true, force: true });
  return Object.entries(entries).map(([name, file]) => ({ ...packageConfig({ [name]: file }, options), clean: false }));
}
