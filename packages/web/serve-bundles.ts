import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import type { Connect, Plugin } from 'vite';

const TYPES: Record<string, string> = { '.json': 'application/json', '.safetensors': 'application/octet-stream', '.bin': 'application/octet-stream' };

/** The folder `/bundles/` serves: $MOCO_CXR_BUNDLES, else bundles/ at the repository root. */
export function bundlesRoot(): string {
  return resolve(process.env.MOCO_CXR_BUNDLES ?? join(import.meta.dirname, '..', '..', 'bundles'));
}

/** Every file under a folder, relative to it, with / separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/**
 * Serves model bundles from this machine's disk to the page at /bundles/<name>/ (a folder URL
 * answers with the list of its files); the page reads them over localhost, nothing goes out.
 */
export function bundlesPlugin(root: () => string = bundlesRoot): Plugin {
  const serve: Connect.NextHandleFunction = (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith('/bundles/')) return next();
    const base = root();
    const target = resolve(base, decodeURIComponent(url.pathname.slice('/bundles/'.length)));
    if (target !== base && !target.startsWith(base + sep)) {
      res.statusCode = 403;
      return res.end('outside the bundles folder');
    }
    if (!existsSync(target)) {
      res.statusCode = 404;
      return res.end(`no such file in ${base}: ${relative(base, target)}`);
    }
    if (statSync(target).isDirectory()) {
      res.setHeader('Content-Type', 'application/json');
      return res.end(JSON.stringify({ files: filesUnder(target) }));
    }
    res.setHeader('Content-Type', TYPES[extname(target)] ?? 'application/octet-stream');
    createReadStream(target).pipe(res);
  };
  return {
    name: 'moco-cxr-bundles',
    configureServer(server) {
      server.middlewares.use(serve);
    },
    configurePreviewServer(server) {
      server.middlewares.use(serve);
    },
  };
}
