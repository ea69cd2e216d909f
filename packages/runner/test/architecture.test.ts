// The monorepo's shape, checked from the sources: the paper's stage order with no early-to-late
// dependency, every runtime import declared, type-only imports kept out of dependencies, and
// libraries that never own the process. docs/architecture.md draws the same order.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packagesDir = fileURLToPath(new URL('../..', import.meta.url));

/** Stage of each package, earliest first; a package may depend only on a lower stage. */
export const STAGE_ORDER: readonly string[] = [
  'atomic-write', // crash-safe file writes: every stage that writes a file uses it
  'rng', // seeded randomness: every stage draws from it
  'eval-metrics', // AUROC and probes, pure maths on arrays
  'compute', // backend and kernels
  'cxr-data',
  'cxr-augment',
  'backbones',
  'moco',
  'protocols',
  'model-bundle', // a trained model as a folder: backbones + protocols' head, scored in Node and the browser
  'bootstrap',
  'runner',
];

interface Pkg {
  dir: string;
  name: string;
  json: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; devDependencies?: Record<string, string> };
}

const packages: Pkg[] = readdirSync(packagesDir)
  .filter((d) => statSync(join(packagesDir, d)).isDirectory())
  .map((d) => ({ dir: join(packagesDir, d), name: d, json: JSON.parse(readFileSync(join(packagesDir, d, 'package.json'), 'utf8')) }));

/** The source files a package ships: everything reachable from its entry points by relative import. */
function shipped(pkg: Pkg): string[] {
  const entries = pkg.name === 'runner' ? ['src/index.ts', 'src/cli.ts'] : ['src/index.ts'];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/(?:from\s*|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const base = join(file, '..', m[1]);
      const found = [`${base}.ts`, join(base, 'index.ts'), base.replace(/\.js$/, '.ts')].find((f) => existsSync(f) && statSync(f).isFile());
      if (found) visit(found);
    }
  };
  for (const e of entries) visit(join(pkg.dir, e));
  return [...seen];
}

/** Package names a library source file imports at run time (type-only imports excluded). */
function runtimeImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // comments import nothing
  const out = new Set<string>();
  const re = /^\s*(import|export)\s+(type\s+)?([^'"]*?)\s*from\s*['"]([^'"]+)['"]/gm;
  for (const m of code.matchAll(re)) {
    if (m[2]) continue; // `import type {...}`
    const clause = m[3];
    // `import { type A, type B }` is type-only too.
    const names = clause.match(/^\{([^}]*)\}$/)?.[1];
    if (names !== undefined && names.split(',').filter((s) => s.trim()).every((s) => s.trim().startsWith('type '))) continue;
    out.add(m[4]);
  }
  for (const m of code.matchAll(/(?:^|[^.\w])(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)) out.add(m[1]);
  for (const m of code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.add(m[1]); // side-effect import
  return [...out]
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]));
}

describe('package architecture', () => {
  it('every package has a stage, and depends only on earlier stages', () => {
    expect(packages.map((p) => p.name).sort()).toEqual([...STAGE_ORDER].sort());
    const edges: string[] = [];
    for (const p of packages) {
      const deps = [...Object.keys(p.json.dependencies ?? {}), ...Object.keys(p.json.peerDependencies ?? {})];
      for (const d of deps.filter((d) => d.startsWith('@moco-cxr/'))) {
        const target = d.slice('@moco-cxr/'.length);
        if (STAGE_ORDER.indexOf(target) >= STAGE_ORDER.indexOf(p.name)) edges.push(`${p.name} -> ${target}`);
      }
    }
    expect(edges, 'early-to-late dependencies').toEqual([]);
  });

  it('every runtime import is declared, and no type-only dependency brings runtime packages', () => {
    const problems: string[] = [];
    for (const p of packages) {
      const declared = new Set([...Object.keys(p.json.dependencies ?? {}), ...Object.keys(p.json.peerDependencies ?? {})]);
      const used = new Set<string>();
      for (const file of shipped(p)) {
        for (const dep of runtimeImports(readFileSync(file, 'utf8'))) {
          used.add(dep);
          if (!declared.has(dep) && dep !== `@moco-cxr/${p.name}`) problems.push(`${p.name}: ${file.slice(packagesDir.length)} imports ${dep}, not in dependencies or peerDependencies`);
        }
      }
      // A package used only for its types may stay a dependency (its .d.ts names it) unless it
      // brings third-party runtime packages the importer never calls (cxr-data brings jimp).
      for (const dep of Object.keys(p.json.dependencies ?? {}).filter((d) => d.startsWith('@moco-cxr/'))) {
        const target = packages.find((q) => `@moco-cxr/${q.name}` === dep);
        const heavy = Object.keys(target?.json.dependencies ?? {}).filter((d) => !d.startsWith('@moco-cxr/'));
        if (!used.has(dep) && heavy.length > 0) problems.push(`${p.name}: depends on ${dep} only for types, which brings ${heavy.join(', ')} at run time`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('no library exits the process, installs signal handlers or writes to the terminal', () => {
    const owning = /process\.exit\(|process\.(stdout|stderr)\b|console\.(log|warn|error|info|debug)\(|process\.(on|once)\(\s*['"]SIG/;
    const problems: string[] = [];
    for (const p of packages.filter((p) => p.name !== 'runner')) {
      for (const file of shipped(p)) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (owning.test(line) && !line.trim().startsWith('//') && !line.trim().startsWith('*')) problems.push(`${file.slice(packagesDir.length)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(problems).toEqual([]);
  });
});
