// What `experiment` settles when it plans a grid, before any job runs: absolute paths in the specs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFolderFixture } from '../../cxr-data/test/formats';
import { cliProcessArgs } from '../test/cli-process';
import { captureIo } from '../test/io';
import { runCli } from './main';

const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const present = existsSync(join(KERMANY, 'train', 'NORMAL'));
if (!present && process.env.CI === 'true') throw new Error(`Kermany data missing at ${KERMANY}: the planning tests must run in CI`);

const dir = mkdtempSync(join(tmpdir(), 'runner-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!present)('experiment plans with absolute paths', () => {
  it('a relative data.root is absolute in the specs and config.json; run-job works from another directory; a rerun resumes', async () => {
    const data = writeFolderFixture(join(dir, 'folder'), KERMANY, { train: 16, test: 8 }).root;
    // Relative to the working directory, as a user running from the repository root writes them.
    const rel = (p: string) => relative(process.cwd(), p);
    const config = join(dir, 'rel.yaml');
    writeFileSync(
      config,
      [
        'seed: 1',
        `data: { source: folder, root: ${JSON.stringify(rel(data))}, cacheDir: ${JSON.stringify(rel(join(dir, 'cache')))}, imageSize: 16, valFraction: 0.25 }`,
        'backbone: { options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }',
        'initialisations: [random]',
        'protocols: [logistic]',
        'fractions: [1]',
      ].join('\n'),
    );
    const out = join(dir, 'exp');
    const plan = () => runCli(['experiment', '--config', config, '--out', out, '--plan'], captureIo());
    const first = await plan();
    expect(first.error).toBeUndefined();
    const spec = JSON.parse(readFileSync(join(out, 'jobs', 'features-random.json'), 'utf8'));
    expect(spec.config.data).toMatchObject({ root: data, cacheDir: join(dir, 'cache') });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).data.root).toBe(data);

    // A worker's working directory is not the planner's.
    const r = spawnSync(process.execPath, [...cliProcessArgs(), 'run-job', join(out, 'jobs', 'features-random.json')], { cwd: tmpdir(), encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/does not exist/);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(out, 'features', 'random', 'results.json'))).toBe(true);

    // The same command from the same directory resumes; so does a directory whose config.json recorded the relative path.
    expect((await plan()).error).toBeUndefined();
    const recorded = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    writeFileSync(join(out, 'config.json'), JSON.stringify({ ...recorded, data: { ...recorded.data, root: rel(data) } }));
    expect((await plan()).error).toBeUndefined();
  }, 120_000);
});

describe('--backbone', () => {
  const config = join(dir, 'narrow.yaml');
  writeFileSync(config, ['seed: 1', 'data: { imageSize: 16, synthetic: { train: 40, test: 20 } }', 'backbone: { name: resnet18, options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }', 'protocols: [linear]', 'fractions: [1]'].join('\n'));
  const plan = async (name: string, ...args: string[]) => {
    const io = captureIo();
    const out = join(dir, name);
    const r = await runCli(['experiment', '--config', config, '--out', out, '--plan', ...args], io);
    return { ...r, io, spec: () => JSON.parse(readFileSync(join(out, 'jobs', 'pretrain.json'), 'utf8')).config, out };
  };

  it("overrides backbone.name; drops the options the new backbone does not take, saying which; keeps those it takes", async () => {
    const dense = await plan('dense', '--backbone', 'densenet121');
    expect(dense.error).toBeUndefined();
    expect(dense.spec().backbone).toEqual({ name: 'densenet121', options: {} });
    expect(dense.io.text()).toContain('--backbone densenet121: dropped backbone.options widths, blocks, stemWidth (resnet18 options that densenet121 does not take)');
    const r50 = await plan('r50', '--backbone', 'resnet50');
    expect(r50.spec().backbone).toEqual({ name: 'resnet50', options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } });
    expect(r50.io.text()).not.toContain('dropped');
  });

  it('names the choices for an unknown backbone on every command that takes it, before writing anything', async () => {
    for (const cmd of ['experiment', 'pretrain', 'linear', 'finetune']) {
      const io = captureIo();
      const out = join(dir, `bad-${cmd}`);
      const r = await runCli([cmd, '--config', config, '--backbone', 'vgg16', '--out', out], io);
      expect(r.exitCode).toBe(2);
      expect(io.text()).toBe(`moco-cxr ${cmd}: --backbone: expected one of resnet18, resnet50, densenet121, got "vgg16"\n`);
      expect(existsSync(out)).toBe(false);
    }
  });
});
