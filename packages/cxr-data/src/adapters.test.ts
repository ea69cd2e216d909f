import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pngBytes, tempDir } from './test-support/fixtures';
import { CHEXPERT_TASKS, KERMANY_PATIENT_PATTERN, loadCheXpert, loadImageFolder, loadNihChestXray14, loadNlmTb, parseClinicalReading, parseCsv } from './index';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

const CHEXPERT_HEADER = `Path,Sex,Age,Frontal/Lateral,AP/PA,${CHEXPERT_TASKS.join(',')}`;
function chexpertRow(path: string, sex: string, age: number, fl: string, ap: string, labels: Record<string, string>): string {
  return [path, sex, age, fl, ap, ...CHEXPERT_TASKS.map((t) => labels[t] ?? '')].join(',');
}
function writeChexpert(name: string, rows: string[]): string {
  const d = join(dir, 'CheXpert-v1.0-small');
  mkdirSync(d, { recursive: true });
  const file = join(d, name);
  writeFileSync(file, [CHEXPERT_HEADER, ...rows].join('\n') + '\n');
  // The images the rows name exist (empty files: only their presence is checked when loading).
  for (const row of rows) {
    const path = row.split(',')[0];
    const abs = resolve(dir, path);
    if (!path.startsWith('/') && abs.startsWith(`${dir}/`)) {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, '');
    }
  }
  return file;
}

describe('CSV parsing', () => {
  it('handles quotes, doubled quotes, CRLF and records line numbers', () => {
    const t = parseCsv('a,b\r\n"x, y","say ""hi"""\r\n\r\n3,4\r\n', 'f.csv');
    expect(t.header).toEqual(['a', 'b']);
    expect(t.rows).toEqual([['x, y', 'say "hi"'], ['3', '4']]);
    expect(t.lines).toEqual([2, 4]);
  });
  it('names the line of a row with the wrong field count', () => {
    expect(() => parseCsv('a,b\n1,2\n1,2,3\n', 'f.csv')).toThrow(/f\.csv: row at line 3 has 3 fields, expected 2/);
  });
});

describe('loadCheXpert', () => {
  const p = 'CheXpert-v1.0-small/train';
  const file = writeChexpert('train.csv', [
    chexpertRow(`${p}/patient00001/study1/view1_frontal.jpg`, 'Female', 68, 'Frontal', 'AP', { 'Pleural Effusion': '1.0', Edema: '-1.0', 'No Finding': '' }),
    chexpertRow(`${p}/patient00001/study1/view2_lateral.jpg`, 'Female', 68, 'Lateral', '', { 'Pleural Effusion': '1.0', Edema: '0.0' }),
    chexpertRow(`${p}/patient00002/study1/view1_frontal.jpg`, 'Male', 41, 'Frontal', 'PA', { 'Pleural Effusion': '-1.0', 'No Finding': '1.0' }),
    chexpertRow(`${p}/patient00002/study2/view1_frontal.jpg`, 'Male', 42, 'Frontal', 'AP', { 'Pleural Effusion': '0.0' }),
  ]);
  const eff = CHEXPERT_TASKS.indexOf('Pleural Effusion');
  const edema = CHEXPERT_TASKS.indexOf('Edema');
  const K = CHEXPERT_TASKS.length;

  it('reads paths, patients, studies, views and labels with the U-Ones policy', () => {
    const ds = loadCheXpert(file, { uncertainty: 'ones', tasks: CHEXPERT_TASKS });
    expect(ds.root).toBe(dir);
    expect(ds.tasks).toEqual([...CHEXPERT_TASKS]);
    expect(ds.samples.map((s) => s.patientId)).toEqual(['patient00001', 'patient00001', 'patient00002', 'patient00002']);
    expect(ds.samples.map((s) => s.studyId)).toEqual(['patient00001/study1', 'patient00001/study1', 'patient00002/study1', 'patient00002/study2']);
    expect(ds.samples[1]).toMatchObject({ view: 'Lateral', sex: 'Female', age: 68, meta: { apPa: '', csvLine: '3' } });
    expect([0, 1, 2, 3].map((i) => ds.labels[i * K + eff])).toEqual([1, 1, 1, 0]);
    expect(ds.labels[0 * K + edema]).toBe(1);
    // Blank = not mentioned = 0 by default.
    expect(ds.labels[3 * K + edema]).toBe(0);
  });
  it('applies the zeros / ignore policies and blank = NaN when asked', () => {
    const z = loadCheXpert(file, { uncertainty: 'zeros', tasks: ['Pleural Effusion', 'Edema'] });
    expect(Array.from(z.labels)).toEqual([1, 0, 1, 0, 0, 0, 0, 0]);
    const ig = loadCheXpert(file, { uncertainty: 'ignore', blank: 'nan', tasks: ['Pleural Effusion', 'Edema'] });
    expect(Array.from(ig.labels)).toEqual([1, NaN, 1, 0, NaN, NaN, 0, NaN]);
  });
  it('filters frontal views and AP/PA', () => {
    expect(loadCheXpert(file, { uncertainty: 'ones', frontalOnly: true }).samples).toHaveLength(3);
    expect(loadCheXpert(file, { uncertainty: 'ones' }).samples).toHaveLength(4);
    const pa = loadCheXpert(file, { uncertainty: 'ones', frontalOnly: true, apPa: ['PA'] });
    expect(pa.samples.map((s) => s.path)).toEqual([`${p}/patient00002/study1/view1_frontal.jpg`]);
  });
  it('names the row and column of an unknown label value', () => {
    const bad = writeChexpert('bad.csv', [
      chexpertRow(`${p}/patient00001/study1/view1_frontal.jpg`, 'Female', 68, 'Frontal', 'AP', {}),
      chexpertRow(`${p}/patient00003/study1/view1_frontal.jpg`, 'Male', 50, 'Frontal', 'AP', { Cardiomegaly: '2.0' }),
    ]);
    expect(() => loadCheXpert(bad, { uncertainty: 'ones', tasks: CHEXPERT_TASKS })).toThrow(/bad\.csv line 3, column "Cardiomegaly": unknown label value "2\.0"/);
  });
  it('accepts only the label spellings CheXpert writes (1.0, 0.0, -1.0 and their integer forms)', () => {
    const ok = writeChexpert('spellings.csv', [chexpertRow(`${p}/patient00001/study1/view1_frontal.jpg`, 'Female', 68, 'Frontal', 'AP', { Edema: '1', Cardiomegaly: '-1', 'Pleural Effusion': '0' })]);
    const ds = loadCheXpert(ok, { uncertainty: 'ignore', tasks: ['Edema', 'Cardiomegaly', 'Pleural Effusion'] });
    expect(Array.from(ds.labels)).toEqual([1, NaN, 0]);
    for (const spelling of ['0x1', '1e0', '+1', '1.', 'Infinity']) {
      const bad = writeChexpert(`spelling-${spelling}.csv`, [chexpertRow(`${p}/patient00001/study1/view1_frontal.jpg`, 'Female', 68, 'Frontal', 'AP', { Edema: spelling })]);
      expect(() => loadCheXpert(bad, { uncertainty: 'ones' }), spelling).toThrow(/line 2, column "Edema": unknown label value/);
    }
    const age = writeChexpert('age-hex.csv', [[`${p}/patient00001/study1/view1_frontal.jpg`, 'Female', '0x40', 'Frontal', 'AP', ...CHEXPERT_TASKS.map(() => '')].join(',')]);
    expect(() => loadCheXpert(age, { uncertainty: 'ones' })).toThrow(/line 2, column "Age": not a number: "0x40"/);
  });
  it('refuses paths that escape the root and absolute paths', () => {
    const esc = writeChexpert('escape.csv', [chexpertRow('../../etc/passwd', 'Male', 50, 'Frontal', 'AP', {})]);
    expect(() => loadCheXpert(esc, { uncertainty: 'ones' })).toThrow(/escape\.csv line 2, column "Path".*escapes the data root/);
    const abs = writeChexpert('abs.csv', [chexpertRow('/etc/passwd', 'Male', 50, 'Frontal', 'AP', {})]);
    expect(() => loadCheXpert(abs, { uncertainty: 'ones' })).toThrow(/"\/etc\/passwd" is absolute/);
  });
  it('errors on an empty selection after filtering, and on a missing CSV', () => {
    expect(() => loadCheXpert(file, { uncertainty: 'ones', apPa: ['LL'] })).toThrow(/no rows of .*train\.csv are left after filtering/);
    expect(() => loadCheXpert(join(dir, 'nope.csv'), { uncertainty: 'ones' })).toThrow(/cannot read CSV .*nope\.csv: ENOENT/);
  });
});

describe('loadNihChestXray14', () => {
  const header = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],';
  const nihDir = join(dir, 'nih');
  mkdirSync(join(nihDir, 'images_001', 'images'), { recursive: true });
  for (const f of ['00000001_000.png', '00000001_001.png', '00000002_000.png']) writeFileSync(join(nihDir, 'images_001', 'images', f), 'x');
  const csv = (rows: string[]) => {
    const f = join(nihDir, `Data_Entry_${rows.length}_${Math.random().toString(36).slice(2)}.csv`);
    writeFileSync(f, [header, ...rows].join('\n'));
    return f;
  };
  const rows = [
    '00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143,',
    '00000001_001.png,Cardiomegaly|Effusion,1,1,58,M,PA,2894,2729,0.143,0.143,',
    '00000002_000.png,No Finding,0,2,081Y,F,AP,2500,2048,0.168,0.168,',
  ];
  it('splits | findings, maps No Finding to all zeros, finds images at any depth', () => {
    const ds = loadNihChestXray14(csv(rows), { root: nihDir, tasks: ['Cardiomegaly', 'Effusion', 'Nodule'] });
    expect(Array.from(ds.labels)).toEqual([1, 0, 0, 1, 1, 0, 0, 0, 0]);
    expect(ds.samples.map((s) => s.path)).toEqual(['images_001/images/00000001_000.png', 'images_001/images/00000001_001.png', 'images_001/images/00000002_000.png']);
    expect(ds.samples[2]).toMatchObject({ patientId: '2', studyId: '2/0', age: 81, sex: 'F', view: 'AP' });
  });
  it('names the row of an unknown finding and of a missing image; skip mode counts', () => {
    expect(() => loadNihChestXray14(csv([...rows, '00000002_000.png,Efusion,0,2,81,F,AP,1,1,1,1,']), { root: nihDir })).toThrow(/line 5, column "Finding Labels": unknown label value "Efusion"/);
    const missing = [...rows, '00000003_000.png,Mass,0,3,40,F,PA,1,1,1,1,'];
    expect(() => loadNihChestXray14(csv(missing), { root: nihDir })).toThrow(/line 5: image 00000003_000\.png not found/);
    const ds = loadNihChestXray14(csv(missing), { root: nihDir, onMissingImage: 'skip' });
    expect(ds.samples).toHaveLength(3);
    expect(ds.missing).toEqual([{ line: 5, image: '00000003_000.png' }]);
  });
  it('refuses a blank or non-numeric Patient ID instead of merging the rows into patient "0"', () => {
    const blank = [...rows, '00000002_000.png,No Finding,1,,81,F,AP,1,1,1,1,'];
    expect(() => loadNihChestXray14(csv(blank), { root: nihDir })).toThrow(/line 5, column "Patient ID": not a patient number: ""/);
    expect(() => loadNihChestXray14(csv([...rows, '00000002_000.png,No Finding,1,0x2,81,F,AP,1,1,1,1,']), { root: nihDir })).toThrow(/line 5, column "Patient ID": not a patient number: "0x2"/);
  });
  it('follows symlinked images, and walks a folder once even when a link loops back to an ancestor', () => {
    const linked = join(dir, 'nih-linked');
    mkdirSync(join(linked, 'store'), { recursive: true });
    mkdirSync(join(linked, 'images'));
    writeFileSync(join(linked, 'store', 'keep.png'), 'x');
    for (const f of ['00000001_000.png', '00000001_001.png']) writeFileSync(join(linked, 'images', f), 'x');
    symlinkSync(join(linked, 'store', 'keep.png'), join(linked, 'images', '00000002_000.png'));
    symlinkSync(linked, join(linked, 'images', 'loop'));
    const ds = loadNihChestXray14(csv(rows), { root: linked });
    expect(ds.samples.map((s) => s.path)).toEqual(['images/00000001_000.png', 'images/00000001_001.png', 'images/00000002_000.png']);
  });
});

describe('loadNlmTb', () => {
  const tb = join(dir, 'tb');
  mkdirSync(join(tb, 'ChinaSet_AllFiles', 'CXR_png'), { recursive: true });
  mkdirSync(join(tb, 'ChinaSet_AllFiles', 'ClinicalReadings'), { recursive: true });
  mkdirSync(join(tb, 'MontgomerySet', 'CXR_png'), { recursive: true });
  mkdirSync(join(tb, 'MontgomerySet', 'ClinicalReadings'), { recursive: true });
  for (const f of ['CHNCXR_0001_0.png', 'CHNCXR_0002_1.png']) writeFileSync(join(tb, 'ChinaSet_AllFiles', 'CXR_png', f), 'x');
  writeFileSync(join(tb, 'ChinaSet_AllFiles', 'CXR_png', 'Thumbs.db'), 'x');
  writeFileSync(join(tb, 'ChinaSet_AllFiles', 'ClinicalReadings', 'CHNCXR_0002_1.txt'), 'male 45yrs\nPTB in the right upper field\n');
  writeFileSync(join(tb, 'MontgomerySet', 'CXR_png', 'MCUCXR_0104_1.png'), 'x');
  writeFileSync(join(tb, 'MontgomerySet', 'ClinicalReadings', 'MCUCXR_0104_1.txt'), "Patient's Sex: F\nPatient's Age: 067Y\nright upper lobe cavity\n");
  // Montgomery ships its lung masks under the radiographs' own names.
  for (const side of ['leftMask', 'rightMask']) {
    mkdirSync(join(tb, 'MontgomerySet', 'ManualMask', side), { recursive: true });
    writeFileSync(join(tb, 'MontgomerySet', 'ManualMask', side, 'MCUCXR_0104_1.png'), 'mask');
  }

  it('labels from the last digit, one patient per image, readings attached', () => {
    const ds = loadNlmTb(tb);
    expect(ds.tasks).toEqual(['Tuberculosis']);
    expect(ds.samples.map((s) => s.path)).toEqual(['ChinaSet_AllFiles/CXR_png/CHNCXR_0001_0.png', 'ChinaSet_AllFiles/CXR_png/CHNCXR_0002_1.png', 'MontgomerySet/CXR_png/MCUCXR_0104_1.png']);
    expect(Array.from(ds.labels)).toEqual([0, 1, 1]);
    expect(ds.samples[0]).toMatchObject({ patientId: 'CHNCXR_0001', meta: { dataset: 'shenzhen' } });
    expect(ds.samples[0].sex).toBeUndefined();
    expect(ds.samples[1]).toMatchObject({ sex: 'M', age: 45, meta: { finding: 'PTB in the right upper field' } });
    expect(ds.samples[2]).toMatchObject({ patientId: 'MCUCXR_0104', sex: 'F', age: 67, meta: { dataset: 'montgomery', finding: 'right upper lobe cavity' } });
  });
  it('an image name found twice is an error naming both copies', () => {
    const copy = join(dir, 'tb-twice');
    mkdirSync(join(copy, 'a'), { recursive: true });
    mkdirSync(join(copy, 'b'), { recursive: true });
    writeFileSync(join(copy, 'a', 'CHNCXR_0001_0.png'), 'x');
    writeFileSync(join(copy, 'b', 'CHNCXR_0001_0.png'), 'x');
    expect(() => loadNlmTb(copy)).toThrow(/loadNlmTb: CHNCXR_0001_0\.png is found twice under .*tb-twice: a\/CHNCXR_0001_0\.png and b\/CHNCXR_0001_0\.png; keep one copy/);
  });
  it('parses reading variants and errors on a directory without images', () => {
    expect(parseClinicalReading('female 2months\nnormal')).toEqual({ sex: 'F', age: 2 / 12, finding: 'normal' });
    expect(() => loadNlmTb(join(tb, 'MontgomerySet', 'ClinicalReadings'))).toThrow(/no CHNCXR_\*_0\|1\.png or MCUCXR_\*_0\|1\.png images under .*ClinicalReadings/);
  });
});

describe('loadImageFolder', () => {
  const root = join(dir, 'kermany');
  const files: Record<string, string[]> = {
    'train/NORMAL': ['IM-0115-0001.jpeg', 'IM-0115-0002.jpeg', 'IM-0429-0001-0002.jpeg', 'NORMAL2-IM-0927-0001.jpeg'],
    'train/PNEUMONIA': ['person1000_bacteria_2931.jpeg', 'person1000_virus_1681.jpeg', 'person12_bacteria_46.jpeg'],
    'test/NORMAL': ['IM-0001-0001.jpeg'],
    'test/PNEUMONIA': ['person100_bacteria_475.jpeg'],
  };
  it('reads <split>/<CLASS>/<image> with Kermany patient IDs and a positive class', async () => {
    const png = await pngBytes(2, 2, () => [0, 0, 0]);
    for (const [d, names] of Object.entries(files)) {
      mkdirSync(join(root, d), { recursive: true });
      for (const n of names) writeFileSync(join(root, d, n), png);
    }
    writeFileSync(join(root, 'train', 'NORMAL', 'notes.txt'), 'not an image');
    const ds = loadImageFolder(root, { splits: ['train'], patientPattern: KERMANY_PATIENT_PATTERN, positive: 'PNEUMONIA' });
    expect(ds.tasks).toEqual(['PNEUMONIA']);
    expect(ds.samples.map((s) => s.patientId)).toEqual(['IM-0115', 'IM-0115', 'IM-0429', 'NORMAL2-IM-0927', 'person1000', 'person1000', 'person12']);
    expect(Array.from(ds.labels)).toEqual([0, 0, 0, 0, 1, 1, 1]);
    expect(ds.samples[4]).toMatchObject({ path: 'train/PNEUMONIA/person1000_bacteria_2931.jpeg', split: 'train', meta: { class: 'PNEUMONIA' } });
    const all = loadImageFolder(root);
    expect(all.tasks).toEqual(['NORMAL', 'PNEUMONIA']);
    expect(all.samples.map((s) => s.split)).toEqual(['test', 'test', 'train', 'train', 'train', 'train', 'train', 'train', 'train']);
    expect(Array.from(all.labels.subarray(0, 4))).toEqual([1, 0, 0, 1]);
    // Without a pattern each image is its own patient.
    expect(new Set(all.samples.map((s) => s.patientId)).size).toBe(9);
  });
  it('follows symlinked class folders and images inside the root, and refuses a link outside it by name', async () => {
    const png = await pngBytes(2, 2, () => [0, 0, 0]);
    const linked = join(dir, 'kermany-linked');
    mkdirSync(join(linked, 'store', 'PNEUMONIA'), { recursive: true });
    mkdirSync(join(linked, 'store', 'NORMAL'), { recursive: true });
    mkdirSync(join(linked, 'train', 'NORMAL'), { recursive: true });
    for (const n of ['person1_bacteria_1.jpeg', 'person2_virus_2.jpeg']) writeFileSync(join(linked, 'store', 'PNEUMONIA', n), png);
    for (const n of ['IM-0001-0001.jpeg', 'IM-0002-0001.jpeg']) writeFileSync(join(linked, 'store', 'NORMAL', n), png);
    symlinkSync(join(linked, 'store', 'PNEUMONIA'), join(linked, 'train', 'PNEUMONIA'));
    for (const n of ['IM-0001-0001.jpeg', 'IM-0002-0001.jpeg']) symlinkSync(join(linked, 'store', 'NORMAL', n), join(linked, 'train', 'NORMAL', n));
    const ds = loadImageFolder(linked, { splits: ['train'], patientPattern: KERMANY_PATIENT_PATTERN, positive: 'PNEUMONIA' });
    expect(ds.samples.map((s) => s.path)).toEqual(['train/NORMAL/IM-0001-0001.jpeg', 'train/NORMAL/IM-0002-0001.jpeg', 'train/PNEUMONIA/person1_bacteria_1.jpeg', 'train/PNEUMONIA/person2_virus_2.jpeg']);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1]);
    writeFileSync(join(dir, 'outside.jpeg'), png);
    symlinkSync(join(dir, 'outside.jpeg'), join(linked, 'train', 'NORMAL', 'IM-0003-0001.jpeg'));
    expect(() => loadImageFolder(linked, { splits: ['train'] })).toThrow(/symlink .*train\/NORMAL\/IM-0003-0001\.jpeg resolves to .*outside\.jpeg, outside the data root/);
    unlinkSync(join(linked, 'train', 'NORMAL', 'IM-0003-0001.jpeg'));
    symlinkSync(join(dir, 'nope'), join(linked, 'train', 'DANGLING'));
    expect(() => loadImageFolder(linked, { splits: ['train'] })).toThrow(/symlink .*train\/DANGLING cannot be followed: ENOENT/);
  });
  it('names a file the pattern does not match and an unknown positive class', () => {
    // Every file the pattern misses is named in one error, with the option that fixes it.
    expect(() => loadImageFolder(root, { patientPattern: /^(person\d+)_/ })).toThrow(
      /5 of 9 file names under .*kermany do not match patientPattern \/\^\(person\\d\+\)_\/: "test\/NORMAL\/IM-0001-0001\.jpeg", "train\/NORMAL\/IM-0115-0001\.jpeg", .*patientPattern: 'per-image'/,
    );
    expect(loadImageFolder(root, { patientPattern: '^(person\\d+)_|^((?:NORMAL2-)?IM-\\d+)-' }).samples.map((s) => s.patientId)).toEqual(
      loadImageFolder(root, { patientPattern: KERMANY_PATIENT_PATTERN }).samples.map((s) => s.patientId),
    );
    expect(loadImageFolder(root, { patientPattern: 'per-image' }).samples.every((s) => s.patientId === s.path)).toBe(true);
    expect(() => loadImageFolder(root, { patientPattern: '^person\\d+_' })).toThrow(/patientPattern "\^person\\\\d\+_" has no capture group/);
    expect(() => loadImageFolder(root, { patientPattern: '^(person' })).toThrow(/patientPattern "\^\(person" is not a regular expression/);
    expect(() => loadImageFolder(root, { positive: 'COVID' })).toThrow(/positive class "COVID" is not among the classes .*NORMAL, PNEUMONIA/);
    expect(() => loadImageFolder(root, { splits: ['../kermany'] })).toThrow(/not a plain directory name/);
  });
});
