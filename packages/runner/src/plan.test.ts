// What `experiment` settles when it plans a grid, before any job runs: absolute paths in the specs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCheXpertFixture, writeFolderFixture } from '../../cxr-data/src/test-support/formats';
import { cliProcessArgs } from './test-support/cli-process';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';

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

describe.skipIf(!present)('experiment checks every label fraction x draw when it plans the grid', () => {
  it('an impossible fraction fails before any job, with exit code 2, the fraction, the tasks and what to change, and writes nothing', async () => {
    const chexpert = writeCheXpertFixture(join(dir, 'chexpert'), KERMANY, { patients: 30, validPatients: 15 });
    // Each patient positive for exactly one of three tasks: a draw of 2 patients cannot hold a positive of all three.
    const TASKS = ['Pleural Effusion', 'Atelectasis', 'Cardiomegaly'];
    for (const csv of [chexpert.trainCsv, chexpert.validCsv]) {
      const [head, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
      const cols = TASKS.map((t) => head.split(',').indexOf(t));
      const relabel = (row: string) => {
        const cells = row.split(',');
        const patient = Number(/patient(\d+)/.exec(cells[0])![1]);
        cols.forEach((c, k) => (cells[c] = patient % 3 === k ? '1.0' : '0.0'));
        return cells.join(',');
      };
      writeFileSync(csv, `${[head, ...rows.map(relabel)].join('\n')}\n`);
    }
    const config = join(dir, 'chexpert.yaml');
    const cfg = (fractions: string) =>
      writeFileSync(config, [`data: { source: chexpert, root: ${JSON.stringify(chexpert.root)}, tasks: ${JSON.stringify(TASKS)}, imageSize: 16, valFraction: 0.3 }`, `fractions: ${fractions}`, 'draws: 5'].join('\n'));
    // 0.1 of the ~21 train patients is a draw of 2: the smallest draw, which cannot hold all three tasks.
    cfg('[0.1, 0.5]');
    const out = join(dir, 'chexpert-exp');
    const io = captureIo();
    const r = await runCli(['experiment', '--config', config, '--out', out, '--plan'], io);
    expect(r.exitCode).toBe(2);
    expect(io.text()).toMatch(
      /^moco-cxr experiment: \S+chexpert\.yaml: fractions: 0\.1 \(5 draws\) cannot be drawn: no draw of 2 of the \d+ train patients holds a positive and a negative image of every task together \("Pleural Effusion", "Atelectasis", "Cardiomegaly"\); raise or remove this fraction in fractions, drop tasks from data\.tasks or give the train split more patients \(data\.limit\.train, data\.valFraction\)\n$/,
    );
    expect(existsSync(out)).toBe(false);
    // Possible fractions plan as before.
    cfg('[0.5, 1]');
    const ok = await runCli(['experiment', '--config', config, '--out', out, '--plan'], captureIo());
    expect(ok.error).toBeUndefined();
    expect(existsSync(join(out, 'jobs', 'linear-moco-50pct-d4.json'))).toBe(true);
  }, 60_000);
});
