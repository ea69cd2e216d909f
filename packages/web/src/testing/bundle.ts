// Test helper (not shipped): bundles a module for the browser with esbuild, as a page's bundler
// would, and names every Node built-in the bundle would pull in (package and importing module).
import { builtinModules } from 'node:module';
import { relative, sep } from 'node:path';
import { build, type Plugin } from 'esbuild';

export const REPO_ROOT = new URL('../../../../', import.meta.url).pathname;

/** One Node built-in a browser bundle pulled in. */
export interface NodeImport {
  /** The built-in as written ('node:fs', 'fs'). */
  module: string;
  /** The package whose file imports it ('@moco-cxr/cxr-data', '@cornerstonejs/codec-charls'). */
  pkg: string;
  /** That file, relative to the repository root. */
  importer: string;
}

export interface BrowserBundle {
  /** The bundle's ESM text. */
  code: string;
  /** Node built-ins that were resolved nowhere for the browser (left out of `code`, where they would throw). */
  nodeImports: NodeImport[];
  /** The bundle's export names, sorted. */
  exports: string[];
  /** Bytes of the bundle, per input package (what a page pays for each). */
  bytesByPackage: Record<string, number>;
}

const BUILTIN = new RegExp(`^(node:.*|${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`);

/** The package a file belongs to: a workspace package by its folder, else the node_modules package. */
export function packageOf(file: string): string {
  const rel = relative(REPO_ROOT, file).split(sep).join('/');
  const nm = rel.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = rel.slice(nm + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const ws = /^packages\/([^/]+)\//.exec(rel);
  return ws ? `@moco-cxr/${ws[1]}` : rel;
}

/** Resolves Node built-ins the way esbuild does for the browser (a package's "browser" field may map them away); records the rest. */
function nodeBuiltins(found: NodeImport[]): Plugin {
  return {
    name: 'node-builtins',
    setup(b) {
      b.onResolve({ filter: BUILTIN }, async (args) => {
        if (args.pluginData === 'node-builtins') return undefined;
        if (!args.path.startsWith('node:')) {
          // A "browser": { "fs": false } mapping in the importing package is a browser build's answer.
          const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'node-builtins' });
          if (r.errors.length === 0) return { path: r.path, namespace: 'browser-disabled' };
        }
        found.push({ module: args.path, pkg: packageOf(args.importer), importer: relative(REPO_ROOT, args.importer) });
        return { path: args.path, external: true };
      });
      // What esbuild itself gives a module a "browser" field maps to false: an empty module.
      b.onLoad({ filter: /.*/, namespace: 'browser-disabled' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    },
  };
}

/**
 * Bundles `source` (ESM, resolved from packages/web) for the browser: platform browser, the "browser"
 * export condition, and the workspace's source condition so packages need no build first.
 */
export async function bundleForBrowser(source: string): Promise<BrowserBundle> {
  const nodeImports: NodeImport[] = [];
  const result = await build({
    stdin: { contents: source, resolveDir: new URL('../..', import.meta.url).pathname, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['@moco-cxr/source'],
    absWorkingDir: REPO_ROOT,
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [nodeBuiltins(nodeImports)],
  });
  const bytesByPackage: Record<string, number> = {};
  // Metafile paths are relative to absWorkingDir (the repository root).
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [file, input] of Object.entries(output.inputs)) {
      const pkg = file.startsWith('<stdin>') ? 'entry' : packageOf(REPO_ROOT + file);
      bytesByPackage[pkg] = (bytesByPackage[pkg] ?? 0) + input.bytesInOutput;
    }
  }
  const exports = Object.values(result.metafile.outputs)[0].exports.slice().sort();
  return { code: result.outputFiles[0].text, nodeImports, exports, bytesByPackage };
}

/** One line per Node built-in: "@moco-cxr/cxr-data pulls node:fs (packages/cxr-data/src/cache.ts)". */
export function describeNodeImports(list: NodeImport[]): string[] {
  return [...new Set(list.map((n) => `${n.pkg} pulls ${n.module} (${n.importer})`))].sort();
}
