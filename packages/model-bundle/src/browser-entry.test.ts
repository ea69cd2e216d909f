// The main entry runs in a browser: nothing it reaches imports a Node built-in (the filesystem
// functions live in ./node), and the package's own dependencies are the ones that have browser builds.
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = dirname(fileURLToPath(import.meta.url));
const NODE = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Every module specifier imported by the files reachable from `entry` through relative imports. */
function reachableImports(entry: string): { files: string[]; imports: Map<string, string[]> } {
  const seen = new Set<string>();
  const imports = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/(?:from\s*|import\(\s*|^\s*import\s*)['"]([^'"]+)['"]/gm)) {
      const spec = m[1];
      if (spec.startsWith('.')) {
        const next = join(dirname(file), `${spec.replace(/\.js$/, '')}.ts`);
        if (existsSync(next)) visit(next);
      } else {
        imports.set(spec, [...(imports.get(spec) ?? []), file]);
      }
    }
  };
  visit(entry);
  return { files: [...seen], imports };
}

describe('entries', () => {
  it('the main entry reaches no Node built-in; ./node is where the filesystem is', async () => {
    const main = reachableImports(join(src, 'index.ts'));
    expect(main.files.length).toBeGreaterThan(5);
    const node = [...main.imports.keys()].filter((s) => NODE.has(s));
    expect(node, JSON.stringify(Object.fromEntries(main.imports))).toEqual([]);
    expect(main.files.some((f) => f.endsWith('node.ts'))).toBe(false);
    expect([...main.imports.keys()].sort()).toEqual(['@moco-cxr/backbones', '@moco-cxr/cxr-augment', '@moco-cxr/cxr-data', '@moco-cxr/protocols', '@tensorflow/tfjs-core']);
    // Each of those packages has a browser build that a bundler picks under the "browser" condition,
    // and it exports every value this package takes from it.
    let checked = 0;
    for (const dep of ['backbones', 'cxr-data', 'protocols']) {
      const pkg = JSON.parse(readFileSync(join(src, '..', '..', dep, 'package.json'), 'utf8'));
      expect(pkg.exports['.'].browser, `@moco-cxr/${dep}`).toBeDefined();
      const browser = await import(join(src, '..', '..', dep, pkg.exports['.']['@moco-cxr/source'].browser));
      for (const file of main.imports.get(`@moco-cxr/${dep}`) ?? []) {
        const code = readFileSync(file, 'utf8');
        for (const m of code.matchAll(new RegExp(`import \\{([^}]*)\\} from '@moco-cxr/${dep}'`, 'g'))) {
          const values = m[1].split(',').map((n) => n.trim()).filter((n) => n && !n.startsWith('type '));
          for (const name of values) expect(browser[name], `${name} from @moco-cxr/${dep}/browser (used by ${file})`).toBeDefined(), checked++;
        }
      }
    }
    // createBackbone, encodeSafetensors, parseSafetensorsWeights, resizeShortSideAndCrop, embedImages, scoreFeatures, linearHead{From,To}Json, ...
    expect(checked).toBeGreaterThanOrEqual(8);
    const fsEntry = reachableImports(join(src, 'node.ts'));
    expect([...fsEntry.imports.keys()].filter((s) => NODE.has(s)).sort()).toEqual(['node:fs', 'node:fs/promises', 'node:path']);
  });
});
