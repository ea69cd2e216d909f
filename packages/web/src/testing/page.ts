// Test helpers (not shipped): the page built by vite once per test run, served with B1's static server,
// and files dropped on it as a user drops them.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { serveStatic, type StaticServer } from './chromium';

export const PACKAGE_DIR = new URL('../..', import.meta.url).pathname;

/** `vite build` of the page into a fresh temporary folder; returns the folder. */
export async function buildPage(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'moco-cxr-web-'));
  await build({ root: PACKAGE_DIR, configFile: join(PACKAGE_DIR, 'vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
  return outDir;
}

/** The built page at `/`, and each bundle folder at `/bundles/<name>/`. */
export function servePage(pageDir: string, bundles: Record<string, string> = {}): Promise<StaticServer> {
  return serveStatic({ '/': pageDir, ...Object.fromEntries(Object.entries(bundles).map(([name, dir]) => [`/bundles/${name}/`, dir])) });
}

export interface DroppedFile {
  name: string;
  type: string;
  bytes: Uint8Array;
}

/** Drops files on the element `selector` (a drop event carrying them, as a drag from the desktop does). */
export async function dropFiles(page: Page, selector: string, files: DroppedFile[]): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.type, base64: Buffer.from(f.bytes).toString('base64') }));
  const transfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    return dt;
  }, payload);
  await page.dispatchEvent(selector, 'drop', { dataTransfer: transfer });
  await transfer.dispose();
}
