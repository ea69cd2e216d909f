// `moco-cxr experiment` on every data source, built as fixtures from real Kermany radiographs in a temp
// dir (CheXpert-, NIH- and NLM-TB-format, and a folder), a transfer grid, and each bad input. CI-sized:
// 24 px, a narrow ResNet18, one pretraining epoch, the linear protocol on two label fractions.
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCheXpertFixture, writeFolderFixture, writeNihFixture, writeNlmTbFixture, type CheXpertFixture, type NihFixture, type NlmTbFixture } from '../../cxr-data/src/test-support/formats';
import { captureIo } from './test-support/io';
import { runCli } from './cli/main';
import { rmSync } from 'node:fs';

const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const present = existsSync(join(KERMANY, 'train', 'NORMAL'));
if (!present && process.env.CI === 'true') throw new Error(`Kermany data missing at ${KERMANY}: the data-source experiment tests must run in CI`);

interface Row {
  task?: string;
  protocol: string;
  fraction: number;
  a: string;
  b: string;
  aurocA: { estimate: number; lo: number; hi: number };
  difference: { estimate: number; lo: number; hi: number };
}

describe.skipIf(!present)(`experiment on every data source (skipped without the Kermany data at ${KERMANY})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-sources-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let chexpert: CheXpertFixture;
  let nih: NihFixture;
  let tb: NlmTbFixture;
  beforeAll(async () => {
    chexpert = writeCheXpertFixture(join(dir, 'chexpert'), KERMANY, { patients: 36, validPatients: 18 });
    nih = await writeNihFixture(join(dir, 'nih'), KERMANY, { patients: 24 });
    tb = await writeNlmTbFixture(join(dir, 'tb'), KERMANY, { shenzhen: 40, montgomery: 0 });
    writeFolderFixture(join(dir, 'folder'), KERMANY, { train: 40, test: 20 });
  }, 60_000);

  // The tiny grid every source runs; `data` comes from the test.
  const tiny = (extra: Record<string, unknown>) => ({
    seed: 1,
    backbone: { options: { widths: [8, 16, 32, 64], blocks: [1, 1, 1, 1], stemWidth: 8 } },
    pretrain: { epochs: 1, batchSize: 8, queueSize: 32, probeSize: 16, knnK: 3, checkpointEvery: 100 },
    protocols: ['linear'],
    fractions: [0.5, 1],
    draws: 1,
    linear: { lr: 0.001, maxEpochs: 3 },
    compare: { replicates: 50 },
    ...extra,
  });
  const writeConfig = (name: string, cfg: Record<string, unknown>) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(cfg));
    return file;
  };
  const experiment = async (name: string, cfg: Record<string, unknown>) => {
    const io = captureIo();
    const out = join(dir, 'runs', name);
    const r = await runCli(['experiment', '--config', writeConfig(name, cfg), '--out', out], io);
    return { ...r, out, io };
  };
  const rowsOf = (out: string): Row[] => JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')).rows;
  const cache = () => join(dir, 'cache');

  it('chexpert: the five competition tasks with U-Ignore, frontal views, study max; rows and report panels per task', async () => {
    // Both protocols: the end-to-end one trains the backbone with the masked multi-task loss.
    const r = await experiment('chexpert', tiny({ data: { source: 'chexpert', root: chexpert.root, imageSize: 24, valFraction: 0.4, cacheDir: cache() }, protocols: ['linear', 'finetune'], finetune: { maxEpochs: 1, batchSize: 8 } }));
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    const all = rowsOf(r.out);
    const tasks = ['mean over tasks', 'Pleural Effusion', 'Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema'];
    const each = (p: string) => [...tasks.map((t) => `${p} ${t} 0.5`), ...tasks.map((t) => `${p} ${t} 1`)];
    expect(all.map((x) => `${x.protocol} ${x.task} ${x.fraction}`)).toEqual([...each('linear'), ...each('finetune')]);
    const rows = all.filter((x) => x.protocol === 'linear');
    for (const x of rows) expect(x.aurocA.lo).toBeLessThanOrEqual(x.aurocA.estimate), expect(x.aurocA.hi).toBeGreaterThanOrEqual(x.aurocA.estimate);
    // The mean row is the mean of the per-task estimates.
    const full = rows.filter((x) => x.fraction === 1);
    expect(full[0].aurocA.estimate).toBeCloseTo(full.slice(1).reduce((a, x) => a + x.aurocA.estimate, 0) / 5, 10);
    // Test scores at study level (max over a study's two frontal images), masked uncertain labels kept as NaN.
    const scores = JSON.parse(readFileSync(join(r.out, 'cells', 'linear-moco-100pct-d0', 'scores.json'), 'utf8'));
    expect(scores.level).toBe('study');
    expect(scores.tasks).toEqual(tasks.slice(1));
    expect(scores.scores).toHaveLength(scores.ids.length * 5);
    expect(scores.ids.length).toBe(18);
    expect(scores.ids.every((id: string) => /^patient\d+\/study1$/.test(id))).toBe(true);
    // A panel per task in the report, and the data named in its settings.
    for (const slug of ['mean-over-tasks', 'pleural-effusion', 'edema']) expect(existsSync(join(r.out, 'report', 'figures', `auroc-vs-fraction-${slug}.svg`))).toBe(true);
    // A ROC figure per task, not only the first task's.
    for (const slug of ['pleural-effusion', 'edema']) expect(existsSync(join(r.out, 'report', 'figures', `roc-${slug}.svg`))).toBe(true);
    expect(existsSync(join(r.out, 'report', 'figures', 'roc.svg'))).toBe(false);
    const md = readFileSync(join(r.out, 'report', 'report.md'), 'utf8');
    expect(md).toMatch(/- data: CheXpert .*chexpert \(frontal views\), uncertain labels "ignore"/);
    expect(md).toContain('| Pleural Effusion | linear | 50%');
  }, 300_000);

  it('nih: the Data_Entry CSV and the official lists; the test split is the test list', async () => {
    const r = await experiment('nih', tiny({ data: { source: 'nih', root: nih.root, imageSize: 24, valFraction: 0.3, cacheDir: cache() } }));
    expect(r.error).toBeUndefined();
    const rows = rowsOf(r.out);
    expect(rows.map((x) => `${x.task} ${x.protocol} ${x.fraction} ${x.a}-${x.b}`)).toEqual(['Effusion linear 0.5 moco-random', 'Effusion linear 1 moco-random']);
    const scores = JSON.parse(readFileSync(join(r.out, 'cells', 'linear-random-100pct-d0', 'scores.json'), 'utf8'));
    const testList = readFileSync(nih.testList, 'utf8').trim().split('\n');
    expect(scores.ids.map((p: string) => p.split('/').pop()).sort()).toEqual([...testList].sort());
  }, 300_000);

  it("nlm-tb: Shenzhen with the paper's 65/15/20 split", async () => {
    const r = await experiment('tb', tiny({ data: { source: 'nlm-tb', root: tb.root, imageSize: 24, cacheDir: cache() } }));
    expect(r.error).toBeUndefined();
    expect(rowsOf(r.out).map((x) => x.task)).toEqual(['Tuberculosis', 'Tuberculosis']);
    const io = captureIo();
    const d = await runCli(['data', '--config', join(dir, 'tb.yaml'), '--out', join(dir, 'runs', 'tb-data')], io);
    const s = (d.result as { splits: Record<string, { images: number }> }).splits;
    expect([s.train.images, s.val.images, s.test.images]).toEqual([26, 6, 8]);
  }, 300_000);

  it('folder: Kermany names give patients; a name that does not match stops the run naming it and the option, unless per-image', async () => {
    const ok = await experiment('folder', tiny({ data: { source: 'folder', root: join(dir, 'folder'), imageSize: 24, valFraction: 0.3, cacheDir: cache() } }));
    expect(ok.error).toBeUndefined();
    expect(rowsOf(ok.out)).toHaveLength(2);
    const odd = join(dir, 'folder-odd');
    writeFolderFixture(odd, KERMANY, { train: 40, test: 20, oddName: 'scan 7.jpeg' });
    const bad = await experiment('folder-odd', tiny({ data: { source: 'folder', root: odd, imageSize: 24, valFraction: 0.3, cacheDir: cache() } }));
    expect(bad.exitCode).not.toBe(0);
    expect(bad.io.text()).toMatch(/1 of 60 file names under .*folder-odd do not match patientPattern .*: "train\/NORMAL\/scan 7\.jpeg"; .*patientPattern: 'per-image'/);
    const perImage = await experiment('folder-per-image', tiny({ data: { source: 'folder', root: odd, imageSize: 24, valFraction: 0.3, cacheDir: cache(), folder: { patientPattern: 'per-image' } } }));
    expect(perImage.error).toBeUndefined();
  }, 300_000);

  it('transfer: MoCo pretrained on CheXpert, the protocols on Shenzhen; then mocoWeights reuses that backbone without pretraining', async () => {
    const r = await experiment(
      'transfer',
      tiny({
        data: { source: 'nlm-tb', root: tb.root, imageSize: 24, cacheDir: cache() },
        pretrainData: { source: 'chexpert', root: chexpert.root, imageSize: 24, tasks: ['Pleural Effusion'], cacheDir: cache() },
      }),
    );
    expect(r.error).toBeUndefined();
    const pre = JSON.parse(readFileSync(join(r.out, 'pretrain', 'results.json'), 'utf8'));
    expect(pre.data).toMatch(/^CheXpert /);
    expect(pre.images).toBe(chexpert.trainFrontal);
    const scores = JSON.parse(readFileSync(join(r.out, 'cells', 'linear-moco-100pct-d0', 'scores.json'), 'utf8'));
    expect(scores.tasks).toEqual(['Tuberculosis']);
    expect(scores.ids.every((p: string) => /CHNCXR_\d+_[01]\.png$/.test(p))).toBe(true);
    const md = readFileSync(join(r.out, 'report', 'report.md'), 'utf8');
    expect(md).toMatch(/- data: NLM TB .*tb \(shenzhen\)/);
    expect(md).toMatch(/- MoCo pretrained on: CheXpert .*chexpert.*\(transfer: the baselines and every protocol train and test on the data above\)/);

    const again = await experiment('transfer-weights', tiny({ data: { source: 'nlm-tb', root: tb.root, imageSize: 24, cacheDir: cache() }, mocoWeights: join(r.out, 'pretrain') }));
    expect(again.error).toBeUndefined();
    expect(existsSync(join(again.out, 'pretrain'))).toBe(false);
    // The same MoCo backbone on the same data: the same frozen features, so the same MoCo scores.
    const reused = JSON.parse(readFileSync(join(again.out, 'cells', 'linear-moco-100pct-d0', 'scores.json'), 'utf8'));
    expect(reused.scores).toEqual(scores.scores);
    expect(readFileSync(join(again.out, 'report', 'report.md'), 'utf8')).toContain(`- MoCo pretrained on: the given weights ${join(r.out, 'pretrain')}`);
  }, 300_000);

  it('every command takes any source: pretrain, linear, finetune, evaluate and data on NIH-format data', async () => {
    const cfg = writeConfig('nih-commands', tiny({ data: { source: 'nih', root: nih.root, imageSize: 24, valFraction: 0.3, cacheDir: cache() }, finetune: { maxEpochs: 1, batchSize: 8 } }));
    const run = async (args: string[]) => {
      const io = captureIo();
      const r = await runCli(args, io);
      expect(r.error, `${args[0]}: ${io.text()}`).toBeUndefined();
      const out = r.result as Record<string, unknown>;
      // Single jobs answer { id, dir, skipped, results }; evaluate and data answer with their results.
      return (out.results ?? out) as Record<string, unknown>;
    };
    const runs = join(dir, 'runs', 'nih-commands');
    const pre = await run(['pretrain', '--config', cfg, '--out', join(runs, 'pretrain')]);
    expect(pre.data).toMatch(/^NIH ChestX-ray14 /);
    const lin = await run(['linear', '--config', cfg, '--weights', join(runs, 'pretrain'), '--fraction', '0.5', '--out', join(runs, 'linear')]);
    const fin = await run(['finetune', '--config', cfg, '--weights', join(runs, 'pretrain'), '--fraction', '1', '--out', join(runs, 'finetune')]);
    for (const x of [lin, fin]) expect(x.testAuroc).toBeGreaterThanOrEqual(0), expect(x.tasks).toEqual(['Effusion']);
    const ev = await run(['evaluate', join(runs, 'finetune'), '--out', join(runs, 'evaluate')]);
    expect(ev.auroc).toBeCloseTo(fin.testAuroc as number, 5);
    const data = await run(['data', '--config', cfg, '--out', join(runs, 'data')]);
    expect((data.splits as Record<string, { images: number }>).test.images).toBe(nih.testImages);
  }, 300_000);

  it('bad input: one line naming the field, file, row or option', async () => {
    const fails = async (name: string, cfg: Record<string, unknown>, pattern: RegExp) => {
      const r = await experiment(name, cfg);
      expect(r.exitCode, name).not.toBe(0);
      expect(r.io.text(), name).toMatch(pattern);
    };
    // data.root without a source: no silent synthetic run.
    await fails('no-source', tiny({ data: { root: chexpert.root } }), /data\.source: required with data\.root \(".*chexpert"\): one of "chexpert", "nih", "nlm-tb", "folder", "dicom", "synthetic"/);
    // An option that does not fit the source.
    await fails('misfit', tiny({ data: { source: 'nih', root: nih.root, chexpert: { frontalOnly: false } } }), /data\.chexpert: applies to data\.source "chexpert" only, but the source is "nih"/);
    // An unknown task.
    await fails('unknown-task', tiny({ data: { source: 'chexpert', root: chexpert.root, tasks: ['Pleural Efusion'], cacheDir: cache() } }), /unknown-task\.yaml: data\.tasks\[0\]: "Pleural Efusion" is not a task of the CheXpert data \(did you mean "Pleural Effusion"\?\); its tasks are No Finding/);
    await fails('unknown-nlm-task', tiny({ data: { source: 'nlm-tb', root: tb.root, tasks: ['TB'], cacheDir: cache() } }), /unknown-nlm-task\.yaml: data\.tasks\[0\]: "TB" is not a task of the NLM TB data; its tasks are Tuberculosis/);
    // The root set to CheXpert-v1.0-small/ itself: the CSVs' paths start with it, so the fix is its parent.
    await fails('inner-root', tiny({ data: { source: 'chexpert', root: join(chexpert.root, 'CheXpert-v1.0-small'), cacheDir: cache() } }), /data\.root: .*CheXpert-v1\.0-small is the CheXpert-v1\.0-small\/ folder itself; set data\.root to the folder that holds it \(.*chexpert\)/);
    // A missing CSV column.
    const csv = readFileSync(chexpert.trainCsv, 'utf8');
    const broken = join(dir, 'chexpert', 'CheXpert-v1.0-small', 'no-view.csv');
    writeFileSync(broken, csv.replace('Frontal/Lateral', 'View'));
    await fails('missing-column', tiny({ data: { source: 'chexpert', root: chexpert.root, chexpert: { trainCsv: broken }, cacheDir: cache() } }), /no-view\.csv: missing column "Frontal\/Lateral"; columns are "Path"/);
    // An image listed but absent: a CheXpert row, and an NIH list entry without a row.
    const lines = csv.trim().split('\n');
    const gone = lines[1].split(',')[0];
    renameSync(join(chexpert.root, gone), join(chexpert.root, `${gone}.bak`));
    try {
      await fails('absent-image', tiny({ data: { source: 'chexpert', root: chexpert.root, cacheDir: cache() } }), /train\.csv line 2, column "Path": image ".*view1_frontal\.jpg" not found under/);
    } finally {
      renameSync(join(chexpert.root, `${gone}.bak`), join(chexpert.root, gone));
    }
    const list = join(dir, 'nih', 'test_plus.txt');
    writeFileSync(list, `${readFileSync(nih.testList, 'utf8')}00000999_000.png\n`);
    await fails('listed-absent', tiny({ data: { source: 'nih', root: nih.root, nih: { testList: list }, cacheDir: cache() } }), /test_plus\.txt line \d+: image 00000999_000\.png is listed but has no row in .*Data_Entry_2017_v2020\.csv/);
    // Transfer options that contradict each other.
    await fails('both', tiny({ mocoWeights: join(dir, 'x'), pretrainData: { source: 'synthetic' } }), /mocoWeights: give either mocoWeights .* or pretrainData .*, not both/);
    await fails('no-weights', tiny({ mocoWeights: join(dir, 'nowhere') }), /mocoWeights: .*nowhere\/moco\/backbone\.safetensors does not exist/);
  }, 300_000);
});
