// The dataset formats read back from fixtures built of real Kermany radiographs (src/test-support/formats.ts).
// Skipped with a reason when the data is absent outside CI; kermany.test.ts fails in CI without it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KERMANY_DIR, tempDir } from './test-support/fixtures';
import { writeCheXpertFixture, writeNihFixture, writeNlmTbFixture, type CheXpertFixture } from './test-support/formats';
import {
  CHEXPERT_COMPETITION_TASKS,
  MOCO_CXR_UNCERTAINTY,
  buildImageCache,
  groupStudies,
  labelAt,
  loadCheXpert,
  loadNihChestXray14,
  loadNlmTb,
  sampleFraction,
  shenzhenSplit,
} from './index';

const available = existsSync(join(KERMANY_DIR, 'train', 'NORMAL'));

describe.skipIf(!available)(`dataset formats built from real Kermany images (skipped without the data at ${KERMANY_DIR})`, () => {
  const { dir, cleanup } = tempDir('cxr-data-formats-');
  afterAll(cleanup);
  let chexpert: CheXpertFixture;

  it('CheXpert: the five competition tasks by default, Pleural Effusion first; U-Ignore per task; frontal only', async () => {
    chexpert = writeCheXpertFixture(join(dir, 'chexpert'), KERMANY_DIR, { patients: 24 });
    const all = loadCheXpert(chexpert.trainCsv, { uncertainty: MOCO_CXR_UNCERTAINTY });
    expect(all.tasks).toEqual([...CHEXPERT_COMPETITION_TASKS]);
    expect(all.tasks[0]).toBe('Pleural Effusion');
    expect(all.samples).toHaveLength(chexpert.trainRows);
    const frontal = loadCheXpert(chexpert.trainCsv, { uncertainty: MOCO_CXR_UNCERTAINTY, frontalOnly: true });
    expect(frontal.samples).toHaveLength(chexpert.trainFrontal);
    expect(frontal.samples.every((s) => s.view === 'Frontal')).toBe(true);
    expect(chexpert.trainFrontal).toBeLessThan(chexpert.trainRows);

    // Read the raw CSV cells back to check the policy cell by cell.
    const lines = readFileSync(chexpert.trainCsv, 'utf8').trim().split('\n');
    const header = lines[0].split(',');
    const cell = (line: number, task: string) => lines[line - 1].split(',')[header.indexOf(task)];
    const mixed = loadCheXpert(chexpert.trainCsv, { uncertainty: { Atelectasis: 'ones', Edema: 'zeros', default: 'ignore' }, frontalOnly: true });
    let uncertain = 0;
    let blank = 0;
    mixed.samples.forEach((s, i) => {
      for (const [k, task] of mixed.tasks.entries()) {
        const raw = cell(Number(s.meta!.csvLine), task);
        const want = raw === '-1.0' ? (task === 'Atelectasis' ? 1 : task === 'Edema' ? 0 : NaN) : raw === '' ? 0 : Number(raw);
        expect(labelAt(mixed, i, k), `${task} line ${s.meta!.csvLine}`).toBe(want);
        if (raw === '-1.0') uncertain++;
        if (raw === '') blank++;
      }
    });
    expect(uncertain).toBeGreaterThan(5);
    expect(blank).toBeGreaterThan(5);
    // The default policy (U-Ignore) masks uncertain Pleural Effusion labels; blank is 0.
    const effusion = frontal.samples.map((s, i) => [cell(Number(s.meta!.csvLine), 'Pleural Effusion'), labelAt(frontal, i, 0)] as const);
    expect(effusion.filter(([raw]) => raw === '-1.0').every(([, y]) => Number.isNaN(y))).toBe(true);
    expect(effusion.filter(([raw]) => raw === '').every(([, y]) => y === 0)).toBe(true);

    // Studies with two frontal images: one label row per study, the max over its images.
    const groups = groupStudies(frontal);
    expect(groups.members.some((m) => m.length === 2)).toBe(true);
    expect(groups.studyIds.length).toBeLessThan(frontal.samples.length);

    // The images decode: a cache of the frontal images at 32 px.
    const cache = await buildImageCache(frontal, { size: 32, cacheDir: join(dir, 'cache'), decoder: 'jimp' });
    expect([cache.count, cache.skipped.length]).toEqual([frontal.samples.length, 0]);
  });

  it('CheXpert: one line naming the file, row and field for each kind of bad input', () => {
    chexpert ??= writeCheXpertFixture(join(dir, 'chexpert'), KERMANY_DIR, { patients: 24 });
    expect(() => loadCheXpert(chexpert.trainCsv, { uncertainty: 'ignore', tasks: ['Pleural Efusion'] })).toThrow(/^loadCheXpert: unknown task "Pleural Efusion"; CheXpert tasks are No Finding, .*Support Devices$/);
    expect(() => loadCheXpert(chexpert.trainCsv, { uncertainty: { Edma: 'ones', default: 'ignore' } })).toThrow(/uncertainty names unknown task "Edma"/);
    expect(() => loadCheXpert(chexpert.trainCsv, { uncertainty: { Edema: 'ones' } })).toThrow(/uncertainty gives no policy for task "Pleural Effusion"/);
    // A missing column.
    const text = readFileSync(chexpert.trainCsv, 'utf8');
    const noAp = join(dir, 'chexpert', 'CheXpert-v1.0-small', 'no-ap.csv');
    writeFileSync(noAp, text.replace('AP/PA', 'APPA'));
    expect(() => loadCheXpert(noAp, { uncertainty: 'ignore' })).toThrow(/no-ap\.csv: missing column "AP\/PA"; columns are "Path", "Sex"/);
    // An image listed but absent.
    const gone = join(dir, 'chexpert', 'CheXpert-v1.0-small', 'gone.csv');
    const lines = text.trim().split('\n');
    lines[1] = lines[1].replace(/view1_frontal\.jpg/, 'view9_frontal.jpg');
    writeFileSync(gone, lines.join('\n') + '\n');
    expect(() => loadCheXpert(gone, { uncertainty: 'ignore' })).toThrow(/gone\.csv line 2, column "Path": image ".*view9_frontal\.jpg" not found under/);
    const skipped = loadCheXpert(gone, { uncertainty: 'ignore', onMissingImage: 'skip' });
    expect(skipped.missing).toEqual([{ line: 2, path: expect.stringMatching(/view9_frontal\.jpg$/) }]);
  });

  it('label fractions down to 0.1% hold a positive and a negative of every task, on the CheXpert fixture', () => {
    chexpert ??= writeCheXpertFixture(join(dir, 'chexpert'), KERMANY_DIR, { patients: 24 });
    const ds = loadCheXpert(chexpert.trainCsv, { uncertainty: 'ignore', frontalOnly: true });
    const tasks = [...CHEXPERT_COMPETITION_TASKS];
    // 0.1% of 24 patients rounds up to the 2-patient minimum; every draw still covers every task.
    for (const fraction of [0.001, 0.25, 0.5]) {
      const draws = sampleFraction(ds, fraction, { draws: 5, seed: 2, tasks });
      for (const d of draws) {
        if (fraction === 0.001) expect(new Set(d.map((i) => ds.samples[i].patientId)).size).toBe(2);
        for (const [k] of tasks.entries()) {
          const ys = d.map((i) => labelAt(ds, i, k));
          expect(ys.includes(1), `fraction ${fraction} task ${tasks[k]}`).toBe(true);
          expect(ys.includes(0), `fraction ${fraction} task ${tasks[k]}`).toBe(true);
        }
      }
    }
    expect(() => sampleFraction(ds, 0.5, { draws: 1, seed: 1, tasks: ['Pleural Effusion', 'Fracture'] })).toThrow(/task "Fracture" is not in the dataset/);
  });

  it('NIH: the Data_Entry CSV with the official lists; patients and splits; lists naming absent images are errors', async () => {
    const nih = await writeNihFixture(join(dir, 'nih'), KERMANY_DIR, { patients: 12 });
    const ds = loadNihChestXray14(nih.csv, { root: nih.root, trainValList: nih.trainValList, testList: nih.testList, tasks: ['Effusion', 'Nodule'] });
    expect(ds.samples).toHaveLength(nih.images);
    expect(ds.samples.filter((s) => s.split === 'test')).toHaveLength(nih.testImages);
    const trainPatients = new Set(ds.samples.filter((s) => s.split === 'train').map((s) => s.patientId));
    expect(ds.samples.filter((s) => s.split === 'test').some((s) => trainPatients.has(s.patientId))).toBe(false);
    expect(ds.samples.filter((s) => s.patientId === '2').map((s) => s.studyId)).toEqual(['2/0', '2/1', '2/2']);
    expect(ds.labels.some((v, i) => i % 2 === 0 && v === 1)).toBe(true);
    expect(ds.unlisted).toBe(0);

    const extra = join(dir, 'nih', 'test_extra.txt');
    writeFileSync(extra, `${readFileSync(nih.testList, 'utf8')}00000099_000.png\n`);
    const line = readFileSync(extra, 'utf8').trim().split('\n').length;
    expect(() => loadNihChestXray14(nih.csv, { root: nih.root, trainValList: nih.trainValList, testList: extra })).toThrow(
      new RegExp(`test_extra\\.txt line ${line}: image 00000099_000\\.png is listed but has no row in .*Data_Entry_2017_v2020\\.csv`),
    );
    expect(() => loadNihChestXray14(nih.csv, { root: nih.root, testList: nih.testList })).toThrow(/give both trainValList and testList/);
    expect(() => loadNihChestXray14(nih.csv, { root: nih.root, tasks: ['Efusion'] })).toThrow(/unknown task "Efusion"/);
    const cache = await buildImageCache(ds, { size: 32, cacheDir: join(dir, 'cache'), decoder: 'jimp' });
    expect(cache.skipped).toHaveLength(0);
  });

  it("NLM TB: Shenzhen and Montgomery with their readings; the paper's split with balanced splits", async () => {
    const tb = await writeNlmTbFixture(join(dir, 'tb'), KERMANY_DIR, { shenzhen: 40, montgomery: 6 });
    const both = loadNlmTb(tb.root);
    expect(both.samples).toHaveLength(46);
    const sz = loadNlmTb(tb.root, { sets: ['shenzhen'] });
    expect(sz.samples).toHaveLength(40);
    expect(sz.samples[1]).toMatchObject({ sex: 'M', age: 22, meta: { dataset: 'shenzhen', finding: 'PTB in the right upper field' } });
    const split = shenzhenSplit(sz, { seed: 0 });
    expect(split.train.length + split.val.length + split.test.length).toBe(40);
    for (const r of split.ratios) expect(r > 0.9 && r < 1.2).toBe(true);
    expect(() => loadNlmTb(tb.root, { sets: ['china' as 'shenzhen'] })).toThrow(/sets may hold 'shenzhen' and 'montgomery', got "china"/);
  });
});
