// `moco-cxr export-model` then `moco-cxr evaluate --bundle` on tiny linear and finetune runs over a
// Kermany slice: the bundle gives each test image the probability the run itself saved for it.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { captureIo } from '../test-support/io';
import { looksUnlike, type GreyImage } from '@moco-cxr/model-bundle';
import { readBundle } from '@moco-cxr/model-bundle/node';
import { runCli } from '../cli/main';

const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const present = existsSync(join(KERMANY, 'train', 'NORMAL'));
if (!present && process.env.CI === 'true') throw new Error(`Kermany data missing at ${KERMANY}: the model-bundle CLI test must run in CI`);

interface SavedScores {
  level: string;
  tasks: string[];
  ids: string[];
  scores: number[];
}

interface Evaluation {
  tasks: string[];
  images: { path: string; probabilities: Record<string, number>; unlike: boolean }[];
}

describe.skipIf(!present)(`export-model and evaluate --bundle (skipped without the Kermany data at ${KERMANY})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'tiny.yaml');
  writeFileSync(
    config,
    [
      'seed: 4',
      'threads: 1',
      `data: { source: folder, root: ${JSON.stringify(KERMANY)}, cacheDir: ${JSON.stringify(join(dir, 'cache'))}, imageSize: 24, limit: { train: 60, test: 24 }, valFraction: 0.25 }`,
      'backbone: { name: resnet18, options: { widths: [8, 16, 32, 64], blocks: [1, 1, 1, 1], stemWidth: 8 } }',
      'linear: { lr: 0.001, maxEpochs: 4 }',
      'finetune: { maxEpochs: 1 }',
      '',
    ].join('\n'),
  );

  const cli = async (args: string[]) => {
    const io = captureIo();
    const r = await runCli(args, io);
    expect(r.error, `${args.join(' ')}\n${io.text()}`).toBeUndefined();
    return { ...r, io };
  };

  /** The run's own saved test scores, by image file, and the bundle's for the same files. */
  const compare = async (run: string, bundle: string) => {
    const saved = JSON.parse(readFileSync(join(run, 'scores.json'), 'utf8')) as SavedScores;
    expect(saved.level).toBe('image');
    const files = saved.ids.map((id) => join(KERMANY, id));
    const { result, io } = await cli(['evaluate', '--bundle', bundle, ...files, '--json']);
    const evaluation = result as Evaluation;
    expect(evaluation.tasks).toEqual(saved.tasks);
    expect(evaluation.images.map((i) => i.path)).toEqual(files);
    const task = saved.tasks[0];
    let worst = 0;
    evaluation.images.forEach((image, i) => (worst = Math.max(worst, Math.abs(image.probabilities[task] - saved.scores[i]))));
    expect(worst, io.text()).toBeLessThan(1e-5);
    // Test images of the training distribution are not flagged (a few may cross the 99th percentile).
    expect(evaluation.images.filter((i) => i.unlike).length).toBeLessThanOrEqual(Math.ceil(0.1 * files.length));
    return { saved, evaluation, files };
  };

  it('linear (frozen random-init features): the bundle scores the test images as the run did, from the files and from the config', async () => {
    const run = join(dir, 'linear');
    await cli(['linear', '--config', config, '--out', run]);
    const bundle = join(dir, 'bundle-linear');
    const exported = await cli(['export-model', run, '-o', bundle, '--json']);
    expect(exported.result).toMatchObject({ run: { protocol: 'linear', init: 'random', fraction: 1 }, tasks: ['PNEUMONIA'] });
    const manifest = JSON.parse(readFileSync(join(bundle, 'bundle.json'), 'utf8'));
    const results = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8'));
    expect(manifest.provenance).toMatchObject({ testAuroc: { PNEUMONIA: results.testAuroc }, testLevel: 'image', valAuroc: results.valAuroc, source: { protocol: 'linear', init: 'random' } });
    expect(manifest.provenance.data).toMatch(/images at 24 px/);
    expect(manifest.provenance.packages['@moco-cxr/model-bundle']).toBe('0.0.0');
    expect(manifest.input).toMatchObject({ size: 24, channels: 3, normalize: { name: 'cxr', mean: [0.502, 0.502, 0.502], std: [0.085585, 0.085585, 0.085585] } });
    const { saved } = await compare(run, bundle);

    // The same split through --config (the cached images): the same scores, with labels, as CSV in a file.
    const csv = join(dir, 'linear-scores.csv');
    await cli(['evaluate', '--bundle', bundle, '--config', config, '--split', 'test', '--out', csv]);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('path,score:PNEUMONIA,unlike,label:PNEUMONIA');
    expect(lines).toHaveLength(saved.ids.length + 1);
    lines.slice(1).forEach((line, i) => {
      const [path, score, , label] = line.split(',');
      expect(path).toBe(saved.ids[i]);
      expect(Math.abs(Number(score) - saved.scores[i])).toBeLessThan(1e-5);
      expect(Number(label)).toBe((saved as unknown as { labels: number[] }).labels[i]);
    });

    // Images that are no chest X-ray are flagged by the statistics export-model stored.
    const loaded = await readBundle(bundle);
    const grey = (w: number, h: number, f: (x: number, y: number) => number): GreyImage => ({ width: w, height: h, data: Uint8Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))) });
    let state = 7;
    const noise = () => ((state = (state * 1103515245 + 12345) % 2147483648), state % 256);
    const photo = (x: number, y: number) => (y > 60 ? 40 + ((x * 7 + y * 3) % 30) : Math.hypot(x - 90, y - 20) < 10 ? 250 : 160 + y);
    for (const [name, image] of Object.entries({ uniform: grey(80, 80, () => 128), noise: grey(64, 64, noise), photo: grey(120, 90, photo) })) {
      expect((await looksUnlike(loaded, image)).unlike, name).toBe(true);
    }
    loaded.dispose();

    // Without --json or --out: CSV on stdout.
    const printed = await cli(['evaluate', '--bundle', bundle, join(KERMANY, saved.ids[0])]);
    expect(printed.io.stdout()).toMatch(/^path,score:PNEUMONIA,unlike\n.*\.jpe?g,0\.\d+,(true|false)\n$/i);
  });

  it('finetune (the best checkpoint): the bundle scores the test images as the run did; from an experiment the choice is by validation AUROC', async () => {
    const run = join(dir, 'finetune');
    await cli(['finetune', '--config', config, '--out', run]);
    const bundle = join(dir, 'bundle-finetune');
    await cli(['export-model', run, '-o', bundle]);
    await compare(run, bundle);

    // Two finished runs as the cells of an experiment: the default is the best validation AUROC at the largest fraction.
    const exp = join(dir, 'exp');
    mkdirSync(join(exp, 'cells'), { recursive: true });
    cpSync(join(dir, 'linear'), join(exp, 'cells', 'linear-random'), { recursive: true });
    cpSync(run, join(exp, 'cells', 'finetune-random'), { recursive: true });
    const val = (d: string) => JSON.parse(readFileSync(join(d, 'results.json'), 'utf8')).valAuroc as number;
    const best = val(join(dir, 'linear')) >= val(run) ? 'linear-random' : 'finetune-random';
    const chosen = await cli(['export-model', exp, '-o', join(dir, 'bundle-exp'), '--json']);
    expect((chosen.result as { run: { id: string } }).run.id).toBe(best);
    const picked = await cli(['export-model', exp, '--protocol', 'finetune', '-o', join(dir, 'bundle-exp-ft'), '--json']);
    expect((picked.result as { run: { id: string } }).run.id).toBe('finetune-random');
    const io = captureIo();
    const none = await runCli(['export-model', exp, '--init', 'moco', '-o', join(dir, 'bundle-none')], io);
    expect(none.exitCode).toBe(1);
    expect(io.text()).toMatch(/no finished model run matches --init moco; the runs are finetune-random \(val AUROC [\d.]+\), linear-random \(val AUROC [\d.]+\); choose with --cell <id>/);
  });

  it('refuses what it cannot do, naming the problem', async () => {
    const io = captureIo();
    expect((await runCli(['export-model', dir, '-o', join(dir, 'x')], io)).exitCode).toBe(1);
    expect(io.text()).toContain('no finished linear, logistic or finetune run here');
    const io2 = captureIo();
    expect((await runCli(['evaluate', '--bundle', join(dir, 'nowhere'), 'a.png'], io2)).exitCode).toBe(2);
    expect(io2.text()).toContain('--bundle: ');
  });
});
