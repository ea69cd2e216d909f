// What `experiment` refuses or says about the data when it plans a grid (issue 22): leaked splits, duplicate
// rows, unused folders, stray classes, a queue larger than the data, a fraction smaller than two patients.
// Planning reads no pixels, so most fixtures are empty files; the `data` command decodes real Kermany images.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { CHEXPERT_TASKS } from '@moco-cxr/cxr-data';
import { captureIo } from './test-support/io';
import { resolveConfig } from './config';
import { runCli } from './cli/main';
import { protocolEpochs } from './jobs/cell';

const KERMANY = process.env.MOCO_CXR_DATA ?? fileURLToPath(new URL('../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url));
const present = existsSync(join(KERMANY, 'train', 'NORMAL'));
if (!present && process.env.CI === 'true') throw new Error(`Kermany data missing at ${KERMANY}: the data planning tests must run in CI`);

const dir = mkdtempSync(join(tmpdir(), 'runner-plan-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const touch = (path: string) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, '');
};

/** `experiment --plan` on a config; the run directory must not exist after a refusal. */
async function plan(name: string, cfg: Record<string, unknown>) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify({ seed: 1, backbone: { options: { widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], stemWidth: 4 } }, protocols: ['linear'], fractions: [1], ...cfg }));
  const io = captureIo();
  const out = join(dir, 'runs', name);
  const r = await runCli(['experiment', '--config', file, '--out', out, '--plan'], io);
  return { ...r, text: io.text(), out, file };
}

/** `<root>/<split>/<CLASS>/<name>` empty files, Kermany-named (`personN_virus_M.jpeg`, `IM-N-0001.jpeg`). */
function folder(name: string, splits: Record<string, number>, first = 1): string {
  const root = join(dir, name);
  let n = first;
  for (const [split, count] of Object.entries(splits)) {
    for (let i = 0; i < count; i++, n++) {
      touch(join(root, split, 'PNEUMONIA', `person${n}_virus_${n}.jpeg`));
      touch(join(root, split, 'NORMAL', `IM-${String(n).padStart(4, '0')}-0001.jpeg`));
    }
  }
  return root;
}
const folderData = (root: string, extra: Record<string, unknown> = {}) => ({ source: 'folder', root, imageSize: 16, valFraction: 0.25, ...extra });
const random = { initialisations: ['random'] };

describe('a folder dataset', () => {
  it('a test -> train symlink is refused before any work, naming both paths and the file', async () => {
    const root = folder('linked', { train: 4 });
    symlinkSync(join(root, 'train'), join(root, 'test'));
    const r = await plan('linked', { ...random, data: folderData(root) });
    expect(r.exitCode).toBe(1);
    expect(r.text).toMatch(/^moco-cxr experiment: data: 8 image files appear twice in the splits: train\/NORMAL\/IM-0001-0001\.jpeg \(train\) and test\/NORMAL\/IM-0001-0001\.jpeg \(test\) are the same file \S+linked\/train\/NORMAL\/IM-0001-0001\.jpeg; /);
    expect(existsSync(r.out)).toBe(false);
  });

  it('a patient in train and test is refused unless data.sharedPatients drops or allows it, and that is said', async () => {
    const root = folder('shared', { train: 8, test: 4 });
    // person2 has an image in test too.
    touch(join(root, 'test', 'PNEUMONIA', 'person2_bacteria_99.jpeg'));
    const refused = await plan('shared', { ...random, data: folderData(root) });
    expect(refused.exitCode).toBe(1);
    expect(refused.text).toContain(
      "data: 1 patient has images in more than one split: person2 (train train/PNEUMONIA/person2_virus_2.jpeg, test test/PNEUMONIA/person2_bacteria_99.jpeg); a patient's images must all be in one split (data.sharedPatients: 'drop'",
    );
    expect(existsSync(refused.out)).toBe(false);
    const dropped = await plan('shared-drop', { ...random, data: folderData(root, { sharedPatients: 'drop' }) });
    expect(dropped.error).toBeUndefined();
    expect(dropped.text).toContain('note: data: 1 image of 1 patient who also has images in a later split was left out: 1 of train\n');
    const allowed = await plan('shared-allow', { ...random, data: folderData(root, { sharedPatients: 'allow' }) });
    expect(allowed.error).toBeUndefined();
    expect(allowed.text).toContain("note: data: 1 patient has images in more than one split (kept: data.sharedPatients 'allow'): person2");
  });

  it('an extra class folder is refused naming it unless data.negativeClasses names it; a class folder that is a file is named', async () => {
    const root = folder('other', { train: 4, test: 2 });
    touch(join(root, 'train', 'OTHER', 'person77_virus_77.jpeg'));
    const r = await plan('other', { ...random, data: folderData(root) });
    expect(r.exitCode).toBe(1);
    expect(r.text).toMatch(/positive class "PNEUMONIA" and 2 other classes \(NORMAL, OTHER\) under \S+other: name the negative classes/);
    const named = await plan('other-named', { ...random, data: folderData(root, { negativeClasses: ['NORMAL', 'OTHER'] }) });
    expect(named.error).toBeUndefined();
    const asFile = folder('as-file', { test: 2 });
    touch(join(asFile, 'train', 'PNEUMONIA', 'person9_virus_9.jpeg'));
    touch(join(asFile, 'train', 'NORMAL'));
    const f = await plan('as-file', { ...random, data: folderData(asFile) });
    expect(f.exitCode).toBe(1);
    expect(f.text).toContain('train/NORMAL is a file, not a class folder (expected <split>/<CLASS>/<image>)');
  });

  it.runIf(present)('a valid/ folder is the validation split (not carved from train), and an unused folder is named', async () => {
    const root = join(dir, 'with-valid');
    const pick = (cls: string, from: number, count: number) => readdirSync(join(KERMANY, 'train', cls)).sort().slice(from, from + count);
    // Whole-number splits of real images, each image its own patient.
    const sizes = { train: 12, valid: 6, test: 6, extra: 2 };
    let at = 0;
    for (const [split, count] of Object.entries(sizes)) {
      for (const cls of ['NORMAL', 'PNEUMONIA']) {
        for (const f of pick(cls, at, count)) {
          mkdirSync(join(root, split, cls), { recursive: true });
          copyFileSync(join(KERMANY, 'train', cls, f), join(root, split, cls, f));
        }
      }
      at += count;
    }
    const cfg = { ...random, data: folderData(root, { folder: { patientPattern: 'per-image' }, cacheDir: join(dir, 'cache') }) };
    const p = await plan('with-valid', cfg);
    expect(p.error).toBeUndefined();
    expect(p.text).toContain('note: data.root: split folder extra/ (4 images) is not used; the splits are train/, test/ and val/ or valid/\n');
    expect(p.text).toContain('note: data: validation is the valid/ folder (12 images), not carved from train (data.valFraction is not used)\n');
    const io = captureIo();
    const d = await runCli(['data', '--config', p.file, '--out', join(dir, 'runs', 'with-valid-data')], io);
    expect(d.error).toBeUndefined();
    const splits = (d.result as { splits: Record<string, { images: number }> }).splits;
    expect([splits.train.images, splits.val.images, splits.test.images]).toEqual([24, 12, 12]);
  }, 60_000);
});

const HEADER = `Path,Sex,Age,Frontal/Lateral,AP/PA,${CHEXPERT_TASKS.join(',')}`;
const row = (path: string, effusion: string) => [path, 'Male', 40, 'Frontal', 'AP', ...CHEXPERT_TASKS.map((t) => (t === 'Pleural Effusion' ? effusion : '0.0'))].join(',');

describe('CheXpert rows', () => {
  const chexpert = (name: string, valid: string[]) => {
    const root = join(dir, name);
    const train = Array.from({ length: 12 }, (_, p) => row(`CheXpert-v1.0-small/train/patient${String(p + 1).padStart(5, '0')}/study1/view1_frontal.jpg`, p % 2 ? '1.0' : '0.0'));
    for (const r of [...train, ...valid]) touch(join(root, r.split(',')[0]));
    writeFileSync(join(root, 'CheXpert-v1.0-small', 'train.csv'), [HEADER, ...train].join('\n') + '\n');
    writeFileSync(join(root, 'CheXpert-v1.0-small', 'valid.csv'), [HEADER, ...valid].join('\n') + '\n');
    return root;
  };
  const v = (p: number) => `CheXpert-v1.0-small/valid/patient${64540 + p}/study1/view1_frontal.jpg`;

  it('a test row listed twice with opposite labels stops the plan, naming the CSV line', async () => {
    const root = chexpert('dup', [row(v(1), '1.0'), row(v(2), '0.0'), row(v(1), '0.0')]);
    const r = await plan('dup', { ...random, data: { source: 'chexpert', root, imageSize: 16, tasks: ['Pleural Effusion'] } });
    expect(r.exitCode).toBe(1);
    expect(r.text).toMatch(/valid\.csv line 4, column "Path": image "CheXpert-v1\.0-small\/valid\/patient64541\/study1\/view1_frontal\.jpg" is listed twice \(first on line 2\)/);
    expect(existsSync(r.out)).toBe(false);
  });

  it('a test Path with .. filed under a train patient stops the plan, naming the line', async () => {
    const root = chexpert('dotdot', [row(v(1), '1.0'), row(v(2), '0.0'), row('CheXpert-v1.0-small/valid/../train/patient00001/study1/view1_frontal.jpg', '1.0')]);
    const r = await plan('dotdot', { ...random, data: { source: 'chexpert', root, imageSize: 16, tasks: ['Pleural Effusion'] } });
    expect(r.exitCode).toBe(1);
    expect(r.text).toMatch(/valid\.csv line 4, column "Path": "CheXpert-v1\.0-small\/valid\/\.\.\/train\/patient00001\/study1\/view1_frontal\.jpg" has a "\.\." segment/);
  });
});

describe('sizes checked against the data', () => {
  const synthetic = { source: 'synthetic', imageSize: 16, synthetic: { train: 48, test: 32 }, valFraction: 0.25 };
  it('pretrain.queueSize larger than the images MoCo sees is refused (exit 2) naming the count; batchSize likewise', async () => {
    const r = await plan('queue', { data: synthetic, pretrain: { batchSize: 16, queueSize: 10_000_000 } });
    expect(r.exitCode).toBe(2);
    // 47 of the 80 synthetic images fall to train and validation (whole patients), 2 batches of 16 an epoch.
    expect(r.text).toMatch(/pretrain\.queueSize: 10000000 is larger than the 32 images of one epoch \(the 47 data train and validation images MoCo pretrains on, in batches of 16\); .* at most 32\n$/);
    expect(existsSync(r.out)).toBe(false);
    const batch = await plan('batch', { data: synthetic, pretrain: { batchSize: 64, queueSize: 64 } });
    expect(batch.exitCode).toBe(2);
    expect(batch.text).toContain('pretrain.batchSize: 64 is more than the 47 data train and validation images MoCo pretrains on; lower it');
    expect((await plan('queue-over', { data: synthetic, pretrain: { batchSize: 16, queueSize: 33 } })).exitCode).toBe(2);
    expect((await plan('queue-ok', { data: synthetic, pretrain: { batchSize: 16, queueSize: 32 } })).error).toBeUndefined();
    // The paper's default K (for CheXpert) is capped on smaller data, said, and the capped K is what the jobs run.
    const capped = await plan('queue-default', { data: synthetic, pretrain: { batchSize: 16 } });
    expect(capped.error).toBeUndefined();
    expect(capped.text).toContain('note: pretrain.queueSize: the default 24576 is capped at 32, the images of one epoch (the 47 data train and validation images MoCo pretrains on, in batches of 16)\n');
    expect(JSON.parse(readFileSync(join(capped.out, 'jobs', 'pretrain.json'), 'utf8')).config.pretrain.queueSize).toBe(32);
    // Without MoCo pretraining there is no queue to check.
    expect((await plan('queue-random', { ...random, data: synthetic, pretrain: { batchSize: 16, queueSize: 10_000_000 } })).error).toBeUndefined();
  });

  it('a fraction smaller than two train patients is refused (exit 2) with the smallest fraction the split allows', async () => {
    const r = await plan('tiny-fraction', { ...random, data: synthetic, fractions: [1e-9, 1], draws: 1 });
    expect(r.exitCode).toBe(2);
    expect(r.text).toMatch(/fractions: 1e-9 of the (\d+) train patients is [\d.e-]+ patients; a draw needs at least 2 \(a positive and a negative\), so the smallest fraction this train split allows is 0\.\d+: raise or remove this fraction in fractions\n$/);
    const smallest = Number(/allows is ([\d.]+)/.exec(r.text)![1]);
    expect((await plan('smallest-fraction', { ...random, data: synthetic, fractions: [smallest, 1], draws: 1 })).error).toBeUndefined();
  });

  it("epochs from the paper's formula stop at its value at 0.1% (500), and the plan says which cells are capped", async () => {
    // 2000 images, each its own patient (empty files: planning reads no pixels): 0.0009 of the 1800 train patients is a draw of 2.
    const root = join(dir, 'many');
    for (let i = 0; i < 1000; i++) for (const [cls, name] of [['PNEUMONIA', `p${i}.png`], ['NORMAL', `n${i}.png`]]) touch(join(root, 'train', cls, name));
    for (let i = 0; i < 4; i++) for (const [cls, name] of [['PNEUMONIA', `p${i}.png`], ['NORMAL', `n${i}.png`]]) touch(join(root, 'test', cls, name));
    const data = folderData(root, { folder: { patientPattern: 'per-image' }, valFraction: 0.1 });
    const r = await plan('capped', { ...random, data, protocols: ['linear', 'finetune'], fractions: [0.0009, 0.001, 1], draws: 1, finetune: { maxEpochs: 300 } });
    expect(r.error).toBeUndefined();
    // 5 * 4^(log8(1 / 0.0009)) = 536 epochs; finetune's own maxEpochs (300) is below the cap, so only linear is said.
    expect(r.text).toContain("note: linear.epochs: the paper's formula gives 536 epochs at fraction 0.0009; capped at 500, its value at 0.1%, the smallest fraction the paper trains\n");
    expect(r.text).not.toContain('finetune.epochs');
    expect(r.text).not.toContain('fraction 0.001;');
    expect(protocolEpochs(resolveConfig({}).linear, 0.0005)).toBe(500);
    expect(protocolEpochs(resolveConfig({}).linear, 1e-9)).toBe(500);
    expect(protocolEpochs(resolveConfig({}).linear, 0.001)).toBe(500);
    expect(protocolEpochs(resolveConfig({}).linear, 0.01)).toBe(107);
  }, 60_000);
});
