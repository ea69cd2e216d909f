// openSource on every source: fixtures built from real Kermany radiographs in a temp dir (CheXpert-, NIH- and
// NLM-TB-format, a folder, a DICOM export made with pydicom and dcmtk), and the synthetic set.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERMANY_DIR, tempDir } from './test-support/fixtures';
import { writeCheXpertFixture, writeNihFixture, writeNlmTbFixture, type CheXpertFixture, type NihFixture } from './test-support/formats';
import { CHEXPERT_COMPETITION_TASKS, CxrDataError, loadCheXpert, openSource, takeSplits, type OpenedSource } from './index';

const available = existsSync(join(KERMANY_DIR, 'train', 'NORMAL'));
if (!available && process.env.CI === 'true') throw new Error(`Kermany data missing at ${KERMANY_DIR}: the source tests must run in CI`);
const MAKE_ARCHIVE = fileURLToPath(new URL('./test-support/dicom/make-archive.py', import.meta.url));

/** Each sample's split name matches the split rows it is in. */
function namesMatch(o: OpenedSource): void {
  const named = (split: string) => o.dataset.samples.flatMap((s, i) => (s.split === split ? [i] : []));
  expect(named('train')).toEqual([...o.splits.train].sort((a, b) => a - b));
  expect(named('test')).toEqual([...o.splits.test].sort((a, b) => a - b));
  expect(named('val')).toEqual([...(o.splits.val ?? [])].sort((a, b) => a - b));
}

describe('openSource: synthetic', () => {
  it('generates the images, splits them by patient, and says so', () => {
    const o = openSource({ source: 'synthetic', seed: 3, synthetic: { train: 40, test: 20, size: 16, exposure: 0 } });
    expect(o.images!.count).toBe(60);
    expect(o.dataset.tasks).toEqual(['Effusion']);
    const patients = (rows: number[]) => new Set(rows.map((i) => o.dataset.samples[i].patientId));
    expect([...patients(o.splits.train)].filter((p) => patients(o.splits.test).has(p))).toEqual([]);
    namesMatch(o);
    expect(o.description).toBe('synthetic chest X-rays, 60 images at 16 px (seed 3, exposure spread 0)');
    expect(openSource({ source: 'synthetic', seed: 3, synthetic: { train: 40, test: 20, size: 16, exposure: 0 } }).splits).toEqual(o.splits);
    expect(() => openSource({ source: 'synthetic', seed: 3, tasks: ['Edema'], optionName: 'data' })).toThrow(/^data\.tasks: "Edema" not among the tasks of the synthetic data \(Effusion, Nodule\)$/);
  });
});

describe('openSource: the split check', () => {
  it('a patient in train and test is an error naming the option block, or is dropped or kept and said', () => {
    const { dir, cleanup } = tempDir('cxr-data-sources-leak-');
    try {
      // Kermany-named empty files (opening reads no pixels); person2 has an image in test too.
      const touch = (path: string) => (mkdirSync(dirname(join(dir, path)), { recursive: true }), writeFileSync(join(dir, path), ''));
      for (let n = 1; n <= 6; n++) for (const split of n <= 4 ? ['train'] : ['test']) touch(`${split}/PNEUMONIA/person${n}_virus_${n}.jpeg`), touch(`${split}/NORMAL/IM-000${n}-0001.jpeg`);
      touch('test/PNEUMONIA/person2_bacteria_99.jpeg');
      const open = (sharedPatients?: 'refuse' | 'drop' | 'allow') => openSource({ source: 'folder', root: dir, seed: 0, optionName: 'data', ...(sharedPatients ? { sharedPatients } : {}) });
      expect(() => open()).toThrow(/^data: 1 patient has images in more than one split: person2 \(train train\/PNEUMONIA\/person2_virus_2\.jpeg, test test\/PNEUMONIA\/person2_bacteria_99\.jpeg\); .*data\.sharedPatients: 'drop'/);
      const dropped = open('drop');
      expect(dropped.leaks.sharedPatients).toEqual(['person2']);
      expect(dropped.leaks.notes).toEqual(['data: 1 image of 1 patient who also has images in a later split was left out: 1 of train']);
      expect(dropped.splits.train).toHaveLength(7);
      expect(dropped.dataset.samples.filter((s) => s.split === undefined).map((s) => s.path)).toEqual(['train/PNEUMONIA/person2_virus_2.jpeg']);
      const kept = open('allow');
      expect(kept.splits.train).toHaveLength(8);
      expect(kept.leaks.notes[0]).toMatch(/^data: 1 patient has images in more than one split \(kept: data\.sharedPatients 'allow'\): person2/);
    } finally {
      cleanup();
    }
  });
});

describe.skipIf(!available)(`openSource on files (skipped without the Kermany data at ${KERMANY_DIR})`, () => {
  const { dir, cleanup } = tempDir('cxr-data-sources-');
  afterAll(cleanup);
  let chexpert: CheXpertFixture;
  let nih: NihFixture;
  beforeAll(async () => {
    chexpert = writeCheXpertFixture(join(dir, 'chexpert'), KERMANY_DIR, { patients: 24, validPatients: 12 });
    nih = await writeNihFixture(join(dir, 'nih'), KERMANY_DIR, { patients: 16 });
    await writeNlmTbFixture(join(dir, 'tb'), KERMANY_DIR, { shenzhen: 40, montgomery: 0 });
  }, 60_000);

  it('chexpert: train.csv and valid.csv merged into one dataset, valid as test, the competition tasks by default', () => {
    const o = openSource({ source: 'chexpert', root: chexpert.root, seed: 0 });
    const tr = loadCheXpert(chexpert.trainCsv, { uncertainty: 'ignore', frontalOnly: true });
    const va = loadCheXpert(chexpert.validCsv, { uncertainty: 'ignore', frontalOnly: true });
    expect(o.dataset.tasks).toEqual([...CHEXPERT_COMPETITION_TASKS]);
    expect(o.splits.train).toEqual(tr.samples.map((_, i) => i));
    expect(o.splits.test).toEqual(va.samples.map((_, i) => tr.samples.length + i));
    expect(Array.from(o.dataset.labels.subarray(tr.labels.length))).toEqual(Array.from(va.labels));
    expect(o.splits.val).toBeUndefined();
    namesMatch(o);
    expect(o.description).toMatch(/^CheXpert .*chexpert \(CheXpert-v1\.0-small\/train\.csv \/ CheXpert-v1\.0-small\/valid\.csv, frontal views\)$/);
  });

  it('chexpert errors name the option: a missing CSV, a root set to CheXpert-v1.0-small/ itself', () => {
    expect(() => openSource({ source: 'chexpert', root: chexpert.root, seed: 0, optionName: 'data', chexpert: { testCsv: 'nowhere.csv' } })).toThrow(/^data\.chexpert\.testCsv: .*nowhere\.csv does not exist$/);
    const inner = join(chexpert.root, 'CheXpert-v1.0-small');
    expect(() => openSource({ source: 'chexpert', root: inner, seed: 0, optionName: 'data' })).toThrow(
      `data.root: ${inner} is the CheXpert-v1.0-small/ folder itself; set data.root to the folder that holds it (${chexpert.root}): the CSVs' Path column starts with CheXpert-v1.0-small/`,
    );
    expect(() => openSource({ source: 'chexpert', root: inner, seed: 0 })).toThrow(CxrDataError);
    expect(() => openSource({ source: 'chexpert', root: join(dir, 'absent'), seed: 0, optionName: 'data' })).toThrow(/^data\.root: .*absent does not exist$/);
  });

  it('nih: the official lists give train and test; Effusion by default', () => {
    const o = openSource({ source: 'nih', root: nih.root, seed: 0 });
    expect(o.dataset.tasks).toEqual(['Effusion']);
    expect(o.splits.test).toHaveLength(nih.testImages);
    expect(o.splits.train.length + o.splits.test.length).toBe(nih.images);
    namesMatch(o);
  });

  it("nlm-tb: the paper's 65 / 15 / 20 split, validation fixed by the source", () => {
    const o = openSource({ source: 'nlm-tb', root: join(dir, 'tb'), seed: 1 });
    expect([o.splits.train.length, o.splits.val!.length, o.splits.test.length]).toEqual([26, 6, 8]);
    namesMatch(o);
    expect(o.description).toMatch(/^NLM TB .* \(shenzhen, 65\/15\/20 split with balanced normal:TB\)$/);
  });

  it('folder: valid/ is validation, an unused split folder and a stray file are said', () => {
    const root = join(dir, 'folder');
    const pick = (cls: string, n: number) => readdirSync(join(KERMANY_DIR, 'train', cls)).sort().slice(0, n);
    const files = { NORMAL: pick('NORMAL', 10), PNEUMONIA: pick('PNEUMONIA', 10) };
    const layout: [string, number, number][] = [['train', 0, 6], ['valid', 6, 8], ['test', 8, 9], ['extra', 9, 10]];
    for (const [split, from, to] of layout) {
      for (const [cls, names] of Object.entries(files)) {
        mkdirSync(join(root, split, cls), { recursive: true });
        for (const f of names.slice(from, to)) copyFileSync(join(KERMANY_DIR, 'train', cls, f), join(root, split, cls, f));
      }
    }
    copyFileSync(join(KERMANY_DIR, 'train', 'NORMAL', files.NORMAL[0]), join(root, 'train', 'NORMAL', 'notes.txt'));
    const o = openSource({ source: 'folder', root, seed: 0, optionName: 'data', folder: { patientPattern: 'per-image' } });
    expect([o.splits.train.length, o.splits.val!.length, o.splits.test.length]).toEqual([12, 4, 2]);
    expect(o.dataset.tasks).toEqual(['PNEUMONIA']);
    namesMatch(o);
    expect(o.notes).toEqual([
      'data.root: split folder extra/ (2 images) is not used; the splits are train/, test/ and val/ or valid/',
      'data: validation is the valid/ folder (4 images), not carved from train (data.valFraction is not used)',
      'data.root: 1 file in split or class folders is not a .png/.jpg/.jpeg image and was not read: train/NORMAL/notes.txt',
    ]);
    expect(o.description).toBe(`image folder ${root} (train/, valid/, test/)`);
  });

  it('takeSplits: the split rows only, train then val then test, named; a limit keeps whole patients, seeded', () => {
    const o = openSource({ source: 'nlm-tb', root: join(dir, 'tb'), seed: 1 });
    const all = takeSplits(o.dataset, o.splits, { seed: 0 });
    expect(all.samples.map((s) => s.split)).toEqual([...Array(26).fill('train'), ...Array(6).fill('val'), ...Array(8).fill('test')]);
    expect(all.samples.map((s) => s.path)).toEqual([...o.splits.train, ...o.splits.val!, ...o.splits.test].map((i) => o.dataset.samples[i].path));
    const small = takeSplits(o.dataset, o.splits, { seed: 0, limit: { train: 10, test: 4 } });
    const count = (ds: typeof small, split: string) => ds.samples.filter((s) => s.split === split).length;
    expect([count(small, 'train'), count(small, 'val'), count(small, 'test')]).toEqual([10, 6, 4]);
    expect(takeSplits(o.dataset, o.splits, { seed: 0, limit: { train: 10, test: 4 } })).toEqual(small);
  });

  it('dicom: splits do not depend on the patient salt; the keys do, and without one they are the same in every load', () => {
    const archive = join(dir, 'archive');
    const r = spawnSync('/usr/bin/python3', [MAKE_ARCHIVE, archive, KERMANY_DIR, '24', '32'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make-archive.py failed (exit ${r.status}); it needs apt packages dcmtk python3-pydicom python3-numpy python3-pil:\n${r.stderr}`);
    const open = (patientSalt?: string) => openSource({ source: 'dicom', root: archive, seed: 5, optionName: 'data', dicom: { testFraction: 0.3, ...(patientSalt ? { patientSalt } : {}) } });
    const a = open('first-salt-abcdefgh');
    const b = open('second-salt-ijklmnop');
    expect(b.splits).toEqual(a.splits);
    expect(a.splits.test.length).toBeGreaterThan(4);
    expect(b.dataset.samples[0].patientId).not.toBe(a.dataset.samples[0].patientId);
    const c = open();
    expect(c.splits).toEqual(a.splits);
    expect(open().dataset.samples.map((s) => s.patientId)).toEqual(c.dataset.samples.map((s) => s.patientId));
    namesMatch(c);
    expect(c.description).toMatch(/^DICOM folder .*archive \(\d+ radiographs, frontal views, labels labels\.csv, test 30% of patients; 4 files skipped\)$/);
    expect(c.notes.some((n) => /^data\.root: 4 files skipped: /.test(n))).toBe(true);
    expect(() => openSource({ source: 'dicom', root: archive, seed: 5, optionName: 'data', tasks: ['Effusion'] })).toThrow(/^data\.tasks: "Effusion" not among the task columns of labels\.csv \(Pneumonia\)$/);
    expect(() => openSource({ source: 'dicom', root: archive, seed: 5, optionName: 'data', dicom: { labels: 'nowhere.csv' } })).toThrow(/^data\.dicom\.labels: .*nowhere\.csv does not exist/);
  }, 120_000);
});
