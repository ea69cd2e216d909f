// The Demo tab in Debian's chromium. On wasm: the full schedule (the runner's demo without its
// end-to-end protocol, chosen on seeds 11-15, run here on seed 0) pretrains with a live chart and shows
// MoCo ahead of random init. On webgpu (SwiftShader, ~20 s per 32 px step here): the tiny schedule
// runs to the end; it is too short to show any difference and the test claims none.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type StaticServer } from './testing/chromium';
import { servePage } from './testing/page';
import { DEMO_SCHEDULE, TINY_SCHEDULE, type DemoSchedule } from './demo/schedule';

let server: StaticServer;
beforeAll(async () => {
  server = await servePage(inject('pageDir'));
});
afterAll(async () => {
  await server?.close();
});

async function runTab(backend: 'wasm' | 'webgpu', schedule: string, s: DemoSchedule) {
  const browser = await launchChromium({ webgpu: backend === 'webgpu' });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.origin}/?tab=demo&backend=${backend}&schedule=${schedule}&autorun=1`);
    await page.waitForSelector('body[data-backend]');
    expect(await page.getAttribute('body', 'data-backend')).toBe(backend);
    if (backend === 'webgpu') expect(await page.textContent('#backend')).toMatch(/swiftshader/i);
    // The chart is drawn while it trains: the probe at initialisation appears before the run ends.
    await page.waitForFunction(() => document.querySelectorAll('#panel-demo svg circle').length >= 2, undefined, { timeout: 200_000 });
    expect(await page.getAttribute('#panel-demo', 'data-state')).toBe('running');
    await page.waitForSelector('#panel-demo[data-state="done"], #panel-demo[data-state="failed"]', { timeout: 220_000 });
    expect(await page.textContent('#demo-error')).toBe('');
    expect(await page.getAttribute('#panel-demo', 'data-state')).toBe('done');
    // Loss at every epoch; kNN and linear probe at initialisation and after every epoch.
    const circles = await page.locator('#panel-demo svg').evaluateAll((svgs) => svgs.map((x) => x.querySelectorAll('circle').length));
    expect(circles).toEqual([s.epochs, 2 * (s.epochs + 1)]);
    const rows = await page.locator('#demo-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
    expect(rows.map((r) => Number(r.fraction))).toEqual(s.fractions);
    expect(browser.errors).toEqual([]);
    return { rows, verdict: (await page.textContent('#demo-verdict'))! };
  } finally {
    await browser.close();
  }
}

describe('the Demo tab', () => {
  it('on wasm: pretrains with a live chart, runs the linear protocol and shows MoCo ahead of random init', async () => {
    const { rows, verdict } = await runTab('wasm', 'full', DEMO_SCHEDULE);
    for (const r of rows) expect(Number(r.lower)).toBeGreaterThan(0);
    expect(verdict).toContain(`MoCo is ahead of random init with a 95% CI above 0 at ${rows.length} of ${rows.length} label fractions`);
  });

  it('on wasm: a second run leaves as many tensors as the first', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${server.origin}/?tab=demo&backend=wasm&schedule=tiny&autorun=1`);
      await page.waitForSelector('#panel-demo[data-state="done"]', { timeout: 120_000 });
      const first = Number(await page.getAttribute('#panel-demo', 'data-tensors'));
      await page.click('#demo-run');
      await page.waitForSelector('#panel-demo[data-runs="2"][data-state="done"]', { timeout: 120_000 });
      expect(Number(await page.getAttribute('#panel-demo', 'data-tensors'))).toBe(first);
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('on webgpu (SwiftShader): runs the tiny schedule to the end', async () => {
    const { rows } = await runTab('webgpu', 'tiny', TINY_SCHEDULE);
    for (const r of rows) expect(Number.isFinite(Number(r.difference))).toBe(true);
  });
});
