// A bundle exported from a tiny `moco-cxr linear` run scores the same radiographs in the page as
// `moco-cxr evaluate --bundle` does in Node: the CLI a user runs, then the page a user opens.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cliProcessArgs } from '../../runner/src/test-support/cli-process';
import { launchChromium, type Chromium, type StaticServer } from './testing/chromium';
import { KERMANY_DIR, kermanyFiles } from './testing/kermany-bundle';
import { dropFiles, servePage } from './testing/page';

const dir = mkdtempSync(join(tmpdir(), 'moco-cxr-web-cli-'));
const run = join(dir, 'linear');
const bundleDir = join(dir, 'bundle');
let browser: Chromium;
let server: StaticServer;

/** `moco-cxr <args>` in its own process, as a user runs it; its stdout. */
async function moco(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...cliProcessArgs(), ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

beforeAll(async () => {
  kermanyFiles('train', 'NORMAL', 1); // says where the radiographs were looked for when they are missing
  // As small as the runner's export test: 24 px, a narrow ResNet18, 60 train and 24 test images.
  writeFileSync(
    join(dir, 'tiny.yaml'),
    [
      'seed: 4',
      'threads: 1',
      `data: { source: folder, root: ${JSON.stringify(KERMANY_DIR)}, cacheDir: ${JSON.stringify(join(dir, 'cache'))}, imageSize: 24, limit: { train: 60, test: 24 }, valFraction: 0.25 }`,
      'backbone: { name: resnet18, options: { widths: [8, 16, 32, 64], blocks: [1, 1, 1, 1], stemWidth: 8 } }',
      'linear: { lr: 0.001, maxEpochs: 4 }',
      '',
    ].join('\n'),
  );
  await moco(['linear', '--config', join(dir, 'tiny.yaml'), '--out', run]);
  await moco(['export-model', run, '-o', bundleDir]);
  server = await servePage(inject('pageDir'), { cli: bundleDir });
  browser = await launchChromium();
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Evaluation {
  tasks: string[];
  images: { path: string; probabilities: Record<string, number> }[];
}

describe('a bundle from moco-cxr export-model', () => {
  it('gives each dropped radiograph the probability moco-cxr evaluate --bundle prints (1e-6)', async () => {
    const files = [kermanyFiles('test', 'PNEUMONIA', 1)[0], kermanyFiles('test', 'NORMAL', 1)[0], kermanyFiles('train', 'PNEUMONIA', 1)[0]];
    const node = JSON.parse(await moco(['evaluate', '--bundle', bundleDir, ...files, '--json'])) as Evaluation;
    expect(node.tasks).toEqual(['PNEUMONIA']);
    expect(node.images.map((i) => i.path)).toEqual(files);
    const page = await browser.newPage();
    await page.goto(`${server.origin}/?bundle=/bundles/cli/`);
    await page.waitForSelector('#panel-score[data-bundle="ready"]');
    expect(await page.textContent('#bundle-status')).toContain('resnet18 at 24 px, tasks PNEUMONIA');
    await dropFiles(page, '#drop', files.map((f) => ({ name: basename(f), type: 'image/jpeg', bytes: new Uint8Array(readFileSync(f)) })));
    await page.waitForSelector(`.card[data-state="done"] >> nth=${files.length - 1}`, { timeout: 120_000 });
    let worst = 0;
    for (let i = 0; i < files.length; i++) {
      const shown = JSON.parse((await page.locator(`.card[data-file="${basename(files[i])}"]`).getAttribute('data-probabilities'))!) as Record<string, number>;
      worst = Math.max(worst, Math.abs(shown.PNEUMONIA - node.images[i].probabilities.PNEUMONIA));
    }
    // Both run float32 tfjs (wasm in the page, Node's backend in the CLI); measured about 6e-8.
    expect(worst).toBeLessThan(1e-6);
    expect(browser.errors).toEqual([]);
    await page.close();
  });
});
