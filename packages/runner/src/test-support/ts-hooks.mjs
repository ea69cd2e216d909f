// Node module hooks that run the TypeScript sources directly (esbuild strips the types), so tests
// can start `moco-cxr` processes from src/ without a build.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    // Extensionless relative imports, as the sources write them.
    if (!(specifier.startsWith('.') || specifier.startsWith('/')) || !context.parentURL) throw err;
    for (const ext of ['.ts', '/index.ts']) {
      const url = new URL(specifier + ext, context.parentURL);
      if (existsSync(fileURLToPath(url))) return { url: url.href, shortCircuit: true };
    }
    throw err;
  }
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = readFileSync(fileURLToPath(url), 'utf8');
  const { code } = await transform(source, { loader: 'ts', format: 'esm', sourcemap: 'inline', sourcefile: fileURLToPath(url), target: 'node20' });
  return { format: 'module', source: code, shortCircuit: true };
}
