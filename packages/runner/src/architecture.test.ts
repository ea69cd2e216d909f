// The monorepo's shape, checked from the sources: the paper's stage order with no early-to-late
// dependency, every runtime import declared, type-only imports kept out of dependencies, and
// nothing outside runner/src/cli/ owning the process. docs/architecture.md draws the same order.
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
  'web', // the page (private, never published): composes the browser entries
];

interface Pkg {
  dir: string;
  name: string;
  json: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; devDependencies?: Record<string, string> };
}

const packages: Pkg[] = readdirSync(packagesDir)
  .filter((d) => statSync(join(packagesDir, d)).isDirectory())
  .map((d) => ({ dir: join(packagesDir, d), name: d, json: JSON.parse(readFileSync(join(packagesDir, d, 'package.json'), 'utf8')) }));

/** The source files a package ships: everything reachable from its entry points by relative import. */
function shipped(pkg: Pkg): string[] {
  // The runner's CLI, the page's script, and each package's browser entry where it has one.
  const entries = pkg.name === 'runner' ? ['src/index.ts', 'src/cli/cli.ts'] : pkg.name === 'web' ? ['src/main.ts'] : ['src/index.ts', 'src/browser.ts'].filter((e) => existsSync(join(pkg.dir, e)));
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
      // An optional dependency counts: the code that imports it says what happens when it is missing.
      const declared = new Set([...Object.keys(p.json.dependencies ?? {}), ...Object.keys(p.json.peerDependencies ?? {}), ...Object.keys(p.json.optionalDependencies ?? {})]);
      const used = new Set<string>();
      for (const file of shipped(p)) {
        for (const dep of runtimeImports(readFileSync(file, 'utf8'))) {
          used.add(dep);
          if (!declared.has(dep) && dep !== `@moco-cxr/${p.name}`) problems.push(`${p.name}: ${file.slice(packagesDir.length)} imports ${dep}, not in dependencies, peerDependencies or optionalDependencies`);
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

  it('nothing outside runner/src/cli/ exits the process, sets its exit code, handles its signals or prints', () => {
    const problems: string[] = [];
    for (const p of packages) {
      for (const file of librarySources(p)) {
        const at = file.slice(packagesDir.length);
        ownsTheProcess(readFileSync(file, 'utf8')).forEach(({ line, text }) => problems.push(`${at}:${line}: ${text}`));
      }
    }
    expect(problems).toEqual([]);
  });

  it('the process rule catches each way of owning the process, and only outside comments', () => {
    const owning = [
      'process.exit(1);',
      'process.exitCode = 2;',
      "process.on('SIGINT', stop);",
      'process.once("SIGTERM", stop);',
      "process.on('exit', flush);",
      "process.prependListener('uncaughtException', log);",
      "process.stdout.write('x');",
      'process.stderr.write(text);',
      "console.log('done');",
      'console.error(err);',
      "process.kill(process.pid, 'SIGINT');",
    ];
    for (const text of owning) expect(ownsTheProcess(text), text).toHaveLength(1);
    const fine = ["// process.exit(1) is the CLI's", ' * console.log in a doc comment', "child.on('exit', done);", 'process.kill(pid, 0);', "process.env.MOCO_CXR_SEED ?? '0'", "io.err('text')"];
    for (const text of fine) expect(ownsTheProcess(text), text).toEqual([]);
  });
});

/** Every source file of a package's src/ but its tests, and for the runner none under src/cli/ (the CLI owns the process). */
function librarySources(p: Pkg): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (!(p.name === 'runner' && path === join(p.dir, 'src', 'cli'))) walk(path);
      } else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(e.name) && !/\.test\.[mc]?[jt]s$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        out.push(path);
      }
    }
  };
  if (existsSync(join(p.dir, 'src'))) walk(join(p.dir, 'src'));
  return out;
}

/** The lines of `source` that exit the process, set its exit code, handle its signals or exit, or write to the terminal. */
function ownsTheProcess(source: string): { line: number; text: string }[] {
  const owning = [
    /\bprocess\.(exit|abort|reallyExit)\(/,
    /\bprocess\.exitCode\s*=/,
    /\bprocess\.(on|once|addListener|prependListener|prependOnceListener)\(\s*['"`](SIG[A-Z0-9]+|exit|beforeExit|uncaughtException|unhandledRejection)['"`]/,
    /\bprocess\.kill\(\s*process\.pid\b/,
    /\bprocess\.(stdout|stderr)\b/,
    /\bconsole\.\w+\(/,
  ];
  const found: { line: number; text: string }[] = [];
  source.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (t.startsWith('//') || t.startsWith('*') || t.startsWith('/*')) return;
    if (owning.some((re) => re.test(line))) found.push({ line: i + 1, text: t });
  });
  return found;
}
