// Test harness (not shipped): Debian's chromium driven by playwright-core, pages served from memory or
// a folder over a localhost static server, console errors collected. Playwright's own browser
// download cannot run on these machines, so `executablePath` points at /usr/bin/chromium.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

/** Debian's chromium ($MOCO_CXR_CHROMIUM overrides). */
export const CHROMIUM = process.env.MOCO_CXR_CHROMIUM ?? '/usr/bin/chromium';
/** Chromium's SwiftShader Vulkan driver: the CPU Vulkan device WebGPU runs on here. */
export const SWIFTSHADER_ICD = process.env.MOCO_CXR_SWIFTSHADER_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface LaunchOptions {
  /** Start WebGPU on SwiftShader (Vulkan) instead of running with the GPU process off. */
  webgpu?: boolean;
}

export interface Chromium {
  context: BrowserContext;
  /** What the pages printed as console errors or threw uncaught, in order. */
  errors: string[];
  /** A new page whose console errors and uncaught exceptions go to `errors`. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

const COMMON_FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// WebGPU on the CPU: SwiftShader as the Vulkan device, the adapter Dawn picks.
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--ignore-gpu-blocklist'];
// Without a GPU process WebGL falls back to SwiftShader's GL only when allowed to.
const NO_GPU_FLAGS = ['--disable-gpu', '--enable-unsafe-swiftshader'];

/** Launches headless chromium in a fresh profile (a new --user-data-dir, removed on close). */
export async function launchChromium(options: LaunchOptions = {}): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`chromium was not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium; .ci/run does) or set MOCO_CXR_CHROMIUM`);
  }
  if (options.webgpu && !existsSync(SWIFTSHADER_ICD)) {
    throw new Error(`SwiftShader's Vulkan driver was not found at ${SWIFTSHADER_ICD} (Debian's chromium package ships it), or set MOCO_CXR_SWIFTSHADER_ICD`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'moco-cxr-chromium-'));
  const runtimeDir = mkdtempSync(join(tmpdir(), 'moco-cxr-xdg-'));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), XDG_RUNTIME_DIR: runtimeDir };
  if (options.webgpu) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  let context: BrowserContext;
  try {
    // launchPersistentContext is how playwright takes a --user-data-dir of our own.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', ...COMMON_FLAGS, ...(options.webgpu ? WEBGPU_FLAGS : NO_GPU_FLAGS)],
      env,
      timeout: 60_000,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    rmSync(runtimeDir, { recursive: true, force: true });
    throw e;
  }
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}${m.location().url ? ` (${m.location().url})` : ''}`);
    });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    errors,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.png': 'image/png',
  '.jpeg': 'image/jpeg',
  '.jpg': 'image/jpeg',
  '.dcm': 'application/dicom',
};

export interface StaticServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  origin: string;
  /** Serves `body` at `path` (from memory; takes precedence over the folders). */
  put(path: string, body: string | Uint8Array): void;
  close(): Promise<void>;
}

/**
 * A localhost static server over folders mounted at URL prefixes (`{ '/': dist }`) and files put in
 * memory. Pages are cross-origin isolated (COOP + COEP), so wasm threads get SharedArrayBuffer.
 */
export async function serveStatic(mounts: Record<string, string> = {}): Promise<StaticServer> {
  const memory = new Map<string, Uint8Array>();
  const prefixes = Object.entries(mounts).sort((a, b) => b[0].length - a[0].length);
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
    const send = (body: Uint8Array, file: string) => {
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length });
      res.end(body);
    };
    const inMemory = memory.get(path === '/' ? '/index.html' : path);
    if (inMemory) return send(inMemory, path === '/' ? '/index.html' : path);
    for (const [prefix, dir] of prefixes) {
      if (!path.startsWith(prefix)) continue;
      const rel = normalize(path.slice(prefix.length) || 'index.html');
      // Nothing outside the mounted folder is served.
      if (rel.startsWith('..') || rel.split(sep).includes('..')) break;
      let file = join(dir, rel);
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
      if (existsSync(file)) return send(readFileSync(file), file);
    }
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
    res.end(`not found: ${path}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    put(path, body) {
      memory.set(path, typeof body === 'string' ? new TextEncoder().encode(body) : body);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An empty page that scripts can be evaluated in. */
export const BLANK_PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>moco-cxr test</title><link rel="icon" href="data:,"></head><body></body></html>';

/**
 * Imports the module at `url` in the page and calls its export `name` with JSON arguments; returns
 * what it resolves to. A string expression, so the test's own transform leaves `import()` alone.
 */
export async function callInPage<T>(page: Page, url: string, name: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(`import(${JSON.stringify(url)}).then((m) => m[${JSON.stringify(name)}](...${JSON.stringify(args)}))`) as Promise<T>;
}
