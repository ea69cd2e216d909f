// Every package but the runner (and atomic-write, a file writer by nature) bundles for the browser
// with no Node built-in, and its bundle loads in Debian's chromium exporting its whole surface.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForBrowser, describeNodeImports, REPO_ROOT, type BrowserBundle, type NodeImport } from './testing/bundle';
import { BLANK_PAGE, launchChromium, serveStatic, type Chromium, type StaticServer } from './testing/chromium';

// Not browser code: the CLI, this page, and the crash-safe file writer (fsync and rename, nothing else).
const NOT_FOR_BROWSERS = new Set(['@moco-cxr/runner', '@moco-cxr/web', '@moco-cxr/atomic-write']);

interface Manifest {
  name: string;
  exports?: Record<string, unknown>;
}
const PACKAGES = readdirSync(`${REPO_ROOT}packages`)
  .map((dir) => JSON.parse(readFileSync(`${REPO_ROOT}packages/${dir}/package.json`, 'utf8')) as Manifest)
  .filter((p) => !NOT_FOR_BROWSERS.has(p.name))
  .sort((a, b) => a.name.localeCompare(b.name));

// Emscripten's Node branch (`if (ENVIRONMENT_IS_NODE) { var fs = require("fs"); ... }`) in the DICOM
// codecs: never run in a browser, and what a bundler stubs out. Accepted only where that branch holds them.
const EMSCRIPTEN_NODE_BRANCH = /if\s*\(ENVIRONMENT_IS_NODE\)\s*\{\s*var fs\s*=\s*require\("fs"\);\s*var nodePath\s*=\s*require\("path"\)/;
function inEmscriptenNodeBranch(n: NodeImport): boolean {
  return n.pkg.startsWith('@cornerstonejs/codec-') && ['fs', 'path'].includes(n.module) && EMSCRIPTEN_NODE_BRANCH.test(readFileSync(REPO_ROOT + n.importer, 'utf8'));
}

const bundles = new Map<string, BrowserBundle>();
let server: StaticServer;
let chromium: Chromium;

beforeAll(async () => {
  server = await serveStatic();
  server.put('/index.html', BLANK_PAGE);
  const built = await Promise.all(PACKAGES.map(({ name }) => bundleForBrowser(`export * from '${name}';`)));
  PACKAGES.forEach(({ name }, i) => {
    bundles.set(name, built[i]);
    server.put(`/${name.replace('@moco-cxr/', '')}.js`, built[i].code);
  });
  chromium = await launchChromium();
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

describe('browser builds', () => {
  it('cover every workspace package but the runner, the page and atomic-write', () => {
    expect(PACKAGES.map((p) => p.name)).toEqual(expect.arrayContaining(['@moco-cxr/backbones', '@moco-cxr/bootstrap', '@moco-cxr/compute', '@moco-cxr/cxr-augment', '@moco-cxr/cxr-data', '@moco-cxr/eval-metrics', '@moco-cxr/moco', '@moco-cxr/protocols', '@moco-cxr/rng']));
  });

  it('names the package and the module of each Node built-in a bundle pulls: atomic-write, a file writer by nature', async () => {
    const b = await bundleForBrowser(`export * from '@moco-cxr/atomic-write';`);
    expect(describeNodeImports(b.nodeImports)).toEqual(['node:crypto', 'node:fs', 'node:path'].map((m) => `@moco-cxr/atomic-write pulls ${m} (packages/atomic-write/src/atomic-write.ts)`));
  });

  for (const { name, exports } of PACKAGES) {
    describe(name, () => {
      it('bundles with esbuild for the browser with no Node built-in', () => {
        const pulled = bundles.get(name)!.nodeImports.filter((n) => !inEmscriptenNodeBranch(n));
        expect(describeNodeImports(pulled), `${name}'s browser bundle pulls Node built-ins`).toEqual([]);
      });

      it('loads in chromium and exports every name of its browser entry', async () => {
        const page = await chromium.newPage();
        const before = chromium.errors.length;
        try {
          await page.goto(`${server.origin}/index.html`);
          const url = `/${name.replace('@moco-cxr/', '')}.js`;
          // Every export is defined once the module has run: none is left undefined by a failed import.
          const names = (await page.evaluate(`import(${JSON.stringify(url)}).then((m) => Object.keys(m).filter((k) => m[k] !== undefined).sort())`)) as string[];
          expect(names).toEqual(bundles.get(name)!.exports);
          expect(names.length).toBeGreaterThan(0);
          expect(chromium.errors.slice(before)).toEqual([]);
        } finally {
          await page.close();
        }
      }, 60_000);

      if (exports && './browser' in exports) {
        it('offers the same entry as ./browser and under the "browser" condition of "."', () => {
          const dot = exports['.'] as { '@moco-cxr/source': { browser: string }; browser: unknown };
          const sub = exports['./browser'] as { '@moco-cxr/source': string };
          expect(dot['@moco-cxr/source'].browser).toBe(sub['@moco-cxr/source']);
          const { '@moco-cxr/source': _, ...built } = sub;
          expect(dot.browser).toEqual(built);
        });
      }
    });
  }
});
