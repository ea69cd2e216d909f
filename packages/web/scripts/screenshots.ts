// Screenshots of both tabs for docs/ (docs/web-score.png, docs/web-demo.png): the built page in Debian's
// chromium, a bundle made from Kermany radiographs at run time, the demo on wasm with its full schedule.
// cd packages/web && node --conditions=@moco-cxr/source --import ../runner/src/test-support/ts-register.mjs scripts/screenshots.ts
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { initBackend } from '@moco-cxr/compute';
import { launchChromium } from '../src/testing/chromium';
import { kermanyFiles, REPO_ROOT, writeKermanyBundle } from '../src/testing/kermany-bundle';
import { buildPage, dropFiles, servePage } from '../src/testing/page';

await initBackend({ prefer: 'wasm' });
const bundleDir = mkdtempSync(join(tmpdir(), 'moco-cxr-shot-bundle-'));
await writeKermanyBundle(bundleDir);
const pageDir = await buildPage();
const server = await servePage(pageDir, { kermany: bundleDir });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${server.origin}/?bundle=/bundles/kermany/`);
  await page.waitForSelector('#panel-score[data-bundle="ready"]');
  const files = [...kermanyFiles('test', 'PNEUMONIA', 2), ...kermanyFiles('test', 'NORMAL', 1)];
  await dropFiles(page, '#drop', files.map((f) => ({ name: basename(f), type: 'image/jpeg', bytes: new Uint8Array(readFileSync(f)) })));
  await page.waitForSelector('.card[data-state="done"] >> nth=2', { timeout: 120_000 });
  await page.screenshot({ path: join(REPO_ROOT, 'docs', 'web-score.png'), fullPage: true });
  await page.goto(`${server.origin}/?tab=demo&backend=wasm&autorun=1`);
  await page.waitForSelector('#panel-demo[data-state="done"]', { timeout: 600_000 });
  await page.screenshot({ path: join(REPO_ROOT, 'docs', 'web-demo.png'), fullPage: true });
  if (browser.errors.length) throw new Error(`console errors: ${browser.errors.join('; ')}`);
} finally {
  await browser.close();
  await server.close();
  rmSync(pageDir, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });
}
