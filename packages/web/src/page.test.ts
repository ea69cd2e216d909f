// The page in Debian's chromium: it loads, starts a backend and shows both tabs with no console error.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type Chromium, type StaticServer } from './testing/chromium';
import { servePage } from './testing/page';

let browser: Chromium;
let server: StaticServer;

beforeAll(async () => {
  server = await servePage(inject('pageDir'));
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the page', () => {
  it('loads with no console errors, starts wasm where there is no WebGPU adapter, and switches tabs', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${server.origin}/`);
    await page.waitForSelector('body[data-backend]', { state: 'attached' }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\nconsole errors: ${browser.errors.join('\n')}\nbackend line: ${await page.textContent('#backend')}`);
    });
    expect(await page.getAttribute('body', 'data-backend')).toBe('wasm');
    expect(await page.textContent('#backend')).toMatch(/^tfjs backend: wasm \(SIMD, \d+ threads?\); not webgpu: /);
    expect(await page.isVisible('#drop')).toBe(true);
    expect(await page.isVisible('#demo-run')).toBe(false);
    await page.click('#tab-demo');
    expect(await page.isVisible('#demo-run')).toBe(true);
    expect(await page.isVisible('#drop')).toBe(false);
    expect(await page.textContent('#demo-schedule')).toContain('Seed 0: 600 synthetic radiographs at 32 px');
    // Everything the page asked for came from its own server.
    expect(requests.filter((u) => !u.startsWith(server.origin))).toEqual([]);
    expect(browser.errors).toEqual([]);
    await page.close();
  });
});
